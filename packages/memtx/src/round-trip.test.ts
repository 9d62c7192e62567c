import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { roundTripCopy } from './round-trip.js';
import { Space } from './space.js';

/** Field values of every shape a JS tuple can hold, the awkward ones included. */
const fieldArb = fc.oneof(
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(-0, 0, 2 ** 53, -(2 ** 53), 2 ** 63, 2 ** 64 + 4096, NaN, Infinity, -Infinity),
  fc.double(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.boolean(),
  fc.constantFrom(null, undefined),
  fc.uint8Array({ maxLength: 4 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
);

/** What a space stores for `tuple` and gives back (a double field at 2 as well). */
function storedAndReadBack(space: Space, key: number, tuple: unknown[]): unknown[] {
  const statement = space.insert([key, ...tuple]);
  return statement.newTuple!.slice(1);
}

describe('roundTripCopy', () => {
  it('copies exactly the tuples whose decode is the tuple itself, field for field', () => {
    const plain = new Space({ id: 1, name: 'plain', autocommit: true });
    plain.createIndex({ name: 'pk', parts: [{ field: 0, type: 'unsigned' }] });
    const doubles = new Space({
      id: 2,
      name: 'doubles',
      autocommit: true,
      format: [
        { name: 'id', type: 'unsigned' },
        { name: 'd', type: 'any' },
        { name: 'x', type: 'double', is_nullable: true },
      ],
    });
    doubles.createIndex({ name: 'pk', parts: [{ field: 0, type: 'unsigned' }] });
    let key = 0;
    fc.assert(
      fc.property(fc.array(fieldArb, { maxLength: 6 }), (tuple) => {
        const copy = roundTripCopy(tuple);
        const back = storedAndReadBack(plain, ++key, tuple);
        // Every field must match what the space gives back with Object.is (-0, NaN).
        const same =
          back.length === tuple.length && back.every((value, i) => Object.is(value, tuple[i]));
        if (copy !== undefined) {
          expect(copy).not.toBe(tuple);
          expect(same).toBe(true);
          expect(copy.length).toBe(tuple.length);
          for (let i = 0; i < copy.length; i++) expect(Object.is(copy[i], back[i])).toBe(true);
        }
        // A qualifying tuple of numbers stays itself in a double field too.
        if (copy !== undefined && typeof tuple[1] === 'number') {
          const inDouble = storedAndReadBack(doubles, key, [tuple[0], tuple[1]]);
          expect(Object.is(inDouble[1], tuple[1])).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('takes the common fields and refuses those that change', () => {
    expect(roundTripCopy([1, 'abc', 2.5, true, null, NaN, -Infinity])).toEqual([
      1,
      'abc',
      2.5,
      true,
      null,
      NaN,
      -Infinity,
    ]);
    expect(roundTripCopy([])).toEqual([]);
    for (const field of [-0, 2 ** 53, 2n, undefined, '\ud800', new Uint8Array(1), [1], { a: 1 }])
      expect(roundTripCopy([1, field])).toBeUndefined();
  });

  it('makes a plain array, not a copy of a subclass', () => {
    class Row extends Array<unknown> {}
    const row = Row.from([1, 'x']) as Row;
    const copy = roundTripCopy(row)!;
    expect(Object.getPrototypeOf(copy)).toBe(Array.prototype);
    expect(copy).toEqual([1, 'x']);
  });
});
