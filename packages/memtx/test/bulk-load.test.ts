// Bulk loading (snapshot recovery, join): a space filled by beginBulkLoad / load / endBulkLoad
// must be indistinguishable from one filled by inserts: the same tuples in every index, in the
// same order, valid trees, the same errors for duplicates.
import { ErrorCode, encode } from '@tarantype/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Space, TREE_NODE_SIZE_MIN } from '../src/index.js';
import { checkSpace } from '../src/testing.js';
import { errorOf, seeded } from './helpers.js';

/** A space with every index layout: direct numeric pk, by-ref string, non-unique, nullable, HASH. */
function make(pk: 'unsigned' | 'string'): Space {
  const space = new Space({ id: 512, name: 'bulk' });
  const node = { maxNodeSize: TREE_NODE_SIZE_MIN };
  space.createIndex({ name: 'pk', parts: [{ field: 0, type: pk }], ...node });
  space.createIndex({
    name: 'by_group',
    parts: [{ field: 1, type: 'unsigned' }],
    unique: false,
    ...node,
  });
  space.createIndex({
    name: 'maybe',
    parts: [{ field: 2, type: 'unsigned', is_nullable: true }],
    ...node,
  });
  space.createIndex({ name: 'hash', type: 'HASH', parts: [{ field: 3, type: 'string' }] });
  return space;
}

function contents(space: Space): unknown[][][] {
  return space.indexes.map((index) =>
    index.select([], { iterator: index.type === 'TREE' ? 'GE' : 'ALL' }),
  );
}

const rowArbitrary = fc.uniqueArray(fc.integer({ min: 0, max: 5000 }), { maxLength: 300 });

describe('bulk load', () => {
  for (const pk of ['unsigned', 'string'] as const) {
    it(`builds the same indexes as one insert at a time (${pk} primary key, any order)`, () => {
      fc.assert(
        fc.property(rowArbitrary, fc.boolean(), (ids, sortFirst) => {
          const ordered = sortFirst ? [...ids].sort((a, b) => a - b) : ids;
          const key = (i: number) => (pk === 'unsigned' ? i : `k${String(i).padStart(5, '0')}`);
          // Unique nullable field: every third tuple has nil there (nils never collide).
          const tuples = ordered.map((i) => [key(i), i % 7, i % 3 === 0 ? null : i, `h${i}`]);
          const inserted = make(pk);
          for (const t of tuples) inserted.insert(t);
          const bulk = make(pk);
          bulk.beginBulkLoad();
          for (const t of tuples) bulk.load(t);
          expect(bulk.bulkLoading).toBe(true);
          bulk.endBulkLoad();
          expect(bulk.bulkLoading).toBe(false);
          checkSpace(bulk);
          expect(contents(bulk)).toEqual(contents(inserted));
          expect(bulk.bsize()).toBe(inserted.bsize());
          // The bulk-built trees take ordinary writes afterwards.
          bulk.insert([key(9999), 1, 9999, 'h9999']);
          if (ids.length > 0) bulk.delete([key(ids[0]!)]);
          checkSpace(bulk);
        }),
        seeded(60),
      );
    });
  }

  it('reports a duplicate primary or unique key as an insert would', () => {
    const space = make('unsigned');
    space.beginBulkLoad();
    space.load([1, 0, 1, 'a']);
    space.load([2, 0, 2, 'b']);
    space.load([1, 0, 3, 'c']);
    expect(errorOf(() => space.endBulkLoad())).toEqual({
      code: ErrorCode.ER_TUPLE_FOUND,
      message: "Duplicate key exists in unique index 'pk' in space 'bulk'",
    });
    const secondary = make('unsigned');
    secondary.beginBulkLoad();
    secondary.load([1, 0, 5, 'a']);
    secondary.load([2, 0, 5, 'b']);
    expect(errorOf(() => secondary.endBulkLoad())?.message).toBe(
      "Duplicate key exists in unique index 'maybe' in space 'bulk'",
    );
  });

  it('refuses other writes while loading and a bulk load into a non-empty space', () => {
    const space = make('unsigned');
    space.beginBulkLoad();
    space.load([1, 0, 1, 'a']);
    expect(() => space.insert([2, 0, 2, 'b'])).toThrow('written while bulk loading');
    expect(space.len()).toBe(0);
    space.endBulkLoad();
    expect(space.len()).toBe(1);
    expect(() => space.beginBulkLoad()).toThrow('must be empty to bulk load');
    expect(() => space.endBulkLoad()).toThrow('is not bulk loading');
  });

  for (const pk of ['unsigned', 'string'] as const)
    it(`loadAscending takes keys above the last one and refuses, storing nothing, any other (${pk})`, () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 120 }), (ids) => {
          const key = (i: number) => (pk === 'unsigned' ? i : `k${String(i).padStart(5, '0')}`);
          const space = make(pk);
          expect(space.loadsAscending).toBe(true);
          space.beginBulkLoad();
          const taken: number[] = [];
          for (const i of ids) {
            const ascending = taken.length === 0 || i > taken[taken.length - 1]!;
            const before = space.bsize();
            expect(space.loadAscending([key(i), i % 7, i, `h${i}`])).toBe(ascending);
            if (ascending) taken.push(i);
            else expect(space.bsize()).toBe(before);
          }
          space.endBulkLoad();
          checkSpace(space);
          expect(space.select([], { iterator: 'GE' })).toEqual(
            taken.map((i) => [key(i), i % 7, i, `h${i}`]),
          );
        }),
        seeded(60),
      );
    });

  it('loadAscending after a load() compares with the tuple loaded last, and the index comes out sorted', () => {
    // A numeric primary key: loadAscending keeps the keys it read; a load() in between makes
    // them stale, and the comparisons and the build go back to reading tuples.
    const space = make('unsigned');
    space.beginBulkLoad();
    const row = (i: number) => [i, i % 7, i, `h${i}`];
    expect(space.loadAscending(row(1))).toBe(true);
    expect(space.loadAscending(row(5))).toBe(true);
    expect(space.loadAscending(row(5))).toBe(false);
    space.load(row(3));
    expect(space.loadAscending(row(2))).toBe(false);
    expect(space.loadAscending(row(4))).toBe(true);
    space.endBulkLoad();
    checkSpace(space);
    expect(space.select([], { iterator: 'GE' })).toEqual([1, 3, 4, 5].map(row));
    // And only loadAscending: the keys it read build the index.
    const ascending = make('unsigned');
    ascending.beginBulkLoad();
    for (const i of [2, 4, 8, 9]) expect(ascending.loadAscending(row(i))).toBe(true);
    expect(ascending.loadAscending(row(9))).toBe(false);
    ascending.endBulkLoad();
    checkSpace(ascending);
    expect(ascending.index('pk')!.select([9], { iterator: 'LE' })).toEqual([9, 8, 4, 2].map(row));
  });

  it('loadAscending needs an ordered primary key and a bulk load', () => {
    const hashed = new Space({ id: 513, name: 'hashed' });
    hashed.createIndex({ name: 'pk', type: 'HASH', parts: [{ field: 0, type: 'unsigned' }] });
    expect(hashed.loadsAscending).toBe(false);
    hashed.beginBulkLoad();
    expect(hashed.loadAscending([1])).toBe(false);
    hashed.endBulkLoad();
    expect(hashed.len()).toBe(0);
    expect(() => hashed.loadAscending([2])).toThrow('is not bulk loading');
  });

  it('loadAt and loadAscendingAt store the tuple at a range of a larger buffer, checked as load() checks it', () => {
    // Recovery hands memtx the tuple where it lies in the xlog block, between other bytes.
    const tuples = [0, 1, 2, 5].map((i) => encode([i, i % 7, i, `h${i}`]));
    const block = new Uint8Array(tuples.reduce((n, t) => n + t.length + 3, 0));
    const ranges: Array<[number, number]> = [];
    let p = 0;
    for (const t of tuples) {
      block.set([0xc0, 0xc3, 0xa1], p); // bytes around each tuple that must not be copied
      block.set(t, p + 3);
      ranges.push([p + 3, p + 3 + t.length]);
      p += 3 + t.length;
    }
    const space = make('unsigned');
    space.beginBulkLoad();
    expect(space.loadAscendingAt(block, ...ranges[0]!)).toBe(true);
    expect(space.loadAscendingAt(block, ...ranges[2]!)).toBe(true);
    // Not above the last key: refused, nothing stored; then loaded one at a time.
    expect(space.loadAscendingAt(block, ...ranges[1]!)).toBe(false);
    space.endBulkLoad();
    space.loadAt(block, ...ranges[1]!, 'insert');
    space.loadAt(block, ...ranges[3]!, 'replace');
    expect(() => space.loadAt(block, ...ranges[3]!, 'insert')).toThrow(/Duplicate key/);
    checkSpace(space);
    expect(space.select([], { iterator: 'GE' })).toEqual(
      [0, 1, 2, 5].map((i) => [i, i % 7, i, `h${i}`]),
    );
    expect(space.bsize()).toBe(tuples.reduce((n, t) => n + t.length, 0));
    // Not an array, or against the format: refused as load() refuses them.
    const scalar = encode(7);
    expect(errorOf(() => space.loadAt(scalar, 0, scalar.length, 'replace'))?.code).toBe(
      ErrorCode.ER_TUPLE_NOT_ARRAY,
    );
    const wrong = encode(['x', 0, 1, 'a']);
    expect(() => space.loadAt(wrong, 0, wrong.length, 'replace')).toThrow(/Tuple field 1/);
    const empty = make('unsigned');
    empty.beginBulkLoad();
    expect(() => empty.loadAscendingAt(wrong, 0, wrong.length)).toThrow(/Tuple field 1/);
    expect(() => empty.loadAscendingAt(wrong, 1, 1)).toThrow(/must be MsgPack array/);
    empty.endBulkLoad();
    expect(empty.len()).toBe(0);
  });

  it('validates each tuple against the format while loading', () => {
    const space = make('unsigned');
    space.beginBulkLoad();
    expect(() => space.load(['x', 0, 1, 'a'])).toThrow(/Tuple field 1/);
    space.endBulkLoad();
    expect(space.len()).toBe(0);
  });
});
