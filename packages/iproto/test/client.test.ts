// The typed client against our server (real sockets): every method, names through _vspace /
// _vindex, pipelining, timeouts, errors, reconnection with backoff.
import {
  ClientError,
  ErrorCode,
  IprotoType,
  SystemError,
  SystemSpace,
  TarantoolError,
  TimedOutError,
} from '@tarantype/core';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type IprotoClient } from '../src/client.js';
import { RemoteError } from '../src/error-encoding.js';
import { RawMsgpack } from '../src/raw-msgpack.js';
import { deferred, FlakyProxy, startServer, type TestServer } from './helpers.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setup(
  options: Parameters<typeof startServer>[0] = {},
): Promise<{ s: TestServer; client: IprotoClient }> {
  const s = await startServer(options);
  cleanup.push(() => s.close());
  s.handler.createUser('tester', 'secret');
  s.handler.createSpace({
    name: 'test',
    indexes: [
      { name: 'primary', parts: [{ field: 0, type: 'unsigned' }] },
      { name: 'by_name', parts: [{ field: 1, type: 'string' }], unique: true },
    ],
  });
  const client = await connect(`tester:secret@127.0.0.1:${s.port}`);
  cleanup.push(() => client.destroy());
  return { s, client };
}

describe('IprotoClient against the tarantype server', () => {
  it('connects with a URI, authenticates, pings', async () => {
    const { s, client } = await setup();
    s.handler.defineFunction('whoami', (_args, session) => [session.user.name]);
    await client.ping();
    expect(client.greeting?.instanceUuid).toBe(s.handler.uuid);
    expect(await client.call('whoami')).toEqual(['tester']);
    expect(client.connected).toBe(true);
  });

  it('DML and select by space and index names', async () => {
    const { client } = await setup();
    expect(await client.insert('test', [1, 'one', 10])).toEqual([1, 'one', 10]);
    expect(await client.insert('test', [2, 'two', 20])).toEqual([2, 'two', 20]);
    expect(await client.replace('test', [3, 'three', 30])).toEqual([3, 'three', 30]);
    expect(await client.select('test', 'primary', [2])).toEqual([[2, 'two', 20]]);
    expect(await client.select('test', 'by_name', ['three'])).toEqual([[3, 'three', 30]]);
    expect(await client.select('test', 0, [], { iterator: 'ALL', limit: 2 })).toEqual([
      [1, 'one', 10],
      [2, 'two', 20],
    ]);
    expect(await client.select('test', 0, [2], { iterator: 'ge', offset: 1 })).toEqual([
      [3, 'three', 30],
    ]);
    expect(await client.update('test', 'primary', [1], [['+', 2, 5]])).toEqual([1, 'one', 15]);
    expect(await client.update('test', 0, [1], [['=', 3, 'x']], { indexBase: 1 })).toEqual([
      1,
      'one',
      'x',
    ]);
    expect(await client.update('test', 0, [99], [['+', 2, 5]])).toBeUndefined();
    await client.upsert('test', [4, 'four', 0], [['+', 2, 1]]);
    await client.upsert('test', [4, 'four', 0], [['+', 2, 1]]);
    expect(await client.select('test', 0, [4])).toEqual([[4, 'four', 1]]);
    expect(await client.delete('test', 'primary', [4])).toEqual([4, 'four', 1]);
    expect(await client.delete('test', 0, [4])).toBeUndefined();
    const spaces = await client.spaces();
    expect(spaces.find((space) => space.name === 'test')?.indexes.get('by_name')).toBe(1);
  });

  it('call (CALL), call16 (CALL_16), eval, execute', async () => {
    const { s, client } = await setup();
    s.handler.defineFunction('pair', (args) => [args[0], [2, 3]]);
    s.handler.defineFunction('tuples', () => [
      [new RawMsgpack(new Uint8Array([0x91, 0x01])), new RawMsgpack(new Uint8Array([0x91, 0x02]))],
    ]);
    expect(await client.call('pair', [1])).toEqual([1, [2, 3]]);
    expect(await client.call16('pair', [1])).toEqual([[1], [2, 3]]);
    expect(await client.call16('tuples')).toEqual([[1], [2]]);
    expect(await client.eval('return ...', [5, 'a'])).toEqual([5, 'a']);
    s.handler.sql.set('SELECT 1', () => ({
      metadata: [{ name: 'COLUMN_1', type: 'integer' }],
      rows: [[1]],
    }));
    s.handler.sql.set('DELETE FROM t', () => ({ rowCount: 2, autoincrementIds: [7] }));
    expect(await client.execute('SELECT 1')).toEqual({
      metadata: [{ name: 'COLUMN_1', type: 'integer' }],
      rows: [[1]],
    });
    expect(await client.execute('DELETE FROM t')).toEqual({ rowCount: 2, autoincrementIds: [7] });
  });

  it('surfaces server errors as RemoteError (a TarantoolError) with code, type and message', async () => {
    const { client } = await setup();
    await client.insert('test', [1, 'one']);
    const error = await client.insert('test', [1, 'one']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toBeInstanceOf(TarantoolError);
    expect(error).toMatchObject({
      code: ErrorCode.ER_TUPLE_FOUND,
      type: 'ClientError',
      message: "Duplicate key exists in unique index 'primary' in space 'test'",
    });
    const unknown = await client.select('nosuch').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ClientError);
    expect((unknown as ClientError).message).toBe("Space 'nosuch' does not exist");
    const noIndex = await client.select('test', 'nosuch').catch((e: unknown) => e);
    expect((noIndex as ClientError).code).toBe(ErrorCode.ER_NO_SUCH_INDEX_NAME);
  });

  it('pipelines: 1000 requests in flight, answered out of order', async () => {
    const { s, client } = await setup();
    s.handler.defineFunction('jitter', async ([n]) => {
      await new Promise((r) => setTimeout(r, (n as number) % 7));
      return [n];
    });
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => client.call('jitter', [i])),
    );
    expect(results.map((r) => r[0])).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(client.inFlight).toBe(0);
  });

  it('per-request timeouts reject with TimedOutError; a late reply is ignored', async () => {
    const { s, client } = await setup();
    const gate = deferred();
    s.handler.defineFunction('slow', async () => {
      await gate.promise;
      return ['late'];
    });
    const error = await client.call('slow', [], { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimedOutError);
    expect((error as TimedOutError).code).toBe(ErrorCode.ER_SYSTEM);
    gate.resolve();
    await new Promise((r) => setTimeout(r, 20));
    await client.ping();
  });

  it('refuses a wrong password at connect with the uniform error', async () => {
    const { s } = await setup();
    const error = await connect(`tester:wrong@127.0.0.1:${s.port}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).code).toBe(ErrorCode.ER_PASSWORD_MISMATCH);
  });

  it('a refused connection is a SystemError', async () => {
    const s = await startServer();
    const port = s.port;
    await s.close();
    const error = await connect({ port, reconnect: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SystemError);
    expect((error as SystemError).message).toMatch(/ECONNREFUSED/);
  });

  it('refreshes names when the schema version changes (refetch on ER_WRONG_SCHEMA_VERSION)', async () => {
    const { s, client } = await setup();
    await client.select('test');
    const fetches = () => s.handler.served.filter((t) => t === IprotoType.SELECT).length;
    const before = fetches();
    // DDL on the server: the client's cache is now stale, but it does not know yet.
    s.handler.createSpace({ name: 'later' });
    expect(await client.select('test')).toEqual([]);
    // The first request was refused (wrong schema version), the schema refetched (2 selects),
    // and the request retried.
    expect(fetches() - before).toBe(3);
    expect(await client.insert('later', [1])).toEqual([1]);
  });

  it('a name unknown to the cache triggers one refetch', async () => {
    const { s, client } = await setup();
    await client.select('test');
    s.handler.createSpace({ name: 'fresh' });
    await client.ping(); // the reply's schema version drops the cache
    expect(await client.insert('fresh', [5])).toEqual([5]);
  });

  it('reconnects with backoff: in-flight requests fail, queued ones run after reconnection', async () => {
    const { s } = await setup();
    const proxy = await FlakyProxy.start(s.port);
    cleanup.push(() => proxy.close());
    const client = await connect({
      port: proxy.port,
      user: 'tester',
      password: 'secret',
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    });
    cleanup.push(() => client.destroy());
    const gate = deferred();
    s.handler.defineFunction('hang', async () => {
      await gate.promise;
      return [];
    });
    s.handler.defineFunction('whoami', (_args, session) => [session.user.name]);
    const inFlight = client.call('hang').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    proxy.down = true;
    proxy.drop();
    const lost = await inFlight;
    expect(lost).toBeInstanceOf(SystemError);
    expect((lost as SystemError).message).toBe('Peer closed');
    expect(client.connected).toBe(false);
    // While the server is unreachable, requests wait in the queue (attempts keep failing).
    const queued = client.call('whoami');
    await new Promise((r) => setTimeout(r, 150));
    proxy.down = false;
    expect(await queued).toEqual(['tester']);
    expect(client.connected).toBe(true);
    gate.resolve();
  });

  it('gives up after maxAttempts and fails queued requests', async () => {
    const s = await startServer();
    const client = await connect({
      port: s.port,
      reconnect: { initialDelayMs: 10, maxDelayMs: 20, maxAttempts: 2 },
    });
    cleanup.push(() => client.destroy());
    await s.server.close({ timeoutMs: 100 });
    const error = await client.ping().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe(ErrorCode.ER_NO_CONNECTION);
  });

  it('close() waits for in-flight requests', async () => {
    const { s, client } = await setup();
    s.handler.defineFunction('soon', async () => {
      await new Promise((r) => setTimeout(r, 30));
      return ['ok'];
    });
    const pending = client.call('soon');
    await client.close();
    expect(await pending).toEqual(['ok']);
    const after = await client.ping().catch((e: unknown) => e);
    expect((after as ClientError).code).toBe(ErrorCode.ER_NO_CONNECTION);
  });

  it('refuses values it cannot encode without breaking the connection', async () => {
    const { client } = await setup();
    await expect(client.call('f', [() => 1])).rejects.toThrow();
    await client.ping();
    void SystemSpace;
  });
});
