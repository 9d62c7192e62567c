import { readdir, symlink, unlink } from 'node:fs/promises';
import {
  AccessDeniedError,
  type ClientError,
  ER_CASCADE_ROLLBACK,
  ErrorCode,
} from '@tarantype/core';
import { NodeFileSystem } from '@tarantype/wal';
import { FaultyFileSystem } from '@tarantype/wal/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Box } from '../src/index.js';
import { open, tempDir, tester } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const boxes: Box[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  for (const box of boxes.splice(0)) await box.close();
  await cleanup();
});

async function start(options: Record<string, unknown> = {}, runtime = {}) {
  const result = await open(dir, options, runtime);
  boxes.push(result.box);
  return result;
}

async function restart(box: Box, options: Record<string, unknown> = {}) {
  await box.close();
  boxes.splice(boxes.indexOf(box), 1);
  return start(options);
}

describe('bootstrap and recovery', () => {
  it('bootstraps an empty directory like Tarantool 2.6 (system spaces, users, _cluster, snapshot 0)', async () => {
    const { box, logger } = await start();
    expect(logger.messages()).toContain('initializing an empty data directory');
    expect(await readdir(dir)).toContain('00000000000000000000.snap');
    expect(box.info()).toMatchObject({
      id: 1,
      ro: false,
      status: 'running',
      signature: 0,
      vclock: {},
    });
    expect(box.space._cluster!.select()).toEqual([[1, box.instanceUuid]]);
    expect(box.space._schema!.select([], { iterator: 'ALL' })).toEqual([
      ['cluster', box.info().cluster && (box.info().cluster as { uuid: string }).uuid],
      ['max_id', 511],
      ['version', 2, 3, 1],
    ]);
    expect(box.space._user!.select([], { iterator: 'ALL' }).map((u) => u[2])).toEqual([
      'guest',
      'admin',
      'public',
      'replication',
      'super',
    ]);
    expect(box.space._space!.get([512])).toBeUndefined();
  });

  it('recovers DDL, data, users and grants from the WAL, then from a snapshot + WAL', async () => {
    let { box } = await start();
    const space = await tester(box);
    await space.createIndex('name', { parts: ['name'], unique: false });
    await space.insert([1, 'a']);
    await space.replace([2, 'b']);
    await space.update([1], [['=', 1, 'z']]);
    await space.upsert([3, 'c'], [['=', 1, 'never']]);
    await space.upsert([3, 'c'], [['=', 1, 'upserted']]);
    await space.delete([2]);
    await box.schema.user.create('u1', { password: 'secret' });
    await box.schema.user.grant('u1', 'read,write', 'space', 'tester');
    const expected = [
      [1, 'z'],
      [3, 'upserted'],
    ];
    ({ box } = await restart(box));
    expect(box.space.tester!.select()).toEqual(expected);
    expect(box.space.tester!.index.name!.select(['z'])).toEqual([[1, 'z']]);
    expect(box.catalog.access.privRow(32, 'space', 512)?.privilege).toBe(3);
    await box.snapshot();
    await box.space.tester!.insert([4, 'after snapshot']);
    ({ box } = await restart(box));
    expect(box.space.tester!.select()).toEqual([...expected, [4, 'after snapshot']]);
    expect(box.info().vclock).toEqual({ 1: box.info().lsn });
  });

  it('greets from the first connection with the uuid its files record, not a stand-in', async () => {
    const { box: first } = await start();
    const uuid = first.instanceUuid;
    await first.close();
    boxes.splice(boxes.indexOf(first), 1);
    // beforeStart is where a server starts listening: its greeting reads box.instanceUuid.
    let seen: string | undefined;
    const { box } = await start(
      {},
      { beforeStart: async (b: Box) => void (seen = b.instanceUuid) },
    );
    expect(seen).toBe(uuid);
    expect(box.instanceUuid).toBe(uuid);
  });

  it('builds the indexes of a snapshot in bulk: every index, every space, then the xlog on top', async () => {
    let { box } = await start();
    const a = await tester(box);
    await a.createIndex('name', { parts: ['name'], unique: false });
    const b = await box.schema.space.create('other');
    await b.createIndex('pk', { parts: [{ field: 0, type: 'string' }] });
    await b.createIndex('n', { parts: [{ field: 1, type: 'unsigned' }] });
    // Keys inserted out of order, so the snapshot's primary order differs from insertion order.
    for (const i of [5, 3, 9, 1, 7, 2, 8, 4, 6]) {
      await a.insert([i, `n${i % 3}`]);
      await b.insert([`k${i}`, 100 - i]);
    }
    await box.snapshot();
    await a.delete([9]);
    await b.update(['k1'], [['=', 1, 1000]]);
    await a.insert([10, 'n1']);
    const expected = {
      a: a.select(),
      byName: a.index.name!.select([], { iterator: 'GE' }),
      b: b.select(),
      byN: b.index.n!.select([], { iterator: 'GE' }),
    };
    ({ box } = await restart(box));
    const ra = box.space.tester!;
    const rb = box.space.other!;
    expect({
      a: ra.select(),
      byName: ra.index.name!.select([], { iterator: 'GE' }),
      b: rb.select(),
      byN: rb.index.n!.select([], { iterator: 'GE' }),
    }).toEqual(expected);
    // The bulk-built trees take writes and keep unique keys unique.
    await expect(rb.insert(['k99', 95])).rejects.toThrow(
      "Duplicate key exists in unique index 'n'",
    );
    await ra.insert([11, 'n2']);
    expect(ra.index.name!.count(['n2'])).toBe(4);
  });

  it('replays ascending xlog inserts into an empty space in bulk, and every other row one at a time', async () => {
    let { box } = await start();
    const a = await tester(box);
    await a.createIndex('name', { parts: ['name'], unique: false });
    const b = await box.schema.space.create('other');
    await b.createIndex('pk', { parts: [{ field: 0, type: 'string' }] });
    await b.createIndex('n', { parts: [{ field: 1, type: 'unsigned' }] });
    // No snapshot after these: the restart replays them from the xlog. Ascending runs in both
    // spaces, interleaved; then rows that end the bulk loads: a replacement, a lower key, a
    // delete, an update, DDL, and ascending inserts again afterwards.
    for (let i = 1; i <= 50; i++) {
      await a.insert([i, `n${i % 3}`]);
      await b.replace([`k${String(i).padStart(3, '0')}`, 1000 - i]);
    }
    await a.replace([7, 'replaced']);
    await a.insert([0, 'below']);
    await b.delete(['k010']);
    await b.update(['k011'], [['=', 1, 5000]]);
    await a.createIndex('again', { parts: ['name', 'id'] });
    for (let i = 51; i <= 60; i++) await a.insert([i, `n${i % 3}`]);
    const c = await box.schema.space.create('late');
    await c.createIndex('pk');
    for (let i = 1; i <= 20; i++) await c.insert([i * 2]);
    await c.insert([3]);
    // Still bulk loading when the replay ends: built by the end of the replay.
    const d = await box.schema.space.create('tail');
    await d.createIndex('pk');
    await d.createIndex('v', { parts: [{ field: 1, type: 'string' }] });
    for (let i = 1; i <= 20; i++) await d.insert([i, `v${i}`]);
    const state = (x: Box) => ({
      a: x.space.tester!.select(),
      byName: x.space.tester!.index.name!.select([], { iterator: 'GE' }),
      again: x.space.tester!.index.again!.select([], { iterator: 'GE' }),
      b: x.space.other!.select(),
      byN: x.space.other!.index.n!.select([], { iterator: 'GE' }),
      c: x.space.late!.select(),
      d: x.space.tail!.index.v!.select([], { iterator: 'GE' }),
      len: [x.space.tester!.len(), x.space.other!.len(), x.space.late!.len(), x.space.tail!.len()],
      bsize: [x.space.tester!, x.space.other!, x.space.late!, x.space.tail!].map((s) => s.bsize()),
    });
    const expected = state(box);
    ({ box } = await restart(box));
    expect(state(box)).toEqual(expected);
    // The bulk-built trees take writes and keep unique keys unique.
    await expect(box.space.other!.insert(['k999', 999])).rejects.toThrow(
      "Duplicate key exists in unique index 'n'",
    );
    await expect(box.space.late!.insert([40])).rejects.toThrow(
      "Duplicate key exists in unique index 'pk'",
    );
    await box.space.late!.insert([41]);
    expect(box.space.late!.len()).toBe(22);
  });

  it('keeps is_local rows in vclock component 0 and never persists temporary spaces', async () => {
    let { box } = await start();
    const temp = await box.schema.space.create('temp', { temporary: true });
    await temp.createIndex('pk');
    const local = await box.schema.space.create('loc', { is_local: true });
    await local.createIndex('pk');
    await temp.insert([1, 'temporary data']);
    await local.insert([1, 'local data']);
    expect(box.info().vclock).toMatchObject({ 0: 1 });
    expect(box.space._space!.index.name!.get(['temp'])).toEqual([
      512,
      1,
      'temp',
      'memtx',
      0,
      { temporary: true },
      [],
    ]);
    expect(box.space._space!.index.name!.get(['loc'])).toEqual([
      513,
      1,
      'loc',
      'memtx',
      0,
      { group_id: 1 },
      [],
    ]);
    ({ box } = await restart(box));
    expect(box.space.temp!.select()).toEqual([]);
    expect(box.space.loc!.select()).toEqual([[1, 'local data']]);
  });

  it('locks the data directory against a second instance, also through a symlink', async () => {
    const { box } = await start();
    const alias = `${dir}-alias`;
    await symlink(dir, alias);
    try {
      for (const workDir of [dir, alias])
        await expect(open(workDir)).rejects.toMatchObject({
          code: ErrorCode.ER_ALREADY_RUNNING,
          message: `Failed to lock WAL directory ${workDir} and hot_standby mode is off`,
        });
      // The refused starts left the first instance and its lock alone; closing frees the dir.
      await (await tester(box)).insert([1, 'after refusals']);
      await box.close();
      boxes.splice(boxes.indexOf(box), 1);
      const { box: again } = await open(alias);
      expect(again.space.tester!.get([1])).toEqual([1, 'after refusals']);
      await again.close();
    } finally {
      await unlink(alias);
    }
  });

  it('runs several instances in one process, each in its own directory', async () => {
    const { box: a } = await start();
    const other = await tempDir();
    try {
      const { box: b } = await open(other.dir);
      await (await tester(a)).insert([1, 'a']);
      await (await tester(b)).insert([1, 'b']);
      expect(a.space.tester!.get([1])).toEqual([1, 'a']);
      expect(b.space.tester!.get([1])).toEqual([1, 'b']);
      expect(a.instanceUuid).not.toBe(b.instanceUuid);
      await b.close();
    } finally {
      await other.cleanup();
    }
  });
});

describe('box.cfg', () => {
  it('refuses bad options with Tarantool 2.6 texts', async () => {
    await expect(Box.cfg({ foo: 1 })).rejects.toThrow(
      "Incorrect value for option 'foo': unexpected option",
    );
    await expect(Box.cfg({ wal_mode: 'bad' })).rejects.toThrow(
      "Incorrect value for option 'wal_mode': bad",
    );
    await expect(Box.cfg({ checkpoint_count: 'x' })).rejects.toThrow(
      "Incorrect value for option 'checkpoint_count': should be of type number",
    );
    await expect(Box.cfg({ listen: {} })).rejects.toThrow(
      "Incorrect value for option 'listen': should be one of types string, number",
    );
    await expect(Box.cfg({ replication_timeout: -1 })).rejects.toThrow(
      "Incorrect value for option 'replication_timeout': the value must be greather than 0",
    );
  });

  it('changes dynamic options and refuses static ones', async () => {
    const { box } = await start();
    await box.cfg({ read_only: true, checkpoint_count: 3 });
    expect(box.cfgValues.checkpoint_count).toBe(3);
    await expect(box.cfg({ wal_dir: '/tmp' })).rejects.toThrow(
      "Can't set option 'wal_dir' dynamically",
    );
    await expect(box.cfg({ memtx_memory: 1 })).rejects.toThrow(
      "Incorrect value for option 'memtx_memory': cannot decrease memory size at runtime",
    );
    await expect(box.cfg({ read_only: 'x' })).rejects.toThrow(
      "Incorrect value for option 'read_only': should be of type boolean",
    );
  });
});

describe('DDL', () => {
  it('reports Tarantool texts for duplicate spaces, indexes and users, and honours if_not_exists', async () => {
    const { box } = await start();
    const space = await tester(box);
    await expect(box.schema.space.create('tester')).rejects.toThrow(
      "Space 'tester' already exists",
    );
    expect((await box.schema.space.create('tester', { if_not_exists: true })).id).toBe(space.id);
    await expect(space.createIndex('primary')).rejects.toThrow("Index 'primary' already exists");
    expect((await space.createIndex('primary', { if_not_exists: true })).name).toBe('primary');
    await expect(box.schema.space.create('a', { foo: 1 } as never)).rejects.toThrow(
      "Illegal parameters, unexpected option 'foo'",
    );
    await expect(box.schema.space.create('')).rejects.toThrow(
      "Invalid identifier '' (expected printable symbols only or it is too long)",
    );
    await box.schema.user.create('u1');
    await expect(box.schema.user.create('u1')).rejects.toThrow("User 'u1' already exists");
    await box.schema.user.create('u1', { if_not_exists: true });
    await expect(box.schema.user.drop('nope')).rejects.toThrow("User 'nope' is not found");
    await expect(box.schema.user.grant('u1', 'nope')).rejects.toThrow("Role 'nope' is not found");
    await expect(box.schema.user.grant('u1', 'read', 'space', 'nope')).rejects.toThrow(
      "Space 'nope' does not exist",
    );
    await box.schema.user.grant('u1', 'read', 'space', 'tester');
    await expect(box.schema.user.grant('u1', 'read', 'space', 'tester')).rejects.toThrow(
      "User 'u1' already has read access on space 'tester'",
    );
    await expect(box.schema.user.revoke('u1', 'write', 'space', 'tester')).rejects.toThrow(
      "User 'u1' does not have write access on space 'tester'",
    );
  });

  it('checks the format on insert and when indexes are built over existing data', async () => {
    const { box } = await start();
    const space = await box.schema.space.create('fc', {
      format: [
        { name: 'a', type: 'unsigned' },
        { name: 'b', type: 'string' },
      ],
    });
    await space.createIndex('pk');
    await expect(space.insert([1, 2])).rejects.toThrow(
      'Tuple field 2 type does not match one required by operation: expected string',
    );
    await space.insert([1, 'x']);
    await space.insert([2, 'x']);
    await expect(
      space.createIndex('sk2', { parts: [[1, 'string']], unique: true }),
    ).rejects.toThrow("Duplicate key exists in unique index 'sk2' in space 'fc'");
    await expect(
      space.format([
        { name: 'a', type: 'unsigned' },
        { name: 'b', type: 'unsigned' },
      ]),
    ).rejects.toThrow(
      'Tuple field 2 type does not match one required by operation: expected unsigned',
    );
    expect(space.select()).toEqual([
      [1, 'x'],
      [2, 'x'],
    ]);
  });

  it('returns from insert and replace the tuple as stored: a copy, the decoded bytes, or the trigger rewrite', async () => {
    const { box } = await start();
    const space = await box.schema.space.create('ret', {
      format: [
        { name: 'id', type: 'unsigned' },
        { name: 'v', type: 'any' },
        { name: 'd', type: 'double', is_nullable: true },
      ],
    });
    await space.createIndex('pk');
    // Fields that survive MessagePack: a copy of the caller's array, which it may then change.
    const input = [1, 'naïve', 2, true, null];
    const inserted = await space.insert(input);
    expect(inserted).toEqual([1, 'naïve', 2, true, null]);
    expect(inserted).not.toBe(input);
    input[1] = 'changed';
    expect(inserted[1]).toBe('naïve');
    // Fields that do not: what was stored, decoded (undefined is stored as nil, a lone
    // surrogate as U+FFFD, -0 as 0, a byte view's bytes as bin).
    const replaced = await space.replace([1, -0, undefined, '\ud800', new Uint8Array([7])]);
    expect(replaced).toEqual([1, 0, null, '\ufffd', new Uint8Array([7])]);
    expect(Object.is(replaced[1], 0)).toBe(true);
    expect(space.get([1])).toEqual(replaced);
    // A before_replace trigger that rewrites the tuple: the rewrite, not the request.
    const off = space.beforeReplace((_old, next) =>
      next === null ? next : [next[0], 'rewritten'],
    );
    expect(await space.insert([2, 'asked'])).toEqual([2, 'rewritten']);
    expect(await space.replace([2, 'asked again'])).toEqual([2, 'rewritten']);
    off();
    expect(space.select()).toEqual([replaced, [2, 'rewritten']]);
  });

  it('renames a space: the new name resolves, the old one no longer does, also after restart', async () => {
    let { box } = await start();
    const space = await tester(box);
    await space.insert([1, 'a']);
    await space.rename('renamed');
    expect(box.space.tester).toBeUndefined();
    expect(box.space.renamed!.get([1])).toEqual([1, 'a']);
    await expect(box.schema.space.create('renamed')).rejects.toThrow(
      "Space 'renamed' already exists",
    );
    await box.schema.space.create('tester');
    ({ box } = await restart(box));
    expect(box.space.renamed!.get([1])).toEqual([1, 'a']);
    expect(box.space.tester!.id).toBe(513);
  });

  it('keeps the data when the primary key is altered through _index (and after restart)', async () => {
    let { box } = await start();
    const space = await tester(box);
    await space.insert([1, 'a']);
    await space.insert([2, 'b']);
    await box.space._index!.replace([
      space.id,
      0,
      'primary',
      'tree',
      { unique: true },
      [
        [0, 'unsigned'],
        [1, 'string'],
      ],
    ]);
    expect(box.space.tester!.index.primary!.parts.length).toBe(2);
    expect(box.space.tester!.select()).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    ({ box } = await restart(box));
    expect(box.space.tester!.select()).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    expect(box.space.tester!.get([2, 'b'])).toEqual([2, 'b']);
  });

  it('drops spaces with their indexes and grants, and truncates through _truncate', async () => {
    let { box } = await start();
    const space = await tester(box);
    await space.insert([1, 'a']);
    await space.truncate();
    expect(space.select()).toEqual([]);
    expect(box.space._truncate!.select()).toEqual([[512, 1]]);
    await space.insert([2, 'b']);
    ({ box } = await restart(box));
    expect(box.space.tester!.select()).toEqual([[2, 'b']]);
    await box.schema.user.create('u1');
    await box.schema.user.grant('u1', 'read', 'space', 'tester');
    await box.space.tester!.drop();
    expect(box.space.tester).toBeUndefined();
    expect(box.catalog.access.privRow(32, 'space', 512)).toBeUndefined();
    ({ box } = await restart(box));
    expect(box.space.tester).toBeUndefined();
  });
});

describe('transactions', () => {
  it('commits box.atomic as one WAL entry and rolls back on error', async () => {
    let { box } = await start();
    const space = await tester(box);
    await box.atomic(async () => {
      await space.insert([1, 'a']);
      await space.insert([2, 'b']);
    });
    await expect(
      box.atomic(async () => {
        await space.insert([3, 'c']);
        await space.insert([1, 'dup']);
      }),
    ).rejects.toThrow("Duplicate key exists in unique index 'primary' in space 'tester'");
    expect(space.select()).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    box.begin();
    await space.insert([5, 'e']);
    box.rollback();
    expect(space.get([5])).toBeUndefined();
    ({ box } = await restart(box));
    expect(box.space.tester!.select()).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
  });

  it("makes other contexts' writes wait while a transaction is open, so the WAL order is the memory order", async () => {
    let { box } = await start();
    const space = await tester(box);
    const order: string[] = [];
    const txn = box.atomic(async () => {
      await space.insert([1, 'in txn']);
      await new Promise((resolve) => setTimeout(resolve, 20));
      // The other context read our uncommitted row but could not write on top of it yet.
      await space.update([1], [['=', 1, 'txn again']]);
      order.push('txn');
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(space.get([1])).toEqual([1, 'in txn']);
    const other = space.update([1], [['=', 1, 'other context']]).then(() => order.push('other'));
    await Promise.all([txn, other]);
    expect(order).toEqual(['txn', 'other']);
    expect(space.get([1])).toEqual([1, 'other context']);
    ({ box } = await restart(box));
    expect(box.space.tester!.get([1])).toEqual([1, 'other context']);
  });

  it('keeps group commit: many concurrent transactions share WAL writes', async () => {
    const { box } = await start();
    const space = await tester(box);
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        box.atomic(async () => {
          await space.insert([i * 2, 'a']);
          await space.insert([i * 2 + 1, 'b']);
        }),
      ),
    );
    expect(space.len()).toBe(400);
    expect(box.journal.stats.transactions).toBeGreaterThanOrEqual(200);
    expect(box.journal.stats.writes).toBeLessThan(100);
  });

  it('rolls back the failed transaction and everything queued behind it on EIO, and keeps serving', async () => {
    const fs = new FaultyFileSystem(new NodeFileSystem());
    const { box } = await start({}, { fs });
    const space = await tester(box);
    await space.insert([1, 'kept']);
    fs.tearNextWrite(10, { pathIncludes: '.xlog' });
    const first = space.insert([2, 'lost']);
    await Promise.resolve();
    const queued = [space.insert([3, 'lost too']), space.replace([1, 'overwritten'])];
    const results = await Promise.allSettled([first, ...queued]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    const codes = results.map((r) => ((r as PromiseRejectedResult).reason as ClientError).code);
    expect(codes[0]).toBe(ErrorCode.ER_WAL_IO);
    expect(
      codes.slice(1).every((c) => c === ER_CASCADE_ROLLBACK || c === ErrorCode.ER_WAL_IO),
    ).toBe(true);
    expect(space.select()).toEqual([[1, 'kept']]);
    await space.insert([4, 'after']);
    fs.failNext('write', 'ENOSPC', { pathIncludes: '.xlog' });
    await expect(space.insert([5, 'no space'])).rejects.toMatchObject({
      code: ErrorCode.ER_WAL_IO,
    });
    expect(space.select()).toEqual([
      [1, 'kept'],
      [4, 'after'],
    ]);
  });
});

describe('pairs', () => {
  it('iterates lazily over a snapshot: writes during the scan neither appear nor disturb it', async () => {
    const { box } = await start();
    const space = await tester(box);
    await space.createIndex('name', { parts: ['name'], unique: false });
    for (let i = 1; i <= 50; i++) await space.insert([i, `n${i % 5}`]);
    const seen: number[] = [];
    for (const tuple of space.pairs([10], { iterator: 'GE' })) {
      const id = tuple[0] as number;
      seen.push(id);
      // A write per step: deleting ahead and inserting behind must not change what is seen.
      if (id === 10) {
        await space.delete([20]);
        await space.insert([1000, 'n0']);
      }
    }
    expect(seen).toEqual(Array.from({ length: 41 }, (_, k) => k + 10));
    expect(space.get([20])).toBeUndefined();
    // index:pairs on a non-unique secondary index, with limit and offset.
    const byName = space.index.name!;
    const names = [...byName.pairs(['n0'], { iterator: 'EQ', offset: 1, limit: 3 })];
    expect(names.map((t) => t[0])).toEqual([10, 15, 25]); // 5 skipped, 20 deleted
    // Breaking off releases the snapshot: a later full scan sees the new state.
    for (const _ of space.pairs()) break;
    expect([...space.pairs()].length).toBe(50);
  });

  it('checks read access and counts a SELECT when the iteration starts', async () => {
    const { box } = await start();
    await tester(box);
    await box.schema.user.create('u2', { password: 'p' });
    const before = box.stat().SELECT!.total;
    const iterator = box.spaceAs(32, 'tester').pairs();
    expect(() => iterator.next()).toThrow("Read access to space 'tester' is denied for user 'u2'");
    expect(box.stat().SELECT!.total).toBe(before + 1);
    expect([...box.space._vspace!.pairs([], { iterator: 'ALL' })].length).toBeGreaterThan(0);
  });
});

describe('users and privileges', () => {
  it('enforces read and write privileges for session users', async () => {
    const { box } = await start();
    await tester(box);
    await box.schema.user.create('u1', { password: 'p' });
    const asU1 = box.spaceAs(32, 'tester');
    expect(() => asU1.select()).toThrow(AccessDeniedError);
    expect(() => asU1.select()).toThrow("Read access to space 'tester' is denied for user 'u1'");
    await expect(asU1.insert([1])).rejects.toThrow(
      "Write access to space 'tester' is denied for user 'u1'",
    );
    await box.schema.user.grant('u1', 'read,write', 'space', 'tester');
    await asU1.insert([1, 'ok']);
    expect(asU1.select()).toEqual([[1, 'ok']]);
    await box.schema.user.revoke('u1', 'write', 'space', 'tester');
    await expect(asU1.insert([2])).rejects.toThrow(
      "Write access to space 'tester' is denied for user 'u1'",
    );
    // Guest: Session+Usage on universe and role public, nothing on user spaces.
    expect(() => box.spaceAs(0, 'tester').select()).toThrow(
      "Read access to space 'tester' is denied for user 'guest'",
    );
    // Sysviews filter rows: guest sees only what it may.
    expect(
      box
        .spaceAs(0, '_vuser')
        .select([], { iterator: 'ALL' })
        .map((u) => u[2]),
    ).toEqual(['guest', 'public']);
    expect(
      box
        .spaceAs(32, '_vspace')
        .select([], { iterator: 'ALL' })
        .map((s) => s[2]),
    ).toContain('tester');
    expect(
      box
        .spaceAs(0, '_vspace')
        .select([], { iterator: 'ALL' })
        .map((s) => s[2]),
    ).not.toContain('tester');
  });

  it('stores chap-sha1 hashes as Tarantool does', async () => {
    const { box } = await start();
    await box.schema.user.create('u1', { password: 'p' });
    expect(box.space._user!.index.name!.get(['u1'])).toEqual([
      32,
      1,
      'u1',
      'user',
      { 'chap-sha1': 'e56+7SaqUu0QwPVJ+oY/E8OeAgk=' },
    ]);
    expect(box.space._priv!.select([32])).toEqual([
      [1, 32, 'role', 2, 4],
      [1, 32, 'universe', 0, 24],
      [1, 32, 'user', 32, 128],
    ]);
    await box.schema.user.passwd('u1', 'q');
    expect(
      (box.space._user!.index.name!.get(['u1'])![4] as Record<string, string>)['chap-sha1'],
    ).not.toBe('e56+7SaqUu0QwPVJ+oY/E8OeAgk=');
  });
});

describe('read_only and box.once', () => {
  it('refuses writes on a read-only instance except to temporary and is_local spaces', async () => {
    const { box } = await start();
    const space = await tester(box);
    const temp = await box.schema.space.create('tmp', { temporary: true });
    await temp.createIndex('pk');
    const local = await box.schema.space.create('loc', { is_local: true });
    await local.createIndex('pk');
    await box.cfg({ read_only: true });
    await expect(space.insert([5])).rejects.toThrow(
      "Can't modify data because this instance is in read-only mode.",
    );
    await expect(box.schema.space.create('x', { temporary: true })).rejects.toMatchObject({
      code: ErrorCode.ER_READONLY,
    });
    await temp.insert([1]);
    await local.insert([1]);
    expect(box.info().ro).toBe(true);
  });

  it('runs box.once once when two calls race behind an open transaction', async () => {
    const { box } = await start();
    const space = await tester(box);
    let runs = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const txn = box.atomic(async () => {
      await space.insert([1, 'holds the lock']);
      await held;
    });
    const both = [box.once('raced', () => ++runs), box.once('raced', () => ++runs)];
    release();
    await txn;
    const results = await Promise.all(both);
    expect(runs).toBe(1);
    expect(results.filter((r) => r === undefined).length).toBe(1);
  });

  it('runs box.once once, persists the guard, and waits while read-only', async () => {
    let { box } = await start();
    let runs = 0;
    await box.once('init', () => runs++);
    await box.once('init', () => runs++);
    expect(runs).toBe(1);
    expect(box.space._schema!.get(['onceinit'])).toEqual(['onceinit']);
    ({ box } = await restart(box));
    await box.once('init', () => runs++);
    expect(runs).toBe(1);
    await box.cfg({ read_only: true });
    let done = false;
    const pending = box.once('ro_key', () => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(done).toBe(false);
    await box.cfg({ read_only: false });
    await pending;
    expect(done).toBe(true);
    await box.cfg({ read_only: true });
    const stuck = box.once('never', () => undefined).catch((error: Error) => error);
    await box.close();
    boxes.splice(boxes.indexOf(box), 1);
    expect(((await stuck) as Error).message).toBe('the instance is shutting down');
    await expect(box.once(undefined as never, undefined as never)).rejects.toThrow(
      'Illegal parameters, Usage: box.once(key, func, ...)',
    );
  });
});

describe('checkpoints', () => {
  it('keeps checkpoint_count snapshots and removes xlogs no checkpoint needs', async () => {
    const { box } = await start({ checkpoint_count: 2 });
    const space = await tester(box);
    for (let round = 0; round < 4; round++) {
      await space.insert([round, 'x']);
      await box.snapshot();
    }
    const files = await readdir(dir);
    expect(files.filter((f) => f.endsWith('.snap')).length).toBe(2);
    const gc = box.infoGc() as { checkpoints: Array<{ signature: number }>; signature: number };
    expect(gc.checkpoints.length).toBe(2);
    const oldest = gc.signature;
    for (const name of files.filter((f) => f.endsWith('.xlog')))
      expect(Number(name.slice(0, 20))).toBeGreaterThanOrEqual(oldest);
    // No change since the last checkpoint: no new file.
    await box.snapshot();
    expect((await readdir(dir)).filter((f) => f.endsWith('.snap')).length).toBe(2);
  });

  it('never removes an xlog a registered GC consumer still needs, whatever checkpoint_count says', async () => {
    const { box } = await start({ checkpoint_count: 1 });
    const space = await tester(box);
    await space.insert([0, 'before']);
    const { Vclock } = await import('@tarantype/core');
    box.gcConsumers.register('replica test', new Vclock(box.journal.vclock.entries()));
    const needed = (await readdir(dir)).filter((f) => f.endsWith('.xlog'));
    for (let round = 1; round <= 3; round++) {
      await space.insert([round, 'x']);
      await box.snapshot();
    }
    const files = await readdir(dir);
    for (const name of needed) expect(files, `${name} is still needed`).toContain(name);
    expect(
      (box.infoGc() as { consumers: Array<{ name: string }> }).consumers.map((c) => c.name),
    ).toEqual(['replica test']);
    // The consumer catches up: the old files go.
    box.gcConsumers.advance('replica test', box.journal.vclock);
    await box.collectWalGarbageNow();
    const after = await readdir(dir);
    for (const name of needed) expect(after).not.toContain(name);
    box.gcConsumers.unregister('replica test');
  });

  it('keeps writing while a snapshot is taken and restarts to the same data', async () => {
    let { box } = await start();
    const space = await tester(box);
    for (let i = 0; i < 2000; i++) void space.insert([i, `v${i}`]);
    const writes: Promise<unknown>[] = [];
    const snapshot = box.snapshot();
    for (let i = 2000; i < 2500; i++) writes.push(space.insert([i, `v${i}`]));
    await Promise.all([snapshot, ...writes]);
    ({ box } = await restart(box));
    expect(box.space.tester!.len()).toBe(2500);
  });
});

describe('memtx_memory', () => {
  it('refuses writes with ER_MEMORY_ISSUE once tuples and indexes reach it; deletes still work', async () => {
    const first = await start();
    await tester(first.box);
    const used = first.box.memoryUsedBytes();
    const { box } = await restart(first.box, { memtx_memory: used + 64 * 1024 });
    const space = box.space.tester!;
    let refused: ClientError | undefined;
    for (let i = 0; i < 100_000 && refused === undefined; i++) {
      await space.insert([i, 'x'.repeat(200)]).catch((error: ClientError) => (refused = error));
    }
    expect(refused?.code).toBe(ErrorCode.ER_MEMORY_ISSUE);
    expect(refused?.message).toMatch(
      /^Failed to allocate \d+ bytes in slab allocator for memtx_tuple$/,
    );
    await space.delete([0]);
    await box.cfg({ memtx_memory: 1024 * 1024 * 1024 });
    await space.insert([1e9, 'fits again']);
  });
});

describe('info and stat', () => {
  it('reports box.info, box.info.memory and box.stat fields', async () => {
    const { box } = await start();
    const space = await tester(box);
    await space.insert([1, 'a']);
    expect(Object.keys(box.info()).sort()).toEqual(
      [
        'cluster',
        'id',
        'listen',
        'lsn',
        'package',
        'pid',
        'replication',
        'ro',
        'signature',
        'status',
        'uptime',
        'uuid',
        'vclock',
        'version',
      ].sort(),
    );
    expect(box.infoMemory().data).toBeGreaterThan(0);
    expect(box.stat().INSERT!.total).toBeGreaterThan(0);
  });
});
