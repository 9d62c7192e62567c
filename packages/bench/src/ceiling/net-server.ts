// The "Node ceiling" for the network path of bench:compare (issue 14): a minimal iproto server
// that does only the work no Node server can avoid for netload.lua's requests, so that
// tarantype's figures can be judged against what Node itself allows (target: ≥ 0.8× of this).
// It reads the socket, splits frames by their msgpack size prefix, decodes header and body with a
// hand-written reader specialised to what net.box sends, answers net.box's schema fetch with
// precomputed replies, keeps tuples in a Map<key, Buffer> (each tuple copied once out of the
// socket buffer), appends one WAL block per write request to a batch and writes the batch with
// one write(2) (one write in flight, the next batch accumulating meanwhile; a batch of up to
// SYNC_WRITE_MAX_BYTES_DEFAULT on the main thread, a larger one through libuv's pool, as
// @tarantype/wal's NodeFileSystem writes);
// replies of a batch's writes are sent only after that write completed (wal write mode: no
// fsync). Replies of one socket read go out in one socket.write.
// Deliberately left out, each of which a real server must pay for, so this ceiling is
// optimistic: no B+tree (a hash Map is cheaper than a tree), no access control or AUTH, no schema
// (one space `bench` id 512, index 0 on an unsigned field 1, no field checks), no transactions and
// no rollback (a failed WAL write stops the process), no snapshot, no replication, no recovery.
// WAL bytes are tarantype's (packages/wal/FORMAT.md, @tarantype/wal's checkWalDir reads them):
// meta header, then per request one block (24-byte header, xxh64 of the payload, xxh32 of the
// header) holding one row {type, replica_id, lsn, timestamp} + the request body as received, and
// the EOF marker on close. One block per batch would be cheaper (one checksum pass per batch), but
// the format reads a multi-row block as one multi-row transaction, so that would be other bytes.
// usage: node dist/ceiling/net-server.js --port P --dir D [--wal write|none]
import { closeSync, mkdirSync, openSync, write, writeSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { loadHasher, xxh32 } from '@tarantype/core';
import { SYNC_WRITE_MAX_BYTES_DEFAULT } from '@tarantype/wal';

const USAGE = 'usage: node dist/ceiling/net-server.js --port P --dir D [--wal write|none]';
const SPACE_ID = 512; // space 'bench', as tt-server.lua creates it
const SCHEMA_VERSION = 1; // constant and non-zero: net.box fetches the schema once
const FRAME_BYTES_MAX = 16 << 20; // a larger size prefix closes the connection
const SLAB_BYTES = 64 << 10; // reply buffers are carved out of slabs this big
const BATCH_BYTES_INITIAL = 256 << 10;
// IPROTO_* request types and ER_* codes (Tarantool 2.6 numbers)
const [SELECT, INSERT, REPLACE, UPDATE, PING] = [1, 2, 3, 4, 64];
const [ER_ILLEGAL_PARAMS, ER_TUPLE_FOUND, ER_UNSUPPORTED, ER_INVALID_MSGPACK] = [1, 3, 5, 20];
const [ER_NO_SUCH_INDEX_ID, ER_NO_SUCH_SPACE, ER_NO_SUCH_FIELD_NO] = [35, 36, 37];
const [ER_UNKNOWN_REQUEST_TYPE, ER_CANT_UPDATE_PRIMARY_KEY] = [48, 94];

/** An error reply: {0x00: 0x8000 | code} {0x31: message}. */
class RequestError extends Error {
  code = 0;
}
const error = (code: number, message: string) => Object.assign(new RequestError(message), { code });
const unsupported = (what: string) =>
  error(ER_UNSUPPORTED, `the ceiling server does not support ${what}`);

// ---- msgpack reader: one cursor (rb, rp), numbers as JS numbers ----
let rb: Buffer = Buffer.alloc(0);
let rp = 0;
const invalid = (): never => {
  throw error(ER_INVALID_MSGPACK, `Invalid MsgPack - byte ${rb[rp - 1]} at ${rp - 1}`);
};
/** Advances the cursor by `n` bytes; returns where it was. */
const take = (n: number) => (rp += n) - n;
function readInt(): number {
  const b = rb[rp++]!;
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b === 0xcc) return rb[rp++]!;
  if (b === 0xcd) return rb.readUInt16BE(take(2));
  if (b === 0xce) return rb.readUInt32BE(take(4));
  if (b === 0xcf) return Number(rb.readBigUInt64BE(take(8)));
  if (b === 0xd0) return rb.readInt8(rp++);
  if (b === 0xd1) return rb.readInt16BE(take(2));
  if (b === 0xd2) return rb.readInt32BE(take(4));
  if (b === 0xd3) return Number(rb.readBigInt64BE(take(8)));
  return invalid();
}
const isInt = (b: number) => b < 0x80 || b >= 0xe0 || (b >= 0xcc && b <= 0xd3);
function readArray(): number {
  const b = rb[rp++]!;
  if ((b & 0xf0) === 0x90) return b & 0x0f;
  if (b === 0xdc) return rb.readUInt16BE(take(2));
  if (b === 0xdd) return rb.readUInt32BE(take(4));
  return invalid();
}
function readMap(): number {
  const b = rb[rp++]!;
  if ((b & 0xf0) === 0x80) return b & 0x0f;
  if (b === 0xde) return rb.readUInt16BE(take(2));
  if (b === 0xdf) return rb.readUInt32BE(take(4));
  return invalid();
}
function readStr(): string {
  const b = rb[rp++]!;
  const n =
    (b & 0xe0) === 0xa0
      ? b & 0x1f
      : b === 0xd9
        ? rb[rp++]!
        : b === 0xda
          ? rb.readUInt16BE(take(2))
          : b === 0xdb
            ? rb.readUInt32BE(take(4))
            : invalid();
  rp += n;
  return n === 1 ? String.fromCharCode(rb[rp - 1]!) : rb.toString('utf8', rp - n, rp);
}
/** Skips one value of any type; a value past the frame's end is caught by the caller. */
function skip(): void {
  const b = rb[rp++]!;
  if (b < 0x80 || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3)) return;
  if (b < 0x90) for (let i = (b & 0x0f) * 2; i > 0; i--) skip();
  else if (b < 0xa0) for (let i = b & 0x0f; i > 0; i--) skip();
  else if (b < 0xc0) rp += b & 0x1f;
  else if (b === 0xcc || b === 0xd0) rp += 1;
  else if (b === 0xcd || b === 0xd1) rp += 2;
  else if (b === 0xce || b === 0xd2 || b === 0xca) rp += 4;
  else if (b === 0xcf || b === 0xd3 || b === 0xcb) rp += 8;
  else if (b >= 0xd4 && b <= 0xd8)
    rp += 1 + (1 << (b - 0xd4)); // fixext: type + data
  else if (b === 0xc4 || b === 0xd9) rp += 1 + rb[rp]!;
  else if (b === 0xc5 || b === 0xda) rp += 2 + rb.readUInt16BE(rp);
  else if (b === 0xc6 || b === 0xdb) rp += 4 + rb.readUInt32BE(rp);
  else if (b === 0xc7) rp += 2 + rb[rp]!;
  else if (b === 0xc8) rp += 3 + rb.readUInt16BE(rp);
  else if (b === 0xc9) rp += 5 + rb.readUInt32BE(rp);
  else if (b >= 0xdc && b <= 0xdf) {
    rp--;
    for (let n = b >= 0xde ? readMap() * 2 : readArray(); n > 0; n--) skip();
  } else invalid();
}

// ---- msgpack writer into slabs: bytes handed to socket.write are never written again ----
class Out {
  buf: Buffer;
  start = 0;
  pos = 0;
  constructor(readonly slabBytes = SLAB_BYTES) {
    this.buf = Buffer.allocUnsafe(slabBytes);
  }
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const used = this.pos - this.start;
    const next = Buffer.allocUnsafe(Math.max(this.slabBytes, 2 * (used + n)));
    this.buf.copy(next, 0, this.start, this.pos);
    this.buf = next;
    this.start = 0;
    this.pos = used;
  }
  /** The bytes written since the last take (undefined when none). */
  take(): Buffer | undefined {
    if (this.pos === this.start) return undefined;
    const bytes = this.buf.subarray(this.start, this.pos);
    this.start = this.pos;
    return bytes;
  }
  int(v: number): void {
    this.pos = putInt(this.buf, this.pos, v);
  }
  bytes(src: Buffer, from = 0, to = src.length): void {
    this.pos += src.copy(this.buf, this.pos, from, to);
  }
}
/** Writes `v` in its shortest msgpack form at `p`; returns the position after it. */
function putInt(b: Buffer, p: number, v: number): number {
  if (v >= -32 && v < 0x80) return b.writeInt8(v, p); // positive and negative fixint
  if (v >= 0 && v < 0x100) return b.writeUInt8(v, tag(b, p, 0xcc));
  if (v >= 0 && v < 0x10000) return b.writeUInt16BE(v, tag(b, p, 0xcd));
  if (v >= 0 && v < 2 ** 32) return b.writeUInt32BE(v, tag(b, p, 0xce));
  if (v >= 0) return b.writeBigUInt64BE(BigInt(v), tag(b, p, 0xcf));
  if (v >= -(2 ** 31)) return b.writeInt32BE(v, tag(b, p, 0xd2));
  return b.writeBigInt64BE(BigInt(v), tag(b, p, 0xd3));
}
function tag(b: Buffer, p: number, byte: number): number {
  b[p] = byte;
  return p + 1;
}
/** The bytes putInt writes for `v`. */
function intBytes(v: number): number {
  if (v >= -32 && v < 0x80) return 1;
  if (v >= 0) return v < 0x100 ? 2 : v < 0x10000 ? 3 : v < 2 ** 32 ? 5 : 9;
  return v >= -(2 ** 31) ? 5 : 9;
}

/** Encodes a startup constant (ints, strings, booleans, arrays, string-keyed objects). */
function encode(o: Out, v: unknown): void {
  o.reserve(16);
  if (typeof v === 'number') o.int(v);
  else if (typeof v === 'boolean') o.buf[o.pos++] = v ? 0xc3 : 0xc2;
  else if (typeof v === 'string') {
    const s = Buffer.from(v);
    o.buf[o.pos++] = 0xd9;
    o.buf[o.pos++] = s.length;
    o.reserve(s.length);
    o.bytes(s);
  } else if (Array.isArray(v)) {
    o.buf[o.pos++] = 0xdc;
    o.pos = o.buf.writeUInt16BE(v.length, o.pos);
    for (const item of v) encode(o, item);
  } else {
    const entries = Object.entries(v as object);
    o.buf[o.pos++] = 0xde;
    o.pos = o.buf.writeUInt16BE(entries.length, o.pos);
    for (const [key, value] of entries) {
      encode(o, key);
      encode(o, value);
    }
  }
}
/** The body {0x30: rows} of a schema-fetch reply, built once. */
function dataBody(rows: unknown[]): Buffer {
  const o = new Out();
  o.reserve(2);
  o.buf[o.pos++] = 0x81;
  o.buf[o.pos++] = 0x30;
  encode(o, rows);
  return Buffer.from(o.take()!);
}
const SCHEMA_REPLIES = new Map<number, Buffer>([
  [281, dataBody([[SPACE_ID, 1, 'bench', 'memtx', 0, {}, []]])], // _vspace: empty format
  [289, dataBody([[SPACE_ID, 0, 'primary', 'tree', { unique: true }, [[0, 'unsigned']]]])],
  [277, dataBody([])], // _vcollation: net.box needs none
]);

// ---- replies: prefix 0xce u32, header {0x00 code, 0x01 sync, 0x05 schema}, then the body ----
const REPLY_HEAD_BYTES = 5 + 1 + 4 + 10 + 2;
function replyHead(o: Out, code: number, sync: number, bodyBytes: number): number {
  o.reserve(REPLY_HEAD_BYTES + bodyBytes);
  const start = o.pos;
  o.buf[start] = 0xce; // the u32 size is filled in by replyEnd
  o.pos = putInt(o.buf, o.buf.writeUInt16BE(0x8300, start + 5), code); // {0x00: code,
  o.pos = putInt(o.buf, tag(o.buf, o.pos, 0x01), sync); // 0x01: sync,
  o.pos = o.buf.writeUInt16BE(0x0500 | SCHEMA_VERSION, o.pos); // 0x05: schema version}
  return start;
}
const replyEnd = (o: Out, start: number) => o.buf.writeUInt32BE(o.pos - start - 5, start + 1);
const EMPTY_MAP = Buffer.from([0x80]); // PING's reply body, as Tarantool sends it
function replyBody(o: Out, sync: number, body: Buffer): void {
  const start = replyHead(o, 0, sync, body.length);
  o.bytes(body);
  replyEnd(o, start);
}
function replyTuples(o: Out, sync: number, tuple: Buffer | undefined): void {
  const start = replyHead(o, 0, sync, 3 + (tuple?.length ?? 0));
  o.pos = o.buf.writeUIntBE(tuple === undefined ? 0x813090 : 0x813091, o.pos, 3); // {0x30: [
  if (tuple !== undefined) o.bytes(tuple);
  replyEnd(o, start);
}
function replyError(o: Out, sync: number, error: RequestError): void {
  const text = Buffer.from(error.message);
  const start = replyHead(o, 0x8000 | error.code, sync, 7 + text.length);
  o.pos = o.buf.writeUInt32BE(text.length, o.buf.writeUIntBE(0x8131db, o.pos, 3)); // {0x31: str32
  o.bytes(text);
  replyEnd(o, start);
}

// ---- storage and WAL ----
const tuples = new Map<number, Buffer>();
interface Conn {
  socket: Socket;
  rest: Buffer | undefined; // an incomplete frame from the previous read
  now: Out; // replies sent at the end of the current read
  later: Out; // replies of write requests, sent when their batch is on disk
  queued: boolean; // `later` holds bytes of the current batch
}
interface Batch {
  out: Out; // blocks of one row each, back to back
  rows: number;
  conns: Conn[];
}
function newBatch(): Batch {
  return { out: new Out(BATCH_BYTES_INITIAL), rows: 0, conns: [] };
}
let batch = newBatch();
let spare = newBatch();
let inFlight = false;
let lsn = 0;
let fd = -1;
let hasher: Awaited<ReturnType<typeof loadHasher>>;
let timestamp = 0; // seconds since the epoch, taken once per socket read

/**
 * Appends a row, {type, replica_id 1, lsn, timestamp} + the request body as received, as a block
 * of its own: each request is a transaction, and a block is one transaction (FORMAT.md §3).
 */
function walRow(type: number, body: Buffer, from: number, to: number): void {
  const o = batch.out;
  o.reserve(48 + to - from);
  const block = o.pos;
  // {0x00: type, 0x02: replica_id 1, 0x03: lsn, 0x04: timestamp as a float64}
  o.pos = o.buf.writeUIntBE(0x840000020103 + type * 0x1000000, block + 24, 6);
  o.pos = o.buf.writeDoubleBE(timestamp, o.buf.writeUInt16BE(0x04cb, putInt(o.buf, o.pos, ++lsn)));
  o.bytes(body, from, to);
  const b = o.buf;
  b.writeUInt32BE(0xd5ba0bab, block);
  b.writeUInt32BE(o.pos - block - 24, block + 4);
  b.writeUInt32BE(1, block + 8);
  b.writeBigUInt64BE(hasher.h64(b.subarray(block + 24, o.pos)), block + 12);
  b.writeUInt32BE(xxh32(b, block, block + 20), block + 20);
  batch.rows++;
}

// ---- one request ----
let wal = true;
/** Decodes one frame, b[from, to), and writes its reply. */
function handleFrame(conn: Conn, b: Buffer, from: number, to: number) {
  rb = b;
  rp = from;
  let type = -1;
  let sync = 0;
  for (let n = readMap(); n > 0; n--) {
    const key = readInt();
    if (key === 0x00) type = readInt();
    else if (key === 0x01) sync = readInt();
    else skip();
  }
  const bodyFrom = rp;
  try {
    let space = -1;
    let index = 0;
    let base = 0;
    let limit = 2 ** 32;
    let keyAt = -1;
    let tupleAt = -1;
    if (rp < to)
      for (let n = readMap(); n > 0; n--) {
        const key = readInt();
        if (key === 0x10) space = readInt();
        else if (key === 0x11) index = readInt();
        else if (key === 0x12) limit = readInt();
        else if (key === 0x15) base = readInt();
        else {
          if (key === 0x20) keyAt = rp;
          else if (key === 0x21) tupleAt = rp;
          skip();
        }
      }
    if (rp !== to) invalid();
    if (type === PING) return replyBody(conn.now, sync, EMPTY_MAP);
    if (type !== SELECT && type !== INSERT && type !== REPLACE && type !== UPDATE)
      throw error(ER_UNKNOWN_REQUEST_TYPE, `Unknown request type ${type}`);
    const schemaReply = SCHEMA_REPLIES.get(space);
    if (type === SELECT && schemaReply !== undefined) return replyBody(conn.now, sync, schemaReply);
    if (space !== SPACE_ID) throw error(ER_NO_SUCH_SPACE, `Space '${space}' does not exist`);
    if (index !== 0)
      throw error(ER_NO_SUCH_INDEX_ID, `No index #${index} is defined in space 'bench'`);
    if (type === INSERT || type === REPLACE) {
      if (tupleAt < 0) throw error(ER_ILLEGAL_PARAMS, 'Illegal parameters, tuple');
      rp = tupleAt;
      if (readArray() < 1 || !isInt(rb[rp]!))
        throw unsupported('a tuple without an unsigned field 1');
      const key = readInt();
      if (type === INSERT && tuples.has(key))
        throw error(
          ER_TUPLE_FOUND,
          "Duplicate key exists in unique index 'primary' in space 'bench'",
        );
      rp = tupleAt;
      skip();
      const tuple = Buffer.allocUnsafe(rp - tupleAt); // the one copy out of the socket buffer
      b.copy(tuple, 0, tupleAt, rp);
      tuples.set(key, tuple);
      return writeReply(conn, type, b, bodyFrom, to, sync, tuple);
    }
    if (keyAt < 0) throw error(ER_ILLEGAL_PARAMS, 'Illegal parameters, key');
    rp = keyAt;
    if (readArray() !== 1 || !isInt(rb[rp]!))
      throw unsupported('keys other than one unsigned part');
    const key = readInt();
    const old = tuples.get(key);
    // an UPDATE of a missing key changes nothing, writes no row and returns no tuple
    if (type === SELECT || old === undefined)
      return replyTuples(conn.now, sync, type === SELECT && limit > 0 ? old : undefined);
    if (tupleAt < 0) throw error(ER_ILLEGAL_PARAMS, 'Illegal parameters, operations');
    const tuple = update(old, b, tupleAt, base);
    tuples.set(key, tuple);
    writeReply(conn, UPDATE, b, bodyFrom, to, sync, tuple);
  } catch (thrown) {
    let e = thrown; // a RangeError: a length pointing past the buffer
    if (e instanceof RangeError) e = error(ER_INVALID_MSGPACK, 'Invalid MsgPack - truncated');
    if (!(e instanceof RequestError)) throw e;
    replyError(conn.now, sync, e);
  }
}
/** The reply to a write, sent now without a WAL, else with the batch that holds its row. */
function writeReply(
  c: Conn,
  type: number,
  b: Buffer,
  body: number,
  to: number,
  sync: number,
  t: Buffer,
) {
  if (!wal) return replyTuples(c.now, sync, t);
  walRow(type, b, body, to);
  replyTuples(c.later, sync, t);
  if (!c.queued) {
    c.queued = true;
    batch.conns.push(c);
  }
}
function readIntAt(b: Buffer, at: number): number {
  const [saveB, saveP] = [rb, rp];
  [rb, rp] = [b, at];
  const v = readInt();
  [rb, rp] = [saveB, saveP];
  return v;
}
/** UPDATE with '+' and '=' on integer fields: the new tuple in a buffer of its own. */
function update(old: Buffer, b: Buffer, opsAt: number, base: number): Buffer {
  rb = old;
  rp = 0;
  const count = readArray();
  const bounds = [rp]; // field i is old[bounds[i], bounds[i + 1])
  for (let i = 0; i < count; i++) {
    skip();
    bounds.push(rp);
  }
  const values: (number | undefined)[] = [];
  rb = b;
  rp = opsAt;
  for (let n = readArray(); n > 0; n--) {
    if (readArray() !== 3) throw unsupported('update operations other than [op, field, value]');
    const op = readStr();
    const fieldNo = readInt();
    const at = fieldNo < 0 ? count + fieldNo : fieldNo - base;
    if (at < 0 || at >= count)
      throw error(ER_NO_SUCH_FIELD_NO, `Field ${fieldNo} was not found in the tuple`);
    if (op !== '+' && op !== '=') throw unsupported(`update operation '${op}'`);
    if (!isInt(rb[rp]!)) throw unsupported('non-integer update arguments');
    const arg = readInt();
    if (values[at] === undefined && !isInt(old[bounds[at]!]!))
      throw unsupported('updates of non-integer fields');
    const current = values[at] ?? readIntAt(old, bounds[at]!);
    const next = op === '+' ? current + arg : arg;
    if (!Number.isSafeInteger(next)) throw unsupported('integers beyond 2^53');
    if (at === 0 && next !== current)
      throw error(
        ER_CANT_UPDATE_PRIMARY_KEY,
        "Attempt to modify a tuple field which is part of index 'primary' in space 'bench'",
      );
    values[at] = next;
  }
  let size = bounds[0]!;
  for (let i = 0; i < count; i++)
    size += values[i] === undefined ? bounds[i + 1]! - bounds[i]! : intBytes(values[i]!);
  const tuple = Buffer.allocUnsafe(size);
  let p = old.copy(tuple, 0, 0, bounds[0]);
  for (let i = 0; i < count; i++) {
    const v = values[i];
    p = v === undefined ? p + old.copy(tuple, p, bounds[i], bounds[i + 1]) : putInt(tuple, p, v);
  }
  return tuple;
}

// ---- batches: one fs.write each, one in flight ----
let closing = false;
function flush(): void {
  const sealed = batch;
  batch = spare;
  const o = sealed.out;
  const replies: (Buffer | undefined)[] = [];
  for (const c of sealed.conns) {
    c.queued = false;
    replies.push(c.later.take());
  }
  inFlight = true;
  const done = (error: Error | null, length: number) => {
    if (error !== null || length !== o.pos)
      fail(`WAL write failed: ${error?.message ?? `${length} of ${o.pos} bytes`}`);
    inFlight = false;
    for (let i = 0; i < sealed.conns.length; i++) {
      const socket = sealed.conns[i]!.socket;
      if (!socket.destroyed) socket.write(replies[i]!);
    }
    sealed.conns = [];
    sealed.rows = 0;
    o.pos = 0;
    spare = sealed;
    if (batch.rows > 0) flush();
    else if (closing) finish();
  };
  if (o.pos > SYNC_WRITE_MAX_BYTES_DEFAULT) {
    write(fd, o.buf, 0, o.pos, null, done);
    return;
  }
  let written = 0;
  try {
    while (written < o.pos) written += writeSync(fd, o.buf, written, o.pos - written);
  } catch (error) {
    queueMicrotask(() => done(error as Error, written));
    return;
  }
  queueMicrotask(() => done(null, written));
}
function fail(message: string): never {
  process.stderr.write(`net-server: ${message}\n`);
  process.exit(1);
}

// ---- connections ----
const conns = new Set<Conn>();
// Math.random is enough: nobody authenticates against the salt, and the UUID only names the log.
const random = (n: number) =>
  Buffer.from(Array.from({ length: n }, () => (Math.random() * 256) | 0));
const hex = random(16).toString('hex');
const INSTANCE_UUID = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
/** Two 64-byte lines: version and instance UUID, then a base64 salt of 32 bytes. */
function greeting(): Buffer {
  const line1 = `Tarantool 2.6.0 (Binary) ${INSTANCE_UUID}`.padEnd(63);
  const line2 = random(32).toString('base64').padEnd(63);
  return Buffer.from(`${line1}\n${line2}\n`, 'latin1');
}
function onData(conn: Conn, chunk: Buffer): void {
  const b = conn.rest === undefined ? chunk : Buffer.concat([conn.rest, chunk]);
  let p = 0;
  timestamp = Date.now() / 1000;
  while (p < b.length) {
    const b0 = b[p]!;
    const prefixBytes =
      b0 < 0x80 ? 1 : b0 === 0xcc ? 2 : b0 === 0xcd ? 3 : b0 === 0xce ? 5 : b0 === 0xcf ? 9 : 0;
    if (prefixBytes === 0) {
      drop(conn, `bad frame size prefix 0x${b0.toString(16)}`);
      return;
    }
    if (b.length - p < prefixBytes) break;
    rb = b;
    rp = p;
    const length = readInt();
    if (length > FRAME_BYTES_MAX) {
      drop(conn, `frame of ${length} bytes`);
      return;
    }
    if (b.length - rp < length) break;
    p = rp + length;
    try {
      handleFrame(conn, b, rp, p);
    } catch (error) {
      drop(conn, `bad frame header: ${(error as Error).message}`);
      return;
    }
  }
  conn.rest = p < b.length ? Buffer.from(b.subarray(p)) : undefined;
  const now = conn.now.take();
  if (now !== undefined) conn.socket.write(now);
  if (!inFlight && batch.rows > 0) flush();
}
function drop(conn: Conn, why: string): void {
  process.stderr.write(`net-server: closing a connection: ${why}\n`);
  conn.socket.destroy();
}

// ---- main ----
function usage(message: string): never {
  process.stderr.write(`net-server: ${message}\n${USAGE}\n`);
  process.exit(2);
}
function parseArguments(argv: string[]): { port: number; dir: string; wal: boolean } {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i]!, argv[i + 1]];
    if (!['--port', '--dir', '--wal'].includes(name)) usage(`unknown argument ${name}`);
    if (value === undefined) usage(`${name} needs a value`);
    values.set(name, value);
  }
  const port = Number(values.get('--port'));
  if (!/^\d+$/.test(values.get('--port') ?? '') || port > 65535)
    usage('--port must be an integer 0..65535');
  const dir = values.get('--dir');
  if (dir === undefined || dir === '') usage('--dir is required');
  const mode = values.get('--wal') ?? 'write';
  if (mode !== 'write' && mode !== 'none') usage('--wal must be write or none');
  return { port, dir, wal: mode === 'write' };
}
function finish(): void {
  if (fd >= 0) {
    writeSync(fd, Buffer.from([0xd5, 0x10, 0xad, 0xed])); // the EOF marker: closed cleanly
    closeSync(fd);
  }
  process.exit(0);
}

const options = parseArguments(process.argv.slice(2));
wal = options.wal;
hasher = await loadHasher();
if (wal) {
  mkdirSync(options.dir, { recursive: true });
  const path = `${options.dir}/00000000000000000000.xlog`;
  try {
    fd = openSync(path, 'wx'); // never overwrite an earlier run's log
  } catch (error) {
    fail(`cannot create ${path}: ${(error as Error).message}`);
  }
  const meta = `XLOG\ntarantype-1\nVersion: ceiling net-server (Tarantool 2.6.0 protocol)\nInstance: ${INSTANCE_UUID}\nVClock: {}\nPrevVClock: {}\n`;
  const checksum = hasher.h32(Buffer.from(meta)).toString(16).padStart(8, '0');
  writeSync(fd, `${meta}Checksum: ${checksum}\n\n`);
}
const server = createServer({ noDelay: true }, (socket) => {
  const conn: Conn = { socket, rest: undefined, now: new Out(), later: new Out(), queued: false };
  conns.add(conn);
  socket.write(greeting());
  socket.on('data', (chunk) => onData(conn, chunk));
  socket.on('error', () => socket.destroy());
  socket.on('close', () => conns.delete(conn));
});
server.on('error', (error) => fail(`cannot listen: ${error.message}`));
server.listen(options.port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `listening ${typeof address === 'object' && address !== null ? address.port : options.port}\n`,
  );
});
const stop = () => {
  if (closing) return;
  closing = true;
  server.close();
  for (const conn of conns) conn.socket.destroy();
  if (!inFlight) {
    // rows nobody was acknowledged for are still written, as whole blocks
    if (batch.rows > 0) flush();
    else finish();
  }
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
