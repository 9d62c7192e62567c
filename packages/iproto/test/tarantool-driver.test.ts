// Interop: the npm client tarantool-driver 3.1.0 against our server and the in-memory handler
// (spec §9): greeting from the first chunk, AUTH with a MP_STR scramble, 0xce length prefixes,
// a body on every reply, _vspace/_vindex name lookups by index 2, CALL_16 results.
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { CREDENTIALS_MISMATCH_MESSAGE } from '../src/chap-sha1.js';
import { startServer, type TestServer } from './helpers.js';

interface Driver {
  connect(): Promise<void>;
  disconnect(): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
  ping(): Promise<boolean>;
  select(
    space: number | string,
    index: number | string,
    limit: number,
    offset: number,
    iterator: string,
    key: unknown[],
  ): Promise<unknown[]>;
  insert(space: number | string, tuple: unknown[]): Promise<unknown[]>;
  replace(space: number | string, tuple: unknown[]): Promise<unknown[]>;
  update(
    space: number | string,
    index: number | string,
    key: unknown[],
    ops: unknown[],
  ): Promise<unknown[]>;
  upsert(space: number | string, ops: unknown[], tuple: unknown[]): Promise<unknown[]>;
  delete(space: number | string, index: number | string, key: unknown[]): Promise<unknown[]>;
  call(name: string, ...args: unknown[]): Promise<unknown[]>;
  eval(expression: string, ...args: unknown[]): Promise<unknown[]>;
  sql(query: string, bind?: unknown[]): Promise<unknown>;
}
type DriverConstructor = new (options: Record<string, unknown>) => Driver;

const require = createRequire(import.meta.url);
const TarantoolConnection = require('tarantool-driver') as DriverConstructor;

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setup(): Promise<TestServer> {
  const s = await startServer();
  cleanup.push(() => s.close());
  s.handler.createUser('tester', 'secret');
  s.handler.createSpace({
    name: 'test',
    indexes: [
      { name: 'primary', parts: [{ field: 0, type: 'unsigned' }] },
      { name: 'secondary', parts: [{ field: 1, type: 'string' }], unique: false },
    ],
  });
  s.handler.defineFunction('myfunc', (args) => args);
  s.handler.defineFunction('multi', () => [1, [2, 3], 'x']);
  return s;
}

function driver(port: number, user?: string, password?: string): Driver {
  const options: Record<string, unknown> = {
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    retryStrategy: () => null,
  };
  if (user !== undefined) {
    options.username = user;
    options.password = password;
  }
  const connection = new TarantoolConnection(options);
  connection.on('error', () => undefined);
  cleanup.push(() => connection.disconnect());
  return connection;
}

describe('tarantool-driver 3.1.0 against the tarantype server', () => {
  it('authenticates and runs every command it has, resolving names through _vspace/_vindex', async () => {
    const s = await setup();
    const conn = driver(s.port, 'tester', 'secret');
    await conn.connect();
    expect(await conn.ping()).toBe(true);
    expect(await conn.insert('test', [1, 'a', 10])).toEqual([[1, 'a', 10]]);
    expect(await conn.insert('test', [2, 'b', 20])).toEqual([[2, 'b', 20]]);
    expect(await conn.replace('test', [3, 'c', 30])).toEqual([[3, 'c', 30]]);
    expect(await conn.select('test', 'primary', 10, 0, 'eq', [1])).toEqual([[1, 'a', 10]]);
    expect(await conn.select('test', 'secondary', 10, 0, 'eq', ['b'])).toEqual([[2, 'b', 20]]);
    expect(await conn.select('test', 0, 10, 0, 'all', [])).toHaveLength(3);
    expect(await conn.select('test', 'primary', 1, 1, 'ge', [1])).toEqual([[2, 'b', 20]]);
    expect(await conn.update('test', 'primary', [1], [['+', 2, 5]])).toEqual([[1, 'a', 15]]);
    expect(await conn.upsert('test', [['+', 2, 1]], [4, 'd', 0])).toEqual([]);
    expect(await conn.upsert('test', [['+', 2, 1]], [4, 'd', 0])).toEqual([]);
    expect(await conn.select('test', 'primary', 1, 0, 'eq', [4])).toEqual([[4, 'd', 1]]);
    expect(await conn.delete('test', 'primary', [4])).toEqual([[4, 'd', 1]]);
    // CALL_16 wrapping as observed on 2.6.
    expect(await conn.call('myfunc', 1, [2, 3])).toEqual([[1], [2, 3]]);
    expect(await conn.call('multi')).toEqual([[1], [2, 3], ['x']]);
    expect(await conn.eval('return ...', 5, 'a')).toEqual([5, 'a']);
    // The lookups went through _vspace (281) and _vindex (289).
    expect(s.handler.served.filter((t) => t === 1).length).toBeGreaterThan(6);
  });

  it('errors reach the driver as its TarantoolError with our message', async () => {
    const s = await setup();
    const conn = driver(s.port, 'tester', 'secret');
    await conn.connect();
    await conn.insert('test', [1, 'a']);
    await expect(conn.insert('test', [1, 'a'])).rejects.toThrow(
      "Duplicate key exists in unique index 'primary' in space 'test'",
    );
    await expect(conn.select('nosuch', 0, 1, 0, 'eq', [1])).rejects.toThrow(
      'Cannot read a space name or space is not defined',
    );
    await expect(conn.call('nosuch')).rejects.toThrow("Procedure 'nosuch' is not defined");
    expect(await conn.ping()).toBe(true);
  });

  it('guest without a password, many requests pipelined', async () => {
    const s = await setup();
    const conn = driver(s.port);
    await conn.connect();
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => conn.call('myfunc', i)),
    );
    expect(replies.map((r) => (r as number[][])[0]![0])).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
  });

  it('a wrong password is an error event with the uniform message', async () => {
    const s = await setup();
    const options = {
      host: '127.0.0.1',
      port: s.port,
      username: 'tester',
      password: 'wrong',
      lazyConnect: true,
      retryStrategy: () => null,
    };
    const conn = new TarantoolConnection(options);
    cleanup.push(() => conn.disconnect());
    const error = new Promise<unknown>((resolve) => conn.on('error', resolve));
    await conn.connect().catch(() => undefined);
    expect(String((await error) as Error)).toContain(CREDENTIALS_MISMATCH_MESSAGE);
  });

  it('SQL through EXECUTE', async () => {
    const s = await setup();
    s.handler.sql.set('SELECT 1 AS a', () => ({
      metadata: [{ name: 'A', type: 'integer' }],
      rows: [[1]],
    }));
    s.handler.sql.set('DELETE FROM t', () => ({ rowCount: 3 }));
    const conn = driver(s.port);
    await conn.connect();
    expect(await conn.sql('SELECT 1 AS a')).toEqual([{ A: 1 }]);
    expect(await conn.sql('DELETE FROM t')).toBe('Affected row count: 3');
  });
});
