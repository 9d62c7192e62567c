// Unchecked MessagePack primitives over bytes that were already validated. Layer: memtx.
// The grammar itself (type of every first byte, value extents, mpSkip) is core's.
//
// Tuples in the arena and keys held by an index were checked once on the way in (core's
// bounds-checked MsgpackReader.skip, see validateMsgpack below); after that the comparators,
// extractors and scans read them millions of times, so these helpers do no bounds checks and
// allocate nothing. Multi-value results (a length and a position) go through the shared
// `cursor` object instead of fresh arrays.
//
// Invariant: every function here is only ever called on positions that start a complete,
// valid MessagePack value.
import {
  MP_FIXED_SIZE,
  MP_HEADER_SIZE,
  MP_TYPE,
  MpType,
  MsgpackError,
  MsgpackReader,
  mpLengthField,
  mpSkip,
} from '@tarantype/core';

/** MessagePack value classes: core's grammar (finer than families: int vs uint, float vs double). */
export const MP_NIL = MpType.NIL;
export const MP_BOOL = MpType.BOOL;
export const MP_UINT = MpType.UINT;
export const MP_INT = MpType.INT;
export const MP_FLOAT = MpType.FLOAT;
export const MP_DOUBLE = MpType.DOUBLE;
export const MP_STR = MpType.STR;
export const MP_BIN = MpType.BIN;
export const MP_ARRAY = MpType.ARRAY;
export const MP_MAP = MpType.MAP;
export const MP_EXT = MpType.EXT;
/** 0xc1: never used by MessagePack. */
export const MP_INVALID = MpType.INVALID;

/** Extension type of Tarantool's UUID (16 bytes, big-endian fields). */
export const MP_EXT_UUID = 2;
/** Extension type of Tarantool's DECIMAL. */
export const MP_EXT_DECIMAL = 1;

/** The value class of the value starting at `p`. */
export function mpTypeOf(bytes: Uint8Array, p: number): number {
  return MP_TYPE[bytes[p]!]!;
}

export { mpSkip };

/** Second result of the readers below (a position or a length), to avoid allocating pairs. */
export const cursor = { pos: 0 };

/** Item count of the array at `p`; cursor.pos = first item. */
export function mpReadArrayHeader(b: Uint8Array, p: number): number {
  cursor.pos = p + MP_HEADER_SIZE[b[p]!]!;
  return mpLengthField(b, p);
}

/** Byte length of the str or bin at `p`; cursor.pos = first payload byte. */
export function mpReadStrBinHeader(b: Uint8Array, p: number): number {
  cursor.pos = p + MP_HEADER_SIZE[b[p]!]!;
  return mpLengthField(b, p);
}

/** Extension header at `p`: returns the ext type (signed); cursor.pos = payload, extLength = its size. */
export function mpReadExtHeader(b: Uint8Array, p: number): number {
  const t = b[p]!;
  const fixed = MP_FIXED_SIZE[t]!;
  if (fixed !== 0) {
    // fixext: tag, type, data.
    extLength = fixed - 2;
    cursor.pos = p + 2;
  } else {
    extLength = mpLengthField(b, p);
    cursor.pos = p + MP_HEADER_SIZE[t]!;
  }
  const type = b[cursor.pos - 1]!;
  return type >= 0x80 ? type - 0x100 : type;
}
/** Payload size of the extension last read by mpReadExtHeader. */
export let extLength = 0;

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const f32 = new Float32Array(1);
const f32Bytes = new Uint8Array(f32.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readFloat64(b: Uint8Array, p: number): number {
  if (LITTLE_ENDIAN) {
    for (let i = 0; i < 8; i++) f64Bytes[7 - i] = b[p + i]!;
  } else {
    for (let i = 0; i < 8; i++) f64Bytes[i] = b[p + i]!;
  }
  return f64[0]!;
}

function readFloat32(b: Uint8Array, p: number): number {
  if (LITTLE_ENDIAN) {
    for (let i = 0; i < 4; i++) f32Bytes[3 - i] = b[p + i]!;
  } else {
    for (let i = 0; i < 4; i++) f32Bytes[i] = b[p + i]!;
  }
  return f32[0]!;
}

function readU32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

/**
 * The number at `p` (uint, int, float or double), exactly: a JS number when it is one,
 * a bigint for integers beyond ±2^53. JS compares numbers and bigints exactly with < and >.
 */
export function mpReadNumber(b: Uint8Array, p: number): number | bigint {
  const t = b[p]!;
  if (t < 0x80) return t;
  if (t >= 0xe0) return t - 0x100;
  switch (t) {
    case 0xcc:
      return b[p + 1]!;
    case 0xcd:
      return (b[p + 1]! << 8) | b[p + 2]!;
    case 0xce:
      return readU32(b, p + 1);
    case 0xcf: {
      const high = readU32(b, p + 1);
      const low = readU32(b, p + 5);
      if (high < 0x200000) return high * 0x100000000 + low;
      return (BigInt(high) << 32n) | BigInt(low);
    }
    case 0xd0:
      return (b[p + 1]! << 24) >> 24;
    case 0xd1:
      return (((b[p + 1]! << 8) | b[p + 2]!) << 16) >> 16;
    case 0xd2:
      return (b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!;
    case 0xd3: {
      const high = (b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!;
      const low = readU32(b, p + 5);
      if (high >= -0x200000 && high < 0x200000) return high * 0x100000000 + low;
      return (BigInt(high) << 32n) | BigInt(low);
    }
    case 0xca:
      return readFloat32(b, p + 1);
    case 0xcb:
      return readFloat64(b, p + 1);
    default:
      throw new MsgpackError(`not a number at offset ${p}`);
  }
}

/** Position of field `fieldNo` (0-based) of the array whose first item is at `first`. */
export function mpSkipFields(b: Uint8Array, first: number, fieldNo: number): number {
  let p = first;
  for (let i = 0; i < fieldNo; i++) {
    // Fast path: scalars whose first byte gives their size; the rest go through mpSkip.
    const fixed = MP_FIXED_SIZE[b[p]!]!;
    p = fixed !== 0 ? p + fixed : mpSkip(b, p);
  }
  return p;
}

const validator = new MsgpackReader(new Uint8Array(0));

/**
 * Checks that `bytes[start, end)` holds exactly one well-formed value (bounds-checked, depth
 * limited by the iterative skip). Returns false when malformed or followed by trailing bytes.
 */
export function validateMsgpack(bytes: Uint8Array, start: number, end: number): boolean {
  validator.reset(bytes, start, end);
  try {
    validator.skip();
  } catch (error) {
    if (error instanceof MsgpackError) return false;
    throw error;
  }
  const ok = validator.offset === end;
  validator.reset(EMPTY);
  return ok;
}
const EMPTY = new Uint8Array(0);
