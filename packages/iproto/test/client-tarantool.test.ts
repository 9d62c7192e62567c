// The typed client against a real Tarantool 2.6 started on an ephemeral port (skipped when
// `tarantool` is not on PATH): every method, names, schema refresh after DDL, errors, timeouts.
import { ClientError, ErrorCode, TimedOutError } from '@tarantype/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type IprotoClient } from '../src/client.js';
import { RemoteError } from '../src/error-encoding.js';
import { hasTarantool, startTarantool, type TarantoolServer } from './tarantool-process.js';

const SETUP = `
box.schema.user.create('tester', {password = 'secret'})
box.schema.user.grant('tester', 'read,write,execute,create,drop,alter', 'universe')
local s = box.schema.space.create('test')
s:create_index('primary', {parts = {1, 'unsigned'}})
s:create_index('by_name', {parts = {2, 'string'}, unique = true})
function myfunc(...) return ... end
function multi() return 1, {2, 3}, 'x' end
function sleepy(t) require('fiber').sleep(t) return 'woke' end
`;

describe.skipIf(!hasTarantool)('IprotoClient against real Tarantool 2.6', () => {
  let tt: TarantoolServer;
  let client: IprotoClient;

  beforeAll(async () => {
    tt = await startTarantool(SETUP);
    client = await connect(`tester:secret@127.0.0.1:${tt.port}`);
  });
  afterAll(async () => {
    client?.destroy();
    await tt?.stop();
  });

  it('greets as 2.6.0 and pings', async () => {
    expect(client.greeting?.version).toBe('2.6.0');
    expect(client.greeting?.salt.length).toBe(32);
    await client.ping();
    expect(client.schemaVersion).toBeGreaterThan(0);
  });

  it('DML and select by names', async () => {
    expect(await client.insert('test', [1, 'one', 10])).toEqual([1, 'one', 10]);
    expect(await client.replace('test', [2, 'two', 20])).toEqual([2, 'two', 20]);
    expect(await client.select('test', 'by_name', ['two'])).toEqual([[2, 'two', 20]]);
    expect(await client.select('test', 'primary', [], { iterator: 'ALL' })).toEqual([
      [1, 'one', 10],
      [2, 'two', 20],
    ]);
    expect(await client.select('test', 0, [1], { iterator: 'GT' })).toEqual([[2, 'two', 20]]);
    expect(await client.update('test', 'primary', [1], [['+', 2, 5]])).toEqual([1, 'one', 15]);
    expect(await client.update('test', 0, [1], [['=', 3, 'x']], { indexBase: 1 })).toEqual([
      1,
      'one',
      'x',
    ]);
    await client.upsert('test', [3, 'three', 0], [['+', 2, 1]]);
    await client.upsert('test', [3, 'three', 0], [['+', 2, 1]]);
    expect(await client.select('test', 0, [3])).toEqual([[3, 'three', 1]]);
    expect(await client.delete('test', 'primary', [3])).toEqual([3, 'three', 1]);
    expect(await client.delete('test', 0, [3])).toBeUndefined();
  });

  it('CALL, CALL_16, EVAL and SQL', async () => {
    expect(await client.call('myfunc', [1, [2, 3]])).toEqual([1, [2, 3]]);
    expect(await client.call16('myfunc', [1, [2, 3]])).toEqual([[1], [2, 3]]);
    expect(await client.call16('multi')).toEqual([[1], [2, 3], ['x']]);
    expect(await client.eval('return ...', [5, 'a'])).toEqual([5, 'a']);
    const rows = await client.execute('SELECT 1 AS a, ? AS b', ['x']);
    expect(rows.metadata).toEqual([
      { name: 'A', type: 'integer' },
      { name: 'B', type: 'text' },
    ]);
    expect(rows.rows).toEqual([[1, 'x']]);
  });

  it('errors come back as RemoteError with 2.6 codes and texts', async () => {
    await client.replace('test', [10, 'ten']);
    const dup = await client.insert('test', [10, 'ten']).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(RemoteError);
    expect(dup).toMatchObject({
      code: ErrorCode.ER_TUPLE_FOUND,
      type: 'ClientError',
      message: "Duplicate key exists in unique index 'primary' in space 'test'",
    });
    const lua = await client.eval("error('boom')").catch((e: unknown) => e);
    expect(lua).toMatchObject({ code: ErrorCode.ER_PROC_LUA, type: 'LuajitError' });
    const wrong = await connect(`tester:wrong@127.0.0.1:${tt.port}`).catch((e: unknown) => e);
    expect(wrong).toMatchObject({
      code: ErrorCode.ER_PASSWORD_MISMATCH,
      message: "Incorrect password supplied for user 'tester'",
    });
    const noSpace = await client.select('nosuch').catch((e: unknown) => e);
    expect(noSpace).toBeInstanceOf(ClientError);
  });

  it('sees DDL: a space created after the cache was filled resolves by name', async () => {
    await client.select('test');
    await client.eval("box.schema.space.create('later'):create_index('pk')");
    expect(await client.insert('later', [1, 'x'])).toEqual([1, 'x']);
    expect(await client.select('later', 'pk', [1])).toEqual([[1, 'x']]);
  });

  it('pipelines 1000 requests; per-request timeouts', async () => {
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => client.call('myfunc', [i])),
    );
    expect(results.map((r) => r[0])).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const slow = await client.call('sleepy', [0.5], { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(TimedOutError);
    await client.ping();
  });
});
