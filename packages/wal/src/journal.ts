// The journal: the write-ahead log writer with group commit. Layer: wal.
//
// submit(rows) queues one transaction and resolves when it is written (wal_mode 'write': the
// kernel has it) or synced ('fsync': on the device). Everything submitted while a write is in
// flight goes out in the next single write() (+ one fdatasync in fsync mode): that is group
// commit, and it is why callers must not await one transaction before submitting the next.
// Disk I/O is asynchronous (libuv thread pool), so new transactions keep arriving and batching
// while a write or sync is in flight.
//
// Invariants:
// - The file holds only whole transactions: a failed write or sync is truncated back to the
//   end of the last whole transaction, and the truncation synced, before anything else is
//   written (a failed sync is never retried: its pages may be lost, "fsyncgate").
// - `vclock` advances only when a batch is written; rows of a failed batch never count.
// - A failed batch rejects its transactions (ER_WAL_IO) and every transaction queued behind it
//   (ER_CASCADE_ROLLBACK): callers applied those changes in memory before submitting, later
//   ones may depend on earlier ones, so all are undone. Rejections are delivered newest first so
//   undo handlers run in reverse order.
// It knows nothing of spaces or tuples: rows are opaque bodies with headers.

import { join } from 'node:path';
import {
  ClientError,
  ER_CASCADE_ROLLBACK,
  ErrorCode,
  GroupId,
  type Hasher,
  type MsgpackWriter,
  SystemError,
  TRANSACTION_ROWS_MAX,
  Vclock,
  XlogError,
  type Xrow,
} from '@tarantype/core';
import type { FileHandle, FileSystem } from './file-system.js';
import { type Logger, silentLogger } from './logger.js';
import { XlogCursor } from './xlog-cursor.js';
import {
  BlockEncoder,
  EOF_MARKER_BYTES,
  encodeMeta,
  INPROGRESS_SUFFIX,
  newBatchWriter,
  xlogFileName,
} from './xlog-format.js';

export type WalMode = 'none' | 'write' | 'fsync';

export const WAL_MAX_SIZE_DEFAULT = 256 * 1024 * 1024;
export const WAL_QUEUE_MAX_SIZE_DEFAULT = 16 * 1024 * 1024;
export const TOO_LONG_THRESHOLD_DEFAULT_MS = 500;

export interface JournalOptions {
  readonly fs: FileSystem;
  readonly dir: string;
  readonly hasher: Hasher;
  readonly instanceUuid: string;
  /** This instance's replica id (0 until it has one); local rows take LSNs from this component. */
  readonly instanceId: number;
  /** The recovered vclock: new files start here. */
  readonly vclock: Vclock;
  /** VClock of the newest existing xlog: PrevVClock of the first file this journal creates. */
  readonly prevVclock?: Vclock;
  readonly mode: WalMode;
  /** wal_max_size: rotate before a batch would take the file past this many bytes. */
  readonly maxSizeBytes?: number;
  /** wal_queue_max_size: bytes queued before submit() waits for room (backpressure). */
  readonly queueMaxSizeBytes?: number;
  /** too_long_threshold: a write+sync slower than this is logged. */
  readonly tooLongThresholdMs?: number;
  readonly logger?: Logger;
  /** Seconds since the epoch for row timestamps (tests pin it). */
  readonly now?: () => number;
  /** Called once when a write fails with ENOSPC; resolves true if it freed space (retry once). */
  readonly onNoSpace?: () => Promise<boolean>;
  /**
   * Initial capacity of each of the two batch buffers (they grow as needed); default 1 MiB.
   * A simulator starting thousands of small journals passes a few KiB.
   */
  readonly batchBufferBytes?: number;
}

/** Where committed data ends: followers read a file being written only up to `offset`. */
export interface WalPosition {
  readonly path: string;
  readonly signature: number;
  readonly offset: number;
  /** True once the file is closed (EOF marker written): read it to its end. */
  readonly closed: boolean;
}

export interface JournalStats {
  /** write() calls (batches). */
  writes: number;
  /** fdatasync calls on xlog data (fsync mode). */
  syncs: number;
  transactions: number;
  rows: number;
  bytes: number;
  rotations: number;
  failedBatches: number;
}

/**
 * One batch the journal wrote (group commit): what a metrics exporter histograms. Times are
 * milliseconds of wall clock around the awaited calls (they include the thread pool's queue).
 */
export interface WalBatchSample {
  /** The batch's write() (pwrite of every block, one call). */
  readonly writeMs: number;
  /** Its fdatasync (wal_mode fsync); undefined in wal_mode write. */
  readonly syncMs: number | undefined;
  /** Transactions in the batch (the group-commit batch size). */
  readonly transactions: number;
  readonly rows: number;
  readonly bytes: number;
}

/**
 * Told of every batch written (see Journal.observe). Called in the writer's tick after the
 * batch's transactions resolved: it must be quick and must not throw.
 */
export interface JournalObserver {
  batchWritten(sample: WalBatchSample): void;
}

/** Called once per transaction: with undefined once durable, with the error when it failed. */
export type SubmitDone = (error: Error | undefined) => void;

interface Entry {
  readonly rows: Xrow[];
  /** Estimated bytes before admission, exact encoded bytes after. */
  bytes: number;
  readonly done: SubmitDone;
}

/** Calls every entry's `done` in one microtask, in order (as promise reactions would run). */
function settle(entries: readonly Entry[], error: (i: number) => Error | undefined): void {
  queueMicrotask(() => {
    for (let i = 0; i < entries.length; i++) entries[i]!.done(error(i));
  });
}

interface OpenFile {
  readonly handle: FileHandle;
  readonly path: string;
  readonly signature: number;
  readonly vclock: Vclock;
  /** End of the last whole transaction. */
  offset: number;
  /** Transactions written to this file. */
  transactions: number;
  /** Offset of this file's last skip point (see Journal.skipPoint). */
  skipPointOffset: number;
}

/** A journal records a skip point every this many bytes of a file (see WalWriter.skipPoint). */
export const SKIP_POINT_EVERY_BYTES = 1 << 20;
/** Skip points kept at most (the oldest go first): 4 GiB of recent WAL at the default spacing. */
const SKIP_POINTS_MAX = 4096;

interface SkipPoint {
  readonly path: string;
  readonly offset: number;
  /** The journal's vclock when `offset` was the file's end: every row before it is at or below. */
  readonly vclock: Vclock;
}

/**
 * The WAL writer as the database sees it: a port, so the writer can move to a worker thread
 * (or be replaced in tests) without box or the follower changing. Journal implements it.
 */
export interface WalWriter {
  /** Durable rows so far (what replay would recover), by replica id. */
  readonly vclock: Vclock;
  readonly mode: WalMode;
  /** Writes, syncs, rows, bytes, rotations so far (box.stat, metrics). */
  readonly stats: JournalStats;
  /**
   * Queues one transaction; resolves once written (mode 'write') or synced ('fsync'). Rows
   * with replica_id 0 get this instance's id and the next LSN; other rows keep theirs. The row
   * objects and their body bytes must not change after submit: followers keep them (onCommit).
   */
  submit(rows: Xrow[]): Promise<void>;
  /**
   * submit() with a callback instead of a promise, for the hot path whose caller makes the one
   * promise its own caller awaits. `done` is called once, never synchronously: with undefined
   * when durable, with the error when the transaction failed.
   */
  submitWith(rows: Xrow[], done: SubmitDone): void;
  /** Closes the current file after what is queued; the next write starts a new one. */
  rotate(): Promise<void>;
  /** Creates the current file now if there is none (a checkpoint's xlog starts at its vclock). */
  openFile(): Promise<void>;
  /** Resolves when everything queued so far is written. */
  drain(): Promise<void>;
  /** Writes what is queued, closes the file with its EOF marker; later submits fail. */
  close(): Promise<void>;
  /** The file being appended to and its committed end (followers read up to it). */
  position(): WalPosition | undefined;
  /** Calls `listener` after every write and file close; returns the unsubscribe function. */
  onWrite(listener: (position: WalPosition) => void): () => void;
  /**
   * Calls `listener` with the transactions of every successful write, in WAL order, before
   * the onWrite listeners: followers serve live rows from memory instead of re-reading the
   * file. The rows (and their body bytes) are the journal's: listeners must not change them.
   */
  onCommit(listener: (transactions: readonly (readonly Xrow[])[]) => void): () => void;
  /**
   * A block boundary of `path` before which every row is at or below `from`, as far into the
   * file as this writer remembers (it notes one every SKIP_POINT_EVERY_BYTES it writes), or
   * undefined: a follower starts reading there instead of at the file's first row. Optional:
   * a writer that keeps no such points makes followers read from the start.
   */
  skipPoint?(path: string, from: Vclock): number | undefined;
  /**
   * Tells `observer` of every batch written, with its write and sync times; returns the
   * unsubscribe function. Without observers the writer takes no timings.
   */
  observe(observer: JournalObserver): () => void;
}

export class Journal implements WalWriter {
  /** The vclock of everything written so far. */
  readonly vclock: Vclock;
  readonly stats: JournalStats = {
    writes: 0,
    syncs: 0,
    transactions: 0,
    rows: 0,
    bytes: 0,
    rotations: 0,
    failedBatches: 0,
  };

  private instanceId: number;
  private prevVclock: Vclock;
  private file: OpenFile | undefined;
  private queue: Entry[] = [];
  private queueBytes = 0;
  private waiting: Entry[] = [];
  private flushing: Promise<void> | undefined;
  private flushScheduled = false;
  private closed = false;
  /**
   * The file being created, while it is: openFile() (a checkpoint) and a batch's fileFor() may
   * both find no file open, and two creations of one name would unlink each other's
   * `.inprogress` and leave the journal appending to an unlinked inode.
   */
  private creating: Promise<OpenFile> | undefined;
  /** Set when truncation after a failure failed: the file may hold garbage, refuse writes. */
  private broken: Error | undefined;
  /**
   * LSNs are assigned and blocks encoded when a transaction is admitted to the queue (in the
   * submitter's tick), so encoding overlaps the write in flight. `assigned` runs ahead of
   * `vclock` by the admitted-but-unwritten rows; a failure rejects all of them (the cascade),
   * so resetting `assigned` to `vclock` is exact.
   */
  private readonly assigned: Vclock;
  /** Encoded blocks of the queued entries, in queue order. */
  private pending: MsgpackWriter;
  /** The buffer of the batch in flight (swapped with `pending`). */
  private inFlight: MsgpackWriter;
  private readonly encoder: BlockEncoder;
  private readonly listeners = new Set<(position: WalPosition) => void>();
  private readonly commitListeners = new Set<
    (transactions: readonly (readonly Xrow[])[]) => void
  >();
  private readonly observers = new Set<JournalObserver>();
  /** Recent skip points, in write order. */
  private readonly skipPoints: SkipPoint[] = [];
  /** Timings of the batch just written, taken only while someone observes. */
  private lastWriteMs = 0;
  private lastSyncMs: number | undefined;
  private readonly logger: Logger;

  constructor(private readonly options: JournalOptions) {
    this.vclock = options.vclock.copy();
    this.assigned = options.vclock.copy();
    this.prevVclock = (options.prevVclock ?? new Vclock()).copy();
    this.instanceId = options.instanceId;
    this.encoder = new BlockEncoder(options.hasher);
    this.logger = options.logger ?? silentLogger;
    this.pending = newBatchWriter(options.batchBufferBytes);
    this.inFlight = newBatchWriter(options.batchBufferBytes);
  }

  get mode(): WalMode {
    return this.options.mode;
  }

  /** Sets this instance's replica id (after registration in _cluster). */
  setInstanceId(id: number): void {
    this.instanceId = id;
  }

  /**
   * Queues one transaction. Fills in each row's lsn, replica_id, tsn, is_commit and timestamp
   * (rows from other instances keep their replica_id and lsn). Resolves when durable per
   * wal_mode; rejects with ER_WAL_IO / ER_CASCADE_ROLLBACK (see the file comment).
   */
  submit(rows: Xrow[]): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.submitWith(rows, (error) => (error === undefined ? resolve() : reject(error))),
    );
  }

  /** See WalWriter.submitWith. */
  submitWith(rows: Xrow[], done: SubmitDone): void {
    const refused = this.refusal(rows);
    if (refused !== undefined) {
      queueMicrotask(() => done(refused));
      return;
    }
    if (this.options.mode === 'none') {
      this.assignLsns(rows, this.assigned);
      // follow() asserts each component only grows (a row that would move it back is a bug).
      for (const row of rows) this.vclock.follow(row.replica_id, row.lsn);
      this.stats.transactions++;
      this.stats.rows += rows.length;
      queueMicrotask(() => done(undefined));
      return;
    }
    let bytes = 0;
    for (let i = 0; i < rows.length; i++) bytes += rows[i]!.body.length + 32;
    const entry: Entry = { rows, bytes, done };
    const limit = this.options.queueMaxSizeBytes ?? WAL_QUEUE_MAX_SIZE_DEFAULT;
    if (this.waiting.length > 0 || (this.queue.length > 0 && this.queueBytes + bytes > limit))
      this.waiting.push(entry);
    else this.enqueue(entry);
    this.scheduleFlush();
  }

  /** Why `rows` cannot be submitted now, or undefined. */
  private refusal(rows: Xrow[]): Error | undefined {
    if (rows.length === 0 || rows.length > TRANSACTION_ROWS_MAX)
      return new ClientError(
        ErrorCode.ER_ILLEGAL_PARAMS,
        `a transaction must have 1..${TRANSACTION_ROWS_MAX} rows`,
      );
    if (this.closed) return new ClientError(ErrorCode.ER_WAL_IO);
    if (this.broken !== undefined) return walIoError(this.broken);
    return this.checkForeignRows(rows);
  }

  /** Closes the current file after pending writes; the next write starts a new one. */
  async rotate(): Promise<void> {
    await this.drain();
    // A file without transactions is left open: a new one would carry the same signature.
    if (this.file !== undefined && this.file.transactions > 0) {
      await this.closeFile();
      this.stats.rotations++;
    }
  }

  /**
   * Opens the next xlog now instead of at the next write (after a checkpoint: recovery then
   * starts from this file and never rereads the rows before the checkpoint). No-op in
   * wal_mode none or when a file is open.
   */
  async openFile(): Promise<void> {
    await this.drain();
    if (
      this.options.mode === 'none' ||
      this.file !== undefined ||
      this.closed ||
      this.broken !== undefined
    )
      return;
    await this.currentFile();
  }

  /** Writes everything queued, closes the file with its EOF marker, refuses later submits. */
  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    await this.closeFile();
  }

  /** Resolves once everything submitted so far is written (or failed). */
  async drain(): Promise<void> {
    for (;;) {
      if (this.flushing !== undefined) {
        await this.flushing;
        continue;
      }
      if (this.queue.length === 0 && this.waiting.length === 0) return;
      this.startFlush();
    }
  }

  /** The current file's committed end, or undefined when no file is open. */
  position(): WalPosition | undefined {
    const file = this.file;
    if (file === undefined) return undefined;
    return { path: file.path, signature: file.signature, offset: file.offset, closed: false };
  }

  /** Calls `listener` after every written batch and when a file is closed. Returns an unsubscribe. */
  onWrite(listener: (position: WalPosition) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  skipPoint(path: string, from: Vclock): number | undefined {
    for (let i = this.skipPoints.length - 1; i >= 0; i--) {
      const point = this.skipPoints[i]!;
      if (point.path === path && point.vclock.isLessOrEqual(from)) return point.offset;
    }
    return undefined;
  }

  onCommit(listener: (transactions: readonly (readonly Xrow[])[]) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }
  observe(observer: JournalObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Admits an entry to the queue: assigns its LSNs and encodes its block. */
  private enqueue(entry: Entry): void {
    this.assignLsns(entry.rows, this.assigned);
    entry.bytes = this.encoder.encode(this.pending, entry.rows);
    this.queue.push(entry);
    this.queueBytes += entry.bytes;
  }

  /**
   * Rows from other instances must continue their component (ER_INVALID_ORDER otherwise), also
   * within the transaction: checked before anything is assigned, so a refusal changes nothing.
   */
  private checkForeignRows(rows: Xrow[]): ClientError | undefined {
    const own = this.instanceId;
    let inTransaction: Map<number, number> | undefined;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      if (row.replica_id === 0 || row.replica_id === own) continue;
      const previous = inTransaction?.get(row.replica_id) ?? this.assigned.get(row.replica_id);
      if (row.lsn <= previous)
        return new ClientError(ErrorCode.ER_INVALID_ORDER, row.replica_id, previous, row.lsn);
      if (i < rows.length - 1) (inTransaction ??= new Map()).set(row.replica_id, row.lsn);
    }
    return undefined;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing !== undefined) return;
    this.flushScheduled = true;
    // setImmediate: every transaction submitted before the event loop's next check phase (the
    // rest of this callback, its microtasks, the other I/O callbacks of this turn) joins the
    // batch. A microtask was enough while every write went through the thread pool, which
    // kept a batch in flight for a turn or more while the next one gathered; a small write
    // now completes at once (NodeFileSystem), so the batch has to gather before it.
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.flushing === undefined) this.startFlush();
    });
  }

  private startFlush(): void {
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
      // A submit between the loop's last look at the queue and now found `flushing` set and
      // did not schedule: pick it up.
      if (this.queue.length > 0 || this.waiting.length > 0) this.scheduleFlush();
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      const encoded = this.pending;
      this.pending = this.inFlight.reset();
      this.inFlight = encoded;
      this.queue = [];
      this.queueBytes = 0;
      const writing = this.writeBatch(batch, encoded.view0());
      // Encode the transactions waiting for room while this batch's write is in the thread
      // pool: setImmediate runs after the write has been issued.
      const admitted =
        this.waiting.length === 0
          ? undefined
          : new Promise<void>((resolve) => setImmediate(() => resolve(this.admitWaiting())));
      await writing;
      await admitted;
      // The next batch waits for the next check phase. A small write completes at once, and
      // the writers it wakes submit again in the same run of microtasks: without this turn of
      // the event loop, writers that await each commit would write batch after batch in
      // microtasks and no timer, socket or relay would run until they stop. The turn also lets
      // what arrives in its poll phase join the batch.
      if (this.queue.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private admitWaiting(): void {
    const limit = this.options.queueMaxSizeBytes ?? WAL_QUEUE_MAX_SIZE_DEFAULT;
    while (
      this.waiting.length > 0 &&
      (this.queue.length === 0 || this.queueBytes + this.waiting[0]!.bytes <= limit)
    ) {
      this.enqueue(this.waiting.shift()!);
    }
  }

  private async writeBatch(batch: Entry[], bytes: Uint8Array): Promise<void> {
    if (this.broken !== undefined) return this.fail(batch, this.broken);
    const started = performance.now();
    let file: OpenFile;
    try {
      file = await this.fileFor(bytes.length);
    } catch (error) {
      // A full disk when the next xlog is created (a rotation): free space as for a write.
      if (!isNoSpace(error) || this.options.onNoSpace === undefined) return this.fail(batch, error);
      try {
        if (!(await this.options.onNoSpace())) return this.fail(batch, error);
        this.logger.warn(`ENOSPC creating the next xlog: retrying after freeing space`);
        file = await this.fileFor(bytes.length);
      } catch (retryError) {
        return this.fail(batch, retryError);
      }
    }
    try {
      await this.writeAndSync(file, bytes);
    } catch (error) {
      await this.truncateAfterFailure(file);
      return this.fail(batch, error);
    }
    let rowCount = 0;
    for (let e = 0; e < batch.length; e++) {
      const rows = batch[e]!.rows;
      // Rows of one component ascend within a batch: the last row of each entry is enough for
      // single-component transactions, but mixed ones need every row.
      // follow() asserts the invariant: a component only grows (rows were given LSNs above
      // the written vclock when admitted; a row that would move it back is a bug, not an error).
      for (let i = 0; i < rows.length; i++) this.vclock.follow(rows[i]!.replica_id, rows[i]!.lsn);
      rowCount += rows.length;
    }
    file.offset += bytes.length;
    file.transactions += batch.length;
    if (file.offset - file.skipPointOffset >= SKIP_POINT_EVERY_BYTES) {
      file.skipPointOffset = file.offset;
      this.skipPoints.push({ path: file.path, offset: file.offset, vclock: this.vclock.copy() });
      if (this.skipPoints.length > SKIP_POINTS_MAX) this.skipPoints.shift();
    }
    this.stats.writes++;
    this.stats.transactions += batch.length;
    this.stats.rows += rowCount;
    this.stats.bytes += bytes.length;
    settle(batch, () => undefined);
    if (this.commitListeners.size > 0) {
      const transactions = batch.map((entry) => entry.rows);
      for (const listener of this.commitListeners) listener(transactions);
    }
    this.notify({ path: file.path, signature: file.signature, offset: file.offset, closed: false });
    if (this.observers.size > 0) {
      const sample: WalBatchSample = {
        writeMs: this.lastWriteMs,
        syncMs: this.lastSyncMs,
        transactions: batch.length,
        rows: rowCount,
        bytes: bytes.length,
      };
      for (const observer of this.observers) observer.batchWritten(sample);
    }
    const elapsedMs = performance.now() - started;
    if (elapsedMs > (this.options.tooLongThresholdMs ?? TOO_LONG_THRESHOLD_DEFAULT_MS)) {
      this.logger.warn(
        `too long WAL write: ${rowCount} rows at LSN ${this.vclock.signature()}: ${(elapsedMs / 1000).toFixed(3)} sec`,
      );
    }
  }

  private async writeAndSync(file: OpenFile, bytes: Uint8Array): Promise<void> {
    try {
      await this.writeOnce(file, bytes);
    } catch (error) {
      if (!isNoSpace(error) || this.options.onNoSpace === undefined) throw error;
      await this.truncateAfterFailure(file);
      if (this.broken !== undefined || !(await this.options.onNoSpace())) throw error;
      this.logger.warn(`ENOSPC writing ${file.path}: retrying after freeing space`);
      await this.writeOnce(file, bytes);
    }
  }

  /** One write (+ fdatasync in fsync mode); timed only while someone observes (lastWriteMs …). */
  private async writeOnce(file: OpenFile, bytes: Uint8Array): Promise<void> {
    if (this.observers.size === 0) {
      await file.handle.write(bytes, file.offset);
      if (this.options.mode === 'fsync') {
        await file.handle.datasync();
        this.stats.syncs++;
      }
      return;
    }
    const started = performance.now();
    await file.handle.write(bytes, file.offset);
    const written = performance.now();
    this.lastWriteMs = written - started;
    this.lastSyncMs = undefined;
    if (this.options.mode === 'fsync') {
      await file.handle.datasync();
      this.stats.syncs++;
      this.lastSyncMs = performance.now() - written;
    }
  }

  private async truncateAfterFailure(file: OpenFile): Promise<void> {
    try {
      await file.handle.truncate(file.offset);
      // A failed write or fdatasync says nothing of what reached the device: the refused batch
      // may be there. Make the truncation durable now, before anything else is acknowledged,
      // or a power loss before the next batch's sync would bring refused transactions back.
      // If this sync fails too, the file's durable end is unknown: refuse further writes.
      await file.handle.datasync();
    } catch (error) {
      this.broken = new SystemError(
        `failed to truncate ${file.path} to ${file.offset} durably after a failed write`,
        error,
      );
      this.logger.error(`${this.broken.message}: the WAL refuses further writes`);
    }
  }

  /** Rejects the failed batch (ER_WAL_IO) and everything queued behind it (cascade), newest first. */
  private fail(batch: Entry[], error: unknown): void {
    this.stats.failedBatches++;
    const cause = error instanceof Error ? error : new Error(String(error));
    this.logger.error(
      `failed to write a batch of ${batch.length} transactions to the WAL: ${cause.message}`,
    );
    const behind = [...this.queue, ...this.waiting];
    this.queue = [];
    this.queueBytes = 0;
    this.waiting = [];
    this.pending.reset();
    this.assigned.assign(this.vclock);
    // Newest first, as before: those behind the failed batch, then the batch itself.
    settle([...behind.reverse(), ...[...batch].reverse()], (i) =>
      i < behind.length ? new ClientError(ER_CASCADE_ROLLBACK) : walIoError(cause),
    );
  }

  /** Assigns LSNs in queue order (FORMAT.md §7) and advances `vclock` accordingly. */
  private assignLsns(rows: Xrow[], vclock: Vclock): void {
    const timestamp = this.options.now?.() ?? Date.now() / 1000;
    let tsn = 0;
    let sameComponent = true;
    let firstComponent = -1;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      if (row.replica_id === 0 || row.replica_id === this.instanceId) {
        const component = row.group_id === GroupId.LOCAL ? 0 : this.instanceId;
        row.replica_id = component;
        row.lsn = vclock.inc(component);
        if (row.timestamp === 0) row.timestamp = timestamp;
      } else {
        vclock.follow(row.replica_id, row.lsn);
      }
      if (firstComponent < 0) firstComponent = row.replica_id;
      else if (row.replica_id !== firstComponent) sameComponent = false;
      tsn = i === 0 ? row.lsn : Math.min(tsn, row.lsn);
    }
    if (rows.length === 1) {
      rows[0]!.tsn = rows[0]!.lsn;
      rows[0]!.is_commit = true;
      return;
    }
    const first = rows[0]!.lsn;
    for (let i = 0; i < rows.length; i++) {
      rows[i]!.tsn = sameComponent ? first : tsn;
      rows[i]!.is_commit = i === rows.length - 1;
    }
  }

  /** The open file, rotating or creating one as needed for `batch`. */
  private async fileFor(batchBytes: number): Promise<OpenFile> {
    const max = this.options.maxSizeBytes ?? WAL_MAX_SIZE_DEFAULT;
    if (
      this.file !== undefined &&
      this.file.offset + batchBytes > max &&
      this.file.transactions > 0
    ) {
      await this.closeFile();
      this.stats.rotations++;
    }
    return this.currentFile();
  }

  /** The open file, or the one being created (one creation at a time, see `creating`). */
  private currentFile(): Promise<OpenFile> {
    if (this.file !== undefined) return Promise.resolve(this.file);
    this.creating ??= this.createFile()
      .then((file) => {
        this.file = file;
        return file;
      })
      .finally(() => {
        this.creating = undefined;
      });
    return this.creating;
  }

  private async createFile(): Promise<OpenFile> {
    const { fs, dir, hasher } = this.options;
    const signature = this.vclock.signature();
    const path = join(dir, xlogFileName(signature, 'XLOG'));
    // The new file takes the place of an empty leftover of the same name, so it also takes
    // that file's place in the chain: its PrevVClock (rule 13 in FORMAT.md).
    const replaced = await this.removeEmptyLeftover(path);
    if (replaced !== undefined) this.prevVclock = replaced;
    const inprogress = path + INPROGRESS_SUFFIX;
    const meta = encodeMeta(
      {
        type: 'XLOG',
        instanceUuid: this.options.instanceUuid,
        vclock: this.vclock,
        prevVclock: this.prevVclock,
      },
      hasher,
    );
    let handle: FileHandle;
    try {
      if ((await fs.size(inprogress)) !== undefined) await fs.unlink(inprogress);
      handle = await fs.open(inprogress, 'create');
    } catch (error) {
      throw new SystemError(`failed to create ${inprogress}`, error);
    }
    try {
      await handle.write(meta, 0);
      await handle.datasync();
      await fs.rename(inprogress, path);
      await fs.syncDir(dir);
    } catch (error) {
      await handle.close().catch(() => {});
      await fs.unlink(inprogress).catch(() => {});
      throw new SystemError(`failed to create ${path}`, error);
    }
    this.logger.info(`created ${path}`);
    return {
      handle,
      path,
      signature,
      vclock: this.vclock.copy(),
      offset: meta.length,
      transactions: 0,
      skipPointOffset: meta.length,
    };
  }

  /**
   * A file with the new file's name exists when the previous run created it and wrote no
   * whole transaction (the vclock did not move). Such a file holds nothing: remove it, and
   * return its PrevVClock (the VClock of the file before it), which the new file inherits. A
   * file with rows under that name would mean two histories with one signature: refuse.
   */
  private async removeEmptyLeftover(path: string): Promise<Vclock | undefined> {
    const { fs, hasher } = this.options;
    if ((await fs.size(path)) === undefined) return undefined;
    const cursor = await XlogCursor.open(fs, path, 'XLOG', hasher).catch(() => undefined);
    const hasRows =
      cursor !== undefined && (await cursor.next().catch(() => undefined)) !== undefined;
    await cursor?.close();
    if (hasRows)
      throw new XlogError(`${path} already exists and holds rows: refusing to overwrite it`);
    this.logger.warn(`removing ${path}: it holds no transaction`);
    await fs.unlink(path);
    return cursor?.meta.prevVclock?.copy();
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    if (file === undefined) return;
    this.file = undefined;
    this.prevVclock = file.vclock;
    try {
      if (this.broken === undefined) {
        await file.handle.write(EOF_MARKER_BYTES, file.offset);
        await file.handle.datasync();
      }
    } catch (error) {
      this.logger.error(`failed to close ${file.path} cleanly: ${(error as Error).message}`);
      // A short write (a full disk) may have left part of the marker: cut it off, so the file
      // ends at its last whole transaction, as a file that was never closed does (only the
      // newest xlog may end torn). Best effort: recovery reads such a tail as torn anyway.
      await file.handle.truncate(file.offset).catch(() => {});
    } finally {
      await file.handle.close().catch(() => {});
    }
    this.notify({ path: file.path, signature: file.signature, offset: file.offset, closed: true });
  }

  private notify(position: WalPosition): void {
    for (const listener of this.listeners) listener(position);
  }
}

/** ENOSPC, itself or as the cause of a SystemError (createFile wraps what it met). */
function isNoSpace(error: unknown): boolean {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function walIoError(cause: Error): ClientError {
  const error = new ClientError(ErrorCode.ER_WAL_IO);
  (error as { cause?: unknown }).cause = cause;
  return error;
}
