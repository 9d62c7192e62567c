// HASH buckets: with a deliberately weak hash (4 buckets) every path of collision handling runs.

import { encode } from '@tarantype/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seeded } from '../test/helpers.js';
import { HashIndex } from './hash-index.js';
import {
  DUP_INSERT,
  DUP_REPLACE_OR_INSERT,
  ITER_ALL,
  ITER_EQ,
  ITER_GT,
  NONE,
  type RefIterator,
} from './index-impl.js';
import { KeyDef, toSearchKey } from './key-def.js';
import { TupleArena } from './tuple-arena.js';

class WeakHashKeyDef extends KeyDef {
  override hashTuple(bytes: Uint8Array, p: number): number {
    return super.hashTuple(bytes, p) & 3;
  }
  override hashKey(key: Uint8Array, kp: number): number {
    return super.hashKey(key, kp) & 3;
  }
}

function drain(it: RefIterator): number[] {
  const refs: number[] = [];
  for (let ref = it.next(); ref !== NONE; ref = it.next()) refs.push(ref);
  return refs;
}

describe('HashIndex', () => {
  it('keeps colliding keys apart, finds, replaces, deletes and iterates them', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ key: fc.integer({ min: 0, max: 30 }), remove: fc.boolean(), tag: fc.nat(9) }),
          { maxLength: 150, size: 'max' },
        ),
        (ops) => {
          const arena = new TupleArena();
          const keyDef = new WeakHashKeyDef([{ fieldNo: 0, type: 'unsigned', isNullable: false }]);
          const index = new HashIndex(
            { name: 'h', spaceName: 's', unique: true, keyDef, extension: undefined },
            arena,
            4,
          );
          const model = new Map<number, number>();
          for (const op of ops) {
            const existing = model.get(op.key) ?? NONE;
            if (op.remove) {
              if (existing !== NONE) {
                index.replace(existing, NONE, DUP_INSERT);
                model.delete(op.key);
              }
            } else {
              const bytes = encode([op.key, op.tag]);
              const ref = arena.store(bytes, 0, bytes.length);
              if (existing !== NONE) {
                expect(() => index.replace(NONE, ref, DUP_INSERT)).toThrow(
                  "Duplicate key exists in unique index 'h' in space 's'",
                );
              }
              expect(index.replace(NONE, ref, DUP_REPLACE_OR_INSERT)).toBe(existing);
              model.set(op.key, ref);
            }
            index.checkValid();
          }
          expect(index.size()).toBe(model.size);
          for (let key = 0; key <= 30; key++) {
            const searchKey = toSearchKey([key], keyDef);
            expect(index.findUnique(searchKey)).toBe(model.get(key) ?? NONE);
            expect(drain(index.iterate(ITER_EQ, searchKey))).toEqual(
              model.has(key) ? [model.get(key)] : [],
            );
          }
          const all = drain(index.iterate(ITER_ALL, toSearchKey([], keyDef)));
          expect([...all].sort()).toEqual([...model.values()].sort());
          // GT from each key continues in hash order: the tail of ALL after that key.
          for (const [key, ref] of model) {
            expect(drain(index.iterate(ITER_GT, toSearchKey([key], keyDef)))).toEqual(
              all.slice(all.indexOf(ref) + 1),
            );
          }
        },
      ),
      seeded(150),
    );
  });
});
