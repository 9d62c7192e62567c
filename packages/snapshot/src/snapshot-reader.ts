// The streaming snapshot reader: verifies a `.snap` file block by block and hands out its rows.
// Layer: snapshot. FORMAT.md §7 is the specification; rules are cited as S1…S8 and
// "container rule N" (wal/FORMAT.md).
//
// It uses the container's primitives (parseMeta, readBlockHeader, xxh64) but not XlogCursor:
// a snapshot has millions of rows, and decoding them straight into SnapshotRow values instead
// of Xrow objects first halves the load time. Unlike an xlog, a snapshot is all or nothing, so
// the rules are stricter than the cursor's: no torn tail is ever "done" (S7), and
// force_recovery skips damage only after the first user-space row, never inside the system
// spaces. A block's rows are handed out only once the whole block verified.
// Invariant: next() returns undefined only after the EOF marker was reached with every row
// before it verified (or skipped with a warning under force_recovery).
// It never writes, and does not know what a tuple means (memtx checks keys and formats).
//
// Read-ahead: whenever the buffer is refilled, the read of the chunk after it starts at once
// (Prefetch), so the disk read overlaps the decoding of the current chunk and the caller's work
// on its rows instead of the main thread waiting for it. At most two chunks are held besides
// the rows the caller still has: the current buffer and the one being read. Every buffer is
// fresh memory, never written again once rows were cut from it, because rows are views into it.
// A prefetch's failure is kept as a value (a handler is attached when the read starts) and
// thrown only when bytes of that chunk are needed, so the error is the one a plain read of
// those bytes throws, at the same point; a prefetch of bytes that turn out not to be needed
// (a seek to the end of the file, a skip) is dropped, error and all. close() waits for a read
// in flight before it closes the file.

import { basename } from 'node:path';
import { assert, type Hasher, MsgpackReader, type Vclock, XlogError } from '@tarantype/core';
import {
  BLOCK_HEADER_SIZE,
  EOF_MARKER_BYTES,
  type FileHandle,
  type FileSystem,
  type Logger,
  parseMeta,
  parseXlogFileName,
  readBlockHeader,
  silentLogger,
  type XlogMeta,
} from '@tarantype/wal';
import { io } from './io.js';
import { PROGRESS_INTERVAL_DEFAULT_MS, type ProgressHook, ProgressMeter } from './progress.js';
import { invalidNameError } from './snapshot-dir.js';
import {
  decodeSnapshotRows,
  type SnapshotRow,
  SnapshotRows,
  snapshotRowsCapacity,
} from './snapshot-format.js';
import { isSystemSpace, spaceOrderRank } from './snapshot-source.js';

/** Bytes read from the file per refill. */
export const SNAPSHOT_READ_SIZE_DEFAULT_BYTES = 1 << 20;
/** Longest meta header (container rule 5). */
const META_SIZE_MAX = 4096;
/**
 * Bytes kept free in front of a prefetched chunk (at most one read size): a block cut by the
 * chunk boundary gets its head copied there, right before the chunk's bytes, so only that
 * head is copied, not the chunk. Twice the default block size: a head is shorter than a block.
 */
const READ_AHEAD_HEADROOM_BYTES_MAX = 64 * 1024;

export interface SnapshotReaderOptions {
  /** force_recovery: skip damaged user rows (never system rows) with a warning. */
  readonly forceRecovery?: boolean;
  readonly logger?: Logger;
  readonly onProgress?: ProgressHook;
  /** At most one progress call per this many ms (default 1000), plus a final one. */
  readonly progressIntervalMs?: number;
  /**
   * Bytes per read (default 1 MiB). The reader holds two such chunks (the current one and the
   * next, read ahead while the current one is decoded), plus the rows the caller still holds.
   */
  readonly readSizeBytes?: number;
  /**
   * Reuse read memory: the chunk read ahead goes into the memory of the chunk before the
   * current one, so a batch (its rows, `inPlace` and tuple views) is valid only until the next
   * call to next(). For a reader that copies every row before asking for more (recovery):
   * no fresh pages to fault in per chunk. Off by default: rows stay valid for as long as they
   * are held.
   */
  readonly reuseBuffers?: boolean;
}

/** The read of the chunk that follows the buffer, started before its bytes are needed. */
interface Prefetch {
  /** File offset of the chunk's first byte: the end of the buffer when the read started. */
  readonly position: number;
  /** Bytes asked for (the file may have fewer if it shrank). */
  readonly size: number;
  /** Fresh memory: `headroom` free bytes, then the chunk. */
  readonly memory: Uint8Array;
  readonly headroom: number;
  /** Settles once the read is done and never rejects: a failure is a value, thrown when needed. */
  readonly done: Promise<PrefetchResult>;
}

type PrefetchResult =
  | { readonly ok: true; readonly bytesRead: number }
  | { readonly ok: false; readonly error: unknown };

/** The rows of one block. */
export interface SnapshotBatch {
  /** The rows as objects, made on first access from `inPlace`. */
  readonly rows: readonly SnapshotRow[];
  /** The same rows as parallel arrays over the block (what recovery reads: no object per row). */
  readonly inPlace: SnapshotRows;
  /** File offset of the block. */
  readonly offset: number;
}

export interface SnapshotReadStats {
  rows: number;
  /** Rows of system spaces (256–511). A database snapshot without any is not a database. */
  systemRows: number;
  blocks: number;
  /** Damaged regions skipped (force_recovery). */
  skippedRegions: number;
  skippedBytes: number;
  /** Set once the EOF marker was reached: the snapshot is complete. */
  complete: boolean;
}

export class SnapshotReader implements AsyncIterable<SnapshotBatch> {
  readonly stats: SnapshotReadStats = {
    rows: 0,
    systemRows: 0,
    blocks: 0,
    skippedRegions: 0,
    skippedBytes: 0,
    complete: false,
  };

  private buffer: Uint8Array = new Uint8Array(0);
  /** File offset of buffer[0]. */
  private bufferStart = 0;
  private offset: number;
  private closed = false;
  /** The read of the next chunk, in flight or done and not yet taken (read-ahead). */
  private prefetch: Prefetch | undefined;
  /** The whole allocation `buffer` is a view of (options.reuseBuffers hands it on). */
  private bufferMemory: Uint8Array | undefined;
  /** options.reuseBuffers: memory no batch still handed out points into, for the next read ahead. */
  private spare: Uint8Array | undefined;
  private readonly reader = new MsgpackReader(new Uint8Array(0));
  private readonly meter: ProgressMeter;
  private readonly logger: Logger;
  // Verified state (S5, S6), advanced only by whole blocks.
  /** lsn the next row must have; undefined after a skip (then it must only grow). */
  private nextLsn: number | undefined = 0;
  private lastLsn = -1;
  private spaceId = -1;
  private spaceRank = -1;
  private groupId = 0;
  /** A user-space row was read: the system spaces are complete (§7). */
  private userPart = false;

  private constructor(
    readonly path: string,
    readonly meta: XlogMeta,
    private readonly file: FileHandle,
    private readonly fileSize: number,
    headerLength: number,
    private readonly hasher: Hasher,
    private readonly options: SnapshotReaderOptions,
  ) {
    this.offset = headerLength;
    this.logger = options.logger ?? silentLogger;
    this.meter = new ProgressMeter(
      options.onProgress,
      options.progressIntervalMs ?? PROGRESS_INTERVAL_DEFAULT_MS,
      undefined,
      fileSize,
    );
    this.meter.bytes = headerLength;
  }

  /**
   * Opens `path` and checks its meta header (S1, S2). Throws XlogError if the header is
   * incomplete, invalid or of another type, or the name does not match its VClock.
   */
  static async open(
    fs: FileSystem,
    path: string,
    hasher: Hasher,
    options: SnapshotReaderOptions = {},
  ): Promise<SnapshotReader> {
    const file = await io('open', path, fs.open(path, 'read'));
    try {
      const size = await io('fstat', path, file.size());
      const head = new Uint8Array(Math.min(size, META_SIZE_MAX));
      const n = await readFully(file, head, 0, path);
      const parsed = parseMeta(head.subarray(0, n), path, 'SNAP', hasher);
      if (parsed.status === 'incomplete')
        throw new XlogError(
          `snapshot '${path}' is truncated: incomplete meta header at offset 0 (${size} bytes)`,
        );
      const name = parseXlogFileName(basename(path));
      const signature = parsed.meta.vclock.signature();
      if (name !== undefined && name.signature !== signature)
        throw invalidNameError(path, signature, name.signature);
      return new SnapshotReader(path, parsed.meta, file, size, parsed.length, hasher, options);
    } catch (error) {
      await file.close().catch(() => undefined);
      throw error;
    }
  }

  /** The snapshot's vclock (meta header): the state the rows add up to. */
  get vclock(): Vclock {
    return this.meta.vclock;
  }

  /** The next block's rows, or undefined once the snapshot is complete (EOF marker, S7). */
  async next(): Promise<SnapshotBatch | undefined> {
    if (this.stats.complete) return undefined;
    for (;;) {
      const at = this.offset;
      const available = this.fileSize - at;
      if (available <= 0) throw this.noEofMarker(`the file ends at offset ${at}`);
      await this.ensure(at, Math.min(available, BLOCK_HEADER_SIZE));
      const header = readBlockHeader(this.buffer, at - this.bufferStart, available, this.hasher);
      if (header.status === 'eof') {
        if (available > EOF_MARKER_BYTES.length) {
          // Every row before the marker verified: extra bytes damage no row, force_recovery may ignore them.
          const reason = `${available - EOF_MARKER_BYTES.length} bytes after the EOF marker`;
          if (this.options.forceRecovery !== true) throw this.corrupt(reason, at);
          this.logger.warn(`${reason} in ${this.path} at offset ${at}: ignored (force_recovery)`);
        }
        return this.complete();
      }
      if (header.status === 'torn') {
        if (await this.isTornTail(at)) throw this.noEofMarker(`torn block at offset ${at}`);
        await this.skipDamage('bad block magic', at);
        continue;
      }
      if (header.status === 'corrupt') {
        await this.skipDamage(header.reason, at);
        continue;
      }
      const size = BLOCK_HEADER_SIZE + header.payloadLength;
      await this.ensure(at, size);
      const start = at - this.bufferStart + BLOCK_HEADER_SIZE;
      const payload = this.buffer.subarray(start, start + header.payloadLength);
      if (this.hasher.h64(payload) !== header.checksum) {
        await this.skipDamage('block checksum mismatch', at);
        continue;
      }
      const rows = new SnapshotRows(payload, snapshotRowsCapacity(payload.length, header.rowCount));
      const invalid = decodeSnapshotRows(this.reader, payload, header.rowCount, rows);
      if (invalid !== undefined) {
        await this.skipDamage(invalid, at);
        continue;
      }
      const accepted = this.accept(rows, at);
      this.offset = at + size;
      if (!accepted) {
        this.stats.skippedRegions++;
        this.stats.skippedBytes += size;
        continue;
      }
      this.stats.blocks++;
      this.meter.rows = this.stats.rows;
      this.meter.bytes = this.offset;
      this.meter.tick();
      return batchOf(rows, at);
    }
  }

  /** Iterates every block; closes the file at the end, on error and on early exit. */
  async *[Symbol.asyncIterator](): AsyncIterator<SnapshotBatch> {
    try {
      for (let batch = await this.next(); batch !== undefined; batch = await this.next())
        yield batch;
    } finally {
      await this.close();
    }
  }

  /** Every row, one at a time (convenient; iterating batches is faster). */
  async *rows(): AsyncGenerator<SnapshotRow> {
    for await (const batch of this) yield* batch.rows;
  }

  /** Closes the file, after a read-ahead still in flight settled (its bytes are not needed). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The fd must not be closed under a read: its number can be reused by the next open().
    const prefetch = this.prefetch;
    this.prefetch = undefined;
    if (prefetch !== undefined) await prefetch.done;
    await this.file.close();
  }

  /**
   * S5, S6 across the rows of a verified block, then commits them to the reader's state.
   * Returns false when force_recovery drops the block (its lsn goes back: a repeated or
   * misplaced block). An order violation is fatal even with force_recovery: the file was not
   * written by this format's rules, and rows could land in the wrong space.
   */
  private accept(rows: SnapshotRows, at: number): boolean {
    const count = rows.count;
    const firstLsn = rows.lsn(0);
    const expected = this.nextLsn ?? this.lastLsn + 1;
    if (firstLsn < expected) {
      const reason = `row lsn ${firstLsn} after lsn ${this.lastLsn} (a repeated or misplaced block)`;
      this.damaged(reason, at);
      this.logger.warn(
        `${reason} in ${this.path} at offset ${at}: skipping the block (force_recovery)`,
      );
      return false;
    }
    if (firstLsn > expected && this.nextLsn !== undefined) {
      const reason = `row lsn ${firstLsn} where ${expected} was expected (rows missing)`;
      this.damaged(reason, at);
      this.logger.warn(
        `${reason} in ${this.path} at offset ${at}: accepting the block (force_recovery)`,
      );
    }
    let { spaceId, spaceRank, groupId, userPart } = this;
    let systemRows = 0;
    for (let i = 0; i < count; i++) {
      const lsn = rows.lsn(i);
      if (i > 0 && lsn !== rows.lsn(i - 1) + 1)
        throw this.corrupt(`row ${i} of the block has lsn ${lsn} after ${rows.lsn(i - 1)}`, at);
      const rowSpace = rows.spaceId(i);
      if (rowSpace !== spaceId) {
        const rank = spaceOrderRank(rowSpace);
        if (rank <= spaceRank)
          throw this.corrupt(
            `rows of space ${rowSpace} after rows of space ${spaceId} (snapshot order broken)`,
            at,
          );
        spaceId = rowSpace;
        spaceRank = rank;
        groupId = rows.groupId(i);
        if (!isSystemSpace(spaceId)) userPart = true;
      } else if (rows.groupId(i) !== groupId) {
        throw this.corrupt(
          `space ${spaceId} has rows of group_id ${groupId} and ${rows.groupId(i)}`,
          at,
        );
      }
      if (!userPart) systemRows++;
    }
    this.spaceId = spaceId;
    this.spaceRank = spaceRank;
    this.groupId = groupId;
    this.userPart = userPart;
    this.lastLsn = rows.lsn(count - 1);
    this.nextLsn = this.lastLsn + 1;
    this.stats.rows += count;
    this.stats.systemRows += systemRows;
    return true;
  }

  /**
   * Damage at `at`: throws, unless force_recovery may skip it (after the first user-space row,
   * §7): then warns and moves to the next valid block or to the EOF marker at the very end.
   */
  private async skipDamage(reason: string, at: number): Promise<void> {
    this.damaged(reason, at);
    const next = await this.findRecoveryPoint(at + 1);
    if (next === undefined)
      throw this.noEofMarker(`${reason} at offset ${at}, and no valid block after it`);
    this.logger.warn(
      `${reason} in ${this.path} at offset ${at}: skipping ${next - at} bytes (force_recovery)`,
    );
    this.stats.skippedRegions++;
    this.stats.skippedBytes += next - at;
    this.offset = next;
    this.nextLsn = undefined;
  }

  /** Throws for damage unless force_recovery applies to it (after the system spaces). */
  private damaged(reason: string, at: number): void {
    if (this.options.forceRecovery !== true) throw this.corrupt(reason, at);
    if (!this.userPart) {
      throw new XlogError(
        `${reason} in ${this.path} at offset ${at}: the damage may be in system spaces, which force_recovery never skips`,
      );
    }
  }

  private corrupt(reason: string, at: number): XlogError {
    return new XlogError(`${reason} in ${this.path} at offset ${at}`);
  }

  private noEofMarker(detail: string): XlogError {
    return new XlogError(`snapshot ${this.path} has no EOF marker: ${detail}`);
  }

  private complete(): undefined {
    this.stats.complete = true;
    this.meter.rows = this.stats.rows;
    this.meter.bytes = this.fileSize;
    this.meter.finish();
    return undefined;
  }

  /** First offset ≥ `from` holding a block that verifies, or the EOF marker ending the file. */
  private async findRecoveryPoint(from: number): Promise<number | undefined> {
    for (let position = from; position + BLOCK_HEADER_SIZE < this.fileSize; position++) {
      await this.ensure(position, BLOCK_HEADER_SIZE);
      const local = position - this.bufferStart;
      if (this.buffer[local] !== 0xd5 || this.buffer[local + 1] !== 0xba) continue;
      const header = readBlockHeader(this.buffer, local, this.fileSize - position, this.hasher);
      if (header.status !== 'block') continue;
      await this.ensure(position, BLOCK_HEADER_SIZE + header.payloadLength);
      const start = position - this.bufferStart + BLOCK_HEADER_SIZE;
      if (
        this.hasher.h64(this.buffer.subarray(start, start + header.payloadLength)) ===
        header.checksum
      )
        return position;
    }
    const eof = this.fileSize - EOF_MARKER_BYTES.length;
    if (eof < from) return undefined;
    await this.ensure(eof, EOF_MARKER_BYTES.length);
    const local = eof - this.bufferStart;
    for (let i = 0; i < EOF_MARKER_BYTES.length; i++)
      if (this.buffer[local + i] !== EOF_MARKER_BYTES[i]) return undefined;
    return eof;
  }

  /**
   * readBlockHeader() said 'torn'. A tail that starts with a marker or magic prefix, or holds
   * only zeros, is torn (a file that was never finished); zeros followed by anything else are
   * damage (container rules 6, 8).
   */
  private async isTornTail(at: number): Promise<boolean> {
    await this.ensure(at, 1);
    if (this.buffer[at - this.bufferStart] !== 0) return true;
    for (let position = at; position < this.fileSize; ) {
      const n = Math.min(this.fileSize - position, this.readSize);
      await this.ensure(position, n);
      const start = position - this.bufferStart;
      for (let i = start; i < start + n; i++) if (this.buffer[i] !== 0) return false;
      position += n;
    }
    return true;
  }

  private get readSize(): number {
    return this.options.readSizeBytes ?? SNAPSHOT_READ_SIZE_DEFAULT_BYTES;
  }

  /** Makes file bytes [position, position + length) available in the buffer. */
  private async ensure(position: number, length: number): Promise<void> {
    const start = position - this.bufferStart;
    if (start >= 0 && start + length <= this.buffer.length) return;
    const prefetch = this.prefetch;
    if (prefetch === undefined || !(await this.takePrefetch(prefetch, position, length)))
      await this.readAt(position, length);
    this.startPrefetch();
  }

  /**
   * Waits for `prefetch` and makes it the buffer if it holds [position, position + length),
   * alone or after the tail of the buffer (a block cut by the chunk boundary). Returns false
   * when it does not (a seek elsewhere, a block longer than what is buffered, a short read):
   * then the caller reads those bytes itself. Throws the prefetch's error if it failed on
   * bytes that are needed.
   */
  private async takePrefetch(
    prefetch: Prefetch,
    position: number,
    length: number,
  ): Promise<boolean> {
    const result = await prefetch.done;
    if (this.prefetch === prefetch) this.prefetch = undefined;
    const end = position + length;
    const chunkStart = prefetch.position;
    if (!result.ok) {
      if (position < chunkStart + prefetch.size && end > chunkStart) throw result.error;
      return false;
    }
    const { memory, headroom } = prefetch;
    const chunkEnd = chunkStart + result.bytesRead;
    if (end > chunkEnd) return false;
    if (position >= chunkStart) {
      this.buffer = memory.subarray(headroom, headroom + result.bytesRead);
      this.bufferStart = chunkStart;
      this.handOn(memory);
      return true;
    }
    const bufferEnd = this.bufferStart + this.buffer.length;
    if (bufferEnd !== chunkStart || position < this.bufferStart) return false;
    // The head of a block cut by the boundary: copied in front of the chunk (the free headroom
    // of its fresh memory, which no row points into), or, if longer, both into fresh memory.
    const head = this.buffer.subarray(position - this.bufferStart);
    const chunk = memory.subarray(headroom, headroom + result.bytesRead);
    if (head.length <= headroom) {
      memory.set(head, headroom - head.length);
      this.buffer = memory.subarray(headroom - head.length, headroom + result.bytesRead);
      this.handOn(memory);
    } else {
      const merged = freshBytes(head.length + chunk.length);
      merged.set(head, 0);
      merged.set(chunk, head.length);
      this.buffer = merged;
      this.handOn(merged);
    }
    this.bufferStart = position;
    return true;
  }

  /**
   * `memory` now backs the buffer. With reuseBuffers, the memory it replaces becomes the
   * spare: only the previous batch pointed into it, and that batch expired with this call.
   */
  private handOn(memory: Uint8Array): void {
    const previous = this.bufferMemory;
    this.bufferMemory = memory;
    if (this.options.reuseBuffers === true && previous !== undefined && previous !== memory)
      this.spare = previous;
  }

  /** Reads [position, position + length) (at least a read size) into a fresh buffer, now. */
  private async readAt(position: number, length: number): Promise<void> {
    assert(!this.closed, `${this.path}: snapshot reader used after close()`);
    // A fresh buffer per refill: tuples handed out earlier are views into the old one.
    const size = Math.min(Math.max(length, this.readSize), this.fileSize - position);
    const fresh = freshBytes(size);
    const n = await readFully(this.file, fresh, position, this.path);
    if (n < length)
      throw new XlogError(
        `${this.path}: short read at offset ${position} (${n} of ${length} bytes)`,
      );
    this.buffer = fresh.subarray(0, n);
    this.bufferStart = position;
    this.handOn(fresh);
  }

  /** Starts reading the chunk after the buffer, unless the buffer ends the file. */
  private startPrefetch(): void {
    if (this.closed || this.prefetch !== undefined) return;
    const position = this.bufferStart + this.buffer.length;
    const size = Math.min(this.readSize, this.fileSize - position);
    if (size <= 0) return;
    const headroom = Math.min(this.readSize, READ_AHEAD_HEADROOM_BYTES_MAX);
    const spare = this.spare;
    let memory: Uint8Array;
    if (spare !== undefined && spare.length >= headroom + size) {
      this.spare = undefined;
      memory = spare;
    } else {
      memory = freshBytes(headroom + size);
    }
    // The handler is attached here, before anything else runs: a failure nobody waits for
    // (the reader closed, or seeked elsewhere) is never an unhandled rejection.
    const done = readFully(
      this.file,
      memory.subarray(headroom, headroom + size),
      position,
      this.path,
    ).then(
      (bytesRead): PrefetchResult => ({ ok: true, bytesRead }),
      (error: unknown): PrefetchResult => ({ ok: false, error }),
    );
    this.prefetch = { position, size, memory, headroom, done };
  }
}

/**
 * `size` bytes of fresh memory, not zero-filled (every byte used is read or copied first), as
 * a plain Uint8Array view, as public types are.
 */
function freshBytes(size: number): Uint8Array {
  const allocated = Buffer.allocUnsafe(size);
  return new Uint8Array(allocated.buffer, allocated.byteOffset, size);
}

/** Reads until `into` is full or the file ends (short reads are retried). */
async function readFully(
  file: FileHandle,
  into: Uint8Array,
  position: number,
  path: string,
): Promise<number> {
  let total = 0;
  while (total < into.length) {
    const n = await io('read', path, file.read(into, total, into.length - total, position + total));
    if (n === 0) break;
    total += n;
  }
  return total;
}

/** A batch over `rows`, its SnapshotRow objects made once, when first asked for. */
function batchOf(rows: SnapshotRows, offset: number): SnapshotBatch {
  let objects: SnapshotRow[] | undefined;
  return {
    inPlace: rows,
    offset,
    get rows(): SnapshotRow[] {
      objects ??= rows.toArray();
      return objects;
    },
  };
}
