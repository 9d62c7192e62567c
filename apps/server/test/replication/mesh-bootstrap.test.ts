// A fresh full mesh (every instance empty, each listing every URI, itself included, as the
// reference §4-3 mesh does) bootstraps ONE replica set: the instances read each other's
// ballots and agree on the bootstrap leader (2.6's rule: booted before loading, the most
// advanced vclock, then the lowest uuid); the leader starts the set and the others join it.
// Then every write is applied once on every instance. tarantype-only and with a 2.6 member.
import { afterEach, describe, expect, it } from 'vitest';
import {
  Cluster,
  type Kind,
  type Node,
  needsTarantool,
  requireTarantool,
  STANDARD_USERS,
} from './cluster.js';
import {
  allFollow,
  FAST,
  type Member,
  resumeEarlySubscribers,
  sameVclock,
} from './mesh-helpers.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

async function freshMesh(label: string, kinds: readonly Kind[]): Promise<Member[]> {
  cluster = new Cluster(label);
  const ports: number[] = [];
  for (const _ of kinds) ports.push(await cluster.deadPort());
  const uris = ports.map((port) => `replicator:password@127.0.0.1:${port}`);
  const nodes: Node[] = kinds.map((kind, i) =>
    cluster.node(`m${i + 1}`, kind, {
      users: STANDARD_USERS,
      replication: uris,
      port: ports[i]!,
      cfg: { ...FAST, replication_connect_timeout: 10 },
    }),
  );
  for (const node of nodes) node.spawn();
  await Promise.all(nodes.map((node) => node.ready(30_000)));
  const members = await Promise.all(
    nodes.map(async (node) => ({ node, client: await node.client() })),
  );
  await resumeEarlySubscribers(members);
  return members;
}

async function checkOneSet(members: Member[]): Promise<void> {
  await allFollow(members, 15_000);
  const infos = await Promise.all(members.map((m) => m.client.info()));
  const sets = new Set(infos.map((i) => i.cluster.uuid));
  expect(sets.size).toBe(1);
  expect(infos.map((i) => i.id).sort()).toEqual([1, 2, 3]);
  for (const info of infos) expect(info.status).toBe('running');
  for (const m of members) expect((await m.client.cluster()).length).toBe(3);
  const leader = members.find((_, i) => infos[i]!.id === 1)!;
  const [space] = await leader.client.eval('return box.space.tester == nil');
  if (space === true) {
    await leader.client.createSpace('tester');
    await leader.client.createIndex('tester', 'primary');
  }
  await sameVclock(members);
  for (const [i, m] of members.entries())
    await m.client.insert('tester', [infos[i]!.id, `written on ${infos[i]!.id}`]);
  const vclock = await sameVclock(members);
  for (const info of infos) expect(vclock[info.id]).toBeGreaterThanOrEqual(1);
  for (const m of members)
    expect(await m.client.select('tester')).toEqual([
      [1, 'written on 1'],
      [2, 'written on 2'],
      [3, 'written on 3'],
    ]);
  // No instance has an upstream to itself.
  for (const [i, m] of members.entries())
    expect((await m.client.replication())[infos[i]!.id]?.upstream).toBeUndefined();
}

describe('a fresh full mesh bootstraps one replica set', () => {
  it('three tarantype instances started at once, each listing all three URIs', async () => {
    const members = await freshMesh('mesh-fresh', ['tarantype', 'tarantype', 'tarantype']);
    await checkOneSet(members);
    // Exactly one of them bootstrapped the set; the others joined it.
    const bootstrapped = members.filter((m) =>
      /initializing an empty data directory/.test(m.node.log),
    );
    expect(bootstrapped.length).toBe(1);
    for (const m of members)
      if (!bootstrapped.includes(m))
        expect(m.node.log).toMatch(
          /I> bootstrapping replica from [0-9a-f-]{36} at 127\.0\.0\.1:\d+$/m,
        );
  });

  it.skipIf(needsTarantool.skip)('two tarantype instances and a Tarantool 2.6 one', async () => {
    requireTarantool();
    const members = await freshMesh('mesh-fresh-tt', ['tarantype', 'tarantool', 'tarantype']);
    await checkOneSet(members);
  });
});

describe("2.6's bootstrap race: a member registered by one peer subscribes to another too early", () => {
  it('the upstream stops with ER_UNKNOWN_REPLICA, and resumeEarlySubscribers brings it to follow', async () => {
    cluster = new Cluster('mesh-early-subscribe');
    // replication_timeout 1 s: the one 1.5 s gap when the delay starts stays under 4 timeouts.
    const SLOW_OK = { ...FAST, replication_timeout: 1 };
    const m1 = cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: SLOW_OK });
    await m1.start();
    const c1 = await m1.client();
    const m2 = cluster.node('m2', 'tarantype', {
      users: STANDARD_USERS,
      replication: [m1.uri()],
      cfg: SLOW_OK,
    });
    await m2.start();
    const c2 = await m2.client();
    // m1 hears m2 through a proxy that, once the pair follows, delays everything by 1.5 s:
    // m3's _cluster row, which m2 writes when m3 joins it, reaches m1 late.
    const slow = await cluster.proxy(m2.port, 0);
    m1.options = { ...m1.options, replication: [`replicator:password@127.0.0.1:${slow.port}`] };
    await c1.cfg({ replication: m1.options.replication });
    const pair: Member[] = [
      { node: m1, client: c1 },
      { node: m2, client: c2 },
    ];
    await allFollow(pair, 15_000);
    slow.delayMs = 1500;
    const m3 = cluster.node('m3', 'tarantype', {
      users: STANDARD_USERS,
      replication: [m2.uri()],
      cfg: SLOW_OK,
    });
    await m3.start();
    const c3 = await m3.client();
    m3.options = { ...m3.options, replication: [m2.uri(), m1.uri()] };
    await c3.cfg({ replication: m3.options.replication });
    const id1 = (await c1.info()).id;
    const refused = (await c3.replication())[id1]?.upstream;
    expect(refused?.status).toBe('stopped');
    expect(refused?.message).toBe(
      `Replica ${(await c3.info()).uuid} is not registered with replica set ${(await c1.info()).cluster.uuid}`,
    );
    const members: Member[] = [...pair, { node: m3, client: c3 }];
    slow.delayMs = 0;
    expect(await resumeEarlySubscribers(members, 15_000)).toBeGreaterThanOrEqual(1);
    expect((await c3.replication())[id1]?.upstream?.status).toBe('follow');
    expect((await c3.info()).status).toBe('running');
    await sameVclock(members);
  });
});
