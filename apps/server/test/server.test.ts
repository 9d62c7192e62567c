// The server over real sockets: our client, tarantool-driver 3.1.0, and Tarantool's own
// net.box (when `tarantool` is installed).

import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { connect } from '@tarantype/iproto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Instance } from '../src/index.js';
import { hasTarantool, runLua, startInstance, tempDir } from './helpers.js';

const require = createRequire(import.meta.url);
let dir: string;
let cleanup: () => Promise<void>;
let instance: Instance;
let port: number;

async function setup(options: Parameters<typeof startInstance>[1] = {}) {
  ({ instance, port } = await startInstance(dir, options));
  const box = instance.box;
  await box.schema.user.create('tester', { password: 'secret' });
  await box.schema.user.grant('tester', 'read,write,execute,create,drop,alter', 'universe');
  const space = await box.schema.space.create('test', {
    format: [
      { name: 'id', type: 'unsigned' },
      { name: 'name', type: 'string' },
      { name: 'n', type: 'unsigned', is_nullable: true },
    ],
  });
  await space.createIndex('primary');
  instance.functions.register('myfunc', function (a: unknown, b: unknown) {
    return b === undefined ? a : { a, b, user: this.userName };
  });
}

beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  await instance?.stop();
  await cleanup();
});

describe('typed client against the server', () => {
  it('does DML, CALL of box functions with Lua conventions, and reports errors with Tarantool texts', async () => {
    await setup();
    const client = await connect(`tester:secret@127.0.0.1:${port}`);
    try {
      expect(await client.insert('test', [1, 'a', 10])).toEqual([1, 'a', 10]);
      await expect(client.insert('test', [1, 'dup'])).rejects.toThrow(
        "Duplicate key exists in unique index 'primary' in space 'test'",
      );
      expect(await client.update('test', 0, [1], [['+', 2, 5]])).toEqual([1, 'a', 15]);
      await client.upsert('test', [2, 'b', 1], [['+', 2, 1]]);
      await client.upsert('test', [2, 'b', 1], [['+', 2, 1]]);
      expect(await client.select('test', 0, [2])).toEqual([[2, 'b', 2]]);
      expect(await client.call('box.space.test:update', [[2], [['=', 2, 'lua-based']]])).toEqual([
        [2, 'lua-based', 2],
      ]);
      expect(
        await client.call('box.space.test:select', [[], { iterator: 'GE', limit: 1 }]),
      ).toEqual([[[1, 'a', 15]]]);
      expect(await client.call('myfunc', [7])).toEqual([7]);
      expect(await client.call('myfunc', [1, 2])).toEqual([{ a: 1, b: 2, user: 'tester' }]);
      const [info] = (await client.call('box.info')) as [Record<string, unknown>];
      expect(info).toMatchObject({ id: 1, status: 'running', ro: false });
      await expect(client.call('nosuch')).rejects.toThrow("Procedure 'nosuch' is not defined");
      expect(await client.delete('test', 0, [1])).toEqual([1, 'a', 15]);
      const created = (await client.call('box.schema.space.create', ['other', {}])) as [
        Record<string, unknown>,
      ];
      expect(created[0]).toMatchObject({ name: 'other', id: 513 });
      await client.call('box.space.other:create_index', ['primary', { parts: [1, 'unsigned'] }]);
      expect(instance.box.space.other!.index.primary!.parts).toEqual([
        { fieldno: 0, type: 'unsigned', is_nullable: false },
      ]);
    } finally {
      await client.close();
    }
  });

  it('makes pipelined writes wait for a transaction holding the write lock, then applies them intact', async () => {
    await setup();
    const box = instance.box;
    const client = await connect(`tester:secret@127.0.0.1:${port}`);
    try {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const txn = box.atomic(async () => {
        await box.space.test!.insert([1_000_000, 'txn']);
        await held;
      });
      // These arrive while the lock is held: they wait, then apply.
      const writes = Array.from({ length: 300 }, (_, i) =>
        client.insert('test', [i, `value-${i}-${'x'.repeat(i % 40)}`, i]),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(box.space.test!.len()).toBe(1);
      release();
      await txn;
      await Promise.all(writes);
      for (let i = 0; i < 300; i++)
        expect(box.space.test!.get([i])).toEqual([i, `value-${i}-${'x'.repeat(i % 40)}`, i]);
    } finally {
      await client.close();
    }
  });

  it('enforces privileges per session user; guest cannot call the box API', async () => {
    await setup();
    const guest = await connect(`127.0.0.1:${port}`);
    try {
      await expect(guest.select(512, 0, [])).rejects.toThrow(
        "Read access to space 'test' is denied for user 'guest'",
      );
      await expect(guest.insert(512, [5, 'x'])).rejects.toThrow(
        "Write access to space 'test' is denied for user 'guest'",
      );
      await expect(guest.call('box.info')).rejects.toThrow(
        "Execute access to function 'box.info' is denied for user 'guest'",
      );
      await expect(guest.call('nosuch')).rejects.toThrow(
        "Execute access to function 'nosuch' is denied for user 'guest'",
      );
    } finally {
      await guest.close();
    }
    await expect(connect(`tester:wrong@127.0.0.1:${port}`)).rejects.toThrow(
      'User not found or supplied credentials are invalid',
    );
  });

  it('serves ballots (VOTE) and keeps data across a graceful restart', async () => {
    await setup();
    const client = await connect(`tester:secret@127.0.0.1:${port}`);
    await Promise.all(Array.from({ length: 100 }, (_, i) => client.insert('test', [i, `v${i}`])));
    await client.close();
    await instance.stop();
    ({ instance, port } = await startInstance(dir));
    expect(instance.box.space.test!.len()).toBe(100);
  });
});

describe('tarantool-driver 3.1.0 (npm)', () => {
  it('pings, authenticates, selects by name, inserts, updates, upserts, deletes and calls', async () => {
    await setup();
    const TarantoolConnection = require('tarantool-driver');
    const conn = new TarantoolConnection({
      host: '127.0.0.1',
      port,
      username: 'tester',
      password: 'secret',
      lazyConnect: true,
    });
    try {
      await conn.connect();
      expect(await conn.ping()).toBe(true);
      expect(await conn.insert('test', [1, 'a', 1])).toEqual([[1, 'a', 1]]);
      expect(await conn.select('test', 'primary', 1, 0, 'eq', [1])).toEqual([[1, 'a', 1]]);
      expect(await conn.update('test', 'primary', [1], [['=', 1, 'z']])).toEqual([[1, 'z', 1]]);
      expect(await conn.upsert('test', [['+', 2, 1]], [1, 'z', 1])).toEqual([]);
      expect(await conn.select('test', 0, 10, 0, 'all', [])).toEqual([[1, 'z', 2]]);
      expect(await conn.call('myfunc', 1, [2, 3])).toEqual([[{ a: 1, b: [2, 3], user: 'tester' }]]);
      expect(await conn.call('myfunc', 5)).toEqual([[5]]);
      await expect(conn.insert('test', [1, 'dup'])).rejects.toThrow(
        "Duplicate key exists in unique index 'primary' in space 'test'",
      );
      expect(await conn.delete('test', 0, [1])).toEqual([[1, 'z', 2]]);
    } finally {
      conn.disconnect();
    }
  });
});

describe.skipIf(!hasTarantool)("Tarantool 2.6's net.box", () => {
  it('uses conn.space, conn:call(box.info) and conn:call(box.schema.space.create) unchanged', async () => {
    await setup();
    const lines = await runLua(
      dir,
      `local net = require('net.box')
local json = require('json')
local c = net.connect('tester:secret@127.0.0.1:${port}')
print('connected', c:is_connected())
print('insert', json.encode(c.space.test:insert{1, 'a'}))
print('dup', select(2, pcall(function() return c.space.test:insert{1, 'a'} end)))
print('select', json.encode(c.space.test:select{}))
print('update', json.encode(c.space.test:update({1}, {{'=', 2, 'b'}})))
print('info', c:call('box.info').status)
local ok, s = pcall(function() return c:call('box.schema.space.create', {'nb_space'}) end)
print('create', ok, ok and s.name or s)
c:call('box.space.nb_space:create_index', {'pk'})
c:reload_schema()
print('nb_space', c.space.nb_space:insert{7}[1])
c:close()`,
    );
    expect(lines).toEqual([
      'connected\ttrue',
      'insert\t[1,"a"]',
      "dup\tDuplicate key exists in unique index 'primary' in space 'test'",
      'select\t[[1,"a"]]',
      'update\t[1,"b"]',
      'info\trunning',
      'create\ttrue\tnb_space',
      'nb_space\t7',
    ]);
    expect(instance.box.space.nb_space!.select()).toEqual([[7]]);
  });
});

describe('startup configuration', () => {
  it('runs an --init module and applies declarative credentials idempotently', async () => {
    const init = join(dir, 'init.mjs');
    await writeFile(
      init,
      `export default async function ({ box, functions }) {
  const s = await box.schema.space.create('kv', { if_not_exists: true });
  await s.createIndex('primary', { if_not_exists: true, parts: [{ field: 0, type: 'string' }] });
  functions.register('kv.get', (key) => box.space.kv.get([key]) ?? null);
}`,
    );
    const credentials = {
      users: {
        alice: {
          password: 'pw',
          privileges: [
            { permissions: ['read', 'write'], spaces: ['kv'] },
            { permissions: ['execute'], universe: true },
          ],
        },
      },
    };
    ({ instance, port } = await startInstance(dir, { init, credentials }));
    const alice = await connect(`alice:pw@127.0.0.1:${port}`);
    await alice.insert('kv', ['k', 'v']);
    expect(await alice.call('kv.get', ['k'])).toEqual([['k', 'v']]);
    await alice.close();
    await instance.stop();
    // Second start: nothing to create, nothing fails.
    const restarted = await startInstance(dir, { init, credentials });
    ({ instance, port } = restarted);
    const log = restarted.log;
    expect(log.lines.some((l) => l.includes('credentials: created'))).toBe(false);
    expect(log.lines.at(-1)).toMatch(/main I> ready to accept requests$/);
  });
});
