// iproto constants of Tarantool 2.6 (../shared/spec/iproto.md §1): header and body keys,
// request types, iterator codes, privilege bits and system space ids. Spellings follow
// Tarantool's IPROTO_* names so they can be grepped across both code bases.

/** Header keys (§1.2). */
export const IprotoKey = {
  REQUEST_TYPE: 0x00,
  SYNC: 0x01,
  REPLICA_ID: 0x02,
  LSN: 0x03,
  TIMESTAMP: 0x04,
  SCHEMA_VERSION: 0x05,
  SERVER_VERSION: 0x06,
  GROUP_ID: 0x07,
  TSN: 0x08,
  FLAGS: 0x09,
  // Body keys (§1.3).
  SPACE_ID: 0x10,
  INDEX_ID: 0x11,
  LIMIT: 0x12,
  OFFSET: 0x13,
  ITERATOR: 0x14,
  INDEX_BASE: 0x15,
  KEY: 0x20,
  TUPLE: 0x21,
  FUNCTION_NAME: 0x22,
  USER_NAME: 0x23,
  INSTANCE_UUID: 0x24,
  CLUSTER_UUID: 0x25,
  VCLOCK: 0x26,
  EXPR: 0x27,
  OPS: 0x28,
  BALLOT: 0x29,
  TUPLE_META: 0x2a,
  OPTIONS: 0x2b,
  DATA: 0x30,
  ERROR_24: 0x31,
  METADATA: 0x32,
  BIND_METADATA: 0x33,
  BIND_COUNT: 0x34,
  SQL_TEXT: 0x40,
  SQL_BIND: 0x41,
  SQL_INFO: 0x42,
  STMT_ID: 0x43,
  REPLICA_ANON: 0x50,
  ID_FILTER: 0x51,
  ERROR: 0x52,
} as const;

/** First header key Tarantool 2.6 rejects as unknown (§1.1). */
export const IPROTO_KEY_MAX = 0x53;

/** Request types (§1.4) and response statuses (§1.5). */
export const IprotoType = {
  OK: 0,
  SELECT: 1,
  INSERT: 2,
  REPLACE: 3,
  UPDATE: 4,
  DELETE: 5,
  CALL_16: 6,
  AUTH: 7,
  EVAL: 8,
  UPSERT: 9,
  CALL: 10,
  EXECUTE: 11,
  NOP: 12,
  PREPARE: 13,
  CONFIRM: 40,
  ROLLBACK: 41,
  CHUNK: 128,
  PING: 64,
  JOIN: 65,
  SUBSCRIBE: 66,
  VOTE_DEPRECATED: 67,
  VOTE: 68,
  FETCH_SNAPSHOT: 69,
  REGISTER: 70,
} as const;

/** Error responses carry 0x8000 | errcode as their type. */
export const IPROTO_TYPE_ERROR = 0x8000;

/** Header FLAGS bits (§5.6). */
export const IPROTO_FLAG_COMMIT = 0x01;

/** Replication groups: rows of is_local spaces belong to group 1 and are not replicated. */
export const GroupId = { DEFAULT: 0, LOCAL: 1 } as const;

/** Iterator codes (§4.3). Reverse iterators: REQ, LT, LE. */
export const IteratorType = {
  EQ: 0,
  REQ: 1,
  ALL: 2,
  LT: 3,
  LE: 4,
  GE: 5,
  GT: 6,
  BITS_ALL_SET: 7,
  BITS_ANY_SET: 8,
  BITS_ALL_NOT_SET: 9,
  OVERLAPS: 10,
  NEIGHBOR: 11,
} as const;
export type IteratorName = keyof typeof IteratorType;
export type IteratorCode = (typeof IteratorType)[IteratorName];

/** Privilege bits (§6.2). */
export const Privilege = {
  READ: 1,
  WRITE: 2,
  EXECUTE: 4,
  SESSION: 8,
  USAGE: 16,
  CREATE: 32,
  DROP: 64,
  ALTER: 128,
  REFERENCE: 256,
  TRIGGER: 512,
  INSERT: 1024,
  UPDATE: 2048,
  DELETE: 4096,
  GRANT: 8192,
  REVOKE: 16384,
  ALL: 0xffffffff,
} as const;

/** System space ids (§6.1). User spaces start at SYSTEM_ID_MAX + 1 = 512. */
export const SystemSpace = {
  VINYL_DEFERRED_DELETE: 257,
  SCHEMA: 272,
  COLLATION: 276,
  VCOLLATION: 277,
  SPACE: 280,
  VSPACE: 281,
  SEQUENCE: 284,
  SEQUENCE_DATA: 285,
  VSEQUENCE: 286,
  INDEX: 288,
  VINDEX: 289,
  FUNC: 296,
  VFUNC: 297,
  USER: 304,
  VUSER: 305,
  PRIV: 312,
  VPRIV: 313,
  CLUSTER: 320,
  TRIGGER: 328,
  TRUNCATE: 330,
  SPACE_SEQUENCE: 340,
  FK_CONSTRAINT: 356,
  CK_CONSTRAINT: 364,
  FUNC_INDEX: 372,
  SESSION_SETTINGS: 380,
} as const;
export const SYSTEM_ID_MIN = 256;
export const SYSTEM_ID_MAX = 511;

/** Well-known user ids (§6.2). New users and roles get ids from 32. */
export const UserId = { GUEST: 0, ADMIN: 1, PUBLIC: 2, REPLICATION: 3, SUPER: 31 } as const;

/** The version this server reports (greeting, box.info.version, SUBSCRIBE SERVER_VERSION). */
export const TARANTOOL_VERSION = '2.6.0';
/** version_id(2, 6, 0) as Tarantool encodes it: (major << 16) | (minor << 8) | patch. */
export const TARANTOOL_VERSION_ID = (2 << 16) | (6 << 8) | 0;
