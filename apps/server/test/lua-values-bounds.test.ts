// Regression (found by the fuzz campaign, test/iproto-fuzz.ts: a live server stopped answering
// anything): converting an EVAL's Lua result to JS could hold the event loop. Three causes in
// src/lua/lua-values.ts: a table with a 'seq' __serialize looped up to its largest key (2^40);
// shared tables expanded exponentially ({t, t} 64 times: 2^64 values); deep tables overflowed
// the Lua C stack into the wasm heap ("memory access out of bounds" for every later EVAL).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, Cluster, STANDARD_USERS } from './replication/cluster.js';

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

describe('Lua results of EVAL are converted in bounded time', () => {
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

  it('a table that contains itself is cut at once, not expanded to the depth bound', async () => {
    const { result, ms } = await evalWithin('local t = {} t[1] = t t[2] = t t[3] = t return t');
    expect(ms).toBeLessThan(3000);
    expect(result).toEqual([['<too deep>', '<too deep>', '<too deep>']]);
  });

  it('deep tables stop at the depth bound and leave the Lua state usable', async () => {
    const { result } = await evalWithin('local t = {} for i = 1, 200 do t = {t} end return t');
    expect(JSON.stringify(result)).toContain('<too deep>');
    expect((await evalWithin('return 1 + 1')).result).toEqual([2]);
  });
});
