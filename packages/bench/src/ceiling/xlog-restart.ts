// The Node ceiling for "restart from xlogs" (issue 14). Layer: bench (dev only).
//
// What it is: the least work a Node program can do to recover a tarantype wal_dir's xlogs
// (packages/wal/FORMAT.md) into memory, measured so that tarantype's own recovery (`Box.cfg`
// on the same directory, in the same run) can be held to ≥ 0.8× of it. It does, per file in
// signature order: large sequential reads (below); the meta header's first two lines (`XLOG`,
// `tarantype-1`) and its end; every block's header checksum (xxh32) and payload checksum
// (xxh64, rule 11: without it a flipped bit would load silently); rule 12 on each row header
// (row count, payload parsed exactly, tsn and commit flag of the transaction, LSN ascending per
// replica id); each row's body far enough to find space id and the tuple's byte range and
// primary key (field 1, unsigned); one copy of each tuple into one arena Buffer that outlives
// the read buffers; and a primary index built in bulk as parallel typed arrays (key, arena
// offset) in key order.
//
// What it leaves out, on purpose (so the ceiling is optimistic, never pessimistic): the snapshot
// (the benchmark's initial one holds only the bootstrap schema), the meta header's checksum,
// Instance, VClock and PrevVClock lines (no vclock bookkeeping beyond each row's LSN, no gap
// check between files), the schema (rows of system spaces, id < 512, are decoded and counted
// but not applied), tuple format checks beyond the key, B+tree nodes (a sorted array is the
// cheapest ordered index there is), a torn tail's truncation (it stops there), force_recovery,
// locks, the journal's reopening. Rows of user spaces other than INSERT raise an error instead
// of being half-applied: the ceiling models the benchmark's path, not all of recovery.
//
// Why large sequential reads (4 MiB, two buffers used in turn, the next read in flight while the
// current chunk is parsed) rather than one whole-file read: after the load the files are in the
// page cache, so reading is a kernel copy; a whole-file read (fs.readFile, or one read(2) of the
// file's size) leaves the main thread idle for that copy and faults in a fresh buffer as large
// as the file, while the chunks' reads overlap the parse and reuse two buffers. Measured on the
// benchmark's 75 MB xlog, that removed ~40 ms of idle wait (of ~0.25 s). A block that crosses a
// chunk boundary is assembled in a small carry buffer (one per boundary).
//
// Invariant: every tuple the index points to is a complete MessagePack array in the arena whose
// first field is the key stored next to its offset, and each space's keys are strictly ascending.
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Hasher, loadHasher, XlogError, xxh32 } from '@tarantype/core';

/** What one timed run did. */
export interface CeilingResult {
  /** Wall time of the whole recovery (listing, reading, checking, copying, indexing), seconds. */
  readonly seconds: number;
  /** Rows decoded in every xlog (system spaces and NOPs included). */
  readonly rows: number;
  /** Tuples now in the arena and indexed (rows of user spaces). */
  readonly tuples: number;
  /** Bytes read from xlog files. */
  readonly bytes: number;
}

/** One user space's primary index: keys ascending, each with its tuple's offset in the arena. */
export interface CeilingIndex {
  readonly count: number;
  readonly keys: Float64Array;
  readonly offsets: Uint32Array;
}

/** The in-memory store the ceiling recovers into. */
export interface CeilingStore {
  /** Tuples' MessagePack bytes back to back; bytes from `arenaBytes` on are unused capacity. */
  readonly arena: Buffer;
  readonly arenaBytes: number;
  /** Primary indexes by space id (user spaces only). */
  readonly spaces: ReadonlyMap<number, CeilingIndex>;
  readonly rows: number;
  readonly tuples: number;
  readonly bytes: number;
}

/** First space id of user spaces (Tarantool's BOX_SYSTEM_ID_MAX + 1). */
const USER_SPACE_ID_MIN = 512;
/** Vclock components (Tarantool's VCLOCK_MAX): replica ids are below it. */
const REPLICA_ID_LIMIT = 32;
/** FORMAT.md rule 5: the meta header's terminating empty line is within this many bytes. */
const META_SIZE_MAX = 4096;
const BLOCK_HEADER_SIZE = 24;
const BLOCK_MAGIC = 0xd5ba0bab;
const EOF_MARKER = 0xd510aded;
/** IPROTO request types and keys used here (../shared/spec/iproto.md). */
const IPROTO_INSERT = 2;
const IPROTO_NOP = 12;
const KEY_REQUEST_TYPE = 0x00;
const KEY_REPLICA_ID = 0x02;
const KEY_LSN = 0x03;
const KEY_TSN = 0x08;
const KEY_FLAGS = 0x09;
const KEY_SPACE_ID = 0x10;
const KEY_TUPLE = 0x21;
const IPROTO_FLAG_COMMIT = 0x01;
/**
 * Bytes per read(2): few syscalls (19 for the benchmark's 75 MB xlog), two buffers reused
 * (no page faults after the first two chunks), and a chunk's parse is long enough to hide the
 * next chunk's read.
 */
const CHUNK_BYTES = 4 << 20;
/** Initial capacity of each index's typed arrays (doubled as needed). */
const INDEX_CAPACITY_INITIAL = 1024;
/** Arena offsets are Uint32: the arena may not exceed this. */
const ARENA_BYTES_MAX = 2 ** 32 - 1;

/** Timed recovery of every xlog in `walDir`: the figure the compare command reports. */
export async function ceilingRestartFromXlogs(walDir: string): Promise<CeilingResult> {
  // The WebAssembly hasher is initialised once per process (Box.cfg in the same process finds
  // it loaded too), so it is outside the timed region.
  const hasher = await loadHasher();
  const started = performance.now();
  const store = await recoverXlogs(walDir, { hasher });
  const seconds = (performance.now() - started) / 1000;
  return { seconds, rows: store.rows, tuples: store.tuples, bytes: store.bytes };
}

export interface RecoverOptions {
  readonly hasher?: Hasher;
  /** Bytes per read (default 4 MiB); at least META_SIZE_MAX, so the first holds the meta header. */
  readonly chunkBytes?: number;
}

/** The recovery itself, returning the store (tests look inside it). */
export async function recoverXlogs(
  walDir: string,
  options: RecoverOptions = {},
): Promise<CeilingStore> {
  const h = options.hasher ?? (await loadHasher());
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
  if (!(Number.isSafeInteger(chunkBytes) && chunkBytes >= META_SIZE_MAX))
    throw new RangeError(`chunkBytes ${chunkBytes} is below ${META_SIZE_MAX}`);
  // 20 zero-padded digits: name order is signature order. `.inprogress` files are never read.
  const names = (await readdir(walDir)).filter((n) => /^\d{20}\.xlog$/.test(n)).sort();
  const paths = names.map((n) => join(walDir, n));
  // Every tuple byte is a byte of some file: the sum of the sizes bounds the arena, so it is
  // allocated once (pages never written are never touched) and grows only if a file grew
  // between this stat and its read.
  const sizes = await Promise.all(paths.map(async (p) => (await stat(p)).size));
  const state = new RecoveryState(
    Math.max(
      1,
      sizes.reduce((sum, size) => sum + size, 0),
    ),
  );
  let bytes = 0;
  // One file at a time, in signature order.
  for (const path of paths) bytes += await recoverFile(state, path, h, chunkBytes);
  const spaces = new Map<number, CeilingIndex>();
  for (const [id, index] of state.spaces) spaces.set(id, index.finish(id));
  return {
    arena: state.arena,
    arenaBytes: state.arenaBytes,
    spaces,
    rows: state.rows,
    tuples: state.tuples,
    bytes,
  };
}

/** A user space's index under construction: appended in arrival order, sorted at the end if needed. */
class IndexBuilder {
  count = 0;
  keys = new Float64Array(INDEX_CAPACITY_INITIAL);
  offsets = new Uint32Array(INDEX_CAPACITY_INITIAL);
  lastKey = -1;
  ascending = true;

  append(key: number, offset: number): void {
    if (this.count === this.keys.length) {
      const keys = new Float64Array(this.keys.length * 2);
      keys.set(this.keys);
      this.keys = keys;
      const offsets = new Uint32Array(this.offsets.length * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
    }
    this.keys[this.count] = key;
    this.offsets[this.count++] = offset;
    if (key <= this.lastKey) this.ascending = false;
    this.lastKey = key;
  }

  /**
   * Keys arrive ascending on the benchmark's path and the arrays are already the index. When
   * they do not, they are sorted here (by key, then arrival) so the result is still a correct
   * ordered index; a repeated key is a duplicate INSERT, which recovery refuses as well.
   */
  finish(spaceId: number): CeilingIndex {
    let keys = this.keys.subarray(0, this.count);
    let offsets = this.offsets.subarray(0, this.count);
    if (!this.ascending) {
      const order = Array.from({ length: this.count }, (_, i) => i);
      order.sort((a, b) => keys[a]! - keys[b]! || a - b);
      keys = Float64Array.from(order, (i) => keys[i]!);
      offsets = Uint32Array.from(order, (i) => offsets[i]!);
      for (let i = 1; i < keys.length; i++) {
        if (keys[i] === keys[i - 1])
          throw new XlogError(
            `duplicate key ${keys[i]} in space ${spaceId} (INSERT of a key present)`,
          );
      }
    }
    return { count: this.count, keys, offsets };
  }
}

class RecoveryState {
  rows = 0;
  tuples = 0;
  arenaBytes = 0;
  readonly spaces = new Map<number, IndexBuilder>();
  /** Last LSN per replica id (rule 12; kept across files, whose rows only ascend). */
  readonly lastLsn = new Float64Array(REPLICA_ID_LIMIT);
  private lastSpaceId = -1;
  private lastIndex: IndexBuilder | undefined;

  arena: Buffer;
  /** Views for 4-byte copies (unaligned access, which typed arrays do not allow). */
  private arenaView: DataView<ArrayBufferLike>;
  private fileView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

  constructor(capacityBytes: number) {
    this.arena = Buffer.allocUnsafeSlow(capacityBytes);
    this.arenaView = new DataView(this.arena.buffer, this.arena.byteOffset, this.arena.length);
  }

  /** The file whose tuples copyTuple copies next. */
  setFile(file: Buffer): void {
    this.fileView = new DataView(file.buffer, file.byteOffset, file.length);
  }

  index(spaceId: number): IndexBuilder {
    if (spaceId === this.lastSpaceId) return this.lastIndex!;
    let index = this.spaces.get(spaceId);
    if (index === undefined) this.spaces.set(spaceId, (index = new IndexBuilder()));
    this.lastSpaceId = spaceId;
    this.lastIndex = index;
    return index;
  }

  /** Copies `file[start, end)` (one tuple) to the arena's end; returns its offset. */
  copyTuple(file: Buffer, start: number, end: number): number {
    const offset = this.arenaBytes;
    const length = end - start;
    if (offset + length > this.arena.length) this.grow(offset + length);
    // Tuples are tens of bytes: below a native call's fixed cost, 4 bytes at a time through
    // DataViews is about twice as fast as a byte loop (measured: 42-byte tuples).
    if (length <= 256) {
      const from = this.fileView;
      const to = this.arenaView;
      let i = 0;
      for (; i + 4 <= length; i += 4) to.setUint32(offset + i, from.getUint32(start + i));
      for (; i < length; i++) to.setUint8(offset + i, from.getUint8(start + i));
    } else file.copy(this.arena, offset, start, end);
    this.arenaBytes = offset + length;
    return offset;
  }

  private grow(needed: number): void {
    if (needed > ARENA_BYTES_MAX) throw new RangeError(`tuples exceed ${ARENA_BYTES_MAX} bytes`);
    const arena = Buffer.allocUnsafeSlow(
      Math.min(ARENA_BYTES_MAX, Math.max(needed, 2 * this.arena.length)),
    );
    this.arena.copy(arena, 0, 0, this.arenaBytes);
    this.arena = arena;
    this.arenaView = new DataView(arena.buffer, arena.byteOffset, arena.length);
  }
}

/**
 * Reads one xlog in `chunkBytes` pieces into two buffers used in turn, the next read in flight
 * while the current chunk is parsed, and recovers its blocks; returns the bytes read.
 */
async function recoverFile(
  state: RecoveryState,
  path: string,
  hasher: Hasher,
  chunkBytes: number,
): Promise<number> {
  const handle = await open(path, 'r');
  let pending: Promise<{ bytesRead: number }> | undefined;
  try {
    const size = (await handle.stat()).size;
    const file = new FileCursor(state, path, size, hasher, chunkBytes);
    const buffers = [Buffer.allocUnsafeSlow(chunkBytes), Buffer.allocUnsafeSlow(chunkBytes)];
    const read = (position: number, buffer: Buffer) =>
      handle.read(buffer, 0, Math.min(chunkBytes, size - position), position);
    let position = 0;
    let turn = 0;
    // An empty file has no meta header: tarantype's recovery removes it when it is the newest
    // file and fails otherwise; the ceiling, which models a clean directory, refuses it.
    if (size === 0) throw new XlogError(`${path}: empty file, no meta header`);
    pending = read(0, buffers[0]!);
    while (pending !== undefined) {
      const chunk = buffers[turn]!;
      const { bytesRead } = await pending;
      if (bytesRead === 0) throw new XlogError(`${path}: file shrank while being read`);
      const chunkOffset = position;
      position += bytesRead;
      // The other buffer held the previous chunk, whose unparsed tail is in the carry by now.
      turn ^= 1;
      pending = position < size ? read(position, buffers[turn]!) : undefined;
      file.chunk(chunk, bytesRead, chunkOffset);
      if (file.eof) break;
    }
    // Bytes left in the carry now are a torn tail (a crash mid-write): recovery truncates them,
    // and nothing of them has been applied.
    return position;
  } finally {
    await pending?.catch(() => undefined); // never close under a read in flight
    await handle.close();
  }
}

/**
 * Parses one file's chunks as they arrive. A block that crosses a chunk boundary is assembled
 * in `carry` (at most one block per boundary: a small copy next to the chunk's reads).
 */
class FileCursor {
  eof = false;
  /** Grows (doubling) only for a block larger than a read. */
  private carry: Buffer;
  private carryLength = 0;
  /** File offset of carry[0]. */
  private carryOffset = 0;

  constructor(
    private readonly state: RecoveryState,
    private readonly path: string,
    private readonly size: number,
    private readonly hasher: Hasher,
    chunkBytes: number,
  ) {
    this.carry = Buffer.allocUnsafeSlow(chunkBytes);
  }

  chunk(chunk: Buffer, length: number, chunkOffset: number): void {
    let position = chunkOffset === 0 ? metaHeaderEnd(chunk.subarray(0, length), this.path) : 0;
    if (this.carryLength > 0) position = this.completeCarry(chunk, length);
    if (this.eof || this.carryLength > 0) return;
    position = this.blocks(chunk, position, length, chunkOffset);
    if (!this.eof) this.append(chunk, position, length, chunkOffset + position);
  }

  /** Blocks of `b[from, to)` (file offset of b[0]: `bOffset`); returns where the first incomplete one starts. */
  private blocks(b: Buffer, from: number, to: number, bOffset: number): number {
    this.state.setFile(b);
    let at = from;
    for (;;) {
      const size = this.blockSize(b, at, to - at, bOffset + at);
      if (size === 0) {
        this.eof = true;
        return to;
      }
      if (size < 0 || at + size > to) return at;
      const start = at + BLOCK_HEADER_SIZE;
      const end = at + size;
      if (this.hasher.h64(b.subarray(start, end)) !== b.readBigUInt64BE(at + 12))
        throw corrupt(this.path, bOffset + at, 'block checksum mismatch');
      const problem = recoverBlock(this.state, b, start, end, b.readUInt32BE(at + 8));
      if (problem !== undefined) throw corrupt(this.path, bOffset + at, problem);
      at = end;
    }
  }

  /**
   * The size of the block at `b[at]` (header included) once its header is checked (rules 7–9);
   * 0 for the EOF marker at the end of the file; -1 when fewer than a header's bytes are there.
   */
  private blockSize(b: Buffer, at: number, available: number, fileOffset: number): number {
    if (available >= 4 && b.readUInt32BE(at) === EOF_MARKER) {
      if (fileOffset + 4 !== this.size)
        throw corrupt(
          this.path,
          fileOffset,
          `${this.size - fileOffset - 4} bytes after the EOF marker`,
        );
      return 0;
    }
    if (available < BLOCK_HEADER_SIZE) return -1;
    if (b.readUInt32BE(at) !== BLOCK_MAGIC) throw corrupt(this.path, fileOffset, 'bad block magic');
    if (xxh32(b, at, at + 20) !== b.readUInt32BE(at + 20))
      throw corrupt(this.path, fileOffset, 'block header checksum mismatch');
    const payloadLength = b.readUInt32BE(at + 4);
    const rowCount = b.readUInt32BE(at + 8);
    if (payloadLength === 0 || rowCount === 0)
      throw corrupt(
        this.path,
        fileOffset,
        `empty block (length ${payloadLength}, rows ${rowCount})`,
      );
    return BLOCK_HEADER_SIZE + payloadLength;
  }

  /** Moves bytes of `chunk` into the carry until it holds its block; returns where that block ends in `chunk`. */
  private completeCarry(chunk: Buffer, length: number): number {
    let position = 0;
    for (;;) {
      const size = this.blockSize(this.carry, 0, this.carryLength, this.carryOffset);
      if (size === 0) {
        this.eof = true;
        return length;
      }
      const wanted = size < 0 ? BLOCK_HEADER_SIZE : size;
      if (size > 0 && this.carryLength >= size) {
        this.carryLength = 0;
        if (this.blocks(this.carry, 0, size, this.carryOffset) !== size)
          throw new RangeError('carried block did not parse whole');
        return position;
      }
      const take = Math.min(wanted - this.carryLength, length - position);
      if (take === 0) return position;
      this.append(chunk, position, position + take, -1);
      position += take;
    }
  }

  /** Appends `chunk[from, to)` to the carry; a fileOffset ≥ 0 starts a new carry there. */
  private append(chunk: Buffer, from: number, to: number, fileOffset: number): void {
    if (fileOffset >= 0) {
      this.carryLength = 0;
      this.carryOffset = fileOffset;
    }
    const needed = this.carryLength + (to - from);
    if (needed > this.carry.length) {
      const carry = Buffer.allocUnsafeSlow(Math.max(needed, 2 * this.carry.length));
      this.carry.copy(carry, 0, 0, this.carryLength);
      this.carry = carry;
    }
    chunk.copy(this.carry, this.carryLength, from, to);
    this.carryLength = needed;
  }
}

function corrupt(path: string, offset: number, reason: string): XlogError {
  return new XlogError(`${reason} in ${path} at offset ${offset}`);
}

/** Offset just past the meta header's empty line, after checking its first two lines. */
function metaHeaderEnd(file: Buffer, path: string): number {
  const limit = Math.min(file.length, META_SIZE_MAX);
  const end = file.subarray(0, limit).indexOf('\n\n');
  if (end < 0) throw new XlogError(`${path}: incomplete or oversized meta header`);
  if (file.toString('latin1', 0, 17) !== 'XLOG\ntarantype-1\n')
    throw new XlogError(`${path}: not a tarantype-1 XLOG file`);
  return end + 2;
}

// ---- A MessagePack reader over one buffer: a cursor object, no objects per value. ----

/** Reads values at `at` in `b`; methods return NaN or -1 for a value of another type. */
class Reader {
  b: Buffer = Buffer.alloc(0);
  at = 0;

  /**
   * An unsigned integer; NaN when the value is not one (or not exact as a double), and then
   * `at` has moved past the type byte only: the caller fails or rewinds.
   */
  uint(): number {
    const b = this.b;
    const c = b[this.at++]!;
    if (c < 0x80) return c;
    const at = this.at;
    switch (c) {
      case 0xcc:
        this.at = at + 1;
        return b[at]!;
      case 0xcd:
        this.at = at + 2;
        return (b[at]! << 8) | b[at + 1]!;
      case 0xce:
        // By hand: Buffer#readUInt32BE's bounds checks showed in the profile (LSNs are uint32).
        this.at = at + 4;
        return b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
      case 0xcf: {
        this.at = at + 8;
        const high = b.readUInt32BE(at);
        return high < 0x200000 ? high * 2 ** 32 + b.readUInt32BE(at + 4) : Number.NaN;
      }
      default:
        return Number.NaN;
    }
  }

  /** Length of a map (fixmap, map16, map32); -1 when the value is not a map. */
  mapHeader(): number {
    const c = this.b[this.at++]!;
    if ((c & 0xf0) === 0x80) return c & 0x0f;
    if (c === 0xde) return this.b.readUInt16BE((this.at += 2) - 2);
    if (c === 0xdf) return this.b.readUInt32BE((this.at += 4) - 4);
    return -1;
  }

  /** Length of an array (fixarray, array16, array32); -1 when the value is not one. */
  arrayHeader(): number {
    const c = this.b[this.at++]!;
    if ((c & 0xf0) === 0x90) return c & 0x0f;
    if (c === 0xdc) return this.b.readUInt16BE((this.at += 2) - 2);
    if (c === 0xdd) return this.b.readUInt32BE((this.at += 4) - 4);
    return -1;
  }

  /** Skips `count` values (iteratively: nesting adds to the count); false on an invalid byte. */
  skip(count: number, end: number): boolean {
    const b = this.b;
    let at = this.at;
    for (let n = count; n > 0; n--) {
      if (at >= end) return false;
      const c = b[at++]!;
      if (c < 0x80 || c >= 0xe0) continue; // fixint
      if (c < 0xc0) {
        if (c < 0x90)
          n += 2 * (c & 0x0f); // fixmap
        else if (c < 0xa0)
          n += c & 0x0f; // fixarray
        else at += c & 0x1f; // fixstr
        continue;
      }
      const size = VALUE_SIZE[c - 0xc0]!;
      if (size >= 0) at += size;
      else if (c === 0xd9 || c === 0xc4)
        at += 1 + b[at]!; // str8, bin8
      else if (c === 0xda || c === 0xc5)
        at += 2 + b.readUInt16BE(at); // str16, bin16
      else if (c === 0xdb || c === 0xc6)
        at += 4 + b.readUInt32BE(at); // str32, bin32
      else if (c === 0xc7)
        at += 2 + b[at]!; // ext8
      else if (c === 0xc8)
        at += 3 + b.readUInt16BE(at); // ext16
      else if (c === 0xc9)
        at += 5 + b.readUInt32BE(at); // ext32
      else if (c === 0xdc)
        n += b.readUInt16BE((at += 2) - 2); // array16
      else if (c === 0xdd)
        n += b.readUInt32BE((at += 4) - 4); // array32
      else if (c === 0xde)
        n += 2 * b.readUInt16BE((at += 2) - 2); // map16
      else if (c === 0xdf)
        n += 2 * b.readUInt32BE((at += 4) - 4); // map32
      else return false; // 0xc1: never used
    }
    this.at = at;
    return at <= end;
  }
}

/**
 * Bytes after the type byte of the fixed-size values 0xc0–0xdf (nil, bool, float, int, fixext);
 * -1 for types with a length field (str, bin, ext, array16/32, map16/32) and 0xc1 (unused).
 */
const VALUE_SIZE = Int8Array.from({ length: 32 }, (_, i) => {
  const c = 0xc0 + i;
  if (c === 0xc0 || c === 0xc2 || c === 0xc3) return 0;
  if (c === 0xca) return 4;
  if (c === 0xcb) return 8;
  if (c >= 0xcc && c <= 0xd3) return 1 << (c & 0x03);
  if (c >= 0xd4 && c <= 0xd8) return 1 + (1 << (c - 0xd4));
  return -1;
});

const reader = new Reader();

/**
 * The rows of one verified payload `b[start, end)`: rule 12 on the headers, INSERTs of user
 * spaces copied and indexed. Returns a description of the first violation, or undefined.
 */
function recoverBlock(
  state: RecoveryState,
  b: Buffer,
  start: number,
  end: number,
  rowCount: number,
): string | undefined {
  const r = reader;
  r.b = b;
  r.at = start;
  let tsn = -1;
  for (let row = 0; row < rowCount; row++) {
    // Row header: type, replica id, lsn, tsn, flags (timestamp and unknown keys skipped).
    let type = -1;
    let replicaId = 0;
    let lsn = 0;
    let tsnDelta = -1;
    let flags = 0;
    const keys = r.mapHeader();
    if (keys < 0) return `row ${row}: header is not a map`;
    for (let k = 0; k < keys; k++) {
      const key = b[r.at++]!;
      if (key === KEY_REQUEST_TYPE) type = r.uint();
      else if (key === KEY_LSN) lsn = r.uint();
      else if (key === KEY_REPLICA_ID) replicaId = r.uint();
      else if (key === KEY_TSN) tsnDelta = r.uint();
      else if (key === KEY_FLAGS) flags = r.uint();
      else if (key >= 0x80 || !r.skip(1, end)) return `row ${row}: malformed header`;
    }
    if (
      !(type >= 0 && lsn > 0 && replicaId < REPLICA_ID_LIMIT && tsnDelta <= lsn && flags >= 0) ||
      r.at > end
    )
      return `row ${row}: malformed header (type ${type}, lsn ${lsn}, replica ${replicaId})`;
    // Rule 12: one transaction per block, the commit flag on its last row only, LSNs ascending.
    const rowTsn = tsnDelta < 0 ? lsn : lsn - tsnDelta;
    const commit = tsnDelta < 0 || (flags & IPROTO_FLAG_COMMIT) !== 0;
    if (row === 0) tsn = rowTsn;
    else if (rowTsn !== tsn) return `row ${row} belongs to another transaction (tsn ${rowTsn})`;
    if (commit !== (row === rowCount - 1)) return `row ${row} has a wrong commit flag`;
    if (lsn <= state.lastLsn[replicaId]!) return `row with LSN ${lsn} not after its replica's last`;
    state.lastLsn[replicaId] = lsn;
    state.rows++;
    const problem = recoverBody(state, r, end, type);
    if (problem !== undefined) return `row ${row} (lsn ${lsn}): ${problem}`;
  }
  return r.at === end ? undefined : `block has ${end - r.at} bytes after its ${rowCount} rows`;
}

/** The body map at the reader: space id and tuple; an INSERT into a user space is stored. */
function recoverBody(
  state: RecoveryState,
  r: Reader,
  end: number,
  type: number,
): string | undefined {
  const keys = r.mapHeader();
  if (keys < 0) return 'body is not a map';
  let spaceId = -1;
  let tupleStart = -1;
  let tupleEnd = -1;
  let key = Number.NaN;
  for (let k = 0; k < keys; k++) {
    const name = r.b[r.at++]!;
    if (name === KEY_SPACE_ID) spaceId = r.uint();
    else if (name === KEY_TUPLE) {
      tupleStart = r.at;
      const fields = r.arrayHeader();
      if (fields < 1) return 'tuple is not a non-empty array';
      const keyAt = r.at;
      key = r.uint();
      // A key that is not an unsigned integer (schema tuples, bad user tuples): skip it whole.
      if (Number.isNaN(key)) r.at = keyAt;
      if (!r.skip(Number.isNaN(key) ? fields : fields - 1, end)) return 'malformed tuple';
      tupleEnd = r.at;
    } else if (name >= 0x80 || !r.skip(1, end)) return 'malformed body';
  }
  if (r.at > end) return 'body runs past the block';
  if (type === IPROTO_NOP || spaceId < USER_SPACE_ID_MIN) return undefined; // schema: not applied
  if (type !== IPROTO_INSERT)
    return `request type ${type} in space ${spaceId}: only INSERT is modelled`;
  if (tupleStart < 0) return 'INSERT without a tuple';
  if (Number.isNaN(key)) return 'primary key (field 1) is not an unsigned integer';
  state.index(spaceId).append(key, state.copyTuple(r.b, tupleStart, tupleEnd));
  state.tuples++;
  return undefined;
}

/** Binary search of `index` for `key`: the tuple's bytes in the arena, or undefined. */
export function lookup(store: CeilingStore, spaceId: number, key: number): Uint8Array | undefined {
  const index = store.spaces.get(spaceId);
  if (index === undefined) return undefined;
  let low = 0;
  let high = index.count - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const k = index.keys[middle]!;
    if (k === key) {
      const start = index.offsets[middle]!;
      const r = new Reader();
      r.b = store.arena;
      r.at = start;
      if (!r.skip(1, store.arenaBytes)) throw new RangeError(`bad tuple at ${start}`);
      return store.arena.subarray(start, r.at);
    }
    if (k < key) low = middle + 1;
    else high = middle - 1;
  }
  return undefined;
}

// CLI: node dist/ceiling/xlog-restart.js DIR prints one JSON line.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.argv[2];
  if (dir === undefined) {
    process.stderr.write('usage: node dist/ceiling/xlog-restart.js WAL_DIR\n');
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(await ceilingRestartFromXlogs(dir))}\n`);
}
