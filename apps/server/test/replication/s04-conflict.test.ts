// Reference §4 (master-master duplicate-key conflict, the seed's resume procedure,
// replication_skip_conflict, a live conflict, the persisted NOP) against real processes:
// tarantype pairs and pairs with a Tarantool 2.6 master. Expected texts are the reference's.
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Client,
  Cluster,
  expectInOrder,
  type Kind,
  type MemberView,
  type Node,
  needsTarantool,
  requireTarantool,
  STANDARD_USERS,
  until,
} from './cluster.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

const DUP = "Duplicate key exists in unique index 'primary' in space 'tester'";
const FAST = {
  replication_timeout: 0.3,
  replication_connect_timeout: 2,
  replication_sync_timeout: 2,
};
const EOF_MESSAGE =
  /^unexpected EOF when reading from socket, called on fd \d+, aka 127\.0\.0\.1:\d+(, peer of 127\.0\.0\.1:\d+)?$/;

interface Pair {
  m1: Node;
  m2: Node;
  c1: Client;
  c2: Client;
}

/** The seed's setup: m2 joins m1, then m1 adds m2 as its source; a 'tester' space. */
async function masterMaster(label: string, kinds: [Kind, Kind]): Promise<Pair> {
  cluster = new Cluster(label);
  const m1 = cluster.node('m1', kinds[0], { users: STANDARD_USERS, cfg: FAST });
  await m1.start();
  const c1 = await m1.client();
  await c1.createSpace('tester');
  await c1.createIndex('tester', 'primary');
  const m2 = cluster.node('m2', kinds[1], {
    users: STANDARD_USERS,
    replication: [m1.uri()],
    cfg: FAST,
  });
  await m2.start();
  const c2 = await m2.client();
  await c1.cfg({ replication: [m2.uri()] });
  await until('both follow', async () => {
    const [r1, r2] = [await c1.replication(), await c2.replication()];
    return r1[2]?.upstream?.status === 'follow' && r2[1]?.upstream?.status === 'follow';
  });
  return { m1, m2, c1, c2 };
}

/** §4a: cut both links, insert key 1 on both, restore; returns the log marks before restoring. */
async function conflict(p: Pair): Promise<[number, number]> {
  await p.c1.cfg({ replication: [] });
  await p.c2.cfg({ replication: [] });
  expect(await p.c1.insert('tester', [1, 'data from m1'])).toEqual([1, 'data from m1']);
  expect(await p.c2.insert('tester', [1, 'data from m2'])).toEqual([1, 'data from m2']);
  const marks: [number, number] = [p.m1.mark(), p.m2.mark()];
  await p.c1.cfg({ replication: [p.m2.uri()] });
  await p.c2.cfg({ replication: [p.m1.uri()] });
  return marks;
}

function stoppedOnDuplicate(member: MemberView | undefined): void {
  expect(member?.upstream).toMatchObject({ status: 'stopped', message: DUP });
  expect(member?.upstream?.system_message).toBeUndefined();
}

describe('§4 master-master duplicate key', () => {
  it('§4a/§4c/§4d/§4i: tarantype pair: stop, orphan, the seed resume fails again, skip_conflict writes a NOP that survives restart; upstream.conflict', async () => {
    const p = await masterMaster('s04a', ['tarantype', 'tarantype']);
    const { m1, m2, c1, c2 } = p;
    const [before1, before2] = [(await c1.info()).vclock, (await c2.info()).vclock];
    const [k1, k2] = await conflict(p);
    // §4a
    let [i1, i2] = [await c1.info(), await c2.info()];
    expect([i1.status, i1.ro, i2.status, i2.ro]).toEqual(['orphan', true, 'orphan', true]);
    stoppedOnDuplicate(i1.replication[2]);
    stoppedOnDuplicate(i2.replication[1]);
    expect(i1.vclock).toEqual({ ...before1, 1: (before1[1] ?? 0) + 1 });
    expect(i2.vclock).toEqual({ ...before2, 2: 1 });
    // The peer's relay exits: downstream stopped with the EOF message (either side).
    await until('downstreams stopped', async () => {
      const [d1, d2] = [
        (await c1.replication())[2]?.downstream,
        (await c2.replication())[1]?.downstream,
      ];
      return d1?.status === 'stopped' && d2?.status === 'stopped';
    });
    const d1 = (await c1.replication())[2]!.downstream!;
    expect(d1.message).toMatch(EOF_MESSAGE);
    expect(d1.system_message).toBe('Broken pipe');
    const lsn1 = before1[1] ?? 0;
    expectInOrder(m1.logSince(k1), [
      /I> connecting to 1 replicas$/,
      /I> synchronizing with 1 replicas$/,
      /applier\/replicator@127\.0\.0\.1:\d+ I> subscribed$/,
      /applier\/replicator@127\.0\.0\.1:\d+ E> error applying row: \{type: 'INSERT', replica_id: 2, lsn: 1, space_id: 512, index_id: 0, tuple: \[1, "data from m2"\]\}$/,
      /applier\/replicator@127\.0\.0\.1:\d+ I> can't read row$/,
      /applier\/replicator@127\.0\.0\.1:\d+ E> ER_TUPLE_FOUND: Duplicate key exists in unique index 'primary' in space 'tester'$/,
      /C> failed to synchronize with 1 out of 1 replicas$/,
      /C> entering orphan mode$/,
    ]);
    expectInOrder(m2.logSince(k2), [
      new RegExp(
        `E> error applying row: \\{type: 'INSERT', replica_id: 1, lsn: ${lsn1 + 1}, space_id: 512, index_id: 0, tuple: \\[1, "data from m1"\\]\\}$`,
      ),
      /I> can't read row$/,
    ]);
    expect(m1.logSince(k1) + m2.logSince(k2)).toMatch(
      /relay\/127\.0\.0\.1:\d+ C> exiting the relay loop$/m,
    );
    // Beyond Tarantool: the conflicting row, both tuples.
    expect(
      (i1.replication[2]!.upstream as unknown as { conflict: unknown }).conflict,
    ).toMatchObject({
      replica_id: 2,
      lsn: 1,
      type: 'INSERT',
      space: 'tester',
      space_id: 512,
      index: 'primary',
      key: [1],
      local: [1, 'data from m1'],
      remote: [1, 'data from m2'],
      message: DUP,
      skipped: false,
    });
    // A stopped applier is not retried by itself.
    await new Promise((r) => setTimeout(r, 1000));
    stoppedOnDuplicate((await c1.replication())[2]);

    // §4c: the seed's resume procedure does not skip the row in 2.6: stopped again, orphan.
    const original1 = await c1.cfgValue('replication');
    const original2 = await c2.cfgValue('replication');
    const r1 = m1.mark();
    await c1.cfg({ replication: [] });
    await c1.cfg({ replication: original1 });
    await c2.cfg({ replication: [] });
    await c2.cfg({ replication: original2 });
    [i1, i2] = [await c1.info(), await c2.info()];
    stoppedOnDuplicate(i1.replication[2]);
    stoppedOnDuplicate(i2.replication[1]);
    expect(i1.status).toBe('orphan');
    expect(i1.vclock[2]).toBeUndefined();
    expect(i2.vclock[1]).toBe(lsn1);
    expect(await c1.select('tester')).toEqual([[1, 'data from m1']]);
    expect(await c2.select('tester')).toEqual([[1, 'data from m2']]);
    expectInOrder(m1.logSince(r1), [/C> leaving orphan mode$/, /C> entering orphan mode$/]);

    // §4d: replication_skip_conflict = true: skipped, vclocks equal, data stays diverged.
    expect(await c1.cfgValue('replication_skip_conflict')).toBe(false);
    await c1.cfg({ replication_skip_conflict: true });
    await c2.cfg({ replication_skip_conflict: true });
    const s1 = m1.mark();
    await c1.cfg({ replication: [] });
    await c1.cfg({ replication: original1 });
    await c2.cfg({ replication: [] });
    await c2.cfg({ replication: original2 });
    await until('both follow after the skip', async () => {
      const [a, b] = [await c1.info(), await c2.info()];
      return (
        a.status === 'running' &&
        b.status === 'running' &&
        a.replication[2]?.upstream?.status === 'follow' &&
        b.replication[1]?.upstream?.status === 'follow'
      );
    });
    [i1, i2] = [await c1.info(), await c2.info()];
    expect(i1.vclock).toEqual({ 1: lsn1 + 1, 2: 1 });
    expect(i2.vclock).toEqual(i1.vclock);
    expect(await c1.select('tester')).toEqual([[1, 'data from m1']]);
    expect(await c2.select('tester')).toEqual([[1, 'data from m2']]);
    const skipLog = m1.logSince(s1);
    expectInOrder(skipLog, [
      /E> error applying row: \{type: 'INSERT', replica_id: 2, lsn: 1, space_id: 512, index_id: 0, tuple: \[1, "data from m2"\]\}$/,
      /I> replica set sync complete$/,
    ]);
    expect(skipLog).not.toMatch(/can't read row/);
    // The skipped conflict stays visible until the operator clears it.
    const conflictOf = async (c: Client, id: number) =>
      ((await c.replication())[id]?.upstream as unknown as { conflict?: Record<string, unknown> })
        ?.conflict;
    expect(await conflictOf(c1, 2)).toMatchObject({
      replica_id: 2,
      lsn: 1,
      skipped: true,
      local: [1, 'data from m1'],
      remote: [1, 'data from m2'],
    });
    expect(await c1.box('box.ctl.clear_conflict', [2])).toEqual([1]);
    expect(await conflictOf(c1, 2)).toBeUndefined();

    // §4i: the skip is a NOP row with the origin's id and lsn: it survives a restart.
    // box.cfg.replication is not persisted (as in 2.6): the restart passes it again.
    await m1.restart('stop', { replication: [m2.uri()] });
    const c1b = await m1.client();
    await until(
      'm1 follows m2 after restart',
      async () => (await c1b.replication())[2]?.upstream?.status === 'follow',
    );
    expect((await c1b.info()).vclock).toEqual({ 1: lsn1 + 1, 2: 1 });
    expect(await conflictOf(c1b, 2)).toBeUndefined();
    expect(await c1b.select('tester')).toEqual([[1, 'data from m1']]);

    // §4e: with skip_conflict set, a new conflict does not stop replication.
    const c2b = c2;
    await c1b.cfg({ replication_skip_conflict: true });
    await c1b.cfg({ replication: [] });
    await c2b.cfg({ replication: [] });
    await c1b.insert('tester', [2, 'm1 says two']);
    await c2b.insert('tester', [2, 'm2 says two']);
    await c1b.cfg({ replication: original1 });
    await c2b.cfg({ replication: original2 });
    await until(
      'follow after §4e',
      async () =>
        (await c1b.replication())[2]?.upstream?.status === 'follow' &&
        (await c2b.replication())[1]?.upstream?.status === 'follow',
    );
    expect((await c1b.info()).vclock).toEqual((await c2b.info()).vclock);
    expect(await c1b.select('tester', [2])).toEqual([[2, 'm1 says two']]);
    expect(await c2b.select('tester', [2])).toEqual([[2, 'm2 says two']]);
  });

  it('§4f: skip_conflict covers only duplicate keys: a row for a space dropped on the other side stops replication', async () => {
    const p = await masterMaster('s04f', ['tarantype', 'tarantype']);
    const { m1, c1, c2 } = p;
    await c1.cfg({ replication_skip_conflict: true });
    await c2.cfg({ replication_skip_conflict: true });
    await c1.createSpace('victim');
    await c1.createIndex('victim', 'pk');
    await until(
      'victim on m2',
      async () => (await c2.eval('return box.space.victim ~= nil'))[0] === true,
    );
    const [original1, original2] = [
      await c1.cfgValue('replication'),
      await c2.cfgValue('replication'),
    ];
    await c1.cfg({ replication: [] });
    await c2.cfg({ replication: [] });
    await c1.eval('box.space.victim:drop()');
    await c2.insert('victim', [1, 'into a space dropped on m1']);
    const k1 = m1.mark();
    await c1.cfg({ replication: original1 });
    await c2.cfg({ replication: original2 });
    const up = (await c1.replication())[2]?.upstream;
    expect(up).toMatchObject({ status: 'stopped', message: "Space '513' does not exist" });
    const i1 = await c1.info();
    expect([i1.status, i1.ro]).toEqual(['orphan', true]);
    await until(
      'm2 follows m1',
      async () => (await c2.replication())[1]?.upstream?.status === 'follow',
    );
    expect(await c2.eval('return box.space.victim == nil')).toEqual([true]);
    expectInOrder(m1.logSince(k1), [
      /I> can't read row$/,
      /E> ER_NO_SUCH_SPACE: Space '513' does not exist$/,
      /C> failed to synchronize with 1 out of 1 replicas$/,
      /C> entering orphan mode$/,
    ]);
    // 2.6 logs no "error applying row" for a missing space.
    expect(m1.logSince(k1)).not.toMatch(/error applying row/);
  });

  it('§4g/§4h: a live conflict under concurrent bursts: both stay running and writable; resuming needs skip_conflict', async () => {
    const p = await masterMaster('s04g', ['tarantype', 'tarantype']);
    const { c1, c2 } = p;
    const burst = (c: Client, id: number) =>
      Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          c.insert('tester', [1000 + i, id]).then(
            () => 0,
            () => 1,
          ),
        ),
      ).then((errors) => errors.reduce<number>((a, b) => a + b, 0));
    const [e1, e2] = await Promise.all([burst(c1, 1), burst(c2, 2)]);
    expect([e1, e2]).toEqual([0, 0]);
    await until(
      'both upstreams stopped',
      async () =>
        (await c1.replication())[2]?.upstream?.status === 'stopped' &&
        (await c2.replication())[1]?.upstream?.status === 'stopped',
    );
    const [i1, i2] = [await c1.info(), await c2.info()];
    expect([i1.status, i1.ro, i2.status, i2.ro]).toEqual(['running', false, 'running', false]);
    stoppedOnDuplicate(i1.replication[2]);
    stoppedOnDuplicate(i2.replication[1]);
    expect(await c1.insert('tester', [5000, 'writes still allowed'])).toEqual([
      5000,
      'writes still allowed',
    ]);
    // §4h: resume without skip_conflict: orphan, stopped with the same message.
    const original1 = await c1.cfgValue('replication');
    const original2 = await c2.cfgValue('replication');
    await c1.cfg({ replication: [] });
    await c1.cfg({ replication: original1 });
    expect((await c1.info()).status).toBe('orphan');
    stoppedOnDuplicate((await c1.replication())[2]);
    await c1.cfg({ replication_skip_conflict: true });
    await c2.cfg({ replication_skip_conflict: true });
    await c1.cfg({ replication: [] });
    await c1.cfg({ replication: original1 });
    await c2.cfg({ replication: [] });
    await c2.cfg({ replication: original2 });
    await until(
      'converged vclocks',
      async () => {
        const [a, b] = [await c1.info(), await c2.info()];
        return (
          a.status === 'running' &&
          b.status === 'running' &&
          JSON.stringify(a.vclock) === JSON.stringify(b.vclock) &&
          a.vclock[2] === 1000
        );
      },
      10_000,
    );
    const v = (await c1.info()).vclock;
    expect(v[2]).toBe(1000);
    const own = async (c: Client, id: number) =>
      (await c.select('tester')).filter((t) => t[1] === id).length;
    // Each side keeps its own tuples for the keys both wrote (2.6: 1000 on m1, 0 from m1 on m2).
    expect(await own(c1, 1)).toBe(1000);
    expect(await own(c2, 2)).toBe(1000);
    expect((await c1.select('tester')).length).toBe(1001);
  });
});

describe.skipIf(needsTarantool.skip)('§4 with a Tarantool 2.6 master', () => {
  it('§4a/§4d: 2.6 master m1, tarantype m2: both stop with the duplicate key, skip_conflict resumes both', async () => {
    requireTarantool();
    const p = await masterMaster('s04-tt', ['tarantool', 'tarantype']);
    const { c1, c2 } = p;
    await conflict(p);
    const [i1, i2] = [await c1.info(), await c2.info()];
    expect([i1.status, i2.status]).toEqual(['orphan', 'orphan']);
    stoppedOnDuplicate(i1.replication[2]);
    stoppedOnDuplicate(i2.replication[1]);
    expect(i2.vclock[1]).toBe((i1.vclock[1] ?? 0) - 1);
    const [o1, o2] = [await c1.cfgValue('replication'), await c2.cfgValue('replication')];
    await c1.cfg({ replication_skip_conflict: true });
    await c2.cfg({ replication_skip_conflict: true });
    await c1.cfg({ replication: [] });
    await c1.cfg({ replication: o1 });
    await c2.cfg({ replication: [] });
    await c2.cfg({ replication: o2 });
    await until(
      'both follow',
      async () =>
        (await c1.replication())[2]?.upstream?.status === 'follow' &&
        (await c2.replication())[1]?.upstream?.status === 'follow',
    );
    const [v1, v2] = [(await c1.info()).vclock, (await c2.info()).vclock];
    expect(v2).toEqual(v1);
    expect(v1[2]).toBe(1);
    expect(await c1.select('tester')).toEqual([[1, 'data from m1']]);
    expect(await c2.select('tester')).toEqual([[1, 'data from m2']]);
  });
});
