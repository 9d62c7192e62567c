// MessagePack primitives against core's codec: numbers, skipping, field positions, validation
// (every truncation of a valid value must be refused).
import { decode, encode, Float64, MsgpackReader } from '@tarantype/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seeded } from '../test/helpers.js';
import {
  cursor,
  mpReadArrayHeader,
  mpReadNumber,
  mpSkip,
  mpSkipFields,
  validateMsgpack,
} from './mp.js';

const numberArb = fc.oneof(
  fc.integer(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.double(),
  fc.constantFrom(
    0,
    -1,
    127,
    128,
    255,
    256,
    65535,
    65536,
    2 ** 32 - 1,
    2 ** 32,
    -32,
    -33,
    -128,
    -129,
    -32768,
    -32769,
    2 ** 53 - 1,
  ),
);
const valueArb = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numberArb,
    fc.string({ unit: 'grapheme' }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 300 }),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 5 }), tie('value'), { maxKeys: 20 }),
  ),
})).value;

describe('mp', () => {
  it('reads every number encoding exactly as core decodes it', () => {
    fc.assert(
      fc.property(numberArb, (n) => {
        const bytes = encode(n);
        expect(mpReadNumber(bytes, 0)).toEqual(decode(bytes));
        const asDouble = encode(new Float64(Number(n)));
        expect(mpReadNumber(asDouble, 0)).toEqual(Number(n));
      }),
      seeded(500),
    );
  });

  it('skips values exactly as core does, and finds fields', () => {
    fc.assert(
      fc.property(fc.array(valueArb, { maxLength: 20 }), (tuple) => {
        const bytes = encode(tuple);
        expect(mpSkip(bytes, 0)).toBe(bytes.length);
        const count = mpReadArrayHeader(bytes, 0);
        expect(count).toBe(tuple.length);
        const first = cursor.pos;
        const reader = new MsgpackReader(bytes, first);
        for (let i = 0; i < count; i++) {
          expect(mpSkipFields(bytes, first, i)).toBe(reader.offset);
          reader.skip();
        }
      }),
      seeded(300),
    );
  });

  it('validates exactly one well-formed value: every truncation and any trailing byte is refused', () => {
    fc.assert(
      fc.property(valueArb, (value) => {
        const bytes = encode(value);
        expect(validateMsgpack(bytes, 0, bytes.length)).toBe(true);
        for (let end = 0; end < bytes.length; end++)
          expect(validateMsgpack(bytes, 0, end)).toBe(false);
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        expect(validateMsgpack(longer, 0, longer.length)).toBe(false);
      }),
      seeded(200),
    );
    expect(validateMsgpack(new Uint8Array([0xc1]), 0, 1)).toBe(false);
  });

  it('reads array headers of every width', () => {
    for (const n of [0, 15, 16, 65535, 65536]) {
      const bytes = encode(new Array(n).fill(0));
      expect(mpReadArrayHeader(bytes, 0)).toBe(n);
    }
  });
});
