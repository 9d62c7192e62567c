// Server reply encoding (PROTOCOL.md §5). Layer: iproto, no I/O.
//
// Every reply has the fixed 28-byte prefix Tarantool writes (and tarantool-driver requires):
//   ce <u32 length> 83 00 ce <u32 status> 01 cf <u64 sync> 05 ce <u32 schema version>
// and always a body: 80 for OK without data, `81 30 dd <u32 count> items…` for data (the count
// is patched after the items are written, so lazy iterables need no second pass), or the
// error map. Replies are appended to one MsgpackWriter that the connection flushes once per
// tick, so pipelined replies leave in one socket write.
//
// Invariant: a reply is written whole or not at all: if encoding throws (an unencodable value
// returned by a handler), the writer is rolled back to the reply's start before rethrowing.
import {
  AssertionError,
  isArrayByte,
  type MsgpackWriter,
  type TarantoolError,
  type Vclock,
} from '@tarantype/core';
import { writeCall16Data } from './call-16.js';
import { errorStatus, writeErrorBody } from './error-encoding.js';
import {
  type Ballot,
  type PrepareResult,
  type SqlColumn,
  type SqlResult,
  type TupleData,
  TupleStream,
} from './port.js';
import { isMsgpackArray, RawMsgpack, writeValue } from './raw-msgpack.js';
import type { Sync } from './request.js';

/** Bytes of the fixed reply prefix (length + header map). */
export const RESPONSE_HEADER_SIZE = 28;

const STATUS_OK = 0;

/** Writes the 28-byte prefix with a zero length; returns the reply's start offset. */
function begin(w: MsgpackWriter, status: number, sync: Sync, schemaVersion: number): number {
  const start = w.length;
  w.ensure(RESPONSE_HEADER_SIZE);
  const b = w.bytes;
  const v = w.view;
  b[start] = 0xce;
  b[start + 5] = 0x83;
  b[start + 6] = 0x00;
  b[start + 7] = 0xce;
  v.setUint32(start + 8, status);
  b[start + 12] = 0x01;
  b[start + 13] = 0xcf;
  if (typeof sync === 'bigint') v.setBigUint64(start + 14, sync);
  else {
    v.setUint32(start + 14, Math.floor(sync / 0x100000000));
    v.setUint32(start + 18, sync >>> 0);
  }
  b[start + 22] = 0x05;
  b[start + 23] = 0xce;
  v.setUint32(start + 24, schemaVersion >>> 0);
  w.length = start + RESPONSE_HEADER_SIZE;
  return start;
}

function finish(w: MsgpackWriter, start: number): void {
  w.view.setUint32(start + 1, w.length - start - 5);
}

/** Runs `body` as one reply; rolls the writer back if it throws. */
function reply(
  w: MsgpackWriter,
  status: number,
  sync: Sync,
  schemaVersion: number,
  body: () => void,
): void {
  const start = begin(w, status, sync, schemaVersion);
  try {
    body();
  } catch (error) {
    w.length = start;
    throw error;
  }
  finish(w, start);
}

/** Starts `81 30 dd <count>`; returns the offset of the count to patch. */
function beginData(w: MsgpackWriter): number {
  w.ensure(7);
  w.bytes[w.length] = 0x81;
  w.bytes[w.length + 1] = 0x30;
  w.bytes[w.length + 2] = 0xdd;
  w.length += 7;
  return w.length - 4;
}

function writeTuple(w: MsgpackWriter, tuple: TupleData): void {
  if (tuple instanceof Uint8Array || tuple instanceof RawMsgpack) {
    const bytes = tuple instanceof RawMsgpack ? tuple.bytes : tuple;
    if (!isMsgpackArray(bytes))
      throw new AssertionError('a tuple in a reply must be a MessagePack array');
    w.raw(bytes);
    return;
  }
  writeValue(w, tuple);
}

/** OK with the empty body `80` (PING, AUTH, unprepare). */
export function writeOk(w: MsgpackWriter, sync: Sync, schemaVersion: number): void {
  const start = begin(w, STATUS_OK, sync, schemaVersion);
  w.byte(0x80);
  finish(w, start);
}

/** The writer a TupleStream emits into (replies are written one at a time). */
let streamTarget: MsgpackWriter | undefined;

function emitStreamed(bytes: Uint8Array, start: number, end: number): void {
  if (!isArrayByte(bytes[start]))
    throw new AssertionError('a tuple in a reply must be a MessagePack array');
  streamTarget!.rawRange(bytes, start, end);
}

/** OK with DATA = the tuples (SELECT, INSERT, REPLACE, UPDATE, DELETE, UPSERT). */
export function writeTuples(
  w: MsgpackWriter,
  sync: Sync,
  schemaVersion: number,
  tuples: Iterable<TupleData> | TupleStream,
): void {
  reply(w, STATUS_OK, sync, schemaVersion, () => {
    const countAt = beginData(w);
    let count = 0;
    if (tuples instanceof TupleStream) {
      // One copy, from the handler's memory into the reply.
      streamTarget = w;
      try {
        count = tuples.forEach(emitStreamed);
      } finally {
        streamTarget = undefined;
      }
    } else if (Array.isArray(tuples)) {
      for (let i = 0; i < tuples.length; i++) writeTuple(w, tuples[i] as TupleData);
      count = tuples.length;
    } else {
      for (const tuple of tuples) {
        writeTuple(w, tuple);
        count++;
      }
    }
    w.view.setUint32(countAt, count);
  });
}

/** OK with DATA = one tuple, or an empty DATA for undefined (DML replies). */
export function writeOptionalTuple(
  w: MsgpackWriter,
  sync: Sync,
  schemaVersion: number,
  tuple: TupleData | undefined,
): void {
  reply(w, STATUS_OK, sync, schemaVersion, () => {
    const countAt = beginData(w);
    if (tuple !== undefined) writeTuple(w, tuple);
    w.view.setUint32(countAt, tuple === undefined ? 0 : 1);
  });
}

/** OK with DATA = the values as they are (CALL, EVAL). */
export function writeValues(
  w: MsgpackWriter,
  sync: Sync,
  schemaVersion: number,
  values: readonly unknown[],
): void {
  reply(w, STATUS_OK, sync, schemaVersion, () => {
    const countAt = beginData(w);
    for (let i = 0; i < values.length; i++) writeValue(w, values[i]);
    w.view.setUint32(countAt, values.length);
  });
}

/** OK with DATA = the values wrapped as tuples (CALL_16). */
export function writeCall16(
  w: MsgpackWriter,
  sync: Sync,
  schemaVersion: number,
  values: readonly unknown[],
): void {
  reply(w, STATUS_OK, sync, schemaVersion, () => {
    const countAt = beginData(w);
    const count = writeCall16Data(w, values);
    w.view.setUint32(countAt, count);
  });
}

/** An error reply. */
export function writeError(
  w: MsgpackWriter,
  sync: Sync,
  schemaVersion: number,
  error: TarantoolError,
): void {
  reply(w, errorStatus(error), sync, schemaVersion, () => writeErrorBody(w, error));
}

function writeVclock(w: MsgpackWriter, vclock: Vclock): void {
  const entries = vclock.entries().filter(([id]) => id !== 0);
  w.mapHeader(entries.length);
  for (const [id, lsn] of entries) {
    w.uint(id);
    w.uint(lsn);
  }
}

/** VOTE: `{0x29: {0x01 is_ro, 0x04 is_loading, 0x02 vclock, 0x03 gc_vclock}}`. */
export function writeBallot(
  w: MsgpackWriter,
  sync: Sync,
  schemaVersion: number,
  ballot: Ballot,
): void {
  reply(w, STATUS_OK, sync, schemaVersion, () => {
    w.byte(0x81);
    w.byte(0x29);
    w.byte(0x84);
    w.byte(0x01);
    w.bool(ballot.is_ro);
    w.byte(0x04);
    w.bool(ballot.is_loading);
    w.byte(0x02);
    writeVclock(w, ballot.vclock);
    w.byte(0x03);
    writeVclock(w, ballot.gc_vclock);
  });
}

/** VOTE_DEPRECATED: `{0x26: vclock}`. */
export function writeVclockReply(
  w: MsgpackWriter,
  sync: Sync,
  schemaVersion: number,
  vclock: Vclock,
): void {
  reply(w, STATUS_OK, sync, schemaVersion, () => {
    w.byte(0x81);
    w.byte(0x26);
    writeVclock(w, vclock);
  });
}

function writeColumns(w: MsgpackWriter, columns: readonly SqlColumn[]): void {
  w.arrayHeader(columns.length);
  for (const c of columns) {
    const extra: Array<[number, unknown]> = [];
    if (c.collation !== undefined) extra.push([2, c.collation]);
    if (c.is_nullable !== undefined) extra.push([3, c.is_nullable]);
    if (c.is_autoincrement !== undefined) extra.push([4, c.is_autoincrement]);
    if (c.span !== undefined) extra.push([5, c.span]);
    w.mapHeader(2 + extra.length);
    w.uint(0);
    w.str(c.name);
    w.uint(1);
    w.str(c.type);
    for (const [key, value] of extra) {
      w.uint(key);
      w.value(value);
    }
  }
}

/** EXECUTE: `{0x32 metadata, 0x30 rows}` or `{0x42 {0 row_count[, 1 ids]}}`. */
export function writeSqlResult(
  w: MsgpackWriter,
  sync: Sync,
  schemaVersion: number,
  result: SqlResult,
): void {
  reply(w, STATUS_OK, sync, schemaVersion, () => {
    if ('metadata' in result) {
      w.byte(0x82);
      w.byte(0x32);
      writeColumns(w, result.metadata);
      w.byte(0x30);
      w.byte(0xdd);
      w.ensure(4);
      const countAt = w.length;
      w.length += 4;
      let count = 0;
      for (const row of result.rows) {
        writeTuple(w, row);
        count++;
      }
      w.view.setUint32(countAt, count);
      return;
    }
    const ids = result.autoincrementIds ?? [];
    w.byte(0x81);
    w.byte(0x42);
    w.mapHeader(ids.length > 0 ? 2 : 1);
    w.uint(0);
    w.uint(result.rowCount);
    if (ids.length > 0) {
      w.uint(1);
      w.arrayHeader(ids.length);
      for (const id of ids) w.int(id);
    }
  });
}

/** PREPARE: `{0x43 stmt_id, 0x34 bind_count, 0x33 bind_metadata[, 0x32 metadata]}`; unprepare → OK. */
export function writePrepareResult(
  w: MsgpackWriter,
  sync: Sync,
  schemaVersion: number,
  result: PrepareResult | undefined,
): void {
  if (result === undefined) {
    writeOk(w, sync, schemaVersion);
    return;
  }
  reply(w, STATUS_OK, sync, schemaVersion, () => {
    w.mapHeader(result.metadata === undefined ? 3 : 4);
    w.byte(0x43);
    w.uint(result.stmtId);
    w.byte(0x34);
    w.uint(result.bindCount);
    w.byte(0x33);
    writeColumns(w, result.bindMetadata);
    if (result.metadata !== undefined) {
      w.byte(0x32);
      writeColumns(w, result.metadata);
    }
  });
}
