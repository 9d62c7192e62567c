// Reference §9: a replica pointed at a master of a different replica set. ER_UNKNOWN_REPLICA
// when the master does not know the replica's uuid (running replica re-pointed, the same at
// startup, master-master between two sets, a fresh instance given masters of two sets), and
// ER_REPLICASET_UUID_MISMATCH once the foreign master has the uuid in its _cluster; always
// orphan, no retry, and no upstream shown for a peer outside the local _cluster. The foreign
// master m3 is tarantype in one run and Tarantool 2.6 in the other.
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Client,
  Cluster,
  expectInOrder,
  type Kind,
  needsTarantool,
  requireTarantool,
  STANDARD_USERS,
  until,
} from './cluster.js';
import { FAST } from './mesh-helpers.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

const CFG = { ...FAST, replication_sync_timeout: 1, replication_connect_timeout: 1 };

const statusRo = async (c: Client) => {
  const info = await c.info();
  return [info.status, info.ro];
};

async function scenario(m3Kind: Kind): Promise<void> {
  cluster = new Cluster(`s09-${m3Kind}`);
  const m1 = await cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: CFG }).start();
  const m3 = await cluster.node('m3', m3Kind, { users: STANDARD_USERS, cfg: CFG }).start();
  const r2 = await cluster
    .node('r2', 'tarantype', { users: STANDARD_USERS, replication: [m1.uri()], cfg: CFG })
    .start();
  const [c1, c3, c2] = [await m1.client(), await m3.client(), await r2.client()];
  const [i1, i3, i2] = [await c1.info(), await c3.info(), await c2.info()];
  expect(i1.cluster.uuid).not.toBe(i3.cluster.uuid);
  const unknown = (uuid: string) =>
    `Replica ${uuid} is not registered with replica set ${i3.cluster.uuid}`;

  // §9a: a running replica of m1 re-pointed at m3.
  let mark = r2.mark();
  await c2.cfg({ replication: [m3.uri()] });
  expect(await statusRo(c2)).toEqual(['orphan', true]);
  expect(Object.keys(await c2.replication()).sort()).toEqual(['1', '2']);
  for (const m of Object.values(await c2.replication())) expect(m.upstream).toBeUndefined();
  expect(await c2.cfgValue('replication')).toEqual([m3.uri()]);
  expectInOrder(r2.logSince(mark), [
    /I> connecting to 1 replicas$/,
    /I> synchronizing with 1 replicas$/,
    /I> can't join\/subscribe$/,
    new RegExp(`E> ER_UNKNOWN_REPLICA: ${unknown(i2.uuid)}$`),
    /I> will retry every 0\.30 second$/,
    /C> failed to synchronize with 1 out of 1 replicas$/,
    /C> entering orphan mode$/,
  ]);
  // No retry happens (the applier is stopped).
  const tries = (r2.logSince(mark).match(/can't join\/subscribe/g) ?? []).length;
  await new Promise((r) => setTimeout(r, 1000));
  expect((r2.logSince(mark).match(/can't join\/subscribe/g) ?? []).length).toBe(tries);

  // §9b: the same at startup.
  mark = r2.mark();
  await r2.restart('stop', { replication: [m3.uri()] });
  const c2b = await r2.client();
  expect(await statusRo(c2b)).toEqual(['orphan', true]);
  expect(r2.logSince(mark)).toMatch(new RegExp(`E> ER_UNKNOWN_REPLICA: ${unknown(i2.uuid)}$`, 'm'));

  // §9c: master-master between two replica sets.
  mark = m1.mark();
  await c1.cfg({ replication: [m3.uri()] });
  expect(await statusRo(c1)).toEqual(['orphan', true]);
  expect(m1.logSince(mark)).toMatch(new RegExp(`E> ER_UNKNOWN_REPLICA: ${unknown(i1.uuid)}$`, 'm'));
  await c1.cfg({ replication: [] });
  expect(await statusRo(c1)).toEqual(['running', false]);

  // §9d: a fresh instance given masters of two sets: bootstraps from one, fails on the other.
  // Which one: the most advanced vclock (2.6's rule); m1 gets rows so that it is m1, as in
  // the reference's run.
  await c1.createSpace('tester');
  await c1.createIndex('tester', 'primary');
  for (let i = 0; i < 20; i++) await c1.insert('tester', [i]);
  expect((await c1.info()).vclock[1]).toBeGreaterThan((await c3.info()).vclock[1] ?? 0);
  const r4 = await cluster
    .node('r4', 'tarantype', {
      users: STANDARD_USERS,
      replication: [m1.uri(), m3.uri()],
      cfg: CFG,
    })
    .start(20_000);
  const c4 = await r4.client();
  const i4 = await c4.info();
  expect(i4.status).toBe('orphan');
  expect(i4.cluster.uuid).toBe(i1.cluster.uuid);
  expect(r4.log).toMatch(
    new RegExp(`I> bootstrapping replica from ${i1.uuid} at ${m1.address}$`, 'm'),
  );
  const upstreams = Object.values(i4.replication).filter((m) => m.upstream !== undefined);
  expect(upstreams.map((m) => [m.uuid, m.upstream!.status])).toEqual([[i1.uuid, 'follow']]);
  expect(r4.log).toMatch(new RegExp(`E> ER_UNKNOWN_REPLICA: ${unknown(i4.uuid)}$`, 'm'));

  // §9e/§9f: m3 learns r4's uuid by hand: the replica-set check is reached.
  await c3.eval('box.space._cluster:insert{...}', [2, i4.uuid]);
  mark = r4.mark();
  await c4.cfg({ replication: [] });
  await c4.cfg({ replication: [m1.uri(), m3.uri()] });
  expect((await c4.info()).status).toBe('orphan');
  expectInOrder(r4.logSince(mark), [
    /I> can't join\/subscribe$/,
    new RegExp(
      `E> ER_REPLICASET_UUID_MISMATCH: Replica set UUID mismatch: expected ${i3.cluster.uuid}, got ${i1.cluster.uuid}$`,
    ),
    /C> failed to synchronize with [12] out of 2 replicas$/,
    /C> entering orphan mode$/,
  ]);
  expect(r4.logSince(mark)).not.toMatch(/ER_REPLICASET_UUID_MISMATCH[^\n]*\n[^\n]*will retry/);
  await until(
    'm1 upstream follows',
    async () => (await c4.replication())[1]?.upstream?.status === 'follow',
  );
}

describe('§9 a master of a different replica set', () => {
  it('§9a–§9f with a tarantype foreign master', async () => {
    await scenario('tarantype');
  });
  it.skipIf(needsTarantool.skip)('§9a–§9f with a Tarantool 2.6 foreign master', async () => {
    requireTarantool();
    await scenario('tarantool');
  });
});
