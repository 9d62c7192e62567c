import { decode, encode, MsgpackWriter } from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import { wrapCall16, writeCall16Data } from './call-16.js';
import { RawMsgpack } from './raw-msgpack.js';

/** What a client decodes from DATA after writeCall16Data. */
function viaWriter(values: readonly unknown[]): unknown[] {
  const w = new MsgpackWriter();
  const items = new MsgpackWriter();
  const count = writeCall16Data(items, values);
  w.arrayHeader(count);
  w.raw(items.toBytes());
  return decode(w.toBytes()) as unknown[];
}

const tuple = (...fields: unknown[]) => new RawMsgpack(encode(fields));

// [description, return values (Lua multiple returns), CALL_16 DATA] — observed on 2.6 (spec §4.9).
const cases: Array<[string, readonly unknown[], unknown[]]> = [
  ['no values', [], []],
  ['several: scalars and maps wrapped, arrays as is', [1, [2, 3], 'x'], [[1], [2, 3], ['x']]],
  ['several with nil', [7, null], [[7], [null]]],
  ['one scalar', [5], [[5]]],
  ['one nil', [null], [[null]]],
  ['one map', [{ a: 1 }], [[{ a: 1 }]]],
  ['one empty array', [[]], [[]]],
  ['one array starting with a scalar is one tuple', [[1, 2]], [[1, 2]]],
  ['one array starting with a map is one tuple', [[{ a: 1 }, 2]], [[{ a: 1 }, 2]]],
  ['one array of arrays: each a tuple, later scalars wrapped', [[[1], [2], 3]], [[1], [2], [3]]],
  ['one tuple', [tuple(1, 'a')], [[1, 'a']]],
  ['one array of tuples (a select result)', [[tuple(1), tuple(2)]], [[1], [2]]],
  ['several tuples', [tuple(1), tuple(2)], [[1], [2]]],
  ['a raw non-array is a scalar', [new RawMsgpack(encode('s'))], [['s']]],
];

describe('CALL_16 wrapping', () => {
  for (const [description, values, expected] of cases) {
    it(description, () => {
      expect(viaWriter(values)).toEqual(expected);
      const plain = wrapCall16(values).map((v) => (v instanceof RawMsgpack ? decode(v.bytes) : v));
      expect(
        plain.map((v) =>
          Array.isArray(v) ? v.map((x) => (x instanceof RawMsgpack ? decode(x.bytes) : x)) : v,
        ),
      ).toEqual(expected);
    });
  }
});
