// Regression (found by the fuzz campaign, test/iproto-fuzz.ts: a live server stopped answering
// anything): values crossing between JS and Lua for EVAL could hold the event loop or corrupt
// the Lua state. Causes in src/lua/lua-values.ts: a table with a 'seq' __serialize looped up to
// its largest key (2^40); shared tables expanded exponentially ({t, t} 64 times: 2^64 values);
// deep tables overflowed the Lua C stack into the wasm heap ("memory access out of bounds" for
// every later EVAL); and an EVAL argument nested more than ~40 levels deep (a 'deep-nesting'
// mutation, `return ...` with [[[…]]]) was pushed past the Lua stack, after which every request
// hung. Depth follows Tarantool 2.6's msgpack encoder: a result nests at most 128 tables, a
// deeper one or a table inside itself fails with "Too high nest level - 129" (ER_PROC_LUA);
// the last block checks those answers against a real 2.6.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Client,
  Cluster,
  needsTarantool,
  requireTarantool,
  STANDARD_USERS,
} from './replication/cluster.js';

const ER_PROC_LUA = 32;

/** `depth` nested arrays around `inner` (1: COUNT_DEPTH counts box.NULL, a table here, as one). */
const nested = (depth: number, inner: unknown = 1): unknown => {
  let value: unknown = inner;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};
const COUNT_DEPTH =
  'local a = ... local d = 0 while type(a) == "table" do d = d + 1 a = a[1] end return d';
const TOO_DEEP = { code: ER_PROC_LUA, message: 'Too high nest level - 129' };

/** The EVALs whose answers tarantype and 2.6 share: a value (as JSON) or an error. */
const SAME_AS_2_6: ReadonlyArray<{
  readonly expr: string;
  readonly args: unknown[];
  readonly answer: { json: string } | typeof TOO_DEEP;
}> = [
  { expr: COUNT_DEPTH, args: [nested(60)], answer: { json: '[60]' } },
  { expr: COUNT_DEPTH, args: [nested(511)], answer: { json: '[511]' } },
  { expr: 'return ...', args: [nested(128)], answer: { json: JSON.stringify([nested(128)]) } },
  { expr: 'return ...', args: [nested(129)], answer: TOO_DEEP },
  // nil inside the deepest table: box.NULL takes no level (2.6's is cdata, not a table).
  {
    expr: 'return ...',
    args: [nested(128, null)],
    answer: { json: JSON.stringify([nested(128, null)]) },
  },
  { expr: 'return ...', args: [nested(300), 5], answer: TOO_DEEP },
  { expr: 'return {...}', args: [nested(127)], answer: { json: JSON.stringify([[nested(127)]]) } },
  { expr: 'return {...}', args: [nested(128)], answer: TOO_DEEP },
  {
    expr: 'local t = {} for i = 1, 127 do t = {t} end return t',
    args: [],
    answer: { json: JSON.stringify([nested(127)]).replace('1', '[]') },
  },
  { expr: 'local t = {} for i = 1, 128 do t = {t} end return t', args: [], answer: TOO_DEEP },
  // A table met again deeper down than where it was first converted.
  {
    expr: 'local x = {1} local t = {x} for i = 1, 126 do t = {t} end return x, t',
    args: [],
    answer: { json: JSON.stringify([[1], nested(128)]) },
  },
  {
    expr: 'local x = {} for i = 1, 126 do x = {x} end return {x}, {{x}}',
    args: [],
    answer: TOO_DEEP,
  },
  { expr: 'local t = {} t[1] = t t[2] = t t[3] = t return t', args: [], answer: TOO_DEEP },
  { expr: 'local t = {} t.a = t return t', args: [], answer: TOO_DEEP },
  { expr: 'return 1 + 1', args: [], answer: { json: '[2]' } },
];

async function answerOf(client: Client, expr: string, args: unknown[]) {
  const started = performance.now();
  try {
    const result = await client.iproto.eval(expr, args, { timeoutMs: 3000 });
    return { answer: { json: JSON.stringify(result) }, ms: performance.now() - started };
  } catch (error) {
    const { code, message } = error as { code?: number; message: string };
    return { answer: { code, message }, ms: performance.now() - started };
  }
}

describe('Lua values of EVAL cross in bounded time and stack (tarantype)', () => {
  let cluster: Cluster;
  let client: Client;
  beforeAll(async () => {
    cluster = new Cluster('lua-values-bounds');
    const node = cluster.node('n', 'tarantype', { users: STANDARD_USERS });
    await node.start(30_000);
    client = await node.client();
  }, 60_000);
  afterAll(() => cluster.cleanup());

  const evalWithin = async (expr: string, ms = 3000) => {
    const started = performance.now();
    const result = await client.iproto.eval(expr, [], { timeoutMs: ms });
    return { result, ms: performance.now() - started };
  };

  it("a 'seq' table with a huge key is its border (#t), as Tarantool's lua_objlen", async () => {
    expect(
      (await evalWithin("return setmetatable({[2^40] = 1}, {__serialize = 'seq'})")).result,
    ).toEqual([[]]);
    expect(
      (await evalWithin("return setmetatable({1, 2, [5000000] = 3}, {__serialize = 'seq'})"))
        .result,
    ).toEqual([[1, 2]]);
  });

  it('shared tables are converted once; an exponential expansion is cut', async () => {
    expect((await evalWithin('local x = {1, 2} return {x, x, {x}}')).result).toEqual([
      [[1, 2], [1, 2], [[1, 2]]],
    ]);
    const { result, ms } = await evalWithin(
      'local t = {} for i = 1, 64 do t = {t, t} end return t',
    );
    expect(ms).toBeLessThan(3000);
    expect(JSON.stringify(result)).toContain('<too large>');
  });

  it('an argument nested hundreds of levels deep reaches Lua whole, and the server goes on', async () => {
    // Before the fix: "memory access out of bounds" at 60 levels, then every request hung.
    for (const depth of [40, 60, 200, 511]) {
      const { answer, ms } = await answerOf(client, COUNT_DEPTH, [nested(depth)]);
      expect(answer, `depth ${depth}`).toEqual({ json: `[${depth}]` });
      expect(ms).toBeLessThan(3000);
      const back = await answerOf(client, 'return ...', [nested(depth)]);
      expect(back.answer).toEqual(
        depth <= 128 ? { json: JSON.stringify([nested(depth)]) } : TOO_DEEP,
      );
    }
    expect((await answerOf(client, 'return 1 + 1', [])).answer).toEqual({ json: '[2]' });
    expect(await client.iproto.ping()).toBeUndefined();
  });

  it('results nest 128 tables at most; deeper, or a table inside itself, is 2.6’s error', async () => {
    for (const { expr, args, answer } of SAME_AS_2_6) {
      const got = await answerOf(client, expr, args);
      expect(got.answer, expr).toEqual(answer);
      expect(got.ms, expr).toBeLessThan(3000);
    }
  });
});

describe.skipIf(needsTarantool.skip)('the same EVALs against Tarantool 2.6', () => {
  let cluster: Cluster;
  let client: Client;
  beforeAll(async () => {
    requireTarantool();
    cluster = new Cluster('lua-values-bounds-2.6');
    const node = cluster.node('t', 'tarantool', { users: STANDARD_USERS });
    await node.start(30_000);
    client = await node.client();
  }, 60_000);
  afterAll(() => cluster?.cleanup());

  it('answer as tarantype does', async () => {
    for (const { expr, args, answer } of SAME_AS_2_6)
      expect((await answerOf(client, expr, args)).answer, expr).toEqual(answer);
  });
});
