// Unchecked MessagePack primitives over bytes that were already validated. Layer: memtx.
//
// Tuples in the arena and keys held by an index were checked once on the way in (core's
// bounds-checked MsgpackReader.skip, see validateMsgpack below); after that the comparators,
// extractors and scans read them millions of times, so these helpers do no bounds checks and
// allocate nothing. Multi-value results (a length and a position) go through the shared
// `cursor` object instead of fresh arrays.
//
// Invariant: every function here is only ever called on positions that start a complete,
// valid MessagePack value.
import { MsgpackError, MsgpackReader } from '@tarantype/core';

/** MessagePack value classes (finer than msgpack's families: int vs uint, float vs double). */
export const MP_NIL = 0;
export const MP_BOOL = 1;
export const MP_UINT = 2;
export const MP_INT = 3;
export const MP_FLOAT = 4;
export const MP_DOUBLE = 5;
export const MP_STR = 6;
export const MP_BIN = 7;
export const MP_ARRAY = 8;
export const MP_MAP = 9;
export const MP_EXT = 10;
/** 0xc1: never used by MessagePack. */
export const MP_INVALID = 11;

/** Extension type of Tarantool's UUID (16 bytes, big-endian fields). */
export const MP_EXT_UUID = 2;
/** Extension type of Tarantool's DECIMAL. */
export const MP_EXT_DECIMAL = 1;

const TYPE_OF = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  let t: number;
  if (b < 0x80) t = MP_UINT;
  else if (b < 0x90) t = MP_MAP;
  else if (b < 0xa0) t = MP_ARRAY;
  else if (b < 0xc0) t = MP_STR;
  else if (b >= 0xe0) t = MP_INT;
  else {
    switch (b) {
      case 0xc0:
        t = MP_NIL;
        break;
      case 0xc2:
      case 0xc3:
        t = MP_BOOL;
        break;
      case 0xc4:
      case 0xc5:
      case 0xc6:
        t = MP_BIN;
        break;
      case 0xc7:
      case 0xc8:
      case 0xc9:
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        t = MP_EXT;
        break;
      case 0xca:
        t = MP_FLOAT;
        break;
      case 0xcb:
        t = MP_DOUBLE;
        break;
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf:
        t = MP_UINT;
        break;
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3:
        t = MP_INT;
        break;
      case 0xd9:
      case 0xda:
      case 0xdb:
        t = MP_STR;
        break;
      case 0xdc:
      case 0xdd:
        t = MP_ARRAY;
        break;
      case 0xde:
      case 0xdf:
        t = MP_MAP;
        break;
      default:
        t = MP_INVALID;
    }
  }
  TYPE_OF[b] = t;
}

/** The value class of the value starting at `p`. */
export function mpTypeOf(bytes: Uint8Array, p: number): number {
  return TYPE_OF[bytes[p]!]!;
}

/** Second result of the readers below (a position or a length), to avoid allocating pairs. */
export const cursor = { pos: 0 };

/** Item count of the array at `p`; cursor.pos = first item. */
export function mpReadArrayHeader(b: Uint8Array, p: number): number {
  const t = b[p]!;
  if ((t & 0xf0) === 0x90) {
    cursor.pos = p + 1;
    return t & 0x0f;
  }
  if (t === 0xdc) {
    cursor.pos = p + 3;
    return (b[p + 1]! << 8) | b[p + 2]!;
  }
  cursor.pos = p + 5;
  return ((b[p + 1]! << 24) >>> 0) + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
}

/** Byte length of the str or bin at `p`; cursor.pos = first payload byte. */
export function mpReadStrBinHeader(b: Uint8Array, p: number): number {
  const t = b[p]!;
  if ((t & 0xe0) === 0xa0) {
    cursor.pos = p + 1;
    return t & 0x1f;
  }
  switch (t) {
    case 0xd9:
    case 0xc4:
      cursor.pos = p + 2;
      return b[p + 1]!;
    case 0xda:
    case 0xc5:
      cursor.pos = p + 3;
      return (b[p + 1]! << 8) | b[p + 2]!;
    default:
      cursor.pos = p + 5;
      return ((b[p + 1]! << 24) >>> 0) + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
  }
}

/** Extension header at `p`: returns the ext type (signed); cursor.pos = payload, extLength = its size. */
export function mpReadExtHeader(b: Uint8Array, p: number): number {
  const t = b[p]!;
  let n: number;
  let h: number;
  switch (t) {
    case 0xd4:
      n = 1;
      h = 1;
      break;
    case 0xd5:
      n = 2;
      h = 1;
      break;
    case 0xd6:
      n = 4;
      h = 1;
      break;
    case 0xd7:
      n = 8;
      h = 1;
      break;
    case 0xd8:
      n = 16;
      h = 1;
      break;
    case 0xc7:
      n = b[p + 1]!;
      h = 2;
      break;
    case 0xc8:
      n = (b[p + 1]! << 8) | b[p + 2]!;
      h = 3;
      break;
    default:
      n = ((b[p + 1]! << 24) >>> 0) + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
      h = 5;
  }
  extLength = n;
  cursor.pos = p + h + 1;
  const type = b[p + h]!;
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

/** Position after the value at `p` (iterative over containers: no recursion). */
export function mpSkip(b: Uint8Array, p: number): number {
  let pending = 1;
  while (pending > 0) {
    pending--;
    const t = b[p]!;
    if (t < 0x80 || t >= 0xe0) {
      p++;
      continue;
    }
    if (t < 0x90) {
      pending += (t & 0x0f) * 2;
      p++;
      continue;
    }
    if (t < 0xa0) {
      pending += t & 0x0f;
      p++;
      continue;
    }
    if (t < 0xc0) {
      p += 1 + (t & 0x1f);
      continue;
    }
    switch (t) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        p++;
        break;
      case 0xcc:
      case 0xd0:
        p += 2;
        break;
      case 0xcd:
      case 0xd1:
        p += 3;
        break;
      case 0xce:
      case 0xd2:
      case 0xca:
        p += 5;
        break;
      case 0xcf:
      case 0xd3:
      case 0xcb:
        p += 9;
        break;
      case 0xd9:
      case 0xc4:
        p += 2 + b[p + 1]!;
        break;
      case 0xda:
      case 0xc5:
        p += 3 + ((b[p + 1]! << 8) | b[p + 2]!);
        break;
      case 0xdb:
      case 0xc6:
        p += 5 + readU32(b, p + 1);
        break;
      case 0xd4:
        p += 3;
        break;
      case 0xd5:
        p += 4;
        break;
      case 0xd6:
        p += 6;
        break;
      case 0xd7:
        p += 10;
        break;
      case 0xd8:
        p += 18;
        break;
      case 0xc7:
        p += 3 + b[p + 1]!;
        break;
      case 0xc8:
        p += 4 + ((b[p + 1]! << 8) | b[p + 2]!);
        break;
      case 0xc9:
        p += 6 + readU32(b, p + 1);
        break;
      case 0xdc:
        pending += (b[p + 1]! << 8) | b[p + 2]!;
        p += 3;
        break;
      case 0xdd:
        pending += readU32(b, p + 1);
        p += 5;
        break;
      case 0xde:
        pending += ((b[p + 1]! << 8) | b[p + 2]!) * 2;
        p += 3;
        break;
      case 0xdf:
        pending += readU32(b, p + 1) * 2;
        p += 5;
        break;
      default:
        throw new MsgpackError(`invalid type byte 0x${t.toString(16)} at offset ${p}`);
    }
  }
  return p;
}

/** Position of field `fieldNo` (0-based) of the array whose first item is at `first`. */
export function mpSkipFields(b: Uint8Array, first: number, fieldNo: number): number {
  let p = first;
  for (let i = 0; i < fieldNo; i++) {
    const t = b[p]!;
    // Fast path for the common scalar shapes; containers and the rest go through mpSkip.
    if (t < 0x80 || t >= 0xe0) p++;
    else if (t >= 0xa0 && t < 0xc0) p += 1 + (t & 0x1f);
    else if (t === 0xce || t === 0xd2) p += 5;
    else if (t === 0xcc || t === 0xd0) p += 2;
    else if (t === 0xcd || t === 0xd1) p += 3;
    else if (t === 0xd9) p += 2 + b[p + 1]!;
    else p = mpSkip(b, p);
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
