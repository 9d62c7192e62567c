// Field comparison and hashing: numbers as a total order across encodings (NaN, -0, bigint),
// strings by UTF-8 bytes, scalar classes, and equal values hashing equally.
import { encode, Float64 } from '@tarantype/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seeded } from '../test/helpers.js';
import {
  compareNumbers,
  compareNumberValues,
  compareScalars,
  compareStrings,
  hashField,
  hashStart,
} from './compare.js';

function f32(x: number): Uint8Array {
  const bytes = new Uint8Array(5);
  bytes[0] = 0xca;
  new DataView(bytes.buffer).setFloat32(1, x);
  return bytes;
}

const numbers: (number | bigint)[] = [
  NaN,
  -Infinity,
  -(2n ** 63n),
  -(2 ** 53),
  -1.5,
  -1,
  -0,
  0,
  0.5,
  1,
  2 ** 53,
  2n ** 53n + 1n,
  2n ** 64n - 1n,
  1e300,
  Infinity,
];

describe('compare', () => {
  it('orders numbers totally: NaN first, -0 equals 0, bigints by value', () => {
    for (let i = 0; i < numbers.length; i++) {
      for (let j = 0; j < numbers.length; j++) {
        const c = Math.sign(compareNumberValues(numbers[i]!, numbers[j]!));
        const want =
          i === j ||
          (Object.is(numbers[i], -0) && numbers[j] === 0) ||
          (numbers[i] === 0 && Object.is(numbers[j], -0))
            ? 0
            : Math.sign(i - j);
        expect(c, `${numbers[i]} vs ${numbers[j]}`).toBe(want);
      }
    }
    expect(compareNumberValues(NaN, NaN)).toBe(0);
    expect(compareNumberValues(2n ** 53n, 2 ** 53)).toBe(0);
  });

  it('compares number encodings by value and hashes equal values equally', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
          fc.constantFrom(0.5, -2.25, 2 ** 40, 1e20),
        ),
        (x) => {
          const encodings = [encode(x), encode(new Float64(x))];
          if (Math.fround(x) === x) encodings.push(f32(x));
          if (Number.isInteger(x) && Math.abs(x) < 2 ** 63) encodings.push(encode(BigInt(x)));
          for (const a of encodings) {
            for (const b of encodings) {
              expect(compareNumbers(a, 0, b, 0)).toBe(0);
              expect(hashField(hashStart(), a, 0)).toBe(hashField(hashStart(), b, 0));
            }
          }
        },
      ),
      seeded(300),
    );
  });

  it('compares strings by UTF-8 bytes, not by UTF-16 code units', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        const want = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
        expect(Math.sign(compareStrings(encode(a), 0, encode(b), 0))).toBe(want);
      }),
      seeded(500),
    );
    // JavaScript's < says U+FFFF > U+10000 (surrogates sort low); Tarantool's bytes say the opposite.
    expect('\uffff' > '\u{10000}').toBe(true);
    expect(compareStrings(encode('\uffff'), 0, encode('\u{10000}'), 0)).toBeLessThan(0);
  });

  it('orders scalar classes: boolean < number < string < varbinary', () => {
    const ordered = [
      encode(false),
      encode(true),
      encode(-1),
      encode(0.5),
      encode(2),
      encode(''),
      encode('a'),
      encode(new Uint8Array(0)),
      encode(new Uint8Array([0])),
    ];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        expect(Math.sign(compareScalars(ordered[i]!, 0, ordered[j]!, 0))).toBe(Math.sign(i - j));
      }
    }
  });
});
