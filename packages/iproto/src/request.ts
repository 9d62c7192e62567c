// Client request decoding: one framed packet → a typed request, or the error to reply with.
// Layer: iproto, no I/O. Follows Tarantool 2.6's xrow decoders (PROTOCOL.md §4 rules R1–R15):
// header validation, body well-formedness, mandatory keys with Tarantool's key names, wrong
// value types → "Invalid MsgPack - packet body".
//
// Tuples, keys, operations and call arguments stay raw: each is a Uint8Array view of the packet
// holding one MessagePack array, so box can store a tuple without re-encoding it. Decode one
// with `decodeArray` when the values are needed. A view keeps the received chunk alive; copy it
// (`slice()`) if it is kept beyond the request.
//
// Semantic checks that need server state (schema version, iterator range, users) are not done
// here; the server connection does them in Tarantool's order.
import {
  ClientError,
  DmlBody,
  decode,
  decodeCommonDmlBody,
  decodeDmlBody,
  ErrorCode,
  IPROTO_KEY_MAX,
  IPROTO_KEY_NAME,
  IPROTO_KEY_TYPE,
  IprotoKey,
  IprotoType,
  MP_FIXED_SIZE,
  MpType,
  MsgpackError,
  MsgpackReader,
  missingDmlBody,
  mpCheck,
  mpReadUintAt,
  mpTypeOfByte,
  readUintSaturated,
} from '@tarantype/core';

/** Request id chosen by the client, echoed in the reply. bigint only above 2^53. */
export type Sync = number | bigint;

interface RequestCommon {
  /** Request id, echoed in the reply (0 if the request had none). */
  readonly sync: Sync;
  /** SCHEMA_VERSION from the request header; 0 = absent (no check). */
  readonly schemaVersion: number;
}

export interface SelectRequest extends RequestCommon {
  readonly type: typeof IprotoType.SELECT;
  readonly spaceId: number;
  /** Default 0 (primary). */
  readonly indexId: number;
  readonly limit: number;
  /** Default 0. */
  readonly offset: number;
  /** Iterator code, default 0 (EQ). Range-checked by the server before the handler sees it. */
  readonly iterator: number;
  /** Raw MessagePack array. */
  readonly key: Uint8Array;
}

export interface InsertRequest extends RequestCommon {
  readonly type: typeof IprotoType.INSERT | typeof IprotoType.REPLACE;
  readonly spaceId: number;
  /** Raw MessagePack array. */
  readonly tuple: Uint8Array;
}

export interface UpdateRequest extends RequestCommon {
  readonly type: typeof IprotoType.UPDATE;
  readonly spaceId: number;
  readonly indexId: number;
  /** Base of field numbers in `ops` (0 over iproto unless sent; net.box sends 1). */
  readonly indexBase: number;
  /** Raw MessagePack array. */
  readonly key: Uint8Array;
  /** Raw MessagePack array of operations (sent under IPROTO_TUPLE). */
  readonly ops: Uint8Array;
}

export interface DeleteRequest extends RequestCommon {
  readonly type: typeof IprotoType.DELETE;
  readonly spaceId: number;
  readonly indexId: number;
  /** Raw MessagePack array. */
  readonly key: Uint8Array;
}

export interface UpsertRequest extends RequestCommon {
  readonly type: typeof IprotoType.UPSERT;
  readonly spaceId: number;
  /** Sent by some clients; Tarantool uses the primary index whatever it says. */
  readonly indexId: number;
  readonly indexBase: number;
  /** Raw MessagePack array: the tuple inserted when no tuple has its primary key. */
  readonly tuple: Uint8Array;
  /** Raw MessagePack array of operations (IPROTO_OPS). */
  readonly ops: Uint8Array;
}

export interface CallRequest extends RequestCommon {
  /** CALL returns values as they are; CALL_16 wraps them as tuples (call-16.ts). */
  readonly type: typeof IprotoType.CALL | typeof IprotoType.CALL_16;
  readonly functionName: string;
  /** Raw MessagePack array; `[]` (0x90) when absent. */
  readonly args: Uint8Array;
}

export interface EvalRequest extends RequestCommon {
  readonly type: typeof IprotoType.EVAL;
  readonly expr: string;
  /** Raw MessagePack array; `[]` when absent. */
  readonly args: Uint8Array;
}

export interface ExecuteRequest extends RequestCommon {
  readonly type: typeof IprotoType.EXECUTE;
  /** Exactly one of sqlText and stmtId is set. */
  readonly sqlText: string | undefined;
  readonly stmtId: number | undefined;
  /** Raw MessagePack array of bound parameters; `[]` when absent. */
  readonly bind: Uint8Array;
}

export interface PrepareRequest extends RequestCommon {
  readonly type: typeof IprotoType.PREPARE;
  /** Text to prepare, or the id of a statement to unprepare. Exactly one is set. */
  readonly sqlText: string | undefined;
  readonly stmtId: number | undefined;
}

export interface AuthRequest extends RequestCommon {
  readonly type: typeof IprotoType.AUTH;
  readonly userName: string;
  /** Raw MessagePack array `[mechanism, scramble]` (may be empty: guest "log out"). */
  readonly tuple: Uint8Array;
}

export interface PingRequest extends RequestCommon {
  readonly type: typeof IprotoType.PING;
}

export interface VoteRequest extends RequestCommon {
  readonly type: typeof IprotoType.VOTE | typeof IprotoType.VOTE_DEPRECATED;
}

/** JOIN, SUBSCRIBE, FETCH_SNAPSHOT, REGISTER: passed whole to the replication hook. */
export interface ReplicationRequest extends RequestCommon {
  readonly type:
    | typeof IprotoType.JOIN
    | typeof IprotoType.SUBSCRIBE
    | typeof IprotoType.FETCH_SNAPSHOT
    | typeof IprotoType.REGISTER;
  /** The whole packet (header map + body map), for core's decodeXrow. */
  readonly packet: Uint8Array;
  /** The body map, or undefined when the request had none. */
  readonly body: Uint8Array | undefined;
}

export type DmlRequest = InsertRequest | UpdateRequest | DeleteRequest | UpsertRequest;

export type Request =
  | SelectRequest
  | DmlRequest
  | CallRequest
  | EvalRequest
  | ExecuteRequest
  | PrepareRequest
  | AuthRequest
  | PingRequest
  | VoteRequest
  | ReplicationRequest;

/** A packet that could not be decoded: reply `error` with `sync` and keep the connection. */
export class RequestDecodeError {
  constructor(
    readonly sync: Sync,
    readonly error: ClientError,
  ) {}
}

const EMPTY_ARRAY = new Uint8Array([0x90]);
const reader = new MsgpackReader(new Uint8Array(0));
/** Offset of the body in the packet being decoded (decoding is synchronous: one at a time). */
let bodyStart = 0;

function invalid(what: string): ClientError {
  return new ClientError(ErrorCode.ER_INVALID_MSGPACK, what);
}

/**
 * Points `reader` at `packet` without allocating a DataView per packet: packets cut from one
 * received chunk share its ArrayBuffer, so the reader spans the whole buffer and only its
 * offsets move. Views the decoders return are still views of exactly the packet's bytes.
 */
export function positionReader(target: MsgpackReader, packet: Uint8Array): void {
  if (target.bytes.buffer !== packet.buffer) {
    target.reset(new Uint8Array(packet.buffer));
  }
  target.offset = packet.byteOffset;
  target.end = packet.byteOffset + packet.byteLength;
}

/** Decodes a raw MessagePack array (tuple, key, ops, args). */
export function decodeArray(raw: Uint8Array): unknown[] {
  const value = decode(raw);
  if (!Array.isArray(value)) throw invalid('packet body');
  return value;
}

interface Header {
  type: number;
  sync: Sync;
  schemaVersion: number;
}

/** Decodes one packet (header + optional body, no length prefix). */
export function decodeRequest(packet: Uint8Array): Request | RequestDecodeError {
  return decodeCommonRequest(packet) ?? decodeAnyRequest(packet);
}

// {{{ the common shapes, in one pass

/** The DML body both paths decode into (decoding is synchronous: one packet at a time). */
const dml = new DmlBody();

/**
 * PING and the DML requests in the shapes clients send (a fixmap header of type, sync and
 * schema version, then core's decodeCommonDmlBody), decoded in one pass over the bytes without
 * the reader. Anything else, valid or not, returns undefined and takes the general path
 * (decodeAnyRequest), which gives the same result for these shapes and the right error for the
 * rest: this path never reports an error itself. @internal (exported for the test that
 * compares both paths)
 */
export function decodeCommonRequest(b: Uint8Array): Request | undefined {
  const end = b.length;
  if (end === 0) return undefined;
  const headerTag = b[0]!;
  if ((headerTag & 0xf0) !== 0x80) return undefined;
  let type = 0;
  let sync = 0;
  let schemaVersion = 0;
  let p = 1;
  for (let n = headerTag & 0x0f; n > 0; n--) {
    if (p >= end) return undefined;
    const key = b[p++]!;
    const value = mpReadUintAt(b, p, end);
    if (value < 0) return undefined;
    p += MP_FIXED_SIZE[b[p]!]!;
    if (key === IprotoKey.REQUEST_TYPE) type = value;
    else if (key === IprotoKey.SYNC) sync = value;
    else if (key === IprotoKey.SCHEMA_VERSION) schemaVersion = value;
    else return undefined;
  }
  if (type === IprotoType.PING) {
    if (p !== end && mpCheck(b, p, end) !== end) return undefined;
    return { type, sync, schemaVersion };
  }
  if (!decodeCommonDmlBody(b, p, end, type, dml)) return undefined;
  return dmlRequest(type, sync, schemaVersion, dml);
}

// }}}

/** The general decoder: every request type, every valid encoding, and every error. @internal */
export function decodeAnyRequest(packet: Uint8Array): Request | RequestDecodeError {
  positionReader(reader, packet);
  const packetStart = reader.offset;
  const header = decodeHeader(packetStart);
  if (header === undefined) return new RequestDecodeError(0, invalid('packet header'));
  bodyStart = reader.offset;
  const hasBody = bodyStart < reader.end;
  if (hasBody) {
    try {
      reader.skip();
    } catch (error) {
      if (!(error instanceof MsgpackError)) throw error;
      return new RequestDecodeError(header.sync, invalid('packet body'));
    }
    if (reader.offset !== reader.end)
      return new RequestDecodeError(header.sync, invalid('packet body'));
  }
  const result = decodeBody(header, packet, hasBody);
  return result instanceof ClientError ? new RequestDecodeError(header.sync, result) : result;
}

/** R1–R4: a map with uint keys below 0x53 whose values have the expected types. */
function decodeHeader(packetStart: number): Header | undefined {
  const header: Header = { type: 0, sync: 0, schemaVersion: 0 };
  try {
    if (reader.end === packetStart || mpTypeOfByte(reader.peek()) !== MpType.MAP) return undefined;
    reader.skip();
    const headerEnd = reader.offset;
    reader.offset = packetStart;
    const n = reader.readMapHeader();
    for (let i = 0; i < n; i++) {
      if (mpTypeOfByte(reader.peek()) !== MpType.UINT) return undefined;
      const key = readUintSaturated(reader);
      if (key >= IPROTO_KEY_MAX || mpTypeOfByte(reader.peek()) !== IPROTO_KEY_TYPE[key])
        return undefined;
      switch (key) {
        case IprotoKey.REQUEST_TYPE:
          header.type = readUintSaturated(reader);
          break;
        case IprotoKey.SYNC:
          header.sync = readSync();
          break;
        case IprotoKey.SCHEMA_VERSION:
          header.schemaVersion = readUintSaturated(reader);
          break;
        default:
          reader.skip();
      }
    }
    if (reader.offset !== headerEnd) return undefined;
    return header;
  } catch (error) {
    if (error instanceof MsgpackError) return undefined;
    throw error;
  }
}

function readSync(): Sync {
  if (reader.peek() === 0xcf) {
    reader.skip();
    const value = reader.view.getBigUint64(reader.offset - 8);
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  return reader.readUint();
}

function decodeBody(header: Header, packet: Uint8Array, hasBody: boolean): Request | ClientError {
  const { type, sync, schemaVersion } = header;
  switch (type) {
    case IprotoType.SELECT:
    case IprotoType.INSERT:
    case IprotoType.REPLACE:
    case IprotoType.UPDATE:
    case IprotoType.DELETE:
    case IprotoType.UPSERT:
      return decodeDml(type, sync, schemaVersion, hasBody);
    case IprotoType.CALL:
    case IprotoType.CALL_16:
    case IprotoType.EVAL:
      return decodeCall(type, sync, schemaVersion, hasBody);
    case IprotoType.AUTH:
      return decodeAuth(sync, schemaVersion, hasBody);
    case IprotoType.EXECUTE:
    case IprotoType.PREPARE:
      return decodeSql(type, sync, schemaVersion, hasBody);
    case IprotoType.PING:
      return { type, sync, schemaVersion };
    case IprotoType.VOTE:
    case IprotoType.VOTE_DEPRECATED:
      return { type, sync, schemaVersion };
    case IprotoType.JOIN:
    case IprotoType.SUBSCRIBE:
    case IprotoType.FETCH_SNAPSHOT:
    case IprotoType.REGISTER:
      return {
        type,
        sync,
        schemaVersion,
        packet,
        body: hasBody ? reader.bytes.subarray(bodyStart, reader.end) : undefined,
      };
    case IprotoType.NOP:
      // R9: NOP belongs to the WAL and replication streams only (2.6 behaviour).
      if (hasBody) return invalid('packet body');
      return new ClientError(ErrorCode.ER_UNKNOWN_REQUEST_TYPE, type);
    default:
      return new ClientError(ErrorCode.ER_UNKNOWN_REQUEST_TYPE, type);
  }
}

/** R6–R8: xrow_decode_dml (core's DML body codec). The body is known to be well-formed. */
function decodeDml(
  type: number,
  sync: Sync,
  schemaVersion: number,
  hasBody: boolean,
): Request | ClientError {
  const f = dml;
  if (hasBody) {
    reader.offset = bodyStart;
    const error = decodeDmlBody(reader, type, f);
    if (error !== undefined) return error;
  } else {
    return missingDmlBody(type);
  }
  return dmlRequest(type, sync, schemaVersion, f);
}

/** The request of a decoded DML body (both paths build the same shapes, in the same order). */
function dmlRequest(type: number, sync: Sync, schemaVersion: number, f: DmlBody): Request {
  switch (type) {
    case IprotoType.SELECT:
      return {
        type,
        sync,
        schemaVersion,
        spaceId: f.spaceId,
        indexId: f.indexId,
        limit: f.limit,
        offset: f.offset,
        iterator: f.iterator,
        key: f.key!,
      };
    case IprotoType.INSERT:
    case IprotoType.REPLACE:
      return { type, sync, schemaVersion, spaceId: f.spaceId, tuple: f.tuple! };
    case IprotoType.UPDATE:
      return {
        type,
        sync,
        schemaVersion,
        spaceId: f.spaceId,
        indexId: f.indexId,
        indexBase: f.indexBase,
        key: f.key!,
        ops: f.tuple!,
      };
    case IprotoType.DELETE:
      return { type, sync, schemaVersion, spaceId: f.spaceId, indexId: f.indexId, key: f.key! };
    default:
      return {
        type: IprotoType.UPSERT,
        sync,
        schemaVersion,
        spaceId: f.spaceId,
        indexId: f.indexId,
        indexBase: f.indexBase,
        tuple: f.tuple!,
        ops: f.ops!,
      };
  }
}

/**
 * Iterates a request body map whose keys must all be uints (xrow_decode_call / _auth).
 * Calls `onKey` with the reader at the value; it must consume the value or return an error.
 */
function readUintKeyedBody(
  onKey: (key: number) => ClientError | undefined,
): ClientError | undefined {
  reader.offset = bodyStart;
  if (mpTypeOfByte(reader.peek()) !== MpType.MAP) return invalid('packet body');
  const n = reader.readMapHeader();
  for (let i = 0; i < n; i++) {
    if (mpTypeOfByte(reader.peek()) !== MpType.UINT) return invalid('packet body');
    const key = readUintSaturated(reader);
    const error = onKey(key);
    if (error !== undefined) return error;
  }
  return undefined;
}

function readTyped(expected: number): Uint8Array | ClientError {
  if (mpTypeOfByte(reader.peek()) !== expected) return invalid('packet body');
  return reader.readRaw();
}

/** R10: xrow_decode_call. */
function decodeCall(
  type: number,
  sync: Sync,
  schemaVersion: number,
  hasBody: boolean,
): Request | ClientError {
  if (!hasBody) return invalid('missing request body');
  let name: string | undefined;
  let expr: string | undefined;
  let args: Uint8Array = EMPTY_ARRAY;
  const error = readUintKeyedBody((key) => {
    switch (key) {
      case IprotoKey.FUNCTION_NAME:
      case IprotoKey.EXPR: {
        if (mpTypeOfByte(reader.peek()) !== MpType.STR) return invalid('packet body');
        const text = reader.readStr();
        if (key === IprotoKey.EXPR) expr = text;
        else name = text;
        return undefined;
      }
      case IprotoKey.TUPLE: {
        const raw = readTyped(MpType.ARRAY);
        if (raw instanceof ClientError) return raw;
        args = raw;
        return undefined;
      }
      default:
        reader.skip();
        return undefined;
    }
  });
  if (error !== undefined) return error;
  if (type === IprotoType.EVAL) {
    if (expr === undefined)
      return new ClientError(
        ErrorCode.ER_MISSING_REQUEST_FIELD,
        IPROTO_KEY_NAME.get(IprotoKey.EXPR),
      );
    return { type, sync, schemaVersion, expr, args };
  }
  if (name === undefined) {
    return new ClientError(
      ErrorCode.ER_MISSING_REQUEST_FIELD,
      IPROTO_KEY_NAME.get(IprotoKey.FUNCTION_NAME),
    );
  }
  return {
    type: type === IprotoType.CALL ? IprotoType.CALL : IprotoType.CALL_16,
    sync,
    schemaVersion,
    functionName: name,
    args,
  };
}

/** R11: xrow_decode_auth. The tuple's shape is checked by authenticateChapSha1. */
function decodeAuth(sync: Sync, schemaVersion: number, hasBody: boolean): Request | ClientError {
  if (!hasBody) return invalid('missing request body');
  let userName: string | undefined;
  let tuple: Uint8Array | undefined;
  const error = readUintKeyedBody((key) => {
    if (key === IprotoKey.USER_NAME) {
      if (mpTypeOfByte(reader.peek()) !== MpType.STR) return invalid('packet body');
      userName = reader.readStr();
      return undefined;
    }
    if (key === IprotoKey.TUPLE) {
      const raw = readTyped(MpType.ARRAY);
      if (raw instanceof ClientError) return raw;
      tuple = raw;
      return undefined;
    }
    reader.skip();
    return undefined;
  });
  if (error !== undefined) return error;
  if (userName === undefined)
    return new ClientError(
      ErrorCode.ER_MISSING_REQUEST_FIELD,
      IPROTO_KEY_NAME.get(IprotoKey.USER_NAME),
    );
  if (tuple === undefined)
    return new ClientError(
      ErrorCode.ER_MISSING_REQUEST_FIELD,
      IPROTO_KEY_NAME.get(IprotoKey.TUPLE),
    );
  return { type: IprotoType.AUTH, sync, schemaVersion, userName, tuple };
}

/** R12: xrow_decode_sql. Keys other than SQL_TEXT, SQL_BIND, STMT_ID are skipped. */
function decodeSql(
  type: number,
  sync: Sync,
  schemaVersion: number,
  hasBody: boolean,
): Request | ClientError {
  if (!hasBody) return invalid('missing request body');
  reader.offset = bodyStart;
  if (mpTypeOfByte(reader.peek()) !== MpType.MAP) return invalid('packet body');
  let sqlText: string | undefined;
  let stmtId: number | undefined;
  let bind: Uint8Array = EMPTY_ARRAY;
  const n = reader.readMapHeader();
  for (let i = 0; i < n; i++) {
    const key = reader.peek();
    if (key !== IprotoKey.SQL_TEXT && key !== IprotoKey.SQL_BIND && key !== IprotoKey.STMT_ID) {
      reader.skip();
      reader.skip();
      continue;
    }
    reader.offset++;
    const valueType = mpTypeOfByte(reader.peek());
    if (key === IprotoKey.SQL_TEXT) {
      if (valueType !== MpType.STR) return invalid('packet body');
      sqlText = reader.readStr();
    } else if (key === IprotoKey.STMT_ID) {
      if (valueType !== MpType.UINT) return invalid('packet body');
      stmtId = readUintSaturated(reader);
    } else {
      if (valueType !== MpType.ARRAY) return invalid('packet body');
      bind = reader.readRaw();
    }
  }
  if (sqlText !== undefined && stmtId !== undefined) {
    return invalid('SQL text and statement id are incompatible options in one request: choose one');
  }
  if (sqlText === undefined && stmtId === undefined) {
    return new ClientError(ErrorCode.ER_MISSING_REQUEST_FIELD, 'SQL text or stmt id');
  }
  if (type === IprotoType.PREPARE)
    return { type: IprotoType.PREPARE, sync, schemaVersion, sqlText, stmtId };
  return { type: IprotoType.EXECUTE, sync, schemaVersion, sqlText, stmtId, bind };
}
