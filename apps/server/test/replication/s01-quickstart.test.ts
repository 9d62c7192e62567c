// Reference §1 (quick start, seed 6.5 / 6.10) against real processes: a master and a replica,
// guest grants (§1a) and the 'replicator' user with the replication role (§1b), writes flow
// master → replica and not back, box.info fields and log lines as 2.6 prints them; §1 again
// with a real Tarantool 2.6 peer on either side, comparing both sides row by row.
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Client,
  Cluster,
  expectInOrder,
  type Kind,
  type Node,
  needsTarantool,
  requireTarantool,
  STANDARD_USERS,
  UUID,
  until,
} from './cluster.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

describe('§1a quick start with guest grants (tarantype master → tarantype replica)', () => {
  it('§1a: joins as id 2, writes flow master → replica and not back, box.info and logs match 2.6', async () => {
    cluster = new Cluster('s01a');
    // As the reference: one guest grant (with 'create' too: the reference's DDL came from the
    // admin console, which has no network equivalent), driven as guest.
    const m1 = cluster.node('m1', 'tarantype', {
      guestGrants: ['read', 'write', 'execute', 'create'],
    });
    await m1.start();
    const mc = await m1.client('guest');
    await mc.snapshot();
    const masterInfo = await mc.info();
    expect(masterInfo).toMatchObject({ vclock: { 1: 1 }, lsn: 1, signature: 1 });
    // Known difference: tarantype opens the next xlog (…0001.xlog) at the checkpoint, 2.6 only
    // when the next row comes.
    expect(
      readdirSync(m1.dir)
        .filter((f) => /\.(snap|xlog)$/.test(f))
        .sort(),
    ).toEqual([
      '00000000000000000000.snap',
      '00000000000000000000.xlog',
      '00000000000000000001.snap',
      '00000000000000000001.xlog',
    ]);
    expect(masterInfo).toMatchObject({ id: 1, ro: false, status: 'running' });
    expect(masterInfo.replication).toEqual({
      1: { id: 1, uuid: masterInfo.uuid, lsn: masterInfo.lsn },
    });
    expect(masterInfo.lsn).toBe(masterInfo.vclock[1]);
    expect(masterInfo.signature).toBe(masterInfo.vclock[1]);

    const r2 = cluster.node('r2', 'tarantype', { replication: [`127.0.0.1:${m1.port}`] });
    await r2.start();
    const rc = await r2.client('guest');
    const ri = await rc.info();
    const mi = await mc.info();
    // The master's own _cluster insert for the replica: {1: 2} on both sides.
    expect(mi.vclock).toEqual({ 1: 2 });
    expect(ri).toMatchObject({
      id: 2,
      ro: false,
      status: 'running',
      cluster: { uuid: mi.cluster.uuid },
    });
    expect(ri.vclock).toEqual(mi.vclock);
    // The replica's first file is a snapshot named after the master's signature at join time
    // (the master's own _cluster insert for the replica included); no xlog until a write.
    const signature = String(mi.signature).padStart(20, '0');
    expect(readdirSync(r2.dir).filter((f) => /\.(snap|xlog)$/.test(f))).toEqual([
      `${signature}.snap`,
    ]);
    expect(await mc.cluster()).toEqual([
      [1, mi.uuid],
      [2, ri.uuid],
    ]);
    expect(await rc.cluster()).toEqual(await mc.cluster());
    expect(await rc.select('_schema', ['cluster'], 'EQ')).toEqual([['cluster', mi.cluster.uuid]]);
    expect(ri.replication[1]!.upstream).toMatchObject({
      status: 'follow',
      peer: `127.0.0.1:${m1.port}`,
    });
    expect(ri.replication[1]!.upstream!.message).toBeUndefined();
    expect(ri.replication[2]).toEqual({ id: 2, uuid: ri.uuid, lsn: 0 });
    expect(mi.replication[2]!.downstream).toMatchObject({ status: 'follow', vclock: mi.vclock });
    expect(mi.replication[1]!.upstream).toBeUndefined();

    // DDL and DML replicate.
    await mc.createSpace('test');
    await mc.createIndex('test', 'primary');
    await mc.insert('test', [1, 'a']);
    await until('row on the replica', async () => (await rc.select('test')).length === 1);
    expect(await rc.select('test')).toEqual([[1, 'a']]);
    const after = await mc.info();
    await until(
      'replica vclock',
      async () => JSON.stringify((await rc.info()).vclock) === JSON.stringify(after.vclock),
    );

    // A write on a (not read_only) replica goes into its own component and is not sent back.
    await rc.insert('test', [2, 'written on replica']);
    const rv = (await rc.info()).vclock;
    expect(rv).toEqual({ ...after.vclock, 2: 1 });
    await until('downstream vclock {2: 1, …}', async () => {
      const d = (await mc.replication())[2]!.downstream;
      return JSON.stringify(d?.vclock) === JSON.stringify(rv);
    });
    expect(await mc.select('test')).toEqual([[1, 'a']]);
    expect((await mc.info()).vclock).toEqual(after.vclock);
    expect(await rc.select('test')).toEqual([
      [1, 'a'],
      [2, 'written on replica'],
    ]);

    // The join as 2.6 logs it, on both sides.
    const masterUuid = mi.uuid;
    const replicaUuid = ri.uuid;
    const relaySocket = `at fd \\d+, aka 127\\.0\\.0\\.1:${m1.port}, peer of 127\\.0\\.0\\.1:\\d+$`;
    expectInOrder(m1.log, [
      new RegExp(`joining replica ${replicaUuid} ${relaySocket}`),
      /initial data sent\.$/,
      new RegExp(`main I> assigned id 2 to replica ${replicaUuid}$`),
      /final data sent\.$/,
      new RegExp(`subscribed replica ${replicaUuid} ${relaySocket}`),
      /remote vclock \{1: 2\} local vclock \{1: 2\}$/,
    ]);
    const applier = `applier/127\\.0\\.0\\.1:${m1.port}`;
    expectInOrder(r2.log, [
      /I> connecting to 1 replicas$/,
      new RegExp(
        `${applier} I> remote master ${masterUuid} at 127\\.0\\.0\\.1:${m1.port} running Tarantool 2\\.6\\.0$`,
      ),
      /I> connected to 1 replicas$/,
      new RegExp(`I> bootstrapping replica from ${masterUuid} at 127\\.0\\.0\\.1:${m1.port}$`),
      // Known differences: no "cluster uuid …" line; "assigned id N to replica …" comes from
      // the main fiber, 2.6 prints it from the applier's.
      new RegExp(`I> assigned id 1 to replica ${masterUuid}$`),
      new RegExp(`${applier} I> initial data received$`),
      new RegExp(`I> assigned id 2 to replica ${replicaUuid}$`),
      new RegExp(`${applier} I> final data received$`),
      new RegExp(`I> saving snapshot .*${signature}\\.snap\\.inprogress'$`),
      new RegExp(`${applier} I> subscribed$`),
      new RegExp(`${applier} I> remote vclock \\{1: 2\\} local vclock \\{1: 2\\}$`),
      new RegExp(`applierw/127\\.0\\.0\\.1:${m1.port} C> leaving orphan mode$`),
    ]);
    // box.cfg's own sync, which may start before or after the applier subscribed.
    expectInOrder(r2.log, [
      /main I> synchronizing with 1 replicas$/,
      /main I> replica set sync complete$/,
      /main C> leaving orphan mode$/,
    ]);
    // Known difference: tarantype says "ready to accept requests" after the sync, 2.6 before it.
    expect(r2.log).toMatch(/I> ready to accept requests$/m);
  });
});

/** §1b on any pair of kinds; returns both clients for the caller's comparisons. */
async function replicatorScenario(
  masterKind: Kind,
  replicaKind: Kind,
): Promise<{ m1: Node; r2: Node; mc: Client; rc: Client }> {
  cluster = new Cluster(`s01b-${masterKind}-${replicaKind}`);
  const m1 = cluster.node('m1', masterKind, {
    users: STANDARD_USERS,
    cfg: { replication_timeout: 0.3 },
  });
  await m1.start();
  const mc = await m1.client();
  const r2 = cluster.node('r2', replicaKind, {
    replication: [m1.uri()],
    cfg: { replication_timeout: 0.3 },
  });
  await r2.start();
  const rc = await r2.client();
  return { m1, r2, mc, rc };
}

describe('§1b the replicator user with the replication role', () => {
  it("§1b: tarantype → tarantype: peer shows the user, box.cfg.replication keeps the password, the role has 2.6's privileges", async () => {
    const { m1, r2, mc, rc } = await replicatorScenario('tarantype', 'tarantype');
    const ri = await rc.info();
    expect(ri.replication[1]!.upstream).toMatchObject({
      status: 'follow',
      peer: `replicator@127.0.0.1:${m1.port}`,
    });
    expect(await rc.cfgValue('replication')).toEqual([`replicator:password@127.0.0.1:${m1.port}`]);
    // The log never shows the password (the "set 'replication' …" line is checked in §7).
    expect(r2.log).not.toMatch(/replicator:password/);
    expect(await mc.iproto.select('_user', 'name', ['replication'], { iterator: 'EQ' })).toEqual([
      [3, 1, 'replication', 'role', {}],
    ]);
    const privs = (await mc.iproto.select('_priv', 0, [], { iterator: 'ALL' })).filter(
      (p) => (p as unknown[])[1] === 3,
    );
    expect(privs).toEqual([
      [1, 3, 'space', 320, 2],
      [1, 3, 'universe', 0, 1],
    ]);
    const applier = `applier/replicator@127\\.0\\.0\\.1:${m1.port}`;
    expectInOrder(r2.log, [
      new RegExp(
        `${applier} I> remote master ${UUID} at 127\\.0\\.0\\.1:${m1.port} running Tarantool 2\\.6\\.0$`,
      ),
      new RegExp(`${applier} I> authenticated$`),
      new RegExp(`${applier} I> initial data received$`),
      new RegExp(`${applier} I> final data received$`),
      new RegExp(`${applier} I> subscribed$`),
      new RegExp(`applierw/replicator@127\\.0\\.0\\.1:${m1.port} C> leaving orphan mode$`),
    ]);
  });
});

/** Rows of a space on both sides, compared row by row. */
async function expectSameRows(a: Client, b: Client, space: string): Promise<void> {
  const [ra, rb] = [await a.select(space), await b.select(space)];
  expect(rb.length).toBe(ra.length);
  for (let i = 0; i < ra.length; i++) expect(rb[i]).toEqual(ra[i]);
}

describe.skipIf(needsTarantool.skip)('§1 with a real Tarantool 2.6 peer', () => {
  for (const [masterKind, replicaKind] of [
    ['tarantool', 'tarantype'],
    ['tarantype', 'tarantool'],
  ] as const) {
    const label = (k: Kind) => (k === 'tarantool' ? 'Tarantool 2.6' : 'tarantype');
    it(`§1 interop: ${label(masterKind)} master → ${label(replicaKind)} replica: ids, vclocks and data agree on both sides`, async () => {
      requireTarantool();
      const { m1, mc, rc } = await replicatorScenario(masterKind, replicaKind);
      await mc.createSpace('tester');
      await mc.createIndex('tester', 'primary');
      await mc.createIndex('tester', 'secondary', {
        parts: [{ field: 2, type: 'string' }],
        unique: false,
      });
      for (let i = 1; i <= 20; i++) await mc.insert('tester', [i, `v${i % 7}`, i * 2]);
      await mc.iproto.replace('tester', [3, 'replaced', 0]);
      await mc.iproto.update('tester', 'primary', [4], [['=', 3, 'updated']], { indexBase: 1 });
      await mc.iproto.delete('tester', 'primary', [5]);
      await mc.iproto.upsert('tester', [6, 'x', 0], [['+', 3, 100]], { indexBase: 1 });
      await mc.iproto.upsert('tester', [99, 'new', 1], [['+', 3, 100]], { indexBase: 1 });
      const mi = await mc.info();
      await until(
        'replica caught up',
        async () => JSON.stringify((await rc.info()).vclock) === JSON.stringify(mi.vclock),
        5000,
      );
      const ri = await rc.info();
      expect(ri.id).toBe(2);
      expect(ri.cluster.uuid).toBe(mi.cluster.uuid);
      expect(ri.vclock).toEqual(mi.vclock);
      expect(await rc.cluster()).toEqual(await mc.cluster());
      expect(Object.keys(ri.replication)).toEqual(Object.keys(mi.replication));
      for (const id of [1, 2]) {
        expect(ri.replication[id]!.uuid).toBe(mi.replication[id]!.uuid);
        expect(ri.replication[id]!.lsn).toBe(mi.replication[id]!.lsn);
      }
      expect(ri.replication[1]!.upstream).toMatchObject({
        status: 'follow',
        peer: `replicator@127.0.0.1:${m1.port}`,
      });
      await until('downstream vclock = replica vclock', async () => {
        const d = (await mc.replication())[2]!.downstream;
        return d?.status === 'follow' && JSON.stringify(d.vclock) === JSON.stringify(ri.vclock);
      });
      await expectSameRows(mc, rc, 'tester');
      expect((await rc.select('tester')).length).toBe(20);
      // The secondary index works on the replica (its definition replicated as _index rows).
      const bySecondary = await rc.iproto.select('tester', 'secondary', ['v1'], { iterator: 'EQ' });
      const expected = await mc.iproto.select('tester', 'secondary', ['v1'], { iterator: 'EQ' });
      expect(bySecondary).toEqual(expected);
      await expectSameRows(mc, rc, '_space');
      await expectSameRows(mc, rc, '_index');
      await expectSameRows(mc, rc, '_user');
      // A write on the replica stays there.
      await rc.insert('tester', [1000, 'replica only', 0]);
      await until(
        'downstream sees the replica row',
        async () => (await mc.replication())[2]!.downstream?.vclock?.[2] === 1,
      );
      expect(await mc.iproto.select('tester', 0, [1000], { iterator: 'EQ' })).toEqual([]);
    });
  }
});
