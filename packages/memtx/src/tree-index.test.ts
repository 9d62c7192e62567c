// The two TREE layouts must agree: a unique non-nullable numeric index keeps JS numbers as keys
// (direct), the same index declared nullable keeps refs and compares MessagePack (by ref).
import { Float64 } from '@tarantype/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seeded } from '../test/helpers.js';
import { Space } from './space.js';
import { checkSpace } from './testing.js';
import { TREE_NODE_SIZE_MIN, type TreeIndex } from './tree-index.js';

const valueArb = fc.oneof(
  fc.integer({ min: -20, max: 20 }),
  fc.constantFrom(NaN, -0, Infinity, -Infinity, 0.5, -2.5, 2 ** 53, 2 ** 64, 1e300),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.double({ min: -30, max: 30, noNaN: true }).map((x) => new Float64(x)),
);
const ITERATORS = ['EQ', 'REQ', 'ALL', 'LT', 'LE', 'GE', 'GT'] as const;

describe('TREE layouts', () => {
  it('direct (numbers as keys) and by-ref (MessagePack comparator) agree on every iterator', () => {
    fc.assert(
      fc.property(
        fc.array(valueArb, { maxLength: 60, size: 'max' }),
        fc.array(valueArb, { maxLength: 10 }),
        (values, keys) => {
          const space = new Space({ id: 1, name: 'layouts' });
          space.createIndex({
            name: 'pk',
            parts: [{ field: 0, type: 'unsigned' }],
            maxNodeSize: TREE_NODE_SIZE_MIN,
          });
          const direct = space.createIndex({
            name: 'direct',
            parts: [{ field: 1, type: 'number' }],
            maxNodeSize: TREE_NODE_SIZE_MIN,
          });
          const byRef = space.createIndex({
            name: 'by_ref',
            parts: [{ field: 1, type: 'number', is_nullable: true }],
            maxNodeSize: TREE_NODE_SIZE_MIN,
          });
          expect((direct.impl as TreeIndex).direct).toBe(true);
          expect((byRef.impl as TreeIndex).direct).toBe(false);
          values.forEach((value, id) => {
            try {
              space.insert([id, value]);
            } catch (error) {
              // Equal numbers collide in both unique indexes: the first (direct) reports it.
              expect((error as Error).message).toContain("unique index 'direct'");
            }
          });
          checkSpace(space);
          for (const key of [[], ...keys.map((k) => [k])]) {
            for (const iterator of ITERATORS) {
              const ids = (index: typeof direct) =>
                index.select(key, { iterator }).map((t) => t[0]);
              expect(ids(byRef), `${iterator} ${String(key[0])}`).toEqual(ids(direct));
            }
          }
        },
      ),
      seeded(150),
    );
  });
});
