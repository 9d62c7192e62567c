// Reference §5 (seed "Replication runs out of sync"): upsert travels as its operations, so a
// concurrent non-commutative upsert diverges (crossed), the commutative '+' converges, a
// concurrent replace crosses, an update against a delete ends without the tuple (§5g). Run on
// a tarantype pair and on a pair with a Tarantool 2.6 master. Concurrency is made
// deterministic as the reference does: cut both links, write on both, restore.
import type { UpdateOperation } from '@tarantype/iproto';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, type Kind, needsTarantool, requireTarantool } from './cluster.js';
import { cut, type Member, masterMaster, restore, sameVclock } from './mesh-helpers.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

const upsert = (m: Member, tuple: unknown[], ops: UpdateOperation[]) =>
  m.client.iproto.upsert('tester', tuple, ops, { indexBase: 1, timeoutMs: 5000 });
const get = async (m: Member, key: number) =>
  (await m.client.select('tester', [key], 'EQ'))[0] ?? null;

async function scenario(kinds: readonly [Kind, Kind]): Promise<void> {
  cluster = new Cluster(`s05-${kinds.join('-')}`);
  const pair = await masterMaster(cluster, kinds);
  const [m1, m2] = pair;
  const [u1, u2] = [(await m1.client.info()).uuid, (await m2.client.info()).uuid];
  const both = async (key: number) => [await get(m1, key), await get(m2, key)];

  // §5a sequential: the last upsert wins on both.
  await upsert(m1, [1], [['=', 2, u1]]);
  await sameVclock(pair);
  expect(await both(1)).toEqual([[1], [1]]);
  await upsert(m1, [1], [['=', 2, u1]]);
  await sameVclock(pair);
  await upsert(m2, [1], [['=', 2, u2]]);
  await sameVclock(pair);
  expect(await both(1)).toEqual([
    [1, u2],
    [1, u2],
  ]);

  // §5b concurrent on an existing tuple: each ends with the OTHER's uuid (arrival order).
  await cut(pair);
  await upsert(m1, [1], [['=', 2, u1]]);
  await upsert(m2, [1], [['=', 2, u2]]);
  expect(await both(1)).toEqual([
    [1, u1],
    [1, u2],
  ]);
  await restore(pair);
  await sameVclock(pair);
  expect(await both(1)).toEqual([
    [1, u2],
    [1, u1],
  ]);

  // Missing key: both insert the plain tuple, then each applies the other's op.
  await cut(pair);
  await upsert(m1, [2], [['=', 2, u1]]);
  await upsert(m2, [2], [['=', 2, u2]]);
  expect(await both(2)).toEqual([[2], [2]]);
  await restore(pair);
  await sameVclock(pair);
  expect(await both(2)).toEqual([
    [2, u2],
    [2, u1],
  ]);

  // Commutative '+' on a missing key: {10, 0} on both, then the other's +1: {10, 1} on both.
  await cut(pair);
  await upsert(m1, [10, 0], [['+', 2, 1]]);
  await upsert(m2, [10, 0], [['+', 2, 1]]);
  expect(await both(10)).toEqual([
    [10, 0],
    [10, 0],
  ]);
  await restore(pair);
  await sameVclock(pair);
  expect(await both(10)).toEqual([
    [10, 1],
    [10, 1],
  ]);

  // §5e commutative '+' on an existing key: 3 on m1 and 2 on m2 converge to 6.
  await cut(pair);
  for (let i = 0; i < 3; i++) await upsert(m1, [10, 0], [['+', 2, 1]]);
  for (let i = 0; i < 2; i++) await upsert(m2, [10, 0], [['+', 2, 1]]);
  expect(await both(10)).toEqual([
    [10, 4],
    [10, 3],
  ]);
  await restore(pair);
  await sameVclock(pair);
  expect(await both(10)).toEqual([
    [10, 6],
    [10, 6],
  ]);

  // Concurrent replace: crossed.
  await cut(pair);
  await m1.client.iproto.replace('tester', [20, 'replace from m1']);
  await m2.client.iproto.replace('tester', [20, 'replace from m2']);
  await restore(pair);
  await sameVclock(pair);
  expect(await both(20)).toEqual([
    [20, 'replace from m2'],
    [20, 'replace from m1'],
  ]);

  // §5g update '=' vs delete: both end without the tuple.
  await m1.client.iproto.replace('tester', [30, 'base']);
  await sameVclock(pair);
  await cut(pair);
  expect(
    await m1.client.iproto.update('tester', 0, [30], [['=', 2, 'updated on m1']], {
      indexBase: 1,
    }),
  ).toEqual([30, 'updated on m1']);
  expect(await m2.client.iproto.delete('tester', 0, [30])).toEqual([30, 'base']);
  await restore(pair);
  await sameVclock(pair);
  expect(await both(30)).toEqual([null, null]);
  // Replication stays follow in all these cases.
  expect((await m1.client.replication())[2]?.upstream?.status).toBe('follow');
  expect((await m2.client.replication())[1]?.upstream?.status).toBe('follow');
}

describe('§5 upsert: non-commutative vs commutative', () => {
  it('§5a/§5b/§5e/§5g on a tarantype pair', async () => {
    await scenario(['tarantype', 'tarantype']);
  });
  it.skipIf(needsTarantool.skip)('§5a/§5b/§5e/§5g with a Tarantool 2.6 master', async () => {
    requireTarantool();
    await scenario(['tarantool', 'tarantype']);
  });
});
