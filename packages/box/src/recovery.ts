// Local recovery at startup: the newest snapshot, then every xlog row after it. Layer: box.
// Log lines are Tarantool's ("recovery start", "recovering from `X'", "recover from `X'",
// "done `X'", "file `X` wasn't correctly closed", "ignoring a gap in LSN").
// - A torn tail of the newest xlog is truncated (with the warning); the journal then starts a
//   new file at the recovered vclock. A torn tail of an older xlog cannot be repaired by
//   truncation (later files follow it): it is corruption unless force_recovery.
// - Corruption (checksum mismatch) and LSN gaps stop startup with a typed error unless
//   force_recovery, which warns and goes on.
// - Leftover .inprogress files are removed; an xlog whose meta header is incomplete is removed
//   when it is the newest file (a crash can leave no such file, a truncated copy can).
// It applies rows through a RecoveryTarget port and knows nothing of spaces. With an
// `onProgress` sink it reports the snapshot (rows, bytes of its file) and the xlogs (rows,
// bytes of the files to replay) as two 'recovery' tasks (progress.ts).
import { basename } from 'node:path';
import {
  ClientError,
  ErrorCode,
  type Hasher,
  type Vclock,
  XlogError,
  XlogGapError,
} from '@tarantype/core';
import { SnapshotDir, SnapshotReader } from '@tarantype/snapshot';
import {
  type FileSystem,
  type Logger,
  XlogCursor,
  XlogDir,
  type XlogFileInfo,
  type XrowInPlace,
} from '@tarantype/wal';
import { ProgressReporter, type ProgressSink } from './progress.js';

export interface RecoveryTarget {
  /**
   * A tuple of the snapshot for space `spaceId`: the MessagePack array at `bytes[start, end)`,
   * which the snapshot reader walked whole (well-formed). The bytes are valid during the call.
   */
  loadSnapshotRow(spaceId: number, bytes: Uint8Array, start: number, end: number): void;
  /** Called once after the snapshot (e.g. to build secondary indexes). */
  snapshotLoaded?(): void;
  /**
   * Applies one logged request without logging it again. The row is decoded in place: it and
   * its bytes are valid only during the call (what is kept must be copied).
   */
  applyRow(row: XrowInPlace): void;
  /** Called once after the last xlog row was applied (e.g. to finish deferred index builds). */
  replayed?(): void;
}

export interface RecoveryOptions {
  readonly fs: FileSystem;
  readonly walDir: string;
  readonly memtxDir: string;
  readonly hasher: Hasher;
  readonly forceRecovery: boolean;
  readonly logger: Logger;
  readonly target: RecoveryTarget;
  /** Progress every `progressIntervalMs` (default 1000): rows so far and MB/s. */
  readonly progressIntervalMs?: number;
  /** Progress events for a renderer (bars, log lines); none when undefined. */
  readonly onProgress?: ProgressSink | undefined;
}

export interface RecoveryResult {
  /** The vclock after the last applied row. */
  readonly vclock: Vclock;
  /** The snapshot's vclock (checkpoint), if one was loaded. */
  readonly checkpointVclock: Vclock | undefined;
  /** VClock of the newest xlog: the next xlog's PrevVClock. */
  readonly lastXlogVclock: Vclock | undefined;
  /** Instance UUID found in the files (the newest snapshot's, else the newest xlog's). */
  readonly instanceUuid: string | undefined;
  readonly snapshotRows: number;
  readonly xlogRows: number;
  readonly elapsedMs: number;
}

/** Recovers, or returns undefined when the directories hold nothing (bootstrap). */
export async function recover(options: RecoveryOptions): Promise<RecoveryResult | undefined> {
  const { fs, hasher, logger, target } = options;
  const started = performance.now();
  const snaps = await SnapshotDir.scan(fs, options.memtxDir, hasher);
  await snaps.removeInprogress(logger);
  let xlogs = await XlogDir.scan(fs, options.walDir, 'XLOG', hasher);
  await xlogs.removeInprogress(logger);
  const newestSnapshot = snaps.latest();
  if (newestSnapshot === undefined && xlogs.files.length === 0) return undefined;
  if (newestSnapshot === undefined) throw new ClientError(ErrorCode.ER_MISSING_SNAPSHOT);
  logger.info('recovery start');
  const progress = new Progress(logger, options.progressIntervalMs ?? 1000);
  logger.info(`recovering from \`${newestSnapshot.path}'`);
  const reporter = ProgressReporter.start(options.onProgress, {
    task: 'recovery',
    detail: `snapshot ${basename(newestSnapshot.path)}`,
    unit: 'rows',
    bytesTotal: options.onProgress === undefined ? undefined : await fs.size(newestSnapshot.path),
  });
  let reader: SnapshotReader;
  let snapshotRows = 0;
  try {
    reader = await SnapshotReader.open(fs, newestSnapshot.path, hasher, {
      forceRecovery: options.forceRecovery,
      logger,
      // Each block's tuples are copied into memtx before the next block is asked for.
      reuseBuffers: true,
      // Every block (the reporter throttles); no hook at all without a sink.
      ...(reporter === undefined
        ? {}
        : { progressIntervalMs: 0, onProgress: (p) => reporter.update(p.rows, p.bytes) }),
    });
    try {
      for await (const batch of reader) {
        // The block's rows in place: no row object or tuple view each.
        const rows = batch.inPlace;
        const { count, payload } = rows;
        for (let i = 0; i < count; i++)
          target.loadSnapshotRow(rows.spaceId(i), payload, rows.start(i), rows.end(i));
        snapshotRows += count;
        progress.tick(snapshotRows);
      }
    } finally {
      await reader.close();
    }
    reporter?.finish('done');
  } finally {
    reporter?.finish('failed');
  }
  if (!reader.stats.complete)
    throw new XlogError(`${newestSnapshot.path}: snapshot has no EOF marker`);
  target.snapshotLoaded?.();
  const checkpointVclock = reader.meta.vclock.copy();
  const vclock = checkpointVclock.copy();

  xlogs = await removeHeaderlessNewest(xlogs, fs, options.walDir, hasher, logger);
  xlogs.checkContinuity({ forceRecovery: options.forceRecovery, logger });
  const xlogRows = await replayXlogs(options, xlogs, vclock, progress, snapshotRows);
  const newest = xlogs.files[xlogs.files.length - 1]?.meta;
  return {
    vclock,
    checkpointVclock,
    lastXlogVclock: newest?.vclock,
    instanceUuid: reader.meta.instanceUuid,
    snapshotRows,
    xlogRows,
    elapsedMs: performance.now() - started,
  };
}

async function removeHeaderlessNewest(
  xlogs: XlogDir,
  fs: FileSystem,
  dir: string,
  hasher: Hasher,
  logger: Logger,
): Promise<XlogDir> {
  const newest = xlogs.newest;
  if (newest === undefined || newest.meta !== undefined) return xlogs;
  logger.warn(`file \`${newest.path}\` wasn't correctly closed: incomplete header, removing it`);
  await fs.unlink(newest.path);
  return XlogDir.scan(fs, dir, 'XLOG', hasher);
}

async function replayXlogs(
  options: RecoveryOptions,
  xlogs: XlogDir,
  vclock: Vclock,
  progress: Progress,
  base: number,
): Promise<number> {
  const { fs, logger } = options;
  const start = xlogs.indexFor(vclock);
  if (start === undefined) return 0;
  if (start === -1) {
    const first = xlogs.files[0]!.meta!;
    const gap = new XlogGapError(
      vclock.signature(),
      vclock.toString(),
      first.vclock.signature(),
      first.vclock.toString(),
    );
    if (!options.forceRecovery) throw gap;
    logger.warn(`${gap.message}: ignoring a gap in LSN`);
  }
  const files = xlogs.files.slice(Math.max(start, 0));
  const reporter = ProgressReporter.start(options.onProgress, {
    task: 'recovery',
    detail: files.length === 1 ? `xlog ${basename(files[0]!.path)}` : `${files.length} xlogs`,
    unit: 'rows',
    bytesTotal: options.onProgress === undefined ? undefined : await sizeOf(fs, files),
  });
  try {
    const rows = await replayFiles(options, files, vclock, progress, base, reporter);
    options.target.replayed?.();
    reporter?.finish('done');
    return rows;
  } finally {
    reporter?.finish('failed');
  }
}

async function sizeOf(fs: FileSystem, files: readonly XlogFileInfo[]): Promise<number> {
  let total = 0;
  for (const file of files) total += (await fs.size(file.path)) ?? 0;
  return total;
}

/** Replays `files` in order; the last one is the newest of the directory. */
async function replayFiles(
  options: RecoveryOptions,
  files: readonly XlogFileInfo[],
  vclock: Vclock,
  progress: Progress,
  base: number,
  reporter: ProgressReporter | undefined,
): Promise<number> {
  const { fs, hasher, logger, target } = options;
  let rows = 0;
  /** Bytes of the files replayed before the current one. */
  let bytesBefore = 0;
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    const isNewest = i === files.length - 1;
    logger.info(`recover from \`${file.path}'`);
    // Rows are applied (and their bytes copied into memtx) before the next block is read.
    const cursor = await XlogCursor.open(fs, file.path, 'XLOG', hasher, {
      forceRecovery: options.forceRecovery,
      logger,
      reuseBuffers: true,
    });
    if (cursor === undefined) throw new XlogError(`${file.path}: incomplete meta header`);
    try {
      for (let tx = await cursor.next(); tx !== undefined; tx = await cursor.next()) {
        const inPlace = tx.rowsInPlace();
        for (let r = 0; r < tx.rowCount; r++) {
          const slot = inPlace[r]!;
          const row = slot.header;
          if (row.lsn <= vclock.get(row.replica_id)) continue;
          target.applyRow(slot);
          // Rows at or below the vclock were skipped above: follow() asserts it only grows.
          vclock.follow(row.replica_id, row.lsn);
          rows++;
        }
        progress.tick(base + rows);
        reporter?.update(rows, bytesBefore + tx.offset + tx.size);
      }
    } finally {
      await cursor.close();
    }
    if (cursor.end !== 'eof-marker') {
      logger.warn(`file \`${file.path}\` wasn't correctly closed`);
      if (cursor.end === 'torn') {
        if (!isNewest && !options.forceRecovery)
          throw new XlogError(
            `${file.path}: torn tail at offset ${cursor.validEnd} is not at the end of the log`,
          );
        const handle = await fs.open(file.path, 'readwrite');
        try {
          await handle.truncate(cursor.validEnd);
          await handle.datasync();
        } finally {
          await handle.close();
        }
        logger.warn(`truncated \`${file.path}' to ${cursor.validEnd} bytes (torn tail)`);
      }
    }
    logger.info(`done \`${file.path}'`);
    if (!isNewest) checkNoRowsMissing(options, file.path, files[i + 1]!, vclock);
    if (reporter !== undefined) {
      bytesBefore += (await fs.size(file.path)) ?? 0;
      reporter.update(rows, bytesBefore);
    }
  }
  return rows;
}

/**
 * After an older xlog: the next one must start where this one ended. The PrevVClock chain
 * (rule 13) proves no file is missing, not that each file still holds all its rows: an xlog
 * whose fdatasync failed (logged, write mode) and then lost its unsynced tail to a power loss
 * ends early, and replaying the next file on top would silently skip the rows in between.
 * As for a missing file: XlogGapError, or with force_recovery a warning and go on.
 */
function checkNoRowsMissing(
  options: RecoveryOptions,
  path: string,
  next: XlogFileInfo,
  vclock: Vclock,
): void {
  const start = next.meta?.vclock;
  if (start === undefined || start.isLessOrEqual(vclock)) return;
  const gap = new XlogGapError(
    vclock.signature(),
    vclock.toString(),
    start.signature(),
    start.toString(),
  );
  const where = `\`${path}' ends at ${vclock}, \`${next.path}' starts at ${start}`;
  if (!options.forceRecovery) {
    options.logger.error(`${gap.message}: ${where}`);
    throw gap;
  }
  options.logger.warn(`${gap.message}: ${where}: ignoring a gap in LSN`);
}

class Progress {
  private last = performance.now();
  private lastRows = 0;
  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}
  tick(rows: number): void {
    const now = performance.now();
    if (now - this.last < this.intervalMs) return;
    const rate = ((rows - this.lastRows) / (now - this.last)) * 1000;
    this.logger.info(`${(rows / 1e6).toFixed(1)}M rows processed (${Math.round(rate)} rows/s)`);
    this.last = now;
    this.lastRows = rows;
  }
}
