// The body of a data request, one codec for every place that reads or writes one: the iproto
// server decoding a client's request, the client encoding it, box logging a change to the WAL,
// recovery and the applier reading a logged or relayed row back (spec §1.3, §5.5).
// Layer: core.
//
// A DML body is a map with uint keys (IPROTO_KEY_TYPE gives each key's value type):
//   SELECT  {SPACE_ID, INDEX_ID?, LIMIT, OFFSET?, ITERATOR?, KEY}
//   INSERT, REPLACE {SPACE_ID, TUPLE}
//   DELETE  {SPACE_ID, INDEX_ID?, KEY}
//   UPDATE  {SPACE_ID, INDEX_ID?, INDEX_BASE?, KEY, TUPLE = the update operations}
//   UPSERT  {SPACE_ID, INDEX_BASE?, TUPLE, OPS}
// Encoding writes the keys in that order and omits INDEX_ID and INDEX_BASE when 0, as Tarantool's
// xrow_encode_dml does; a SELECT always carries LIMIT, OFFSET and ITERATOR. Tuples, keys and
// operations are MessagePack arrays: written from raw bytes as they are (never re-encoded) or
// from values.
//
// Decoding follows Tarantool 2.6's xrow_decode_dml: only a key written as a positive fixint is
// looked at, other keys are skipped with their values; a known key whose value has another type
// than IPROTO_KEY_TYPE's makes the body invalid ("Invalid MsgPack - packet body"); the type's
// mandatory keys are then checked lowest key first ("Missing mandatory field 'space id' in
// request"). Tuples, keys and operations come out as views of the body's bytes.
import { ErrorCode } from './error-codes.js';
import { ClientError } from './errors.js';
import { IprotoKey, IprotoType } from './iproto-constants.js';
import { MsgpackReader, MsgpackWriter, plainView } from './msgpack.js';
import {
  MP_FIXED_SIZE,
  MP_TYPE,
  MpType,
  type MpTypeCode,
  mpCheck,
  mpReadUintAt,
} from './msgpack-grammar.js';

/**
 * Expected value type of every key below IPROTO_KEY_MAX (0x53) in Tarantool 2.6: a header key
 * whose value has another type makes the header invalid; so does a DML body key (§1.1).
 * Unassigned codes expect MP_UINT, as in Tarantool's table.
 */
export const IPROTO_KEY_TYPE: Uint8Array = (() => {
  const table = new Uint8Array(0x53).fill(MpType.UINT);
  table[IprotoKey.TIMESTAMP] = MpType.DOUBLE;
  const typed: Array<[number, MpTypeCode]> = [
    [IprotoKey.KEY, MpType.ARRAY],
    [IprotoKey.TUPLE, MpType.ARRAY],
    [IprotoKey.FUNCTION_NAME, MpType.STR],
    [IprotoKey.USER_NAME, MpType.STR],
    [IprotoKey.INSTANCE_UUID, MpType.STR],
    [IprotoKey.CLUSTER_UUID, MpType.STR],
    [IprotoKey.VCLOCK, MpType.MAP],
    [IprotoKey.EXPR, MpType.STR],
    [IprotoKey.OPS, MpType.ARRAY],
    [IprotoKey.BALLOT, MpType.MAP],
    [IprotoKey.TUPLE_META, MpType.MAP],
    [IprotoKey.OPTIONS, MpType.MAP],
    [IprotoKey.DATA, MpType.ARRAY],
    [IprotoKey.ERROR_24, MpType.STR],
    [IprotoKey.METADATA, MpType.ARRAY],
    [IprotoKey.BIND_METADATA, MpType.ARRAY],
    [IprotoKey.SQL_TEXT, MpType.STR],
    [IprotoKey.SQL_BIND, MpType.ARRAY],
    [IprotoKey.SQL_INFO, MpType.MAP],
    [IprotoKey.REPLICA_ANON, MpType.BOOL],
    [IprotoKey.ID_FILTER, MpType.ARRAY],
    [IprotoKey.ERROR, MpType.MAP],
  ];
  for (const [key, type] of typed) table[key] = type;
  return table;
})();

/** Names Tarantool uses for keys in "Missing mandatory field '%s' in request". */
export const IPROTO_KEY_NAME: ReadonlyMap<number, string> = new Map([
  [IprotoKey.SPACE_ID, 'space id'],
  [IprotoKey.INDEX_ID, 'index id'],
  [IprotoKey.LIMIT, 'limit'],
  [IprotoKey.OFFSET, 'offset'],
  [IprotoKey.ITERATOR, 'iterator'],
  [IprotoKey.INDEX_BASE, 'index base'],
  [IprotoKey.KEY, 'key'],
  [IprotoKey.TUPLE, 'tuple'],
  [IprotoKey.FUNCTION_NAME, 'function name'],
  [IprotoKey.USER_NAME, 'user name'],
  [IprotoKey.INSTANCE_UUID, 'instance uuid'],
  [IprotoKey.CLUSTER_UUID, 'cluster uuid'],
  [IprotoKey.VCLOCK, 'vector clock'],
  [IprotoKey.EXPR, 'expression'],
  [IprotoKey.OPS, 'operations'],
]);

/** A tuple, key or operation list: raw MessagePack array bytes, or the values to encode. */
export type MsgpackArray = Uint8Array | readonly unknown[];

function writeArray(w: MsgpackWriter, array: MsgpackArray): void {
  if (array instanceof Uint8Array) w.raw(array);
  else w.value(array);
}

export function writeSelectBody(
  w: MsgpackWriter,
  spaceId: number,
  indexId: number,
  limit: number,
  offset: number,
  iterator: number,
  key: MsgpackArray,
): void {
  w.mapHeader(indexId === 0 ? 5 : 6);
  w.byte(IprotoKey.SPACE_ID);
  w.uint(spaceId);
  if (indexId !== 0) {
    w.byte(IprotoKey.INDEX_ID);
    w.uint(indexId);
  }
  w.byte(IprotoKey.LIMIT);
  w.uint(limit);
  w.byte(IprotoKey.OFFSET);
  w.uint(offset);
  w.byte(IprotoKey.ITERATOR);
  w.uint(iterator);
  w.byte(IprotoKey.KEY);
  writeArray(w, key);
}

/** INSERT and REPLACE. */
export function writeTupleBody(w: MsgpackWriter, spaceId: number, tuple: MsgpackArray): void {
  writeTupleBodyPrefix(w, spaceId);
  writeArray(w, tuple);
}

/** Everything of an INSERT or REPLACE body before the tuple. */
function writeTupleBodyPrefix(w: MsgpackWriter, spaceId: number): void {
  w.mapHeader(2);
  w.byte(IprotoKey.SPACE_ID);
  w.uint(spaceId);
  w.byte(IprotoKey.TUPLE);
}

export function writeDeleteBody(
  w: MsgpackWriter,
  spaceId: number,
  indexId: number,
  key: MsgpackArray,
): void {
  w.mapHeader(indexId === 0 ? 2 : 3);
  w.byte(IprotoKey.SPACE_ID);
  w.uint(spaceId);
  if (indexId !== 0) {
    w.byte(IprotoKey.INDEX_ID);
    w.uint(indexId);
  }
  w.byte(IprotoKey.KEY);
  writeArray(w, key);
}

export function writeUpdateBody(
  w: MsgpackWriter,
  spaceId: number,
  indexId: number,
  indexBase: number,
  key: MsgpackArray,
  ops: MsgpackArray,
): void {
  w.mapHeader(3 + (indexId === 0 ? 0 : 1) + (indexBase === 0 ? 0 : 1));
  w.byte(IprotoKey.SPACE_ID);
  w.uint(spaceId);
  if (indexId !== 0) {
    w.byte(IprotoKey.INDEX_ID);
    w.uint(indexId);
  }
  if (indexBase !== 0) {
    w.byte(IprotoKey.INDEX_BASE);
    w.uint(indexBase);
  }
  w.byte(IprotoKey.KEY);
  writeArray(w, key);
  // An update's operations travel under TUPLE (Tarantool's request->tuple).
  w.byte(IprotoKey.TUPLE);
  writeArray(w, ops);
}

export function writeUpsertBody(
  w: MsgpackWriter,
  spaceId: number,
  indexBase: number,
  tuple: MsgpackArray,
  ops: MsgpackArray,
): void {
  w.mapHeader(3 + (indexBase === 0 ? 0 : 1));
  w.byte(IprotoKey.SPACE_ID);
  w.uint(spaceId);
  if (indexBase !== 0) {
    w.byte(IprotoKey.INDEX_BASE);
    w.uint(indexBase);
  }
  w.byte(IprotoKey.TUPLE);
  writeArray(w, tuple);
  w.byte(IprotoKey.OPS);
  writeArray(w, ops);
}

const bodyWriter = new MsgpackWriter(4096);

/**
 * The body of an INSERT or REPLACE, as fresh bytes (a WAL row's body). Raw tuple bytes are
 * copied once, into a body of the exact size (the hot insert → WAL path).
 */
export function encodeTupleBody(spaceId: number, tuple: MsgpackArray): Uint8Array {
  const w = bodyWriter.reset();
  if (!(tuple instanceof Uint8Array)) {
    writeTupleBody(w, spaceId, tuple);
    return w.toBytes();
  }
  return encodeTupleBodyAt(spaceId, tuple, 0, tuple.length);
}

/**
 * encodeTupleBody of the tuple at bytes [start, end) of `source` (one MessagePack array),
 * copied without making a view of it (a view costs about as much as copying a short tuple).
 */
export function encodeTupleBodyAt(
  spaceId: number,
  source: Uint8Array,
  start: number,
  end: number,
): Uint8Array {
  const w = bodyWriter.reset();
  writeTupleBodyPrefix(w, spaceId);
  const prefix = w.length;
  const n = end - start;
  const body = new Uint8Array(prefix + n);
  for (let i = 0; i < prefix; i++) body[i] = w.bytes[i]!;
  if (n <= 64) for (let i = 0; i < n; i++) body[prefix + i] = source[start + i]!;
  else body.set(source.subarray(start, end), prefix);
  return body;
}

export function encodeDeleteBody(spaceId: number, indexId: number, key: MsgpackArray): Uint8Array {
  writeDeleteBody(bodyWriter.reset(), spaceId, indexId, key);
  return bodyWriter.toBytes();
}

export function encodeUpdateBody(
  spaceId: number,
  indexId: number,
  indexBase: number,
  key: MsgpackArray,
  ops: MsgpackArray,
): Uint8Array {
  writeUpdateBody(bodyWriter.reset(), spaceId, indexId, indexBase, key, ops);
  return bodyWriter.toBytes();
}

export function encodeUpsertBody(
  spaceId: number,
  indexBase: number,
  tuple: MsgpackArray,
  ops: MsgpackArray,
): Uint8Array {
  writeUpsertBody(bodyWriter.reset(), spaceId, indexBase, tuple, ops);
  return bodyWriter.toBytes();
}

const EMPTY = new Uint8Array(0);
/** DmlBody.seen's bit for IPROTO_TUPLE. */
const TUPLE_BIT = 1 << (IprotoKey.TUPLE - 0x10);

/** A decoded DML body: ids, and views of the raw arrays (undefined when absent). */
export class DmlBody {
  spaceId = 0;
  indexId = 0;
  limit = 0;
  offset = 0;
  iterator = 0;
  indexBase = 0;
  key: Uint8Array | undefined = undefined;
  /** The tuple (INSERT, REPLACE, UPSERT) or the update operations (UPDATE). */
  tuple: Uint8Array | undefined = undefined;
  /** The upsert operations. */
  ops: Uint8Array | undefined = undefined;
  /** One bit per key present: 1 << (key - 0x10). */
  seen = 0;
  /** The bytes decoded last, and where the tuple (body key 0x21) is in them (0, 0 if absent). */
  source: Uint8Array = EMPTY;
  tupleStart = 0;
  tupleEnd = 0;

  /**
   * @param tupleViews false: `tuple` stays undefined and only its range (`source`,
   *   `tupleStart`, `tupleEnd`) is recorded, for a caller that copies the tuple's bytes from
   *   there (recovery: one view object fewer per row); `tupleView()` makes the view on demand.
   */
  constructor(readonly tupleViews = true) {}

  /** The tuple (or update operations) as a view of `source`: `tuple`, made if it was not. */
  tupleView(): Uint8Array | undefined {
    if (this.tuple === undefined && (this.seen & TUPLE_BIT) !== 0)
      this.tuple = this.source.subarray(this.tupleStart, this.tupleEnd);
    return this.tuple;
  }

  clear(): this {
    this.spaceId = 0;
    this.indexId = 0;
    this.limit = 0;
    this.offset = 0;
    this.iterator = 0;
    this.indexBase = 0;
    this.key = undefined;
    this.tuple = undefined;
    this.ops = undefined;
    this.seen = 0;
    this.tupleStart = 0;
    this.tupleEnd = 0;
    return this;
  }
}

/** Keys a DML body decoder reads (IPROTO_DML_BODY_BMAP), by first byte: 1 = read. */
const DML_BODY_KEY = new Uint8Array(256);
for (const key of [
  IprotoKey.SPACE_ID,
  IprotoKey.INDEX_ID,
  IprotoKey.LIMIT,
  IprotoKey.OFFSET,
  IprotoKey.ITERATOR,
  IprotoKey.INDEX_BASE,
  IprotoKey.KEY,
  IprotoKey.TUPLE,
  IprotoKey.OPS,
])
  DML_BODY_KEY[key] = 1;

/** Mandatory keys per DML type, in the order Tarantool reports them (lowest key first). */
const DML_REQUIRED: Readonly<Record<number, readonly number[]>> = {
  [IprotoType.SELECT]: [IprotoKey.SPACE_ID, IprotoKey.LIMIT, IprotoKey.KEY],
  [IprotoType.INSERT]: [IprotoKey.SPACE_ID, IprotoKey.TUPLE],
  [IprotoType.REPLACE]: [IprotoKey.SPACE_ID, IprotoKey.TUPLE],
  [IprotoType.UPDATE]: [IprotoKey.SPACE_ID, IprotoKey.KEY, IprotoKey.TUPLE],
  [IprotoType.DELETE]: [IprotoKey.SPACE_ID, IprotoKey.KEY],
  [IprotoType.UPSERT]: [IprotoKey.SPACE_ID, IprotoKey.TUPLE, IprotoKey.OPS],
};

/** Sets the field of a uint key of the body (SPACE_ID … ITERATOR, INDEX_BASE). */
function setUintKey(out: DmlBody, key: number, value: number): void {
  switch (key) {
    case IprotoKey.SPACE_ID:
      out.spaceId = value;
      break;
    case IprotoKey.INDEX_ID:
      out.indexId = value;
      break;
    case IprotoKey.LIMIT:
      out.limit = value;
      break;
    case IprotoKey.OFFSET:
      out.offset = value;
      break;
    case IprotoKey.ITERATOR:
      out.iterator = value;
      break;
    default:
      out.indexBase = value;
  }
}

/** DML_REQUIRED as bits 1 << (key - 0x10), per type. */
const DML_REQUIRED_BITS = new Uint32Array(256);
for (const [type, keys] of Object.entries(DML_REQUIRED))
  for (const key of keys) DML_REQUIRED_BITS[Number(type)]! |= 1 << (key - 0x10);

/**
 * One pass over the DML body of a `type` request at b[p, end), for the shape clients send: a
 * fixmap of the keys the decoder reads (no others), each value of its IPROTO_KEY_TYPE (uints
 * below 2^53), with every mandatory key, ending exactly at `end`. Fills `out` (cleared first;
 * arrays as plain views of b) and returns true. Returns false for anything else, valid or not,
 * having checked nothing it reports: decodeDmlBody then gives the answer, or the error.
 */
export function decodeCommonDmlBody(
  b: Uint8Array,
  p: number,
  end: number,
  type: number,
  out: DmlBody,
): boolean {
  if (type > 0xff || p >= end) return false;
  const required = DML_REQUIRED_BITS[type]!;
  if (required === 0) return false;
  const tag = b[p++]!;
  if ((tag & 0xf0) !== 0x80) return false;
  out.clear();
  out.source = b;
  let seen = 0;
  for (let n = tag & 0x0f; n > 0; n--) {
    if (p >= end) return false;
    const key = b[p++]!;
    if (DML_BODY_KEY[key] === 0) return false;
    const expected = IPROTO_KEY_TYPE[key];
    if (expected === MpType.UINT) {
      const value = mpReadUintAt(b, p, end);
      if (value < 0) return false;
      p += MP_FIXED_SIZE[b[p]!]!;
      setUintKey(out, key, value);
    } else {
      if (p >= end || MP_TYPE[b[p]!] !== expected) return false;
      const valueEnd = mpCheck(b, p, end);
      if (valueEnd < 0) return false;
      if (key === IprotoKey.TUPLE) {
        out.tupleStart = p;
        out.tupleEnd = valueEnd;
        if (out.tupleViews) out.tuple = plainView(b, p, valueEnd);
      } else if (key === IprotoKey.KEY) {
        out.key = plainView(b, p, valueEnd);
      } else {
        out.ops = plainView(b, p, valueEnd);
      }
      p = valueEnd;
    }
    seen |= 1 << (key - 0x10);
  }
  out.seen = seen;
  return p === end && (seen & required) === required;
}

/** True for the request types whose body this codec describes. */
export function isDmlType(type: number): boolean {
  return DML_REQUIRED[type] !== undefined;
}

/** A uint; values above 2^53 (never valid ids) read as Number.MAX_SAFE_INTEGER. */
export function readUintSaturated(reader: MsgpackReader): number {
  if (reader.peek() === 0xcf && reader.view.getUint32(reader.offset + 1) >= 0x200000) {
    reader.skip();
    return Number.MAX_SAFE_INTEGER;
  }
  return reader.readUint();
}

function invalidBody(): ClientError {
  return new ClientError(ErrorCode.ER_INVALID_MSGPACK, 'packet body');
}

/**
 * Decodes the DML body of a `type` request at the reader's position into `out` (cleared
 * first), consuming it. Returns the error to report, or undefined. The bytes must be one
 * well-formed MessagePack value (MsgpackReader.skip checked); a truncated body throws
 * MsgpackError.
 */
export function decodeDmlBody(
  reader: MsgpackReader,
  type: number,
  out: DmlBody,
): ClientError | undefined {
  const required = DML_REQUIRED[type];
  if (required === undefined) return new ClientError(ErrorCode.ER_UNKNOWN_REQUEST_TYPE, type);
  out.clear();
  out.source = reader.bytes;
  if (MP_TYPE[reader.peek()] !== MpType.MAP) return invalidBody();
  const n = reader.readMapHeader();
  for (let i = 0; i < n; i++) {
    const key = reader.peek();
    if (DML_BODY_KEY[key] === 0) {
      reader.skip();
      reader.skip();
      continue;
    }
    reader.offset++;
    const valueType = MP_TYPE[reader.peek()];
    if (valueType !== IPROTO_KEY_TYPE[key]) return invalidBody();
    out.seen |= 1 << (key - 0x10);
    if (valueType === MpType.UINT) {
      const value = readUintSaturated(reader);
      setUintKey(out, key, value);
      continue;
    }
    if (key === IprotoKey.TUPLE) {
      out.tupleStart = reader.offset;
      reader.skip();
      out.tupleEnd = reader.offset;
      if (out.tupleViews) out.tuple = reader.bytes.subarray(out.tupleStart, out.tupleEnd);
      continue;
    }
    const raw = reader.readRaw();
    if (key === IprotoKey.KEY) out.key = raw;
    else out.ops = raw;
  }
  for (const key of required) {
    if ((out.seen & (1 << (key - 0x10))) === 0)
      return new ClientError(ErrorCode.ER_MISSING_REQUEST_FIELD, IPROTO_KEY_NAME.get(key));
  }
  return undefined;
}

/** A request with no body at all: the error its first mandatory key gives. */
export function missingDmlBody(type: number): ClientError {
  const required = DML_REQUIRED[type];
  if (required === undefined) return new ClientError(ErrorCode.ER_UNKNOWN_REQUEST_TYPE, type);
  return new ClientError(ErrorCode.ER_MISSING_REQUEST_FIELD, IPROTO_KEY_NAME.get(required[0]!));
}

const rowReader = new MsgpackReader(new Uint8Array(0));

/**
 * Decodes a logged or relayed row's body (recovery, the applier) into `out` (a fresh DmlBody
 * unless one is given to reuse), its arrays views of `body`. Throws the ClientError Tarantool
 * reports for a bad body, MsgpackError when the bytes are not MessagePack.
 */
export function decodeRowBody(type: number, body: Uint8Array, out = new DmlBody()): DmlBody {
  return decodeRowBodyAt(type, body, 0, body.length, out);
}

/** decodeRowBody() of the body at `bytes[start, end)` (a row decoded in place). */
export function decodeRowBodyAt(
  type: number,
  bytes: Uint8Array,
  start: number,
  end: number,
  out = new DmlBody(),
): DmlBody {
  rowReader.reset(bytes, start, end);
  try {
    const error = decodeDmlBody(rowReader, type, out);
    if (error !== undefined) throw error;
  } finally {
    rowReader.reset(EMPTY);
  }
  return out;
}
