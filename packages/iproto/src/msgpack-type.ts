// MessagePack type families by first byte, as msgpuck's mp_typeof() classifies them, and the
// per-key value types iproto expects (Tarantool 2.6 iproto_key_type[]). Layer: iproto.

export const MpType = {
  NIL: 0,
  UINT: 1,
  INT: 2,
  STR: 3,
  BIN: 4,
  ARRAY: 5,
  MAP: 6,
  BOOL: 7,
  FLOAT: 8,
  DOUBLE: 9,
  EXT: 10,
  INVALID: 11,
} as const;
export type MpTypeCode = (typeof MpType)[keyof typeof MpType];

const TYPE_BY_BYTE: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let b = 0; b < 256; b++) table[b] = classify(b);
  return table;
})();

function classify(b: number): MpTypeCode {
  if (b <= 0x7f) return MpType.UINT;
  if (b <= 0x8f) return MpType.MAP;
  if (b <= 0x9f) return MpType.ARRAY;
  if (b <= 0xbf) return MpType.STR;
  if (b >= 0xe0) return MpType.INT;
  switch (b) {
    case 0xc0:
      return MpType.NIL;
    case 0xc2:
    case 0xc3:
      return MpType.BOOL;
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return MpType.BIN;
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      return MpType.EXT;
    case 0xca:
      return MpType.FLOAT;
    case 0xcb:
      return MpType.DOUBLE;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
      return MpType.UINT;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
      return MpType.INT;
    case 0xd9:
    case 0xda:
    case 0xdb:
      return MpType.STR;
    case 0xdc:
    case 0xdd:
      return MpType.ARRAY;
    case 0xde:
    case 0xdf:
      return MpType.MAP;
    default:
      return MpType.INVALID;
  }
}

/** The type family of the value whose first byte is `b`. */
export function mpTypeOf(b: number): MpTypeCode {
  return TYPE_BY_BYTE[b] as MpTypeCode;
}

/**
 * Expected value type of every key below IPROTO_KEY_MAX (0x53) in Tarantool 2.6: a header key
 * whose value has another type makes the header invalid; so does a DML body key (§1.1).
 * Unassigned codes expect MP_UINT, as in Tarantool's table.
 */
export const IPROTO_KEY_TYPE: Uint8Array = (() => {
  const table = new Uint8Array(0x53).fill(MpType.UINT);
  table[0x04] = MpType.DOUBLE; // TIMESTAMP
  const typed: Array<[number, MpTypeCode]> = [
    [0x20, MpType.ARRAY], // KEY
    [0x21, MpType.ARRAY], // TUPLE
    [0x22, MpType.STR], // FUNCTION_NAME
    [0x23, MpType.STR], // USER_NAME
    [0x24, MpType.STR], // INSTANCE_UUID
    [0x25, MpType.STR], // CLUSTER_UUID
    [0x26, MpType.MAP], // VCLOCK
    [0x27, MpType.STR], // EXPR
    [0x28, MpType.ARRAY], // OPS
    [0x29, MpType.MAP], // BALLOT
    [0x2a, MpType.MAP], // TUPLE_META
    [0x2b, MpType.MAP], // OPTIONS
    [0x30, MpType.ARRAY], // DATA
    [0x31, MpType.STR], // ERROR_24
    [0x32, MpType.ARRAY], // METADATA
    [0x33, MpType.ARRAY], // BIND_METADATA
    [0x40, MpType.STR], // SQL_TEXT
    [0x41, MpType.ARRAY], // SQL_BIND
    [0x42, MpType.MAP], // SQL_INFO
    [0x50, MpType.BOOL], // REPLICA_ANON
    [0x51, MpType.ARRAY], // ID_FILTER
    [0x52, MpType.MAP], // ERROR
  ];
  for (const [key, type] of typed) table[key] = type;
  return table;
})();

/** Names Tarantool uses for keys in "Missing mandatory field '%s' in request". */
export const IPROTO_KEY_NAME: ReadonlyMap<number, string> = new Map([
  [0x10, 'space id'],
  [0x11, 'index id'],
  [0x12, 'limit'],
  [0x13, 'offset'],
  [0x14, 'iterator'],
  [0x15, 'index base'],
  [0x20, 'key'],
  [0x21, 'tuple'],
  [0x22, 'function name'],
  [0x23, 'user name'],
  [0x24, 'instance uuid'],
  [0x25, 'cluster uuid'],
  [0x26, 'vector clock'],
  [0x27, 'expression'],
  [0x28, 'operations'],
]);
