// Reference §7: taking a replica out with replication = '', rejoining (it catches up), the
// master keeping xlogs for a stopped replica through its GC consumer, and a wiped replica
// rejoining with a new uuid and id. tarantype persists the consumers, so unlike 2.6 (§7f:
// "gc consumers live in memory only") they also survive a master restart: tested explicitly.
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type Client, Cluster, type Node, STANDARD_USERS, UUID, until } from './cluster.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

const TIMEOUT = { replication_timeout: 0.3 };

async function pair(label: string, masterCfg: Record<string, unknown> = {}) {
  cluster = new Cluster(label);
  const m1 = cluster.node('m1', 'tarantype', {
    users: STANDARD_USERS,
    cfg: { ...TIMEOUT, ...masterCfg },
  });
  await m1.start();
  const mc = await m1.client();
  await mc.createSpace('tester');
  await mc.createIndex('tester', 'primary');
  await mc.insert('tester', [1, 'before replica']);
  const r2 = cluster.node('r2', 'tarantype', { replication: [m1.uri()], cfg: TIMEOUT });
  await r2.start();
  const rc = await r2.client();
  return { m1, r2, mc, rc };
}

async function caughtUp(mc: Client, rc: Client): Promise<void> {
  const target = (await mc.info()).vclock;
  await until('replica caught up', async () => {
    const v = (await rc.info()).vclock;
    return Object.entries(target).every(([id, lsn]) => id === '0' || (v[Number(id)] ?? 0) >= lsn);
  });
}

interface Consumer {
  name: string;
  vclock: Record<string, number>;
  signature: number;
}
async function consumers(mc: Client): Promise<Consumer[]> {
  return ((await mc.gc()).consumers as Consumer[]).map((c) => ({
    name: c.name,
    vclock: Object.fromEntries(Object.entries(c.vclock)),
    signature: c.signature,
  }));
}

const xlogs = (node: Node) =>
  readdirSync(node.dir)
    .filter((f) => f.endsWith('.xlog'))
    .sort();
const signatureOf = (file: string) => Number(file.slice(0, 20));

describe('§7 removing a replica, rejoining, wiping', () => {
  it("§7a/§7b: replication = '' takes the replica out (downstream stopped, consumer kept); putting it back catches up", async () => {
    const { m1, r2, mc, rc } = await pair('s07a');
    const replicaUuid = (await rc.info()).uuid;
    await rc.cfg({ replication: '' });
    const ri = await rc.info();
    expect(ri).toMatchObject({ status: 'running', ro: false });
    expect(ri.replication[1]!.upstream).toBeUndefined();
    const leftAt = ri.vclock[1]!;
    await mc.insert('tester', [2, 'while replica was away']);
    await mc.insert('tester', [3, 'while replica was away']);
    expect(await rc.select('tester')).toEqual([[1, 'before replica']]);
    const stopped = await until('downstream stopped', async () => {
      const d = (await mc.replication())[2]!.downstream;
      return d?.status === 'stopped' ? d : undefined;
    });
    expect(stopped.system_message).toBe('Broken pipe');
    expect((await mc.cluster()).map((r) => r[0])).toEqual([1, 2]);
    expect(await consumers(mc)).toEqual([
      { name: `replica ${replicaUuid}`, vclock: { 1: leftAt }, signature: leftAt },
    ]);

    // §7b: box.cfg{replication = uri} again.
    const mark = r2.mark();
    await rc.cfg({ replication: m1.uri() });
    expect(await rc.select('tester')).toEqual([
      [1, 'before replica'],
      [2, 'while replica was away'],
      [3, 'while replica was away'],
    ]);
    expect((await rc.replication())[1]!.upstream!.status).toBe('follow');
    expect(r2.logSince(mark)).toMatch(
      new RegExp(
        `set 'replication' configuration option to \\["replicator@127\\.0\\.0\\.1:${m1.port}"\\]$`,
        'm',
      ),
    );
    expect(r2.log).not.toMatch(/replicator:password/);
  });

  it('§7c: the master keeps xlogs for a stopped replica through 4 snapshots (checkpoint_count 2), then lets them go once it caught up', async () => {
    const { m1, r2, mc, rc } = await pair('s07c', { checkpoint_count: 2 });
    const replicaUuid = (await rc.info()).uuid;
    await caughtUp(mc, rc);
    const stoppedAt = (await rc.info()).vclock[1]!;
    await r2.stop();
    for (let i = 0; i < 4; i++) {
      await mc.insert('tester', [10 + i, 'while the replica is stopped']);
      await mc.snapshot();
    }
    const gc = await mc.gc();
    expect((gc.checkpoints as unknown[]).length).toBe(2);
    expect(await consumers(mc)).toEqual([
      { name: `replica ${replicaUuid}`, vclock: { 1: stoppedAt }, signature: stoppedAt },
    ]);
    // The xlog holding the rows after the replica's vclock is still there.
    const kept = xlogs(m1);
    expect(signatureOf(kept[0]!)).toBeLessThanOrEqual(stoppedAt);
    const count = (await mc.select('tester')).length;

    await r2.start();
    const rc2 = await r2.client();
    await caughtUp(mc, rc2);
    expect((await rc2.select('tester')).length).toBe(count);
    await until(
      'consumer advanced',
      async () => (await consumers(mc))[0]!.signature === (await mc.info()).signature,
    );
    await mc.snapshot();
    // The consumer no longer holds the old xlogs: only what the checkpoints need is left.
    const oldest = Math.min(
      ...((await mc.gc()).checkpoints as Array<{ signature: number }>).map((c) => c.signature),
    );
    for (const file of xlogs(m1).slice(1)) expect(signatureOf(file)).toBeGreaterThanOrEqual(oldest);
    expect(signatureOf(xlogs(m1)[0]!)).toBeGreaterThan(stoppedAt);
  });

  it("§7c+: tarantype's persisted consumer survives a master restart (2.6 forgets it), so the replica catches up by SUBSCRIBE", async () => {
    const { m1, r2, mc, rc } = await pair('s07c-persisted', { checkpoint_count: 1 });
    const replicaUuid = (await rc.info()).uuid;
    await caughtUp(mc, rc);
    const stoppedAt = (await rc.info()).vclock[1]!;
    await r2.stop();
    await mc.insert('tester', [20, 'before the master restart']);
    await m1.restart();
    const mc2 = await m1.client();
    // 2.6 shows consumers: [] here (reference §7f).
    expect(await consumers(mc2)).toEqual([
      { name: `replica ${replicaUuid}`, vclock: { 1: stoppedAt }, signature: stoppedAt },
    ]);
    for (let i = 0; i < 2; i++) {
      await mc2.insert('tester', [30 + i, 'after the master restart']);
      await mc2.snapshot();
    }
    expect(signatureOf(xlogs(m1)[0]!)).toBeLessThanOrEqual(stoppedAt);
    const mark = m1.mark();
    await r2.start();
    const rc2 = await r2.client();
    await caughtUp(mc2, rc2);
    expect(await rc2.select('tester')).toEqual(await mc2.select('tester'));
    expect((await rc2.info()).id).toBe(2);
    expect(m1.logSince(mark)).not.toMatch(/joining replica/);
    expect(m1.logSince(mark)).toMatch(new RegExp(`subscribed replica ${replicaUuid}`));
    expect(r2.log).not.toMatch(/XlogGapError|Missing \.xlog/);
  });

  it('reconfiguration over the wire keeps the applier of an unchanged URI (no new SUBSCRIBE)', async () => {
    const { m1, r2, mc, rc } = await pair('s07-keep');
    await rc.cfg({ replication_connect_timeout: 0.5 });
    const dead = await cluster.deadPort();
    const mark = m1.mark();
    const rmark = r2.mark();
    await rc.cfg({ replication: [m1.uri(), `replicator:password@127.0.0.1:${dead}`] });
    // The default quorum is every upstream: one unreachable makes an orphan, as in 2.6.
    expect(await rc.info()).toMatchObject({ status: 'orphan', ro: true });
    expect((await rc.replication())[1]!.upstream!.status).toBe('follow');
    await rc.cfg({ replication: [m1.uri()] });
    expect(await rc.info()).toMatchObject({ status: 'running', ro: false });
    await mc.insert('tester', [50, 'after two reconfigurations']);
    await caughtUp(mc, rc);
    expect(m1.logSince(mark)).not.toMatch(/subscribed replica|joining replica/);
    expect(r2.logSince(rmark)).not.toMatch(
      new RegExp(`applier/replicator@127\\.0\\.0\\.1:${m1.port} I> subscribed`),
    );
    expect(r2.logSince(rmark)).toMatch(/I> connecting to 2 replicas$/m);
  });

  it('§7d: a wiped replica started with the same box.cfg joins afresh with a new uuid and id 3; deleting the stale _cluster row replicates', async () => {
    const { r2, mc, rc } = await pair('s07d');
    const oldUuid = (await rc.info()).uuid;
    await r2.stop();
    r2.wipe();
    await r2.start();
    const rc2 = await r2.client();
    const ri = await rc2.info();
    expect(ri.id).toBe(3);
    expect(ri.uuid).not.toBe(oldUuid);
    expect(ri.uuid).toMatch(new RegExp(`^${UUID}$`));
    const masterUuid = (await mc.info()).uuid;
    expect(await rc2.cluster()).toEqual([
      [1, masterUuid],
      [2, oldUuid],
      [3, ri.uuid],
    ]);
    expect(await rc2.select('tester')).toEqual(await mc.select('tester'));
    const mr = await mc.replication();
    expect(mr[2]!.downstream!.status).toBe('stopped');
    await until(
      'downstream 3 follow',
      async () => (await mc.replication())[3]!.downstream?.status === 'follow',
    );

    // The stale row can be deleted on the master; the deletion replicates.
    expect(await mc.iproto.delete('_cluster', 0, [2])).toEqual([2, oldUuid]);
    await caughtUp(mc, rc2);
    expect(await rc2.cluster()).toEqual([
      [1, masterUuid],
      [3, ri.uuid],
    ]);
    const after = await mc.replication();
    expect(Object.keys(after)).toEqual(['1', '3']);
    expect(after[3]!.downstream!.status).toBe('follow');
    // Its GC consumer went with it.
    expect((await consumers(mc)).map((c) => c.name)).toEqual([`replica ${ri.uuid}`]);
  });
});
