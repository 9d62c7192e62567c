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
