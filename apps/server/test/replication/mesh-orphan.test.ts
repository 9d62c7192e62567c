// Orphan mode (issue 11): box.cfg{replication=…} that cannot connect and sync leaves the
// instance 'orphan' and read-only, and it leaves orphan mode by itself once synced.
// replication_connect_quorum and replication_sync_lag each have a test that fails if the
// option is ignored: a quorum of 1 with one dead source is 'running' where the default (all)
// is 'orphan'; a sync lag below the link's real lag keeps the upstream in 'sync' (orphan)
// until the option is raised. The master is tarantype in one run and Tarantool 2.6 in another.
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Client,
  Cluster,
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

const READONLY = "Can't modify data because this instance is in read-only mode.";
const statusOf = async (c: Client) => {
  const info = await c.info();
  return [info.status, info.ro];
};

async function quorum(masterKind: Kind): Promise<void> {
  cluster = new Cluster(`orphan-quorum-${masterKind}`);
  const m1 = await cluster.node('m1', masterKind, { users: STANDARD_USERS, cfg: FAST }).start();
  const r2 = await cluster
    .node('r2', 'tarantype', { users: STANDARD_USERS, replication: [m1.uri()], cfg: FAST })
    .start();
  const rc = await r2.client();
  const dead = `replicator:password@127.0.0.1:${await cluster.deadPort()}`;
  const cfg = { replication_connect_timeout: 1, replication_sync_timeout: 1 };
  // Default quorum (all sources): one unreachable source makes an orphan.
  await rc.cfg({ ...cfg, replication: [m1.uri(), dead] });
  expect(await statusOf(rc)).toEqual(['orphan', true]);
  await expect(rc.insert('_schema', ['probe'])).rejects.toMatchObject({ message: READONLY });
  // Quorum 1: the reachable master is enough.
  const mark = r2.mark();
  await rc.cfg({ replication_connect_quorum: 1 });
  await rc.cfg({ replication: [] });
  await rc.cfg({ replication: [m1.uri(), dead] });
  expect(await statusOf(rc)).toEqual(['running', false]);
  expect(r2.logSince(mark)).toMatch(/I> replica set sync complete$/m);
  expect((await rc.replication())[1]?.upstream?.status).toBe('follow');
  // Quorum 2 (both sources) again: orphan.
  await rc.cfg({ replication_connect_quorum: 2 });
  await rc.cfg({ replication: [] });
  await rc.cfg({ replication: [m1.uri(), dead] });
  expect(await statusOf(rc)).toEqual(['orphan', true]);
}

async function syncLag(masterKind: Kind): Promise<void> {
  cluster = new Cluster(`orphan-sync-lag-${masterKind}`);
  const m1 = await cluster
    .node('m1', masterKind, { users: STANDARD_USERS, cfg: { ...FAST, replication_timeout: 0.2 } })
    .start();
  const mc = await m1.client();
  await mc.createSpace('tester');
  await mc.createIndex('tester', 'primary');
  const proxy = await cluster.proxy(m1.port, 300);
  const via = `replicator:password@127.0.0.1:${proxy.port}`;
  const r2 = await cluster
    .node('r2', 'tarantype', {
      replication: [via],
      cfg: { ...FAST, replication_timeout: 0.2, replication_connect_timeout: 5 },
    })
    .start(20_000);
  const rc = await r2.client();
  // The default sync lag (10 s) is far above the link's 0.3 s: follow.
  expect((await rc.replication())[1]?.upstream?.status).toBe('follow');
  // A sync lag below the link's lag: the upstream stays in 'sync', box.cfg gives up: orphan.
  await rc.cfg({ replication_sync_lag: 0.1, replication_sync_timeout: 1 });
  await rc.cfg({ replication: [] });
  const mark = r2.mark();
  await rc.cfg({ replication: [via] });
  expect(await statusOf(rc)).toEqual(['orphan', true]);
  await mc.insert('tester', [1, 'while the replica is an orphan']);
  await until('the row arrives', async () => (await rc.select('tester')).length === 1, 5000);
  expect((await rc.replication())[1]?.upstream?.status).toBe('sync');
  expect((await rc.replication())[1]?.upstream?.lag).toBeGreaterThan(0.1);
  expect(r2.logSince(mark)).toMatch(/C> failed to synchronize with 1 out of 1 replicas$/m);
  // Raising the option: the next heartbeat is within the lag, the upstream follows and the
  // instance leaves orphan mode by itself (no box.cfg{replication} call).
  const before = r2.mark();
  await rc.cfg({ replication_sync_lag: 1 });
  await until('running again', async () => (await rc.info()).status === 'running', 5000);
  expect(await statusOf(rc)).toEqual(['running', false]);
  expect((await rc.replication())[1]?.upstream?.status).toBe('follow');
  expect(r2.logSince(before)).toMatch(/C> leaving orphan mode$/m);
}

describe('orphan mode options', () => {
  it('replication_connect_quorum: 1 with a dead source is running, the default is orphan (tarantype master)', async () => {
    await quorum('tarantype');
  });
  it.skipIf(needsTarantool.skip)(
    'replication_connect_quorum with a Tarantool 2.6 master',
    async () => {
      requireTarantool();
      await quorum('tarantool');
    },
  );
  it('replication_sync_lag below the link lag keeps an orphan in sync; raising it lets it leave by itself', async () => {
    await syncLag('tarantype');
  });
  it.skipIf(needsTarantool.skip)('replication_sync_lag with a Tarantool 2.6 master', async () => {
    requireTarantool();
    await syncLag('tarantool');
  });
});
