// xrow: one row of the log, as Tarantool names it. Layer: core.
// A row is a header (type, replica_id, group_id, lsn, tsn, timestamp, commit flag) plus a body
// kept as raw MessagePack bytes: the WAL writes it, the relay ships it and the applier applies
// it without ever re-encoding the body. Encoding of the header follows the replication stream
// (../shared/spec/iproto.md §5.5, §5.6): only present keys, in Tarantool's order; TSN and FLAGS
// only for rows of multi-statement transactions.
import { IPROTO_FLAG_COMMIT, IprotoKey } from './iproto-constants.js';
import { MsgpackError, type MsgpackReader, type MsgpackWriter } from './msgpack.js';

export interface Xrow {
  /** IPROTO request type of the change (INSERT, REPLACE, UPDATE, DELETE, UPSERT, NOP …). */
  type: number;
  /** Id of the instance where the change originated; 0 for local rows (group 1). */
  replica_id: number;
  /** Replication group: 0 default, 1 local (is_local spaces, never replicated). */
  group_id: number;
  /** Log sequence number within `replica_id`'s component of the vclock; 0 = not assigned. */
  lsn: number;
  /** LSN of the first row of this row's transaction (equals lsn for single-row ones). */
  tsn: number;
  /** Wall-clock time of the change, seconds since the epoch (double); 0 = absent. */
  timestamp: number;
  /** True on the last row of its transaction. */
  is_commit: boolean;
  /** Request id (iproto only; 0 in files). */
  sync: number;
  /** The body map as raw MessagePack, or an empty array for a row without a body. */
  body: Uint8Array;
}

export const EMPTY_BODY = new Uint8Array(0);

/** A fresh row with every header field at its neutral value. */
export function makeXrow(type: number, body: Uint8Array = EMPTY_BODY): Xrow {
  return {
    type,
    replica_id: 0,
    group_id: 0,
    lsn: 0,
    tsn: 0,
    timestamp: 0,
    is_commit: true,
    sync: 0,
    body,
  };
}

/** Writes the header map of `row` (not the body). */
export function encodeXrowHeader(writer: MsgpackWriter, row: Xrow): void {
  const multi = row.tsn !== row.lsn || !row.is_commit;
  const count =
    1 +
    (row.sync !== 0 ? 1 : 0) +
    (row.replica_id !== 0 ? 1 : 0) +
    (row.group_id !== 0 ? 1 : 0) +
    (row.lsn !== 0 ? 1 : 0) +
    (row.timestamp !== 0 ? 1 : 0) +
    (multi ? 1 : 0) +
    (multi && row.is_commit ? 1 : 0);
  writer.mapHeader(count);
  writer.byte(IprotoKey.REQUEST_TYPE);
  writer.uint(row.type);
  if (row.sync !== 0) {
    writer.byte(IprotoKey.SYNC);
    writer.uint(row.sync);
  }
  if (row.replica_id !== 0) {
    writer.byte(IprotoKey.REPLICA_ID);
    writer.uint(row.replica_id);
  }
  if (row.group_id !== 0) {
    writer.byte(IprotoKey.GROUP_ID);
    writer.uint(row.group_id);
  }
  if (row.lsn !== 0) {
    writer.byte(IprotoKey.LSN);
    writer.uint(row.lsn);
  }
  if (row.timestamp !== 0) {
    writer.byte(IprotoKey.TIMESTAMP);
    writer.double(row.timestamp);
  }
  if (multi) {
    writer.byte(IprotoKey.TSN);
    writer.uint(row.lsn - row.tsn);
    if (row.is_commit) {
      writer.byte(IprotoKey.FLAGS);
      writer.uint(IPROTO_FLAG_COMMIT);
    }
  }
}

/** Writes header then body; a row without a body gets an empty map so files parse uniformly. */
export function encodeXrow(writer: MsgpackWriter, row: Xrow): void {
  encodeXrowHeader(writer, row);
  if (row.body.length === 0) writer.byte(0x80);
  else writer.raw(row.body);
}

/**
 * Reads a header map into a new row (body left empty). Unknown keys are skipped; a known key
 * with a value of the wrong type throws MsgpackError naming the key.
 */
export function decodeXrowHeader(reader: MsgpackReader): Xrow {
  return decodeXrowHeaderInto(reader, makeXrow(0));
}

/**
 * decodeXrowHeader() into `row`, reused (recovery decodes every row of a block into the same
 * few objects): every header field is reset first; `row.body` is left as it was. Returns `row`.
 */
export function decodeXrowHeaderInto(reader: MsgpackReader, row: Xrow): Xrow {
  row.type = 0;
  row.replica_id = 0;
  row.group_id = 0;
  row.lsn = 0;
  row.timestamp = 0;
  row.sync = 0;
  let tsnDelta = -1;
  let flags = 0;
  const n = reader.readMapHeader();
  for (let i = 0; i < n; i++) {
    const key = reader.readUint();
    switch (key) {
      case IprotoKey.REQUEST_TYPE:
        row.type = reader.readUint();
        break;
      case IprotoKey.SYNC:
        row.sync = reader.readUint();
        break;
      case IprotoKey.REPLICA_ID:
        row.replica_id = reader.readUint();
        break;
      case IprotoKey.GROUP_ID:
        row.group_id = reader.readUint();
        break;
      case IprotoKey.LSN:
        row.lsn = reader.readUint();
        break;
      case IprotoKey.TIMESTAMP:
        row.timestamp = readNumber(reader);
        break;
      case IprotoKey.TSN:
        tsnDelta = reader.readUint();
        break;
      case IprotoKey.FLAGS:
        flags = reader.readUint();
        break;
      default:
        reader.skip();
    }
  }
  if (tsnDelta < 0) {
    row.tsn = row.lsn;
    row.is_commit = true;
  } else {
    if (tsnDelta > row.lsn)
      throw new MsgpackError(`row TSN delta ${tsnDelta} exceeds its LSN ${row.lsn}`);
    row.tsn = row.lsn - tsnDelta;
    row.is_commit = (flags & IPROTO_FLAG_COMMIT) !== 0;
  }
  return row;
}

function readNumber(reader: MsgpackReader): number {
  const t = reader.peek();
  return t === 0xca || t === 0xcb ? reader.readDouble() : reader.readInt();
}

/** Reads a header and the body that follows it (the body's raw bytes are a view, not a copy). */
export function decodeXrow(reader: MsgpackReader): Xrow {
  const row = decodeXrowHeader(reader);
  if (reader.remaining > 0) row.body = reader.readRaw();
  return row;
}
