// Space behaviour and error texts: DDL, key and tuple validation, statements (commit,
// rollback, cascading rollback in reverse order), triggers, truncate, memory accounting.
// Expected texts are Tarantool 2.6.0's, as observed on the real server.
import { AssertionError, decode, ErrorCode, encode, Float64 } from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import { Space, type Statement, TREE_NODE_SIZE_MIN } from '../src/index.js';
import { checkSpace } from '../src/testing.js';
import { errorOf, hex } from './helpers.js';

function tester(options: { autocommit?: boolean } = {}): Space {
  const space = new Space({ id: 512, name: 'tester', ...options });
  space.createIndex({
    name: 'primary',
    parts: [{ field: 0, type: 'unsigned' }],
    maxNodeSize: TREE_NODE_SIZE_MIN,
  });
  return space;
}

function errorText(fn: () => unknown): string | undefined {
  return errorOf(fn)?.message;
}

describe('DDL', () => {
  it('validates formats as box.schema.space.create', () => {
    expect(
      errorText(
        () =>
          new Space({
            id: 1,
            name: 'fd',
            format: [
              { name: 'a', type: 'unsigned' },
              { name: 'a', type: 'string' },
            ],
          }),
      ),
    ).toBe("Space field 'a' is duplicate");
    expect(
      errorText(() => new Space({ id: 1, name: 'fb', format: [{ name: 'a', type: 'foo' }] })),
    ).toBe("Failed to create space 'fb': field 1 has unknown field type");
  });

  it('validates index definitions with Tarantool errors', () => {
    const space = new Space({
      id: 512,
      name: 'tester',
      format: [
        { name: 'id', type: 'unsigned' },
        { name: 'name', type: 'string' },
      ],
    });
    expect(errorText(() => space.insert([1]))).toBe("No index #0 is defined in space 'tester'");
    expect(errorText(() => space.select([]))).toBe("No index #0 is defined in space 'tester'");
    expect(errorText(() => space.createIndex({ id: 1, name: 'x', parts: [0] }))).toBe(
      "Can't modify space 'tester': can not add a secondary key before primary",
    );
    expect(
      errorText(() => space.createIndex({ name: 'pk', parts: [{ field: 0, is_nullable: true }] })),
    ).toBe("Primary index of space 'tester' can not contain nullable parts");
    expect(errorText(() => space.createIndex({ name: 'pk', type: 'bitset', parts: [0] }))).toBe(
      "Unsupported index type supplied for index 'pk' in space 'tester'",
    );
    space.createIndex({ name: 'primary', parts: ['id'] });
    expect(errorText(() => space.createIndex({ name: 'primary', parts: [1] }))).toBe(
      "Index 'primary' already exists",
    );
    expect(
      errorText(() => space.createIndex({ name: 'h', type: 'hash', unique: false, parts: [0] })),
    ).toBe("Can't create or modify index 'h' in space 'tester': HASH index must be unique");
    expect(
      errorText(() =>
        space.createIndex({
          name: 'h',
          type: 'HASH',
          parts: [{ field: 2, type: 'unsigned', is_nullable: true }],
        }),
      ),
    ).toBe('HASH does not support nullable parts');
    for (const type of ['any', 'array', 'map']) {
      expect(errorText(() => space.createIndex({ name: 'x', parts: [{ field: 2, type }] }))).toBe(
        `Can't create or modify index 'x' in space 'tester': field type '${type}' is not supported`,
      );
    }
    expect(errorText(() => space.createIndex({ name: 'x', parts: ['nope'] }))).toBe(
      "Illegal parameters, options.parts[1]: field was not found by name 'nope'",
    );
    expect(
      errorText(() =>
        space.createIndex({ name: 'x', parts: [{ field: 'name', type: 'unsigned' }] }),
      ),
    ).toBe("Field 2 has type 'string' in space format, but type 'unsigned' in index definition");
    space.createIndex({ name: 'n', unique: false, parts: [{ field: 2, type: 'unsigned' }] });
    expect(
      errorText(() => space.createIndex({ name: 'x', parts: [{ field: 2, type: 'string' }] })),
    ).toBe("Field 3 has type 'unsigned' in one index, but type 'string' in another");
    // A part type defaults to the format's; 'scalar' may index a 'string' field.
    expect(space.createIndex({ name: 'by_name', unique: false, parts: ['name'] }).parts).toEqual([
      { fieldno: 1, type: 'string', is_nullable: false },
    ]);
    space.createIndex({
      name: 'scalar_name',
      unique: false,
      parts: [{ field: 'name', type: 'scalar' }],
    });
    expect(errorText(() => space.dropIndex('primary'))).toBe(
      "Can't drop primary key in space 'tester' while secondary keys exist",
    );
    expect(errorText(() => space.dropIndex('nope'))).toBe(
      "No index 'nope' is defined in space 'tester'",
    );
    expect(errorText(() => space.dropIndex(9))).toBe("No index #9 is defined in space 'tester'");
  });

  it('builds a new index from the data, checking types and uniqueness', () => {
    const space = tester();
    space.insert([1, 5, 'a']);
    space.insert([2, 5, 'b']);
    expect(
      errorText(() => space.createIndex({ name: 'u3', parts: [{ field: 1, type: 'unsigned' }] })),
    ).toBe("Duplicate key exists in unique index 'u3' in space 'tester'");
    expect(
      errorText(() =>
        space.createIndex({ name: 'u4', unique: false, parts: [{ field: 2, type: 'unsigned' }] }),
      ),
    ).toBe('Tuple field 3 type does not match one required by operation: expected unsigned');
    expect(
      errorText(() =>
        space.createIndex({ name: 'u5', unique: false, parts: [{ field: 3, type: 'unsigned' }] }),
      ),
    ).toBe('Tuple field 4 required by space format is missing');
    const byName = space.createIndex({ name: 'by_name', parts: [{ field: 2, type: 'string' }] });
    expect(byName.select(['b'])).toEqual([[2, 5, 'b']]);
    // The failed attempts left nothing behind.
    expect(space.indexes.map((i) => i.name)).toEqual(['primary', 'by_name']);
    space.insert([3, 'x', 'c']);
    checkSpace(space);
  });

  it('drops indexes; dropping the primary key drops the data', () => {
    const space = tester();
    space.createIndex({ name: 'sk', unique: false, parts: [{ field: 1, type: 'string' }] });
    expect(errorText(() => space.insert([1, 2]))).toBe(
      'Tuple field 2 type does not match one required by operation: expected string',
    );
    space.dropIndex('sk');
    space.insert([1, 2]);
    space.dropIndex(0);
    expect(space.indexes).toEqual([]);
    space.createIndex({ name: 'primary', parts: [0] });
    expect(space.len()).toBe(0);
    expect(space.bsize()).toBe(0);
  });
});

describe('writes', () => {
  it('insert reports duplicates with the exact text', () => {
    const space = tester();
    space.insert([1, 'a']);
    expect(errorOf(() => space.insert([1, 'b']))).toEqual({
      code: ErrorCode.ER_TUPLE_FOUND,
      message: "Duplicate key exists in unique index 'primary' in space 'tester'",
    });
    expect(errorText(() => space.insert(['a']))).toBe(
      'Tuple field 1 type does not match one required by operation: expected unsigned',
    );
    expect(errorText(() => space.insert([]))).toBe(
      'Tuple field 1 required by space format is missing',
    );
    expect(errorText(() => space.insert([-1]))).toBe(
      'Tuple field 1 type does not match one required by operation: expected unsigned',
    );
    expect(errorText(() => space.insert([() => 1] as unknown[]))).toMatch(
      /^Illegal parameters, cannot encode function/,
    );
  });

  it('accepts MessagePack tuples and refuses anything but one array', () => {
    const space = tester();
    space.insert(encode([7, 'raw']));
    expect(space.get([7])).toEqual([7, 'raw']);
    expect(errorOf(() => space.insert(encode(5)))).toEqual({
      code: ErrorCode.ER_TUPLE_NOT_ARRAY,
      message: 'Tuple/Key must be MsgPack array',
    });
    expect(errorText(() => space.insert(new Uint8Array(0)))).toBe(
      'Tuple/Key must be MsgPack array',
    );
    expect(errorText(() => space.insert(new Uint8Array([0x92, 0x01])))).toBe(
      'Invalid MsgPack - tuple',
    );
    expect(errorText(() => space.insert(new Uint8Array([0x91, 0x08, 0x09])))).toBe(
      'Invalid MsgPack - tuple',
    );
    expect(errorText(() => space.select(encode(1)))).toBe('Tuple/Key must be MsgPack array');
  });

  it('enforces memtx_max_tuple_size with Tarantool text', () => {
    const space = new Space({ id: 1, name: 'big', maxTupleSizeBytes: 1000 });
    space.createIndex({ name: 'pk', parts: [0] });
    space.insert([1, 'x'.repeat(900)]);
    const tuple = encode([2, 'x'.repeat(1000)]);
    expect(errorOf(() => space.insert(tuple))).toEqual({
      code: ErrorCode.ER_MEMTX_MAX_TUPLE_SIZE,
      message: `Failed to allocate ${tuple.length + 2} bytes for tuple: tuple is too large. Check 'memtx_max_tuple_size' configuration option.`,
    });
    // The default is 1 MiB; bigger limits store big tuples in chunks of their own.
    const large = new Space({ id: 2, name: 'large', maxTupleSizeBytes: 8 << 20 });
    large.createIndex({ name: 'pk', parts: [0] });
    large.insert([1, 'y'.repeat(3 << 20)]);
    expect((large.get([1])![1] as string).length).toBe(3 << 20);
    large.delete([1]);
    expect(large.arena.stats().usedBytes).toBe(0);
  });

  it('replace, delete, update and upsert return statements with old and new tuples', () => {
    const space = tester();
    const inserted = space.insert([1, 'a']);
    expect(inserted.kind).toBe('insert');
    expect(inserted.isCommitted).toBe(true);
    expect(inserted.oldTuple).toBeUndefined();
    expect(inserted.newTuple).toEqual([1, 'a']);
    const replaced = space.replace([1, 'b']);
    expect([replaced.oldTuple, replaced.newTuple]).toEqual([
      [1, 'a'],
      [1, 'b'],
    ]);
    const updated = space.update(
      [1],
      [
        ['=', 1, 'c'],
        ['!', 2, 9],
      ],
    )!;
    expect([updated.oldTuple, updated.newTuple]).toEqual([
      [1, 'b'],
      [1, 'c', 9],
    ]);
    expect(space.update([2], [['=', 1, 'x']])).toBeUndefined();
    // Lua-style callers number fields from 1.
    expect(space.update([1], [['+', 3, 1]], { indexBase: 1 })!.newTuple).toEqual([1, 'c', 10]);
    const upserted = space.upsert(
      [1, 'ignored'],
      [
        ['+', 2, 5],
        ['+', 1, 1],
      ],
    );
    expect(upserted.newTuple).toEqual([1, 'c', 15]);
    expect(upserted.upsertErrors.map((e) => e.message)).toEqual([
      "Argument type in operation '+' on field 2 does not match field type: expected a number",
    ]);
    const deleted = space.delete([1])!;
    expect([deleted.oldTuple, deleted.newTuple]).toEqual([[1, 'c', 15], undefined]);
    expect(space.delete([1])).toBeUndefined();
    // Statements stay readable after their memory was reused.
    for (let i = 0; i < 100; i++) space.insert([i, 'c', 15]);
    expect(deleted.oldTuple).toEqual([1, 'c', 15]);
    expect(inserted.newTupleBytes).toEqual(encode([1, 'a']));
  });

  it('updates by field name and by a secondary unique index', () => {
    const space = new Space({
      id: 1,
      name: 'people',
      format: [
        { name: 'id', type: 'unsigned' },
        { name: 'email', type: 'string' },
        { name: 'age', type: 'unsigned', is_nullable: true },
      ],
    });
    space.createIndex({ name: 'pk', parts: ['id'] });
    space.createIndex({ name: 'email', parts: ['email'] });
    space.insert([1, 'a@x', 30]);
    expect(space.update(['a@x'], [['+', 'age', 1]], { index: 'email' })!.newTuple).toEqual([
      1,
      'a@x',
      31,
    ]);
    expect(space.delete(['a@x'], { index: 1 })!.oldTuple).toEqual([1, 'a@x', 31]);
    expect(errorText(() => space.update([1], [['=', 'nope', 1]]))).toBeUndefined(); // tuple gone: ops not checked
    space.insert([2, 'b@x']);
    expect(errorText(() => space.update([2], [['=', 'nope', 1]]))).toBe(
      "Field 'nope' was not found in the tuple",
    );
    expect(errorText(() => space.update([2], [['=', 'email.x', 1]]))).toBe(
      'memtx does not support nested JSON path updates',
    );
    expect(space.update([2], [['=', '[3]', 5]])!.newTuple).toEqual([2, 'b@x', 5]);
  });

  it('a failed statement changes no index', () => {
    const space = tester();
    space.createIndex({
      name: 'u',
      parts: [{ field: 1, type: 'unsigned' }],
      maxNodeSize: TREE_NODE_SIZE_MIN,
    });
    space.createIndex({ name: 'v', type: 'HASH', parts: [{ field: 2, type: 'unsigned' }] });
    space.insert([1, 1, 1]);
    space.insert([2, 2, 2]);
    const before = space.memory();
    expect(errorText(() => space.replace([1, 2, 3]))).toBe(
      "Duplicate key exists in unique index 'u' in space 'tester'",
    );
    expect(errorText(() => space.insert([3, 3, 2]))).toBe(
      "Duplicate key exists in unique index 'v' in space 'tester'",
    );
    expect(errorText(() => space.update([1], [['=', 2, 2]]))).toBe(
      "Duplicate key exists in unique index 'v' in space 'tester'",
    );
    expect(errorText(() => space.update([1], [['=', 0, 5]]))).toBe(
      "Attempt to modify a tuple field which is part of index 'primary' in space 'tester'",
    );
    expect(space.select()).toEqual([
      [1, 1, 1],
      [2, 2, 2],
    ]);
    expect(space.memory()).toEqual(before);
    checkSpace(space);
  });

  it('stores JS tuples as core encodes them (strings of every header width, -0, NaN)', () => {
    const space = tester();
    let id = 0;
    for (const length of [0, 1, 31, 32, 255, 256, 70_000]) {
      for (const tail of ['', 'é', '\u{10000}']) {
        const tuple = [
          id++,
          'a'.repeat(length) + tail,
          -0,
          Number.NaN,
          1.5,
          -7,
          2 ** 40,
          null,
          true,
        ];
        expect(hex(space.index(0)!.getRaw([space.insert(tuple).newTuple![0]]))).toBe(
          hex(encode(tuple)),
        );
      }
    }
  });

  it('writes JS numbers into double fields as MP_DOUBLE, and finds them by JS keys', () => {
    const space = new Space({ id: 1, name: 'd', format: [{ name: 'x', type: 'double' }] });
    space.createIndex({ name: 'pk', parts: ['x'] });
    space.insert([1]);
    space.insert([new Float64(2)] as unknown[]);
    space.insert([0.5]);
    expect(hex(space.index('pk')!.getRaw([1]))).toBe('91cb3ff0000000000000');
    expect(space.select([1], { iterator: 'GE' })).toEqual([[1], [2]]);
    expect(errorText(() => space.insert(encode([3])))).toBe(
      'Tuple field 1 type does not match one required by operation: expected double',
    );
  });

  it('orders 64-bit integers exactly, as bigint beyond 2^53', () => {
    const space = new Space({ id: 1, name: 'big' });
    space.createIndex({ name: 'pk', parts: [{ field: 0, type: 'integer' }] });
    const values = [
      18446744073709551615n,
      -9223372036854775808n,
      9007199254740993n,
      9007199254740992,
      -1,
      0,
    ];
    for (const v of values) space.insert([v]);
    // Core decodes integers beyond 2^53 - 1 as bigint (2^53 included).
    expect(space.select().map((t) => t[0])).toEqual([
      -9223372036854775808n,
      -1,
      0,
      9007199254740992n,
      9007199254740993n,
      18446744073709551615n,
    ]);
    expect(space.get([18446744073709551615n])).toEqual([18446744073709551615n]);
    expect(space.select([9007199254740992], { iterator: 'GT' }).length).toBe(2);
  });
});

describe('reads and key validation', () => {
  function two(): Space {
    const space = new Space({ id: 1, name: 'test' });
    space.createIndex({
      name: 'pk',
      parts: [
        { field: 0, type: 'unsigned' },
        { field: 1, type: 'string' },
      ],
      maxNodeSize: TREE_NODE_SIZE_MIN,
    });
    for (let i = 1; i <= 3; i++) for (const s of ['a', 'b']) space.insert([i, s]);
    return space;
  }

  it('validates keys and iterators as 2.6', () => {
    const space = two();
    expect(errorText(() => space.select([1, 'a', 2]))).toBe(
      'Invalid key part count (expected [0..2], got 3)',
    );
    expect(errorText(() => space.select(['a']))).toBe(
      'Supplied key type of part 0 does not match index part type: expected unsigned',
    );
    expect(errorText(() => space.select([1, null]))).toBe(
      'Supplied key type of part 1 does not match index part type: expected string',
    );
    expect(errorText(() => space.get([1]))).toBe(
      'Invalid key part count in an exact match (expected 2, got 1)',
    );
    expect(errorText(() => space.delete([]))).toBe(
      'Invalid key part count in an exact match (expected 2, got 0)',
    );
    expect(errorText(() => space.select([], { iterator: 'BITS_ALL_SET' }))).toBe(
      "Index 'pk' (TREE) of space 'test' (memtx) does not support requested iterator type",
    );
    expect(errorText(() => space.select([], { iterator: 12 }))).toBe(
      'Illegal parameters, Invalid iterator type',
    );
    expect(errorText(() => space.select([], { iterator: 'SIDEWAYS' as 'EQ' }))).toBe(
      "Unknown iterator type 'SIDEWAYS'",
    );
    expect(errorText(() => space.select([], { index: 3 }))).toBe(
      "No index #3 is defined in space 'test'",
    );
    space.createIndex({ name: 'by_s', unique: false, parts: [{ field: 1, type: 'string' }] });
    expect(errorText(() => space.get(['a'], { index: 'by_s' }))).toBe(
      "Get() doesn't support partial keys and non-unique indexes",
    );
    expect(errorText(() => space.delete(['a'], { index: 'by_s' }))).toBe(
      "Get() doesn't support partial keys and non-unique indexes",
    );
  });

  it('iterates partial keys in both directions, with limit and offset', () => {
    const space = two();
    expect(space.select([2])).toEqual([
      [2, 'a'],
      [2, 'b'],
    ]);
    expect(space.select([2], { iterator: 'REQ' })).toEqual([
      [2, 'b'],
      [2, 'a'],
    ]);
    expect(space.select([2], { iterator: 'GT' })).toEqual([
      [3, 'a'],
      [3, 'b'],
    ]);
    expect(space.select([2], { iterator: 'LT' })).toEqual([
      [1, 'b'],
      [1, 'a'],
    ]);
    expect(space.select([2], { iterator: 'LE' })).toEqual([
      [2, 'b'],
      [2, 'a'],
      [1, 'b'],
      [1, 'a'],
    ]);
    expect(space.select([2, 'b'], { iterator: 'GE' })).toEqual([
      [2, 'b'],
      [3, 'a'],
      [3, 'b'],
    ]);
    expect(space.select([2], { iterator: 'ALL' })).toEqual([
      [2, 'a'],
      [2, 'b'],
      [3, 'a'],
      [3, 'b'],
    ]);
    expect(space.select([], { iterator: 'LT' }).length).toBe(6);
    expect(space.select([], { offset: 2, limit: 2 })).toEqual([
      [2, 'a'],
      [2, 'b'],
    ]);
    expect(space.select([], { limit: 0 })).toEqual([]);
    expect(space.count([2])).toBe(2);
    expect(space.count([2], { iterator: 'GE' })).toBe(4);
    expect(space.count()).toBe(6);
    expect(space.min([2])).toEqual([2, 'a']);
    expect(space.max([2])).toEqual([2, 'b']);
    expect(space.min([4])).toBeUndefined();
    expect(space.min()).toEqual([1, 'a']);
    expect(space.max()).toEqual([3, 'b']);
    expect(space.len()).toBe(6);
    expect(space.bsize()).toBe(24);
    expect(space.index('pk')!.selectRaw([3, 'b']).map(hex)).toEqual(['9203a162']);
  });

  it('HASH: full keys for EQ, ALL and GT walk every tuple once', () => {
    const space = new Space({ id: 1, name: 'h' });
    space.createIndex({ name: 'primary', type: 'HASH', parts: [{ field: 0, type: 'unsigned' }] });
    for (let i = 1; i <= 50; i++) space.insert([i]);
    expect(space.get([7])).toEqual([7]);
    expect(space.select([7])).toEqual([[7]]);
    expect(space.count([7])).toBe(1);
    expect(space.count()).toBe(50);
    expect(errorText(() => space.select([], { iterator: 'EQ' }))).toBe(
      'HASH index  does not support selects via a partial key (expected 1 parts, got 0). Please Consider changing index type to TREE.',
    );
    // Without an iterator an empty key means ALL, as in Tarantool's Lua API.
    expect(space.select().length).toBe(50);
    expect(errorText(() => space.select([3], { iterator: 'LT' }))).toBe(
      "Index 'primary' (HASH) of space 'h' (memtx) does not support requested iterator type",
    );
    expect(errorText(() => space.min())).toBe(
      "Index 'primary' (HASH) of space 'h' (memtx) does not support min()",
    );
    expect(errorText(() => space.max())).toBe(
      "Index 'primary' (HASH) of space 'h' (memtx) does not support max()",
    );
    // Pagination by GT visits everything once, in hash order.
    const seen: unknown[] = [];
    let page = space.select([], { iterator: 'GT', limit: 7 });
    while (page.length > 0) {
      seen.push(...page.map((t) => t[0]));
      page = space.select(page[page.length - 1]!, { iterator: 'GT', limit: 7 });
    }
    expect([...seen].sort((a, b) => (a as number) - (b as number))).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    expect(space.select([99], { iterator: 'GT' })).toEqual([]);
    expect(space.select([3], { iterator: 'ALL' }).length).toBe(50);
  });

  it('forEachRaw hands out the engine bytes and refuses writes from its callback', () => {
    const space = tester();
    for (let i = 0; i < 10; i++) space.insert([i, 'v']);
    const seen: string[] = [];
    const n = space.index(0)!.forEachRaw([5], { iterator: 'GE', limit: 3 }, (bytes, start, end) => {
      seen.push(hex(bytes.subarray(start, end))!);
    });
    expect(n).toBe(3);
    expect(seen.map((h) => decode(Buffer.from(h!, 'hex')))).toEqual([
      [5, 'v'],
      [6, 'v'],
      [7, 'v'],
    ]);
    expect(() => space.index(0)!.forEachRaw([], {}, () => space.insert([100]))).toThrow(
      AssertionError,
    );
    space.insert([100]);
  });

  it('scanRaw checks the key at once and runs the scan later, once, before any write', () => {
    const space = tester();
    for (let i = 0; i < 10; i++) space.insert([i, 'v']);
    const index = space.index(0)!;
    // The key is checked when the scan is made, not when it runs.
    expect(() => index.scanRaw(['x'], { iterator: 'GE' })).toThrow(/Supplied key type/);
    const scan = index.scanRaw([7], { iterator: 'GE', offset: 1 });
    const seen: unknown[] = [];
    expect(scan((bytes, start, end) => seen.push(decode(bytes.subarray(start, end))))).toBe(2);
    expect(seen).toEqual([
      [8, 'v'],
      [9, 'v'],
    ]);
    expect(() => scan(() => undefined)).toThrow(/ran twice/);
    const stale = index.scanRaw([], {});
    space.insert([50]);
    expect(() => stale(() => undefined)).toThrow(/written between a scan's open and run/);
    const guarded = index.scanRaw([], {});
    expect(() => guarded(() => space.insert([51]))).toThrow(AssertionError);
  });
});

describe('statements: commit and rollback', () => {
  it('roll back exactly, in every index, newest first across many transactions', () => {
    const space = tester({ autocommit: false });
    space.createIndex({
      name: 'u',
      parts: [{ field: 1, type: 'string' }],
      maxNodeSize: TREE_NODE_SIZE_MIN,
    });
    space.createIndex({
      name: 'n',
      unique: false,
      parts: [{ field: 2, type: 'integer', is_nullable: true }],
      maxNodeSize: TREE_NODE_SIZE_MIN,
    });
    space.createIndex({ name: 'h', type: 'HASH', parts: [{ field: 3, type: 'unsigned' }] });
    const committed: Statement[] = [];
    for (let i = 0; i < 20; i++) committed.push(space.insert([i, `s${i}`, i % 3, i]));
    for (const st of committed) st.commit();
    const snapshot = space.index(0)!.selectRaw().map(hex);
    const memory = space.memory();
    // Many "transactions" waiting for the WAL, then the WAL fails: undo all, newest first.
    const pending: Statement[] = [];
    for (let i = 0; i < 20; i++) {
      pending.push(space.replace([i, `r${i}`, null, 100 + i]));
      if (i % 3 === 0) pending.push(space.delete([i])!);
      const updated = space.update([i], [['=', 2, -i]]);
      if (updated !== undefined) pending.push(updated);
      pending.push(space.upsert([40 + i, `x${i}`, 1, 200 + i], [['=', 2, 7]]));
    }
    pending.push(space.truncate());
    pending.push(space.insert([1, 'after', 1, 1]));
    expect(space.pendingStatements).toBe(pending.length);
    for (let i = pending.length - 1; i >= 0; i--) pending[i]!.rollback();
    expect(space.pendingStatements).toBe(0);
    expect(space.index(0)!.selectRaw().map(hex)).toEqual(snapshot);
    // Same tuples and memory; the B-tree node layout (and so its estimate) may differ.
    const after = space.memory();
    expect([after.tupleBytes, after.arena]).toEqual([memory.tupleBytes, memory.arena]);
    for (const index of space.indexes) {
      expect(index.len()).toBe(20);
      expect(
        index
          .selectRaw([], { iterator: index.type === 'TREE' ? 'GE' : 'ALL' })
          .map(hex)
          .sort(),
      ).toEqual([...snapshot].sort());
    }
    checkSpace(space);
  });

  it('commit releases the old tuple; misuse is an assertion', () => {
    const space = tester({ autocommit: false });
    const a = space.insert([1, 'a']);
    const b = space.replace([1, 'b']);
    expect(a.isPending && b.isPending).toBe(true);
    expect(b.oldTuple).toEqual([1, 'a']);
    expect(() => a.rollback()).toThrow(AssertionError);
    a.commit();
    b.commit();
    expect(() => b.commit()).toThrow(AssertionError);
    expect(() => b.rollback()).toThrow(AssertionError);
    expect(b.oldTuple).toEqual([1, 'a']);
    checkSpace(space);
    const c = space.replace([1, 'c']);
    space.truncate().commit();
    expect(() => c.rollback()).toThrow(AssertionError);
  });
});

describe('triggers', () => {
  it('before_replace: keep, replace, delete or skip, as Tarantool', () => {
    const space = tester();
    space.beforeReplace((old, next) => {
      if (next?.[1] === 'skip') return old;
      if (next?.[1] === 'del') return null;
      if (next?.[1] === 'none') return undefined;
      if (next?.[1] === 'pk') return [999];
      return next;
    });
    expect(space.insert([1, 'a']).rewrite).toBeUndefined();
    const skipped = space.replace([1, 'skip']);
    expect([skipped.isNop, skipped.rewrite]).toEqual([true, 'nop']);
    expect(space.get([1])).toEqual([1, 'a']);
    expect(space.replace([1, 'none']).newTuple).toEqual([1, 'none']);
    const deleted = space.replace([1, 'del']);
    expect([deleted.rewrite, deleted.oldTuple, deleted.newTuple]).toEqual([
      'delete',
      [1, 'none'],
      undefined,
    ]);
    expect(space.get([1])).toBeUndefined();
    expect(space.insert([2, 'del']).rewrite).toBe('nop');
    expect(space.replace([2, 'pk']).rewrite).toBe('replace');
    expect(space.get([999])).toEqual([999]);
    space.insert([3, 'a']);
    expect(errorText(() => space.replace([3, 'pk']))).toBe(
      "Attempt to modify a tuple field which is part of index 'primary' in space 'tester'",
    );
    // An unchanged INSERT of an existing key still fails.
    expect(errorText(() => space.insert([3, 'again']))).toBe(
      "Duplicate key exists in unique index 'primary' in space 'tester'",
    );
    expect(space.update([3], [['=', 1, 'skip']])!.isNop).toBe(true);
    expect(space.delete([3])!.oldTuple).toEqual([3, 'a']);
    checkSpace(space);
  });

  it('before_replace refuses other return values and writes to its own space', () => {
    const space = tester();
    const remove = space.beforeReplace(() => 5 as unknown as null);
    expect(errorOf(() => space.insert([1]))).toEqual({
      code: ErrorCode.ER_BEFORE_REPLACE_RET,
      message:
        'Invalid return value of space:before_replace trigger: expected tuple or nil, got number',
    });
    remove();
    space.beforeReplace(() => {
      space.insert([50]);
      return undefined;
    });
    expect(() => space.insert([1])).toThrow(AssertionError);
    space.runTriggers = false;
    space.insert([1]);
    expect(space.len()).toBe(1);
  });

  it('on_replace sees old and new; a throwing trigger rolls the statement back', () => {
    const space = tester();
    const calls: unknown[] = [];
    const remove = space.onReplace((old, next) => {
      calls.push([old, next]);
      if (next?.[1] === 'boom') throw new Error('boom');
    });
    space.insert([1, 'a']);
    space.replace([1, 'b']);
    space.delete([1]);
    expect(calls).toEqual([
      [null, [1, 'a']],
      [
        [1, 'a'],
        [1, 'b'],
      ],
      [[1, 'b'], null],
    ]);
    space.insert([1, 'x']);
    expect(() => space.replace([1, 'boom'])).toThrow('boom');
    expect(space.get([1])).toEqual([1, 'x']);
    remove();
    space.replace([1, 'boom']);
    expect(calls.length).toBe(5);
    checkSpace(space);
  });
});

describe('truncate and memory', () => {
  it('truncate empties every index and can be rolled back', () => {
    const space = tester({ autocommit: false });
    space.createIndex({ name: 'sk', unique: false, parts: [{ field: 1, type: 'string' }] });
    for (let i = 0; i < 100; i++) space.insert([i, 'x']).commit();
    const truncated = space.truncate();
    expect([space.len(), space.bsize(), space.index('sk')!.len()]).toEqual([0, 0, 0]);
    truncated.rollback();
    expect([space.len(), space.index('sk')!.len()]).toEqual([100, 100]);
    space.truncate().commit();
    expect(space.len()).toBe(0);
    space.insert([1, 'y']).commit();
    checkSpace(space);
  });

  it('accounts bytes per space and per index', () => {
    const space = tester();
    space.createIndex({ name: 'sk', parts: [{ field: 2, type: 'unsigned' }] });
    const empty = space.memory();
    for (let i = 0; i < 10_000; i++) space.insert([i, 'x'.repeat(32), i * 2]);
    const full = space.memory();
    expect(full.tupleBytes).toBe(space.bsize());
    expect(full.arena.usedBytes).toBeGreaterThanOrEqual(full.tupleBytes);
    expect(full.arena.chunkBytes).toBeGreaterThanOrEqual(full.arena.usedBytes);
    expect(full.indexes.map((i) => i.len)).toEqual([10_000, 10_000]);
    for (const index of full.indexes) expect(index.bsize).toBeGreaterThan(8 * 10_000);
    expect(full.totalBytes).toBe(
      full.arena.chunkBytes + full.indexes[0]!.bsize + full.indexes[1]!.bsize,
    );
    for (let i = 0; i < 10_000; i++) space.delete([i]);
    expect(space.memory().arena.usedBytes).toBe(empty.arena.usedBytes);
    expect(space.bsize()).toBe(0);
  });
});
