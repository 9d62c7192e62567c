// The MessagePack grammar by first byte, written down once. Layer: core.
//
// A MessagePack value is fully described by its first byte: its type family (msgpuck's
// mp_typeof), and how far it extends. A value's extent is one of
//   - fixed: the first byte gives the whole size (fixints, nil, bool, fixed-width numbers,
//     fixstr, fixext);
//   - bytes: a length field of 1, 2 or 4 big-endian bytes after the tag gives the payload size
//     (str 8/16/32, bin 8/16/32, ext 8/16/32, whose header also holds the ext type byte);
//   - container: a count of items follows (array: 1 item per count, map: 2), either in the tag's
//     low nibble (fixarray, fixmap) or in a 2 or 4 byte field (array/map 16/32);
//   - invalid: 0xc1, never used.
// Every skipper and type check in tarantype reads the tables below: core's bounds-checked
// MsgpackReader.skip, the unchecked `mpSkip` for bytes validated earlier (arena tuples, index
// keys, log rows already checked), and the iproto and memtx type checks.

/** Malformed or truncated MessagePack. Callers map it to ER_INVALID_MSGPACK. */
export class MsgpackError extends Error {
  override name = 'MsgpackError';
}

/** Type families, numbered in Tarantool's comparison order (nil < bool < numbers < str < bin). */
export const MpType = {
  NIL: 0,
  BOOL: 1,
  UINT: 2,
  INT: 3,
  FLOAT: 4,
  DOUBLE: 5,
  STR: 6,
  BIN: 7,
  ARRAY: 8,
  MAP: 9,
  EXT: 10,
  /** 0xc1: never used by MessagePack. */
  INVALID: 11,
} as const;
export type MpTypeCode = (typeof MpType)[keyof typeof MpType];

/** The type family of the value whose first byte is the index. */
export const MP_TYPE = new Uint8Array(256);
/** Whole size of a value whose size its first byte gives; 0 when it does not (see below). */
export const MP_FIXED_SIZE = new Uint8Array(256);
/** For byte strings and containers: bytes before the payload or the first item. */
export const MP_HEADER_SIZE = new Uint8Array(256);
/** Width of the big-endian length or count field after the tag: 0 (in the tag), 1, 2 or 4. */
export const MP_LENGTH_WIDTH = new Uint8Array(256);
/**
 * The four extents above packed in one word per first byte, for the hottest walk (mpSkip): one
 * table load per value. Bits 0-5 fixed size (up to 32, a 31-byte fixstr), 6-8 header size,
 * 9-11 length width, 12-13 items per count, 16-23 tag length mask.
 */
export const MP_SHAPE = new Uint32Array(256);
/** MP_SHAPE under a module-local name: V8 folds it into mpSkip as a constant, not an export cell. */
const SHAPE = MP_SHAPE;
/** When the width is 0: the tag bits holding the count or length (fixmap, fixarray, fixstr). */
export const MP_TAG_LENGTH_MASK = new Uint8Array(256);
/** Items that follow per unit of count: 1 for arrays, 2 for maps, 0 for everything else. */
export const MP_ITEMS_PER_COUNT = new Uint8Array(256);

function define(
  first: number,
  last: number,
  type: MpTypeCode,
  extent: { fixed?: number; header?: number; width?: number; items?: number; mask?: number },
): void {
  for (let b = first; b <= last; b++) {
    MP_TAG_LENGTH_MASK[b] = extent.mask ?? 0;
    MP_TYPE[b] = type;
    MP_FIXED_SIZE[b] = extent.fixed ?? 0;
    MP_HEADER_SIZE[b] = extent.header ?? 0;
    MP_LENGTH_WIDTH[b] = extent.width ?? 0;
    MP_ITEMS_PER_COUNT[b] = extent.items ?? 0;
    MP_SHAPE[b] =
      MP_FIXED_SIZE[b]! |
      (MP_HEADER_SIZE[b]! << 6) |
      (MP_LENGTH_WIDTH[b]! << 9) |
      (MP_ITEMS_PER_COUNT[b]! << 12) |
      (MP_TAG_LENGTH_MASK[b]! << 16);
  }
}

define(0x00, 0x7f, MpType.UINT, { fixed: 1 });
define(0x80, 0x8f, MpType.MAP, { header: 1, items: 2, mask: 0x0f });
define(0x90, 0x9f, MpType.ARRAY, { header: 1, items: 1, mask: 0x0f });
for (let b = 0xa0; b <= 0xbf; b++)
  define(b, b, MpType.STR, { fixed: 1 + (b & 0x1f), header: 1, mask: 0x1f });
define(0xc0, 0xc0, MpType.NIL, { fixed: 1 });
define(0xc1, 0xc1, MpType.INVALID, {});
define(0xc2, 0xc3, MpType.BOOL, { fixed: 1 });
define(0xc4, 0xc4, MpType.BIN, { header: 2, width: 1 });
define(0xc5, 0xc5, MpType.BIN, { header: 3, width: 2 });
define(0xc6, 0xc6, MpType.BIN, { header: 5, width: 4 });
define(0xc7, 0xc7, MpType.EXT, { header: 3, width: 1 });
define(0xc8, 0xc8, MpType.EXT, { header: 4, width: 2 });
define(0xc9, 0xc9, MpType.EXT, { header: 6, width: 4 });
define(0xca, 0xca, MpType.FLOAT, { fixed: 5 });
define(0xcb, 0xcb, MpType.DOUBLE, { fixed: 9 });
define(0xcc, 0xcc, MpType.UINT, { fixed: 2 });
define(0xcd, 0xcd, MpType.UINT, { fixed: 3 });
define(0xce, 0xce, MpType.UINT, { fixed: 5 });
define(0xcf, 0xcf, MpType.UINT, { fixed: 9 });
define(0xd0, 0xd0, MpType.INT, { fixed: 2 });
define(0xd1, 0xd1, MpType.INT, { fixed: 3 });
define(0xd2, 0xd2, MpType.INT, { fixed: 5 });
define(0xd3, 0xd3, MpType.INT, { fixed: 9 });
// fixext 1/2/4/8/16: tag, ext type, data.
for (let i = 0; i < 5; i++) define(0xd4 + i, 0xd4 + i, MpType.EXT, { fixed: 2 + (1 << i) });
define(0xd9, 0xd9, MpType.STR, { header: 2, width: 1 });
define(0xda, 0xda, MpType.STR, { header: 3, width: 2 });
define(0xdb, 0xdb, MpType.STR, { header: 5, width: 4 });
define(0xdc, 0xdc, MpType.ARRAY, { header: 3, width: 2, items: 1 });
define(0xdd, 0xdd, MpType.ARRAY, { header: 5, width: 4, items: 1 });
define(0xde, 0xde, MpType.MAP, { header: 3, width: 2, items: 2 });
define(0xdf, 0xdf, MpType.MAP, { header: 5, width: 4, items: 2 });
define(0xe0, 0xff, MpType.INT, { fixed: 1 });

/** The type family of the value whose first byte is `b`. */
export function mpTypeOfByte(b: number): MpTypeCode {
  return MP_TYPE[b] as MpTypeCode;
}

/** True when `b` starts an array (fixarray, array 16, array 32). */
export function isArrayByte(b: number | undefined): boolean {
  return b !== undefined && MP_TYPE[b] === MpType.ARRAY;
}

/**
 * The count or length of the container or byte string at `p`: the tag's low bits for fixmap,
 * fixarray and fixstr, else the big-endian field of MP_LENGTH_WIDTH[tag] bytes after the tag.
 * Its items or payload start MP_HEADER_SIZE[tag] bytes after `p`. Unchecked: the caller knows
 * the bytes are there.
 */
export function mpLengthField(b: Uint8Array, p: number): number {
  const t = b[p]!;
  switch (MP_LENGTH_WIDTH[t]) {
    case 0:
      return t & MP_TAG_LENGTH_MASK[t]!;
    case 1:
      return b[p + 1]!;
    case 2:
      return (b[p + 1]! << 8) | b[p + 2]!;
    default:
      return b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
  }
}

/**
 * Position after the value at `p`, without bounds checks: only for bytes that were validated
 * earlier (MsgpackReader.skip). Iterative over containers: no recursion.
 */
export function mpSkip(b: Uint8Array, p: number): number {
  let pending = 1;
  while (pending > 0) {
    pending--;
    const t = b[p]!;
    const shape = SHAPE[t]!;
    const fixed = shape & 0x3f;
    if (fixed !== 0) {
      p += fixed;
      continue;
    }
    // The length field read inline (mpLengthField's cases): this walk is memtx's hottest loop.
    const width = (shape >> 9) & 7;
    let n: number;
    if (width === 0) {
      if (shape === 0) throw invalidTypeByte(t, p);
      n = t & (shape >>> 16);
    } else if (width === 1) n = b[p + 1]!;
    else if (width === 2) n = (b[p + 1]! << 8) | b[p + 2]!;
    else n = b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
    p += (shape >> 6) & 7;
    const items = (shape >> 12) & 3;
    if (items === 0) p += n;
    else pending += n * items;
  }
  return p;
}

/**
 * The uint at b[p] (fixint, uint 8/16/32, or uint 64 below 2^53) when its bytes end by `end`,
 * else -1. A uint's size is MP_FIXED_SIZE of its first byte.
 */
export function mpReadUintAt(b: Uint8Array, p: number, end: number): number {
  if (p >= end) return -1;
  const t = b[p]!;
  if (t < 0x80) return t;
  if (p + MP_FIXED_SIZE[t]! > end) return -1;
  switch (t) {
    case 0xcc:
      return b[p + 1]!;
    case 0xcd:
      return (b[p + 1]! << 8) | b[p + 2]!;
    case 0xce:
      return b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
    case 0xcf: {
      const high = b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
      if (high >= 0x200000) return -1;
      const low = b[p + 5]! * 0x1000000 + ((b[p + 6]! << 16) | (b[p + 7]! << 8) | b[p + 8]!);
      return high * 0x100000000 + low;
    }
    default:
      return -1;
  }
}

/** Why the last mpCheck returned -1, and where (mpCheckError turns it into the error). */
const CHECK_TRUNCATED = 0;
const CHECK_INVALID_BYTE = 1;
const CHECK_CONTAINER_TOO_LONG = 2;
let checkFailure = CHECK_TRUNCATED;
let checkFailureAt = 0;

/**
 * Position after the value at `p` when it is one well-formed value ending at or before `end`,
 * else -1 (mpCheckError(b) then says why). Iterative over containers: no recursion. The one
 * bounds-checked walk: MsgpackReader.skip and iproto's request decoder both use it.
 */
export function mpCheck(b: Uint8Array, p: number, end: number): number {
  let pending = 1;
  while (pending > 0) {
    pending--;
    if (p >= end) return failCheck(CHECK_TRUNCATED, p);
    const t = b[p]!;
    const shape = SHAPE[t]!;
    const fixed = shape & 0x3f;
    if (fixed !== 0) {
      if (p + fixed > end) return failCheck(CHECK_TRUNCATED, p);
      p += fixed;
      continue;
    }
    if (shape === 0) return failCheck(CHECK_INVALID_BYTE, p);
    const header = (shape >> 6) & 7;
    if (p + header > end) return failCheck(CHECK_TRUNCATED, p);
    const width = (shape >> 9) & 7;
    let n: number;
    if (width === 0) n = t & (shape >>> 16);
    else if (width === 1) n = b[p + 1]!;
    else if (width === 2) n = (b[p + 1]! << 8) | b[p + 2]!;
    else n = b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
    const items = (shape >> 12) & 3;
    if (items === 0) {
      if (n > end - p - header) return failCheck(CHECK_TRUNCATED, p);
      p += header + n;
    } else {
      p += header;
      pending += n * items;
      if (pending > end - p) return failCheck(CHECK_CONTAINER_TOO_LONG, p);
    }
  }
  return p;
}

function failCheck(kind: number, at: number): number {
  checkFailure = kind;
  checkFailureAt = at;
  return -1;
}

/** The MsgpackError for the last mpCheck that returned -1 on `b`. */
export function mpCheckError(b: Uint8Array): MsgpackError {
  switch (checkFailure) {
    case CHECK_INVALID_BYTE:
      return invalidTypeByte(b[checkFailureAt]!, checkFailureAt);
    case CHECK_CONTAINER_TOO_LONG:
      return new MsgpackError(`container at offset ${checkFailureAt} longer than the data`);
    default:
      return new MsgpackError(`unexpected end of data at offset ${checkFailureAt}`);
  }
}

/** The error for a first byte that starts no value (0xc1). */
export function invalidTypeByte(t: number, p: number): MsgpackError {
  return new MsgpackError(`invalid type byte 0x${t.toString(16)} at offset ${p}`);
}
