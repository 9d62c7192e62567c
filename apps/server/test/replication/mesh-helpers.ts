// Helpers of the master-master and mesh tests (s04, s05, mesh-*): a pair set up the seed's
// way, a full mesh, cutting and restoring links, and convergence checks through clients.
// Layer: apps/server tests, over cluster.ts.
import { expect } from 'vitest';
import {
  type Client,
  type Cluster,
  type Kind,
  type Node,
  STANDARD_USERS,
  until,
} from './cluster.js';

/** Short timeouts so a test that fails does so in seconds (reference values are 1 s / 30 s). */
export const FAST = {
  replication_timeout: 0.3,
  replication_connect_timeout: 2,
  replication_sync_timeout: 2,
};

export interface Member {
  readonly node: Node;
  readonly client: Client;
}

/** The seed's master-master setup: m2 joins m1, then m1 adds m2; a 'tester' space. */
export async function masterMaster(
  cluster: Cluster,
  kinds: readonly [Kind, Kind],
  cfg: Record<string, unknown> = FAST,
): Promise<[Member, Member]> {
  const m1 = cluster.node('m1', kinds[0], { users: STANDARD_USERS, cfg });
  await m1.start();
  const c1 = await m1.client();
  await c1.createSpace('tester');
  await c1.createIndex('tester', 'primary');
  const m2 = cluster.node('m2', kinds[1], { users: STANDARD_USERS, replication: [m1.uri()], cfg });
  await m2.start();
  const c2 = await m2.client();
  await c1.cfg({ replication: [m2.uri()] });
  const pair: [Member, Member] = [
    { node: m1, client: c1 },
    { node: m2, client: c2 },
  ];
  await allFollow(pair);
  return pair;
}

/**
 * 2.6.0's bootstrap race, which tarantype keeps (reference §4-3, the earlier run): a fresh
 * mesh's leader registers a joining member, and that member subscribes to a third one before
 * the third has the `_cluster` row. The third refuses with ER_UNKNOWN_REPLICA, the upstream
 * stays `stopped` for good and the member `orphan`. An operator restarts the appliers with
 * `box.cfg{replication = {}}` and the old value; so do tests whose subject is not bootstrap.
 * Returns how many members were resumed (printed, so a run shows it happened); any other
 * state is left to the caller's own wait.
 */
export async function resumeEarlySubscribers(
  members: readonly Member[],
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  // Once a second per member, as an operator would: the refusing peer may need a moment more.
  const lastResume = new Array<number>(members.length).fill(0);
  let resumed = 0;
  while (Date.now() < deadline) {
    let pending = false;
    for (const [i, m] of members.entries()) {
      const info = await m.client.info();
      const upstreams = Object.values(info.replication)
        .filter((r) => r.id !== info.id && r.upstream !== undefined)
        .map((r) => r.upstream);
      // Its configured peers other than itself (a full mesh lists itself too).
      const peers = (m.node.options.replication ?? []).filter(
        (uri) => !uri.endsWith(`:${m.node.port}`),
      ).length;
      if (upstreams.length >= peers && upstreams.every((u) => u?.status === 'follow')) continue;
      pending = true;
      const early = upstreams.some(
        (u) =>
          u?.status === 'stopped' && /is not registered with replica set/.test(u.message ?? ''),
      );
      if (!early || Date.now() - lastResume[i]! < 1000) continue;
      lastResume[i] = Date.now();
      resumed += 1;
      console.log(`${m.node.name}: an upstream was refused by 2.6's bootstrap race; resuming it`);
      await m.client.cfg({ replication: [] });
      await m.client.cfg({ replication: m.node.options.replication });
    }
    if (!pending) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return resumed;
}

/** Waits until every member's upstreams to the others follow. */
export async function allFollow(members: readonly Member[], timeoutMs = 8000): Promise<void> {
  await until(
    'every upstream follows',
    async () => {
      for (const m of members) {
        const info = await m.client.info();
        const ups = Object.values(info.replication).filter((r) => r.id !== info.id);
        if (ups.length < members.length - 1) return false;
        if (!ups.every((r) => r.upstream?.status === 'follow')) return false;
      }
      return true;
    },
    timeoutMs,
  );
}

/** box.cfg{replication = {}} on each (the reference's way of making concurrency deterministic). */
export async function cut(members: readonly Member[]): Promise<void> {
  for (const m of members) await m.client.cfg({ replication: [] });
}

/** Each member back to the URIs of all the others. */
export async function restore(members: readonly Member[]): Promise<void> {
  for (const m of members)
    await m.client.cfg({
      replication: members.filter((o) => o !== m).map((o) => o.node.uri()),
    });
}

/** Waits until every member has the same vclock (component 0 left out) and returns it. */
export async function sameVclock(
  members: readonly Member[],
  timeoutMs = 8000,
): Promise<Record<number, number>> {
  let last: Record<number, number> = {};
  await until(
    'the same vclock everywhere',
    async () => {
      const vclocks = await Promise.all(members.map(async (m) => (await m.client.info()).vclock));
      const strip = (v: Record<number, number>) =>
        JSON.stringify(
          Object.entries(v)
            .filter(([id]) => id !== '0')
            .sort(([a], [b]) => Number(a) - Number(b)),
        );
      last = vclocks[0]!;
      return vclocks.every((v) => strip(v) === strip(vclocks[0]!));
    },
    timeoutMs,
  );
  const { 0: _local, ...rest } = last;
  return rest;
}

/** space:get{key} on every member. */
export async function getAll(members: readonly Member[], key: unknown): Promise<unknown[]> {
  return Promise.all(
    members.map(async (m) => (await m.client.select('tester', [key], 'EQ'))[0] ?? null),
  );
}

export function expectFollow(member: { upstream?: { status: string } } | undefined): void {
  expect(member?.upstream?.status).toBe('follow');
}
