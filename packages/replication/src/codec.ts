// Replication packets of Tarantool 2.6 (PROTOCOL.md): JOIN, SUBSCRIBE and their replies, the
// vclock markers, heartbeats, acks, VOTE and its ballot, and the rows of the stream.
// Layer: replication, no I/O. Encoders return one whole frame (0xce + u32 length + header +
// body); decoders take one packet without its length prefix (what FrameDecoder returns) and
// throw ClientError with 2.6's code and text on anything malformed or out of bounds: a peer
// can never make them fail an assertion.
//
// Header encoding is the compact one of xrow_header_encode (core's encodeXrowHeader): only
// present keys, SYNC only when non-zero. Bodies keep 2.6's key order (PROTOCOL.md §3).
import {
  ClientError,
  decodeXrowHeader,
  EMPTY_BODY,
  ErrorCode,
  encodeXrowHeader,
  IPROTO_KEY_MAX,
  IPROTO_TYPE_ERROR,
  IprotoKey,
  IprotoType,
  isArrayByte,
  isUuid,
  LSN_MAX,
  MsgpackError,
  MsgpackReader,
  MsgpackWriter,
  makeXrow,
  NIL_UUID,
  TARANTOOL_VERSION_ID,
  type TarantoolError,
  VCLOCK_MAX,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import { type Ballot, readErrorBody } from '@tarantype/iproto';

/** IPROTO_BALLOT map keys (2.6.0 iproto_constants.h). */
export const BallotKey = { IS_RO: 0x01, VCLOCK: 0x02, GC_VCLOCK: 0x03, IS_LOADING: 0x04 } as const;

/** JOIN request body. 2.6 sends only the instance UUID (2.10 adds SERVER_VERSION). */
export interface JoinRequest {
  readonly instanceUuid: string;
  /** SERVER_VERSION when the peer sent it (2.10+), else undefined. */
  readonly serverVersion: number | undefined;
}

/** SUBSCRIBE request body (xrow_encode_subscribe). */
export interface SubscribeRequest {
  /** CLUSTER_UUID: the replica set the replica believes it belongs to (NIL_UUID if absent). */
  readonly replicasetUuid: string;
  readonly instanceUuid: string;
  /** What the replica already has (component 0 dropped on the wire). */
  readonly vclock: Vclock;
  /** The replica's version id ((major << 16) | (minor << 8) | patch); 0 if absent. */
  readonly serverVersion: number;
  /** REPLICA_ANON; false if absent. */
  readonly anon: boolean;
  /** ID_FILTER: replica ids whose rows the master must not send; empty if absent. */
  readonly idFilter: readonly number[];
}

/** The master's reply to SUBSCRIBE. */
export interface SubscribeResponse {
  /** Header REPLICA_ID: the master's own id, the only way a replica learns it. */
  readonly masterId: number;
  readonly vclock: Vclock;
  /** CLUSTER_UUID of the master's replica set; undefined from masters before 2.1.1. */
  readonly replicasetUuid: string | undefined;
}

function invalid(what: string): ClientError {
  return new ClientError(ErrorCode.ER_INVALID_MSGPACK, what);
}

/** Wraps the writer's content in a frame: 0xce + u32 length, as every 2.6 peer writes. */
function frame(build: (w: MsgpackWriter) => void): Uint8Array {
  const w = new MsgpackWriter(256);
  w.byte(0xce);
  w.byte(0);
  w.byte(0);
  w.byte(0);
  w.byte(0);
  build(w);
  const out = w.toBytes();
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(1, out.length - 5);
  return out;
}

function writeVclock(w: MsgpackWriter, vclock: Vclock): void {
  const entries = vclock.entries().filter(([id]) => id !== 0);
  w.mapHeader(entries.length);
  for (const [id, lsn] of entries) {
    w.uint(id);
    w.uint(lsn);
  }
}

function writeHeader(w: MsgpackWriter, type: number, sync: number, replicaId = 0): void {
  const row = makeXrow(type);
  row.sync = sync;
  row.replica_id = replicaId;
  encodeXrowHeader(w, row);
}

/** One row of the stream with `sync` (the JOIN/SUBSCRIBE request's), body bytes as they are. */
export function encodeRow(row: Xrow, sync = row.sync): Uint8Array {
  return frame((w) => {
    encodeXrowHeader(w, row.sync === sync ? row : { ...row, sync });
    if (row.body.length > 0) w.raw(row.body);
  });
}

/**
 * Appends one frame per row to `w` (reuse one writer per batch: one socket write for many
 * rows instead of one each). Same bytes as encodeRow; `sync` replaces each row's.
 */
export function appendRows(w: MsgpackWriter, rows: readonly Xrow[], sync: number): void {
  for (const row of rows) {
    const start = w.length;
    w.byte(0xce);
    w.byte(0);
    w.byte(0);
    w.byte(0);
    w.byte(0);
    encodeXrowHeader(w, row.sync === sync ? row : { ...row, sync });
    if (row.body.length > 0) w.raw(row.body);
    w.view.setUint32(start + 1, w.length - start - 5);
  }
}

/** JOIN `{INSTANCE_UUID}` (what a 2.6 replica sends; no sync). */
export function encodeJoin(instanceUuid: string, sync = 0): Uint8Array {
  return frame((w) => {
    writeHeader(w, IprotoType.JOIN, sync);
    w.mapHeader(1);
    w.byte(IprotoKey.INSTANCE_UUID);
    w.str(instanceUuid);
  });
}

/** SUBSCRIBE, keys in xrow_encode_subscribe's order; ID_FILTER only when non-empty. */
export function encodeSubscribe(request: SubscribeRequest, sync = 0): Uint8Array {
  return frame((w) => {
    writeHeader(w, IprotoType.SUBSCRIBE, sync);
    w.mapHeader(request.idFilter.length > 0 ? 6 : 5);
    w.byte(IprotoKey.CLUSTER_UUID);
    w.str(request.replicasetUuid);
    w.byte(IprotoKey.INSTANCE_UUID);
    w.str(request.instanceUuid);
    w.byte(IprotoKey.VCLOCK);
    writeVclock(w, request.vclock);
    w.byte(IprotoKey.SERVER_VERSION);
    w.uint(request.serverVersion);
    w.byte(IprotoKey.REPLICA_ANON);
    w.bool(request.anon);
    if (request.idFilter.length > 0) {
      w.byte(IprotoKey.ID_FILTER);
      const ids = [...new Set(request.idFilter)].sort((a, b) => a - b);
      w.arrayHeader(ids.length);
      for (const id of ids) w.uint(id);
    }
  });
}

/** `OK {VCLOCK}`: the three JOIN markers, and the replica's ack (sync 0). */
export function encodeVclockPacket(vclock: Vclock, sync = 0): Uint8Array {
  return frame((w) => {
    writeHeader(w, IprotoType.OK, sync);
    w.mapHeader(1);
    w.byte(IprotoKey.VCLOCK);
    writeVclock(w, vclock);
  });
}

/** The replica's ack: `{0: 0} {VCLOCK: vclock}`. */
export const encodeAck = (vclock: Vclock): Uint8Array => encodeVclockPacket(vclock, 0);

/** SUBSCRIBE reply: header `{0: 0, [1: sync,] 2: master id}`, body `{VCLOCK, CLUSTER_UUID}`. */
export function encodeSubscribeResponse(
  masterId: number,
  vclock: Vclock,
  replicasetUuid: string,
  sync = 0,
): Uint8Array {
  return frame((w) => {
    writeHeader(w, IprotoType.OK, sync, masterId);
    w.mapHeader(2);
    w.byte(IprotoKey.VCLOCK);
    writeVclock(w, vclock);
    w.byte(IprotoKey.CLUSTER_UUID);
    w.str(replicasetUuid);
  });
}

/** Relay heartbeat: header `{0: 0, [1: sync,] 2: master id, 4: now}`, no body. */
export function encodeHeartbeat(masterId: number, timestampS: number, sync = 0): Uint8Array {
  return frame((w) => {
    const row = makeXrow(IprotoType.OK);
    row.sync = sync;
    row.replica_id = masterId;
    row.timestamp = timestampS;
    encodeXrowHeader(w, row);
  });
}

/** VOTE request: `{0: 68}`, no sync, no body (xrow_encode_vote). */
export function encodeVote(sync = 0): Uint8Array {
  return frame((w) => writeHeader(w, IprotoType.VOTE, sync));
}

/** AUTH request of a replica: `{0: 7} {USER_NAME, TUPLE: ['chap-sha1', scramble]}`. */
export function encodeAuth(user: string, scramble: Uint8Array, sync = 0): Uint8Array {
  return frame((w) => {
    writeHeader(w, IprotoType.AUTH, sync);
    w.mapHeader(2);
    w.byte(IprotoKey.USER_NAME);
    w.str(user);
    w.byte(IprotoKey.TUPLE);
    w.arrayHeader(2);
    w.str('chap-sha1');
    // 2.6 sends the scramble as an MP_STR of 20 raw bytes.
    w.strHeader(scramble.length);
    w.raw(scramble);
  });
}

/** A packet of the stream, split: the row (header fields + raw body) and whether it is an error. */
export interface DecodedPacket {
  readonly row: Xrow;
  /** True for `0x8000 | code` packets: `error` then holds the decoded error. */
  readonly isError: boolean;
  readonly error: TarantoolError | undefined;
}

/** Header key value types of 2.6 (iproto_key_type): a key with another type is "packet header". */
const HEADER_KEY_TYPES: Readonly<Record<number, 'uint' | 'double'>> = {
  [IprotoKey.REQUEST_TYPE]: 'uint',
  [IprotoKey.SYNC]: 'uint',
  [IprotoKey.REPLICA_ID]: 'uint',
  [IprotoKey.LSN]: 'uint',
  [IprotoKey.TIMESTAMP]: 'double',
  [IprotoKey.SCHEMA_VERSION]: 'uint',
  [IprotoKey.SERVER_VERSION]: 'uint',
  [IprotoKey.GROUP_ID]: 'uint',
  [IprotoKey.TSN]: 'uint',
  [IprotoKey.FLAGS]: 'uint',
};

/** Validates the header map as xrow_header_decode does, before core's decoder reads it. */
function checkHeader(reader: MsgpackReader): void {
  const probe = new MsgpackReader(reader.bytes, reader.offset, reader.end);
  const n = probe.readMapHeader();
  for (let i = 0; i < n; i++) {
    const t = probe.peek();
    if (!(t < 0x80 || (t >= 0xcc && t <= 0xcf))) throw invalid('packet header');
    const key = probe.readUint();
    if (key >= IPROTO_KEY_MAX) throw invalid('packet header');
    const expected = HEADER_KEY_TYPES[key];
    const v = probe.peek();
    if (expected === 'uint' && !(v < 0x80 || (v >= 0xcc && v <= 0xcf)))
      throw invalid('packet header');
    // MP_DOUBLE only: 2.6 rejects a float32 (MP_FLOAT) timestamp too.
    if (expected === 'double' && v !== 0xcb) throw invalid('packet header');
    probe.skip();
  }
}

/**
 * Decodes one packet (header + optional body, no length prefix). Rules (PROTOCOL.md §2.3):
 * the header is a map of uint keys below 0x53 with 2.6's value types; an LSN above 2^53 − 1 or
 * a TSN delta above the LSN is a bad header; at most one body value filling the packet.
 * Error packets (0x8000 | code) are decoded into `error` (type, code and message from the
 * stack, as the master sent them). replica_id is NOT bounded here: the applier reports a
 * replica_id ≥ 32 with 2.6's ER_UNKNOWN_REPLICA (see checkRowBounds).
 */
export function decodePacket(packet: Uint8Array): DecodedPacket {
  const reader = new MsgpackReader(packet);
  let row: Xrow;
  try {
    checkHeader(reader);
    row = decodeXrowHeader(reader);
  } catch (error) {
    if (error instanceof ClientError) throw error;
    if (error instanceof MsgpackError) throw invalid('packet header');
    throw error;
  }
  if (row.lsn > LSN_MAX) throw invalid('packet header');
  const bodyStart = reader.offset;
  if (reader.remaining > 0) {
    try {
      reader.skip();
    } catch (error) {
      if (error instanceof MsgpackError) throw invalid('packet body');
      throw error;
    }
    if (reader.remaining > 0) throw invalid('packet body');
    row.body = packet.subarray(bodyStart, reader.offset);
  } else {
    row.body = EMPTY_BODY;
  }
  if ((row.type & IPROTO_TYPE_ERROR) !== 0) {
    let error: TarantoolError;
    try {
      error =
        row.body.length > 0
          ? readErrorBody(new MsgpackReader(row.body), row.type)
          : new ClientError(row.type & 0x7fff);
    } catch (cause) {
      if (cause instanceof MsgpackError) throw invalid('packet body');
      throw cause;
    }
    return { row, isError: true, error };
  }
  return { row, isError: false, error: undefined };
}

/** Reads a vclock map as mp_decode_vclock_ignore0, bounded: ids < 32, lsns ≤ 2^53 − 1, no repeats. */
function readVclock(reader: MsgpackReader, what: string): Vclock {
  const vclock = new Vclock();
  let n: number;
  try {
    n = reader.readMapHeader();
  } catch {
    throw invalid(what);
  }
  if (n > VCLOCK_MAX) throw invalid(what);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    let id: number;
    let lsn: number;
    try {
      id = reader.readUint();
      lsn = reader.readUint();
    } catch {
      throw invalid(what);
    }
    if (id >= VCLOCK_MAX || lsn > LSN_MAX || seen.has(id)) throw invalid(what);
    seen.add(id);
    if (id !== 0 && lsn > 0) vclock.set(id, lsn);
  }
  return vclock;
}

function readUuid(reader: MsgpackReader): string {
  const t = reader.peek();
  const isStr = (t & 0xe0) === 0xa0 || t === 0xd9 || t === 0xda || t === 0xdb;
  if (!isStr) throw invalid('UUID');
  const text = reader.readStr();
  if (text.length !== 36 || !isUuid(text)) throw invalid('UUID');
  return text.toLowerCase();
}

interface BodyFields {
  replicasetUuid: string | undefined;
  instanceUuid: string | undefined;
  vclock: Vclock | undefined;
  serverVersion: number | undefined;
  anon: boolean;
  idFilter: number[];
}

/**
 * The body decoder shared by JOIN, SUBSCRIBE, the vclock markers and acks, as 2.6's
 * xrow_decode_subscribe: "request body" without a body; string keys skipped; each known key
 * checked for its type with the detail 2.6 uses ("UUID", "invalid VCLOCK", "invalid VERSION",
 * "invalid REPLICA_ANON flag", "invalid ID_FILTER").
 */
function decodeBody(body: Uint8Array): BodyFields {
  if (body.length === 0) throw invalid('request body');
  const reader = new MsgpackReader(body);
  const fields: BodyFields = {
    replicasetUuid: undefined,
    instanceUuid: undefined,
    vclock: undefined,
    serverVersion: undefined,
    anon: false,
    idFilter: [],
  };
  let n: number;
  try {
    n = reader.readMapHeader();
  } catch {
    throw invalid('request body');
  }
  try {
    for (let i = 0; i < n; i++) {
      const t = reader.peek();
      if (!(t < 0x80 || (t >= 0xcc && t <= 0xcf))) {
        reader.skip();
        reader.skip();
        continue;
      }
      const key = reader.readUint();
      switch (key) {
        case IprotoKey.CLUSTER_UUID:
          fields.replicasetUuid = readUuid(reader);
          break;
        case IprotoKey.INSTANCE_UUID:
          fields.instanceUuid = readUuid(reader);
          break;
        case IprotoKey.VCLOCK:
          fields.vclock = readVclock(reader, 'invalid VCLOCK');
          break;
        case IprotoKey.SERVER_VERSION: {
          const v = reader.peek();
          if (!(v < 0x80 || (v >= 0xcc && v <= 0xcf))) throw invalid('invalid VERSION');
          fields.serverVersion = reader.readUint();
          break;
        }
        case IprotoKey.REPLICA_ANON: {
          const v = reader.peek();
          if (v !== 0xc2 && v !== 0xc3) throw invalid('invalid REPLICA_ANON flag');
          fields.anon = v === 0xc3;
          reader.skip();
          break;
        }
        case IprotoKey.ID_FILTER:
          fields.idFilter = readIdFilter(reader);
          break;
        default:
          reader.skip();
      }
    }
  } catch (error) {
    if (error instanceof MsgpackError) throw invalid('request body');
    throw error;
  }
  if (reader.remaining > 0) throw invalid('request body');
  return fields;
}

function readIdFilter(reader: MsgpackReader): number[] {
  const t = reader.peek();
  if (!isArrayByte(t)) throw invalid('invalid ID_FILTER');
  const n = reader.readArrayHeader();
  if (n > VCLOCK_MAX) throw invalid('invalid ID_FILTER');
  const ids = new Set<number>();
  for (let i = 0; i < n; i++) {
    const v = reader.peek();
    if (!(v < 0x80 || (v >= 0xcc && v <= 0xcf))) throw invalid('invalid ID_FILTER');
    const id = reader.readUint();
    if (id >= VCLOCK_MAX) throw invalid('invalid ID_FILTER');
    ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}

/** JOIN body. A missing INSTANCE_UUID decodes as NIL_UUID (2.6 does so; the relay refuses it). */
export function decodeJoin(body: Uint8Array | undefined): JoinRequest {
  const fields = decodeBody(body ?? EMPTY_BODY);
  return { instanceUuid: fields.instanceUuid ?? NIL_UUID, serverVersion: fields.serverVersion };
}

/** SUBSCRIBE body. */
export function decodeSubscribe(body: Uint8Array | undefined): SubscribeRequest {
  const fields = decodeBody(body ?? EMPTY_BODY);
  return {
    replicasetUuid: fields.replicasetUuid ?? NIL_UUID,
    instanceUuid: fields.instanceUuid ?? NIL_UUID,
    vclock: fields.vclock ?? new Vclock(),
    serverVersion: fields.serverVersion ?? 0,
    anon: fields.anon,
    idFilter: fields.idFilter,
  };
}

/** The VCLOCK of a JOIN marker or of an ack (an empty clock when the key is absent, as 2.6). */
export function decodeVclockBody(body: Uint8Array): Vclock {
  return decodeBody(body).vclock ?? new Vclock();
}

/** SUBSCRIBE reply (the row's header gives the master id). */
export function decodeSubscribeResponse(row: Xrow): SubscribeResponse {
  const fields = decodeBody(row.body);
  return {
    masterId: row.replica_id,
    vclock: fields.vclock ?? new Vclock(),
    replicasetUuid: fields.replicasetUuid,
  };
}

/** `OK {BALLOT: {...}}` as iproto_reply_vote writes it (fixed 28-byte response header). */
export function decodeBallot(body: Uint8Array): Ballot {
  const ballot = { is_ro: false, is_loading: false, vclock: new Vclock(), gc_vclock: new Vclock() };
  if (body.length === 0) throw invalid('packet body');
  const reader = new MsgpackReader(body);
  try {
    const n = reader.readMapHeader();
    let found = false;
    for (let i = 0; i < n && !found; i++) {
      const t = reader.peek();
      if (t < 0x80 || (t >= 0xcc && t <= 0xcf)) {
        if (reader.readUint() === IprotoKey.BALLOT) found = true;
        else reader.skip();
      } else {
        reader.skip();
        reader.skip();
      }
    }
    if (!found) return ballot;
    const m = reader.readMapHeader();
    for (let i = 0; i < m; i++) {
      const t = reader.peek();
      if (!(t < 0x80 || (t >= 0xcc && t <= 0xcf))) {
        reader.skip();
        reader.skip();
        continue;
      }
      const key = reader.readUint();
      switch (key) {
        case BallotKey.IS_RO:
        case BallotKey.IS_LOADING: {
          const v = reader.peek();
          if (v !== 0xc2 && v !== 0xc3) throw invalid('packet body');
          reader.skip();
          if (key === BallotKey.IS_RO) ballot.is_ro = v === 0xc3;
          else ballot.is_loading = v === 0xc3;
          break;
        }
        case BallotKey.VCLOCK:
          ballot.vclock = readVclock(reader, 'packet body');
          break;
        case BallotKey.GC_VCLOCK:
          ballot.gc_vclock = readVclock(reader, 'packet body');
          break;
        default:
          reader.skip();
      }
    }
  } catch (error) {
    if (error instanceof MsgpackError) throw invalid('packet body');
    throw error;
  }
  return ballot;
}

/** The version id this implementation speaks (2.6.0), sent in SUBSCRIBE. */
export const SERVER_VERSION_ID = TARANTOOL_VERSION_ID;

/** True for the DML types a JOIN or a row stream carries (iproto_type_is_dml). */
export function isDmlType(type: number): boolean {
  return (
    (type >= IprotoType.SELECT && type <= IprotoType.DELETE) ||
    type === IprotoType.UPSERT ||
    type === IprotoType.NOP
  );
}

/** True for the synchronous-replication rows CONFIRM (40) and ROLLBACK (41). */
export function isSynchroType(type: number): boolean {
  return type === IprotoType.CONFIRM || type === IprotoType.ROLLBACK;
}
