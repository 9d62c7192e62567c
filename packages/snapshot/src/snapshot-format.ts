// Snapshot rows and blocks (FORMAT.md §3–§5): encoding on the writer's hot path and decoding on
// the reader's. Layer: snapshot. Pure: no I/O, no policy about what to do with a bad row.
// The container (meta header, 24-byte block header, EOF marker) is @tarantype/wal's; this file
// fills blocks with snapshot rows by hand instead of through encodeXrow(), because a snapshot
// has millions of rows and building an Xrow object per tuple would double the writer's time.
// snapshot-format.test.ts proves the bytes equal encodeXrow()'s.
// Invariant: a block built here verifies under the container rules (XlogCursor reads it).
import {
  assert,
  GroupId,
  type Hasher,
  IprotoKey,
  IprotoType,
  isArrayByte,
  MP_FIXED_SIZE,
  MP_HEADER_SIZE,
  MP_ITEMS_PER_COUNT,
  MP_TYPE,
  MpType,
  MsgpackError,
  type MsgpackReader,
  mpLengthField,
  RangeCopier,
  TRANSACTION_ROWS_MAX,
  XLOG_BLOCK_SIZE_MAX,
  xxh32,
} from '@tarantype/core';
import { BLOCK_HEADER_SIZE, BLOCK_MAGIC } from '@tarantype/wal';
import { SPACE_ID_MAX } from './snapshot-source.js';

/**
 * Payload size at which the writer closes a block (Tarantool flushes at 128 KiB). 32 KiB: one
 * block is one write() in the thread pool, and on this 2-core machine 128 KiB writes raised the
 * median latency of WAL writes running next to a snapshot several times over, while 32 KiB
 * ones did not slow the snapshot; block headers are still under 0.1% of the file.
 */
export const SNAPSHOT_BLOCK_SIZE_DEFAULT = 32 * 1024;
/** Largest header a snapshot row gets: fixmap, type, group_id, lsn as uint64. */
const ROW_HEADER_SIZE_MAX = 1 + 2 + 2 + 1 + 9;
/** Body bytes before the tuple: fixmap(2), 0x10, ce + uint32 space id, 0x21. */
const BODY_PREFIX_SIZE = 8;

/** One row of a snapshot, as the reader hands it out. */
export interface SnapshotRow {
  /** Space the tuple belongs to (body key 0x10). */
  readonly spaceId: number;
  /** 0, or 1 for is_local spaces (header key 0x07). */
  readonly groupId: number;
  /** Ordinal of the row in the file, from 0 (header key 0x03). */
  readonly lsn: number;
  /**
   * The tuple, a MessagePack array (body key 0x21): a view into the read buffer. The reader
   * walked it whole to find its end, so it is well-formed MessagePack (memtx Space.loadAt).
   */
  readonly tuple: Uint8Array;
}

/**
 * The rows of one block, decoded in place: what the reader decodes a block into, with no
 * object or view per row. Row i is `spaceId(i)`, `groupId(i)`, `lsn(i)` and the tuple
 * `payload[start(i), end(i))`, kept in one Float64Array (one allocation per block); `row()` /
 * `toArray()` make SnapshotRow objects on demand. Invariant: every range is one whole
 * MessagePack array.
 */
export class SnapshotRows {
  count = 0;
  /** Per row: space id, group id, lsn, tuple start, tuple end. */
  private readonly fields: Float64Array;

  /** Room for `capacity` rows (see snapshotRowsCapacity; push() refuses more). */
  constructor(
    readonly payload: Uint8Array,
    capacity: number,
  ) {
    this.fields = new Float64Array(capacity * FIELDS_PER_ROW);
  }

  push(spaceId: number, groupId: number, lsn: number, start: number, end: number): void {
    const at = this.count * FIELDS_PER_ROW;
    const fields = this.fields;
    if (at === fields.length) throw new RangeError(`more than ${this.count} rows in the block`);
    fields[at] = spaceId;
    fields[at + 1] = groupId;
    fields[at + 2] = lsn;
    fields[at + 3] = start;
    fields[at + 4] = end;
    this.count++;
  }

  spaceId(i: number): number {
    return this.fields[i * FIELDS_PER_ROW]!;
  }

  groupId(i: number): number {
    return this.fields[i * FIELDS_PER_ROW + 1]!;
  }

  lsn(i: number): number {
    return this.fields[i * FIELDS_PER_ROW + 2]!;
  }

  /** Offset in `payload` of row i's tuple. */
  start(i: number): number {
    return this.fields[i * FIELDS_PER_ROW + 3]!;
  }

  /** Offset in `payload` just past row i's tuple. */
  end(i: number): number {
    return this.fields[i * FIELDS_PER_ROW + 4]!;
  }

  /** Row `i` as a SnapshotRow (its tuple a view of the payload). */
  row(i: number): SnapshotRow {
    return {
      spaceId: this.spaceId(i),
      groupId: this.groupId(i),
      lsn: this.lsn(i),
      tuple: this.payload.subarray(this.start(i), this.end(i)),
    };
  }

  toArray(): SnapshotRow[] {
    return Array.from({ length: this.count }, (_, i) => this.row(i));
  }
}

const FIELDS_PER_ROW = 5;

/** Fewest bytes a snapshot row takes: header {0x00: INSERT}, body {0x10: id, 0x21: []}. */
const ROW_SIZE_MIN = 3 + 5;

/**
 * Row capacity a block of `payloadLength` bytes declaring `count` rows can need: a block
 * declaring more rows than its bytes can hold fails to decode on the row that runs out of
 * bytes, before anything past this capacity is pushed.
 */
export function snapshotRowsCapacity(payloadLength: number, count: number): number {
  return Math.min(count, Math.floor(payloadLength / ROW_SIZE_MIN));
}

/**
 * Builds one container block of snapshot rows in a reusable buffer. Usage: append() rows, then
 * finish() for the block's bytes (valid until the next reset()/append()), then reset().
 */
export class SnapshotBlockBuilder {
  /** Rows appended since the last reset. */
  rowCount = 0;
  private buffer: Buffer;
  private view: DataView;
  /** Bytes used, block header included. */
  private length = BLOCK_HEADER_SIZE;
  private readonly copier = new RangeCopier();

  constructor(
    private readonly hasher: Hasher,
    capacityBytes: number,
  ) {
    this.buffer = Buffer.allocUnsafe(BLOCK_HEADER_SIZE + capacityBytes + 1024);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  }

  /** Payload bytes so far (rows only, not the block header). */
  get payloadBytes(): number {
    return this.length - BLOCK_HEADER_SIZE;
  }

  reset(): void {
    this.length = BLOCK_HEADER_SIZE;
    this.rowCount = 0;
  }

  /** Appends the INSERT row of `tuple` (FORMAT.md §4). Same bytes as encodeXrow(). */
  append(spaceId: number, groupId: number, lsn: number, tuple: Uint8Array): void {
    this.appendRange(spaceId, groupId, lsn, tuple, 0, tuple.length);
  }

  /** append() of the tuple bytes[start, end) (a cursor's, copied without a view of it). */
  appendRange(
    spaceId: number,
    groupId: number,
    lsn: number,
    bytes: Uint8Array,
    start: number,
    end: number,
  ): void {
    assert(this.rowCount < TRANSACTION_ROWS_MAX, 'snapshot block row count overflow');
    const length = end - start;
    const needed = this.length + ROW_HEADER_SIZE_MAX + BODY_PREFIX_SIZE + length;
    if (needed > this.buffer.length) this.grow(needed);
    const b = this.buffer;
    let p = this.length;
    b[p++] = 0x81 + (groupId !== GroupId.DEFAULT ? 1 : 0) + (lsn !== 0 ? 1 : 0);
    b[p++] = IprotoKey.REQUEST_TYPE;
    b[p++] = IprotoType.INSERT;
    if (groupId !== GroupId.DEFAULT) {
      b[p++] = IprotoKey.GROUP_ID;
      b[p++] = groupId;
    }
    if (lsn !== 0) {
      b[p++] = IprotoKey.LSN;
      p = writeUint(b, this.view, p, lsn);
    }
    b[p++] = 0x82;
    b[p++] = IprotoKey.SPACE_ID;
    b[p++] = 0xce;
    this.view.setUint32(p, spaceId);
    p += 4;
    b[p++] = IprotoKey.TUPLE;
    this.copier.copy(bytes, start, end, b, this.view, p);
    this.length = p + length;
    this.rowCount++;
  }

  /** Fills in the block header; returns the whole block (a view of the internal buffer). */
  finish(): Uint8Array {
    assert(this.rowCount > 0, 'empty snapshot block');
    const payloadLength = this.length - BLOCK_HEADER_SIZE;
    assert(payloadLength <= XLOG_BLOCK_SIZE_MAX, `snapshot block of ${payloadLength} bytes`);
    const view = this.view;
    view.setUint32(0, BLOCK_MAGIC);
    view.setUint32(4, payloadLength);
    view.setUint32(8, this.rowCount);
    view.setBigUint64(12, this.hasher.h64(this.buffer.subarray(BLOCK_HEADER_SIZE, this.length)));
    view.setUint32(20, xxh32(this.buffer, 0, 20));
    return this.buffer.subarray(0, this.length);
  }

  private grow(needed: number): void {
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }
}

/** A MessagePack uint in its smallest form at `p`; returns the new position. */
function writeUint(b: Buffer, view: DataView, p: number, value: number): number {
  if (value < 0x80) {
    b[p] = value;
    return p + 1;
  }
  if (value < 0x100) {
    b[p] = 0xcc;
    b[p + 1] = value;
    return p + 2;
  }
  if (value < 0x10000) {
    b[p] = 0xcd;
    view.setUint16(p + 1, value);
    return p + 3;
  }
  if (value < 0x100000000) {
    b[p] = 0xce;
    view.setUint32(p + 1, value);
    return p + 5;
  }
  b[p] = 0xcf;
  view.setUint32(p + 1, Math.floor(value / 0x100000000));
  view.setUint32(p + 5, value >>> 0);
  return p + 9;
}

/**
 * Decodes the `count` rows filling `payload` (FORMAT.md S3, S4) into `out`. Returns undefined
 * on success, or a description of the first violation (out then holds a prefix: discard it).
 * Ordering and lsn continuity (S5, S6) are the reader's: they span blocks.
 */
export function decodeSnapshotRows(
  reader: MsgpackReader,
  payload: Uint8Array,
  count: number,
  out: SnapshotRows,
): string | undefined {
  if (out.payload !== payload) throw new RangeError('SnapshotRows of another payload');
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let position = 0;
  try {
    for (let i = 0; i < count; i++) {
      // The exact bytes our writer produces take the fast path; anything else (other widths,
      // key orders, extra keys, nested tuples, damage) the general one, which decides.
      const end = decodeRowFast(payload, view, position, out);
      if (end >= 0) {
        position = end;
        continue;
      }
      reader.reset(payload, position);
      const row = decodeRow(reader, payload);
      if (typeof row === 'string') return `row ${i} of the block: ${row}`;
      const start = row.tuple.byteOffset - payload.byteOffset;
      out.push(row.spaceId, row.groupId, row.lsn, start, start + row.tuple.length);
      position = reader.offset;
    }
  } catch (error) {
    if (error instanceof MsgpackError) return `malformed row: ${error.message}`;
    throw error;
  }
  if (position !== payload.length)
    return `block has ${payload.length - position} bytes after its ${count} rows`;
  return undefined;
}

/**
 * decodeSnapshotRows() without the fast path: the reference the tests hold the fast path to
 * (same rows, same verdicts). Not exported from the package.
 */
export function decodeSnapshotRowsReference(
  reader: MsgpackReader,
  payload: Uint8Array,
  count: number,
  out: SnapshotRow[],
): string | undefined {
  reader.reset(payload);
  try {
    for (let i = 0; i < count; i++) {
      const row = decodeRow(reader, payload);
      if (typeof row === 'string') return `row ${i} of the block: ${row}`;
      out.push(row);
    }
  } catch (error) {
    if (error instanceof MsgpackError) return `malformed row: ${error.message}`;
    throw error;
  }
  if (reader.offset !== payload.length)
    return `block has ${payload.length - reader.offset} bytes after its ${count} rows`;
  return undefined;
}

/**
 * The row at `p` if it is laid out exactly as SnapshotBlockBuilder writes it, with a tuple of
 * scalars and strings: pushed to `out`, and its end returned; -1 otherwise, nothing pushed
 * (including when it runs past the payload). Accepts a subset of what decodeRow() accepts,
 * never more.
 */
function decodeRowFast(b: Uint8Array, view: DataView, p: number, out: SnapshotRows): number {
  const end = b.length;
  if (p + 3 > end) return -1;
  const headerMap = b[p]!;
  if (
    headerMap < 0x81 ||
    headerMap > 0x83 ||
    b[p + 1] !== IprotoKey.REQUEST_TYPE ||
    b[p + 2] !== IprotoType.INSERT
  )
    return -1;
  p += 3;
  let keys = headerMap - 0x81;
  let groupId = 0;
  let lsn = 0;
  if (keys > 0 && p + 2 <= end && b[p] === IprotoKey.GROUP_ID) {
    groupId = b[p + 1]!;
    if (groupId > GroupId.LOCAL) return -1;
    p += 2;
    keys--;
  }
  if (keys > 0 && p + 2 <= end && b[p] === IprotoKey.LSN) {
    const t = b[p + 1]!;
    if (t < 0x80) {
      lsn = t;
      p += 2;
    } else if (t === 0xcc && p + 3 <= end) {
      lsn = b[p + 2]!;
      p += 3;
    } else if (t === 0xcd && p + 4 <= end) {
      lsn = view.getUint16(p + 2);
      p += 4;
    } else if (t === 0xce && p + 6 <= end) {
      lsn = view.getUint32(p + 2);
      p += 6;
    } else {
      return -1;
    }
    keys--;
  }
  if (keys !== 0 || p + BODY_PREFIX_SIZE > end) return -1;
  if (
    b[p] !== 0x82 ||
    b[p + 1] !== IprotoKey.SPACE_ID ||
    b[p + 2] !== 0xce ||
    b[p + 7] !== IprotoKey.TUPLE
  )
    return -1;
  const spaceId = view.getUint32(p + 3);
  const start = p + BODY_PREFIX_SIZE;
  const tupleEnd = skipFlatArray(b, start);
  if (tupleEnd < 0) return -1;
  out.push(spaceId, groupId, lsn, start, tupleEnd);
  return tupleEnd;
}

/**
 * End of the array at `p` whose elements are scalars, strings or binaries, bounds-checked
 * against the payload; -1 for anything else (nested values take the full decoder).
 */
function skipFlatArray(b: Uint8Array, p: number): number {
  const end = b.length;
  if (p >= end) return -1;
  const header = b[p]!;
  if (MP_TYPE[header] !== MpType.ARRAY) return -1;
  const h = MP_HEADER_SIZE[header]!;
  if (p + h > end) return -1;
  const n = mpLengthField(b, p);
  p += h;
  for (let k = 0; k < n; k++) {
    if (p >= end) return -1;
    const t = b[p]!;
    const fixed = MP_FIXED_SIZE[t]!;
    if (fixed !== 0) {
      p += fixed;
      continue;
    }
    // A str, bin or ext: a length field after the tag. Containers and 0xc1: not flat.
    const headerSize = MP_HEADER_SIZE[t]!;
    if (MP_ITEMS_PER_COUNT[t] !== 0 || headerSize === 0 || p + headerSize > end) return -1;
    p += headerSize + mpLengthField(b, p);
  }
  return p <= end ? p : -1;
}

function decodeRow(reader: MsgpackReader, payload: Uint8Array): SnapshotRow | string {
  let type = -1;
  let groupId = 0;
  let lsn = 0;
  const headerKeys = reader.readMapHeader();
  for (let k = 0; k < headerKeys; k++) {
    const key = reader.readUint();
    if (key === IprotoKey.REQUEST_TYPE) type = reader.readUint();
    else if (key === IprotoKey.GROUP_ID) groupId = reader.readUint();
    else if (key === IprotoKey.LSN) lsn = reader.readUint();
    else reader.skip();
  }
  if (type !== IprotoType.INSERT) return `type ${type} is not INSERT`;
  if (groupId > GroupId.LOCAL) return `group_id ${groupId} is not 0 or 1`;
  if (reader.readMapHeader() !== 2) return 'body is not a map of space_id and tuple';
  let spaceId = -1;
  let tuple: Uint8Array | undefined;
  for (let k = 0; k < 2; k++) {
    const key = reader.readUint();
    if (key === IprotoKey.SPACE_ID) {
      spaceId = reader.readUint();
      if (spaceId > SPACE_ID_MAX) return `space_id ${spaceId} out of range`;
    } else if (key === IprotoKey.TUPLE) {
      const t = reader.peek();
      if (!isArrayByte(t)) return `tuple is not an array (type 0x${t.toString(16)})`;
      const start = reader.offset;
      reader.skip();
      tuple = payload.subarray(start, reader.offset);
    } else {
      return `unexpected body key 0x${key.toString(16)}`;
    }
  }
  if (spaceId < 0 || tuple === undefined) return 'body lacks space_id or tuple';
  return { spaceId, groupId, lsn, tuple };
}
