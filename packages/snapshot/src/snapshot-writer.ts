// The snapshot writer: streams read views of every space into `<signature>.snap`. Layer:
// snapshot. FORMAT.md §6 is the algorithm; this file follows its numbered steps.
//
// It runs on the event loop next to the requests it must not stop: rows are encoded in slices
// of at most `yieldIntervalMs`, after which setImmediate gives the loop back; block k is
// written by the thread pool while block k + 1 is encoded; background fdatasyncs every 16 MiB
// spread the device's work. It reads nothing but its SnapshotSource, so what it writes is the
// state at the source's vclock whatever happens meanwhile.
//
// Invariant: writeSnapshot() either resolves with a complete, synced, renamed `.snap`, or
// rejects and leaves the directory's `.snap` files as they were, with no `.inprogress` of its
// own behind (unless the file system refused even the cleanup: then the error says so and
// recovery removes the leftover). It never writes into or over an existing `.snap`.
// It does not decide when to checkpoint, which spaces to save, or when to trim the WAL: box does.

import { join, resolve } from 'node:path';
import {
  AssertionError,
  assert,
  ClientError,
  ErrorCode,
  type Hasher,
  isArrayByte,
  SystemError,
  type Vclock,
} from '@tarantype/core';
import {
  EOF_MARKER_BYTES,
  encodeMeta,
  type FileHandle,
  type FileSystem,
  INPROGRESS_SUFFIX,
  type Logger,
  silentLogger,
  xlogFileName,
} from '@tarantype/wal';
import { io, wrapIo } from './io.js';
import {
  MEGABYTE,
  PROGRESS_INTERVAL_DEFAULT_MS,
  type ProgressHook,
  ProgressMeter,
} from './progress.js';
import { SnapshotDir } from './snapshot-dir.js';
import { SNAPSHOT_BLOCK_SIZE_DEFAULT, SnapshotBlockBuilder } from './snapshot-format.js';
import {
  isSystemSpace,
  iterableCursor,
  orderSpaces,
  type SnapshotSource,
} from './snapshot-source.js';

/** Longest stretch of encoding between two yields to the event loop (FORMAT.md §6 step 4). */
export const SNAPSHOT_YIELD_INTERVAL_DEFAULT_MS = 0.5;
/** Bytes between background fdatasyncs: Tarantool's SNAP_SYNC_INTERVAL (§6 step 6). */
export const SNAPSHOT_SYNC_INTERVAL_DEFAULT_BYTES = 16 * MEGABYTE;
/** Rows encoded between two looks at the clock (a clock read costs about as much as a row). */
const ROWS_PER_CLOCK_CHECK = 64;

export interface SnapshotWriterOptions {
  readonly fs: FileSystem;
  /** snap_dir. */
  readonly dir: string;
  readonly hasher: Hasher;
  /** This instance's UUID, for the meta header. */
  readonly instanceUuid: string;
  /** Read views to save; the writer releases them (exactly once, whatever happens). */
  readonly source: SnapshotSource;
  /** snap_io_rate_limit in MB/s (MB = 2^20 bytes); undefined or 0 = unlimited. */
  readonly ioRateLimitMBps?: number;
  readonly onProgress?: ProgressHook;
  /** At most one progress call per this many ms (default 1000), plus a final one. */
  readonly progressIntervalMs?: number;
  readonly logger?: Logger;
  /** Payload size at which a block is closed (default 32 KiB). Tests use tiny blocks. */
  readonly blockSizeBytes?: number;
  /** Longest encoding slice between yields to the event loop (default 0.5 ms). */
  readonly yieldIntervalMs?: number;
  /** Bytes between background fdatasyncs (default 16 MiB). */
  readonly syncIntervalBytes?: number;
}

export type SnapshotWriteResult =
  | {
      readonly status: 'written';
      readonly path: string;
      readonly vclock: Vclock;
      readonly rows: number;
      /** File size. */
      readonly bytes: number;
      readonly elapsedMs: number;
      readonly rateMBps: number;
    }
  | {
      /** The newest snapshot already has this vclock: no file was written (§6 step 2). */
      readonly status: 'unchanged';
      readonly path: string;
      readonly vclock: Vclock;
    };

/** Directories with a snapshot being written (resolved paths): one at a time per directory. */
const writing = new Set<string>();

/**
 * Writes a snapshot of `options.source` into `options.dir`. Rejects with ClientError
 * ER_CHECKPOINT_IN_PROGRESS if one is being written there, SystemError on I/O failure (the
 * previous snapshot stays the newest), or the source's own error.
 */
export async function writeSnapshot(options: SnapshotWriterOptions): Promise<SnapshotWriteResult> {
  const release = once(() => options.source.release());
  try {
    checkOptions(options);
    const key = resolve(options.dir);
    if (writing.has(key)) throw new ClientError(ErrorCode.ER_CHECKPOINT_IN_PROGRESS);
    writing.add(key);
    try {
      return await writeLocked(options, release);
    } finally {
      writing.delete(key);
    }
  } finally {
    release();
  }
}

function checkOptions(options: SnapshotWriterOptions): void {
  const limit = options.ioRateLimitMBps ?? 0;
  assert(
    Number.isFinite(limit) && limit >= 0,
    `snap_io_rate_limit ${limit} must be a non-negative number`,
  );
  const blockSize = options.blockSizeBytes ?? SNAPSHOT_BLOCK_SIZE_DEFAULT;
  assert(Number.isInteger(blockSize) && blockSize >= 1, `block size ${blockSize}`);
  assert(
    (options.yieldIntervalMs ?? 0) >= 0 && (options.progressIntervalMs ?? 0) >= 0,
    'negative interval',
  );
  assert((options.syncIntervalBytes ?? 1) > 0, 'sync interval must be positive');
}

async function writeLocked(
  options: SnapshotWriterOptions,
  release: () => void,
): Promise<SnapshotWriteResult> {
  const { fs, dir, hasher, source } = options;
  const logger = options.logger ?? silentLogger;
  const vclock = source.vclock.copy();
  const scanned = await SnapshotDir.scan(fs, dir, hasher);
  const latest = scanned.latest();
  if (latest?.meta?.vclock.equals(vclock) === true) {
    logger.info(
      `snapshot ${latest.path} is up to date with vclock ${vclock.toString()}: nothing to save`,
    );
    return { status: 'unchanged', path: latest.path, vclock };
  }
  const path = join(dir, xlogFileName(vclock.signature(), 'SNAP'));
  const inprogress = `${path}${INPROGRESS_SUFFIX}`;
  if (scanned.files.some((file) => file.path === path)) {
    throw new SystemError(
      `can't create snapshot '${path}': a snapshot of another vclock has this name`,
      existsError(path),
    );
  }
  if (scanned.inprogress.includes(inprogress)) {
    logger.warn(`removing leftover ${inprogress}`);
    await io('unlink', inprogress, fs.unlink(inprogress));
  }
  // Tarantool 2.6's line, quotes included: "saving snapshot `./<signature>.snap.inprogress'".
  logger.info(`saving snapshot \`${inprogress}'`);
  const file = await io('create', inprogress, fs.open(inprogress, 'create'));
  const writer = new FileWriter(file, inprogress, options);
  let renamed = false;
  try {
    await writer.write(
      encodeMeta({ type: 'SNAP', instanceUuid: options.instanceUuid, vclock }, hasher),
    );
    await streamSpaces(writer, options);
    release();
    await writer.write(EOF_MARKER_BYTES);
    await writer.finish();
    await io('rename', inprogress, fs.rename(inprogress, path));
    renamed = true;
    await io('fsync directory', dir, fs.syncDir(dir));
  } catch (error) {
    await writer.abandon();
    await removeQuietly(fs, renamed ? path : inprogress, logger);
    throw error;
  }
  const done = writer.meter.finish();
  logger.info(
    `snapshot ${path} done: ${done.rows} rows, ${done.bytes} bytes, ${done.rateMBps.toFixed(1)} MB/s`,
  );
  return {
    status: 'written',
    path,
    vclock,
    rows: done.rows,
    bytes: done.bytes,
    elapsedMs: done.elapsedMs,
    rateMBps: done.rateMBps,
  };
}

/** §6 step 4: every space in file order, blocks closed at the block size and at the system/user boundary. */
async function streamSpaces(writer: FileWriter, options: SnapshotWriterOptions): Promise<void> {
  const blockSize = options.blockSizeBytes ?? SNAPSHOT_BLOCK_SIZE_DEFAULT;
  const yieldIntervalMs = options.yieldIntervalMs ?? SNAPSHOT_YIELD_INTERVAL_DEFAULT_MS;
  const builders = [
    new SnapshotBlockBuilder(options.hasher, blockSize),
    new SnapshotBlockBuilder(options.hasher, blockSize),
  ];
  let builder = builders[0]!;
  let lsn = 0;
  let sliceStart = performance.now();
  const flush = async (): Promise<void> => {
    await writer.writeBlock(builder.finish(), builder.rowCount);
    builder = builder === builders[0] ? builders[1]! : builders[0]!;
    builder.reset();
  };
  let userPart = false;
  for (const space of orderSpaces(options.source.spaces)) {
    if (!userPart && !isSystemSpace(space.id)) {
      // No block holds both system and user rows (FORMAT.md §3): force_recovery relies on it.
      userPart = true;
      if (builder.rowCount > 0) await flush();
    }
    const cursor = space.cursor?.() ?? iterableCursor(space.tuples());
    while (cursor.next()) {
      const { bytes, start, end } = cursor;
      if (!(end > start && isArrayByte(bytes[start]!)))
        throw new AssertionError(`space ${space.id}: a tuple is not a MessagePack array`);
      builder.appendRange(space.id, space.groupId, lsn++, bytes, start, end);
      const full = builder.payloadBytes >= blockSize;
      if (full) await flush();
      // The clock is read every 64 rows, and after every block (bounds the slice for big tuples).
      if (
        (full || (lsn & (ROWS_PER_CLOCK_CHECK - 1)) === 0) &&
        performance.now() - sliceStart >= yieldIntervalMs
      ) {
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
    }
  }
  if (builder.rowCount > 0) await flush();
}

/**
 * The file side: sequential writes with one write in flight, background syncs, the rate
 * limit and progress. Errors of background operations surface at the next call.
 */
class FileWriter {
  readonly meter: ProgressMeter;
  private position = 0;
  private pendingWrite: Promise<void> | undefined;
  private pendingSync: Promise<void> | undefined;
  private failure: unknown;
  private closed = false;
  private syncedUpTo = 0;
  private readonly rateLimitBytesPerMs: number;
  private readonly syncIntervalBytes: number;

  constructor(
    private readonly file: FileHandle,
    private readonly path: string,
    options: SnapshotWriterOptions,
  ) {
    const spaces = options.source.spaces;
    const rowsTotal = spaces.every((space) => space.count !== undefined)
      ? spaces.reduce((sum, space) => sum + space.count!, 0)
      : undefined;
    this.meter = new ProgressMeter(
      options.onProgress,
      options.progressIntervalMs ?? PROGRESS_INTERVAL_DEFAULT_MS,
      rowsTotal,
      undefined,
    );
    this.rateLimitBytesPerMs = ((options.ioRateLimitMBps ?? 0) * MEGABYTE) / 1000;
    this.syncIntervalBytes = options.syncIntervalBytes ?? SNAPSHOT_SYNC_INTERVAL_DEFAULT_BYTES;
  }

  /** Writes `bytes` and waits for it (meta header, EOF marker). */
  async write(bytes: Uint8Array): Promise<void> {
    await this.writeBlock(bytes, 0);
    await this.drainWrite();
  }

  /**
   * Starts writing a block once the previous write is done, without waiting for this one:
   * `bytes` must stay untouched until the next writeBlock()/drain (the builders alternate).
   */
  async writeBlock(bytes: Uint8Array, rows: number): Promise<void> {
    await this.drainWrite();
    const position = this.position;
    this.pendingWrite = this.file.write(bytes, position).catch((error: unknown) => {
      this.failure ??= wrapIo('write', this.path, error);
    });
    this.position += bytes.length;
    this.meter.rows += rows;
    this.meter.bytes = this.position;
    this.meter.tick();
    if (this.position - this.syncedUpTo >= this.syncIntervalBytes) await this.startBackgroundSync();
    await this.throttle();
  }

  /** §6 step 7 up to close: waits for everything in flight, then a final fdatasync. */
  async finish(): Promise<void> {
    await this.drainWrite();
    await this.drainSync();
    await io('fdatasync', this.path, this.file.datasync());
    this.closed = true; // even a failed close() releases the descriptor
    await io('close', this.path, this.file.close());
  }

  /** After a failure: waits for operations in flight (ignoring their errors) and closes. */
  async abandon(): Promise<void> {
    await this.pendingWrite;
    await this.pendingSync;
    // Never close twice: the descriptor number may already belong to another file.
    if (this.closed) return;
    this.closed = true;
    await this.file.close().catch(() => undefined);
  }

  private async drainWrite(): Promise<void> {
    await this.pendingWrite;
    this.pendingWrite = undefined;
    if (this.failure !== undefined) throw this.failure;
  }

  private async drainSync(): Promise<void> {
    await this.pendingSync;
    this.pendingSync = undefined;
    if (this.failure !== undefined) throw this.failure;
  }

  /** §6 step 6: flush what is written so far while later blocks are encoded. */
  private async startBackgroundSync(): Promise<void> {
    await this.drainSync();
    this.syncedUpTo = this.position;
    this.pendingSync = this.file.datasync().catch((error: unknown) => {
      this.failure ??= wrapIo('fdatasync', this.path, error);
    });
  }

  /** §6 step 5: snap_io_rate_limit. */
  private async throttle(): Promise<void> {
    if (this.rateLimitBytesPerMs === 0) return;
    const aheadMs = this.position / this.rateLimitBytesPerMs - this.meter.elapsedMs;
    if (aheadMs > 0) await sleep(aheadMs);
  }
}

async function removeQuietly(fs: FileSystem, path: string, logger: Logger): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    logger.error(`can't remove '${path}' after a failed snapshot: ${(error as Error).message}`);
  }
}

function existsError(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EEXIST: file already exists '${path}'`), {
    code: 'EEXIST',
    errno: -17,
    syscall: 'open',
    path,
  });
}

function once(action: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
