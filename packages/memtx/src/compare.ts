// Comparison and hashing of MessagePack field values, as Tarantool 2.6 orders them. Layer: memtx.
//
// Both sides are MessagePack (a stored tuple's field and a search key part are compared
// byte-for-byte where Tarantool does), so strings compare by their UTF-8 bytes exactly like
// Tarantool's binary collation, invalid UTF-8 included; JavaScript's UTF-16 `<` is never used.
// Numbers compare by value across uint/int/float/double and 64-bit integers (bigint beyond
// ±2^53), with NaN below every other number and equal to itself (2.6's `number` order).
// `scalar` orders classes: boolean < number < string < varbinary. Nil is handled one level up
// (key-def.ts), because whether it may appear depends on the key part.
//
// Invariant: compare is a total order consistent with hash: equal values hash equally.
import type { FieldType } from './field-type.js';
import {
  cursor,
  MP_BIN,
  MP_BOOL,
  MP_DOUBLE,
  MP_FLOAT,
  MP_INT,
  MP_STR,
  MP_UINT,
  mpReadNumber,
  mpReadStrBinHeader,
  mpSkip,
  mpTypeOf,
} from './mp.js';

/** Compares the field at `a[pa]` with the field at `b[pb]`: negative, 0 or positive. */
export type FieldComparator = (a: Uint8Array, pa: number, b: Uint8Array, pb: number) => number;

/** Total order on number | bigint: NaN first, NaN == NaN, -0 == 0, bigint == number by value. */
export function compareNumberValues(x: number | bigint, y: number | bigint): number {
  if (x < y) return -1;
  if (x > y) return 1;
  if (x === y) return 0;
  // Unordered: a NaN is involved, or a bigint equals a number.
  const xNaN = typeof x === 'number' && Number.isNaN(x);
  const yNaN = typeof y === 'number' && Number.isNaN(y);
  if (xNaN) return yNaN ? 0 : -1;
  return yNaN ? 1 : 0;
}

export function compareNumbers(a: Uint8Array, pa: number, b: Uint8Array, pb: number): number {
  return compareNumberValues(mpReadNumber(a, pa), mpReadNumber(b, pb));
}

/** Unsigned byte-wise comparison of two ranges, then by length (memcmp + length, like Tarantool). */
export function compareByteRanges(
  a: Uint8Array,
  as: number,
  al: number,
  b: Uint8Array,
  bs: number,
  bl: number,
): number {
  const n = Math.min(al, bl);
  for (let i = 0; i < n; i++) {
    const d = a[as + i]! - b[bs + i]!;
    if (d !== 0) return d;
  }
  return al - bl;
}

/** str vs str or bin vs bin: by payload bytes (headers may differ: str8 'a' equals fixstr 'a'). */
export function compareStrings(a: Uint8Array, pa: number, b: Uint8Array, pb: number): number {
  const al = mpReadStrBinHeader(a, pa);
  const as = cursor.pos;
  const bl = mpReadStrBinHeader(b, pb);
  return compareByteRanges(a, as, al, b, cursor.pos, bl);
}

export function compareBooleans(a: Uint8Array, pa: number, b: Uint8Array, pb: number): number {
  return a[pa]! - b[pb]!;
}

/** uuid: the 16 payload bytes big-endian, which is Tarantool's field-by-field order. */
export function compareUuids(a: Uint8Array, pa: number, b: Uint8Array, pb: number): number {
  // fixext16 (0xd8) + type byte: the payload starts two bytes in.
  return compareByteRanges(a, pa + 2, 16, b, pb + 2, 16);
}

/** Class rank inside `scalar` (mp_class order of 2.6). */
function scalarRank(mp: number): number {
  switch (mp) {
    case MP_BOOL:
      return 1;
    case MP_UINT:
    case MP_INT:
    case MP_FLOAT:
    case MP_DOUBLE:
      return 2;
    case MP_STR:
      return 3;
    case MP_BIN:
      return 4;
    default:
      return 5;
  }
}

export function compareScalars(a: Uint8Array, pa: number, b: Uint8Array, pb: number): number {
  const ra = scalarRank(mpTypeOf(a, pa));
  const rb = scalarRank(mpTypeOf(b, pb));
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 1:
      return compareBooleans(a, pa, b, pb);
    case 2:
      return compareNumbers(a, pa, b, pb);
    case 3:
    case 4:
      return compareStrings(a, pa, b, pb);
    default:
      return compareByteRanges(a, pa, 18, b, pb, 18);
  }
}

/** The comparator for values of one field type (both sides already validated for that type). */
export function comparatorFor(type: FieldType): FieldComparator {
  switch (type) {
    case 'unsigned':
    case 'integer':
    case 'number':
    case 'double':
      return compareNumbers;
    case 'string':
    case 'varbinary':
      return compareStrings;
    case 'boolean':
      return compareBooleans;
    case 'uuid':
      return compareUuids;
    case 'scalar':
      return compareScalars;
    default:
      throw new Error(`field type '${type}' cannot be compared`);
  }
}

// {{{ hashing (HASH index): consistent with the comparators above

const HASH_SEED = 0x2545f491;

function mix(h: number, x: number): number {
  h = Math.imul(h ^ x, 0x5bd1e995);
  return h ^ (h >>> 15);
}

const f64 = new Float64Array(1);
const f64Words = new Int32Array(f64.buffer);

function hashNumber(h: number, value: number | bigint): number {
  if (typeof value === 'bigint') {
    return mix(mix(h, Number(value & 0xffffffffn) | 0), Number((value >> 32n) & 0xffffffffn) | 0);
  }
  if (Number.isInteger(value)) {
    if (value >= -0x80000000 && value <= 0x7fffffff)
      return mix(mix(h, value | 0), value < 0 ? -1 : 0);
    // Same words as the bigint branch for the same mathematical integer.
    return hashNumber(h, BigInt(value));
  }
  if (Number.isNaN(value)) return mix(h, 0x7ff80000);
  f64[0] = value;
  return mix(mix(h, f64Words[0]!), f64Words[1]!);
}

function hashBytes(h: number, b: Uint8Array, start: number, length: number): number {
  for (let i = 0; i < length; i++) h = Math.imul(h ^ b[start + i]!, 0x01000193);
  return mix(h, length);
}

/** Hash of the field at `p` under the equality of its type's comparator. */
export function hashField(h: number, b: Uint8Array, p: number): number {
  const mp = mpTypeOf(b, p);
  switch (mp) {
    case MP_UINT:
    case MP_INT:
    case MP_FLOAT:
    case MP_DOUBLE:
      return hashNumber(mix(h, 2), mpReadNumber(b, p));
    case MP_STR:
    case MP_BIN: {
      const n = mpReadStrBinHeader(b, p);
      return hashBytes(mix(h, mp), b, cursor.pos, n);
    }
    case MP_BOOL:
      return mix(h, b[p]!);
    default:
      // nil, uuid and other extensions: their exact bytes (they compare bytewise).
      return hashBytes(mix(h, mp), b, p, mpSkip(b, p) - p);
  }
}

export function hashStart(): number {
  return HASH_SEED;
}

// }}}
