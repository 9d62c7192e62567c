// The checkpoint daemon: box.snapshot(), the checkpoint_interval timer, and garbage
// collection of snapshots (checkpoint_count) and xlogs (what no kept checkpoint, GC consumer
// or open JOIN needs). Layer: box. It reads memory only through memtx read views and holds
// writers only for the instant it takes them (the write path's barrier).
// Invariant: an xlog is removed only when every row in it is covered by the oldest kept
// checkpoint and by every GC consumer.
import { ClientError, ErrorCode, type Hasher, type Vclock } from '@tarantype/core';
import {
  SnapshotDir,
  type SnapshotSource,
  type SnapshotWriteResult,
  writeSnapshot,
} from '@tarantype/snapshot';
import {
  type FileSystem,
  type Logger,
  type WalWriter,
  XlogDir,
  xlogFileName,
} from '@tarantype/wal';
import type { Catalog, SpaceEntry } from './catalog.js';
import type { BoxConfig } from './cfg.js';
import type { GcConsumers } from './gc-consumers.js';
import { ProgressReporter, type ProgressSink } from './progress.js';
import type { TxnManager } from './txn.js';
import type { WritePath } from './write-path.js';

export interface CheckpointInfo {
  readonly vclock: Vclock;
  readonly signature: number;
}

/** What the checkpoint daemon reads of its instance. */
export interface CheckpointHost {
  readonly fs: FileSystem;
  readonly hasher: Hasher;
  readonly logger: Logger;
  readonly memtxDir: string;
  readonly walDir: string;
  readonly catalog: Catalog;
  readonly txns: TxnManager;
  readonly writes: WritePath;
  readonly gcConsumers: GcConsumers;
  readonly config: () => Readonly<BoxConfig>;
  readonly journal: () => WalWriter;
  readonly instanceUuid: () => string;
  readonly status: () => string;
  /** Progress of snapshot writing ('checkpoint' tasks); none when undefined. */
  readonly onProgress?: ProgressSink | undefined;
}

export class CheckpointDaemon {
  /** Checkpoints kept on disk, oldest first. */
  checkpoints: CheckpointInfo[] = [];
  checkpointInProgress = false;
  /** The newest checkpoint's vclock: a box.snapshot() with nothing new after it is a no-op. */
  lastCheckpointVclock: Vclock | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;

  constructor(private readonly host: CheckpointHost) {}

  /** Read views of every saved space at `vclock` (temporary and virtual spaces left out). */
  snapshotSource(vclock: Vclock): SnapshotSource {
    const views: Array<{
      entry: SpaceEntry;
      view: ReturnType<NonNullable<SpaceEntry['memtx']>['readView']>;
    }> = [];
    for (const entry of [...this.host.catalog.byId.values()].sort((a, b) => a.def.id - b.def.id)) {
      if (entry.memtx === undefined || entry.def.temporary || entry.memtx.index(0) === undefined)
        continue;
      views.push({ entry, view: entry.memtx.readView() });
    }
    return {
      vclock: vclock.copy(),
      spaces: views.map(({ entry, view }) => ({
        id: entry.def.id,
        groupId: entry.def.group_id,
        count: view.len,
        tuples: () => view.tuples(),
        cursor: () => view.cursor(),
      })),
      release: () => {
        for (const { view } of views) view.close();
      },
    };
  }

  /**
   * box.snapshot(): a checkpoint. Waits for a moment with no transaction open or in flight
   * (new writes wait briefly at a barrier), takes read views and the vclock at that instant,
   * rotates the WAL so the next xlog starts at the checkpoint, lets writes continue, then
   * writes the snapshot from the read views and collects old snapshots and xlogs.
   */
  async snapshot(): Promise<void> {
    if (this.checkpointInProgress) throw new ClientError(ErrorCode.ER_CHECKPOINT_IN_PROGRESS);
    this.checkpointInProgress = true;
    try {
      const source = await this.host.writes.atQuietMoment(async () => {
        // The vclock and the read views at one instant (no await between them): memory holds
        // exactly what the WAL has, nothing open or in flight. A transaction begun earlier
        // may write right after; its rows get LSNs above this vclock and are replayed.
        const source = this.snapshotSource(this.host.journal().vclock.copy());
        try {
          await this.host.journal().rotate();
          // The next xlog starts at the checkpoint: recovery reads from it, not the old file.
          await this.host.journal().openFile();
        } catch (error) {
          source.release();
          throw error;
        }
        return source;
      });
      if (
        this.lastCheckpointVclock !== undefined &&
        source.vclock.equals(this.lastCheckpointVclock)
      ) {
        source.release();
        // No new file, but garbage is still collected, as in Tarantool 2.6: a checkpoint_count
        // lowered since the last checkpoint takes effect at the next box.snapshot().
        await this.collectGarbage();
        return;
      }
      const result = await this.writeSnapshot(source, this.host.config().snap_io_rate_limit);
      this.lastCheckpointVclock = result.vclock;
      await this.collectGarbage();
    } finally {
      this.checkpointInProgress = false;
    }
  }

  /**
   * Writes `source` into memtx_dir (writeSnapshot), reported as a 'checkpoint' task of its
   * tuples when the host has a progress sink. Bootstrap and a join's first snapshot use it too.
   */
  async writeSnapshot(
    source: SnapshotSource,
    ioRateLimitMBps?: number | undefined,
  ): Promise<SnapshotWriteResult> {
    const { host } = this;
    const reporter = ProgressReporter.start(host.onProgress, {
      task: 'checkpoint',
      detail: `snapshot ${xlogFileName(source.vclock.signature(), 'SNAP')}`,
      unit: 'tuples',
      total: countTuples(source),
    });
    try {
      const result = await writeSnapshot({
        fs: host.fs,
        dir: host.memtxDir,
        hasher: host.hasher,
        instanceUuid: host.instanceUuid(),
        source,
        logger: host.logger,
        ...(ioRateLimitMBps === undefined ? {} : { ioRateLimitMBps }),
        // Every block (the reporter throttles); no hook at all without a sink.
        ...(reporter === undefined
          ? {}
          : { progressIntervalMs: 0, onProgress: (p) => reporter.update(p.rows, p.bytes) }),
      });
      reporter?.finish('done');
      return result;
    } finally {
      reporter?.finish('failed');
    }
  }

  async scanCheckpoints(): Promise<CheckpointInfo[]> {
    const snaps = await SnapshotDir.scan(this.host.fs, this.host.memtxDir, this.host.hasher);
    return snaps.files
      .filter((f) => f.meta !== undefined)
      .map((f) => ({ vclock: f.meta!.vclock, signature: f.signature }));
  }

  /** Keeps checkpoint_count snapshots and removes xlogs no kept checkpoint needs. */
  async collectGarbage(): Promise<void> {
    const snaps = await SnapshotDir.scan(this.host.fs, this.host.memtxDir, this.host.hasher);
    await snaps.collectGarbage(this.host.config().checkpoint_count, this.host.logger);
    this.checkpoints = await this.scanCheckpoints();
    await this.collectWalGarbage();
  }

  /** Removes xlogs wholly below the oldest kept checkpoint; returns how many. */
  async collectWalGarbage(): Promise<number> {
    const oldest = this.checkpoints[0]?.vclock;
    if (oldest === undefined) return 0;
    const xlogs = await XlogDir.scan(this.host.fs, this.host.walDir, 'XLOG', this.host.hasher);
    return (await xlogs.collectGarbage(this.host.gcConsumers.limit(oldest), this.host.logger))
      .length;
  }

  /**
   * The full-disk rule: recovery needs only the newest checkpoint and the xlogs after it, so
   * older snapshots go (whatever checkpoint_count says), and the xlogs only they needed.
   * Returns the files removed (snapshots and xlogs).
   */
  async keepNewestCheckpointOnly(): Promise<number> {
    if (this.checkpoints.length <= 1) return 0;
    const snaps = await SnapshotDir.scan(this.host.fs, this.host.memtxDir, this.host.hasher);
    const { removed } = await snaps.collectGarbage(1, this.host.logger);
    this.checkpoints = await this.scanCheckpoints();
    if (removed.length > 0)
      this.host.logger.warn(
        `disk is full: removed ${removed.length} older snapshot(s), keeping only the newest checkpoint`,
      );
    return removed.length + (await this.collectWalGarbage());
  }

  /** Re-runs WAL GC (after a consumer advanced or left). */
  async collectWalGarbageNow(): Promise<number> {
    return this.collectWalGarbage();
  }

  schedule(): void {
    if (this.checkpointTimer !== undefined) clearInterval(this.checkpointTimer);
    this.checkpointTimer = undefined;
    const seconds = this.host.config().checkpoint_interval;
    if (seconds <= 0 || this.host.status() !== 'running') return;
    this.checkpointTimer = setInterval(() => {
      if (this.checkpointInProgress || this.host.status() !== 'running') return;
      this.snapshot().catch((error: Error) =>
        this.host.logger.error(`checkpoint failed: ${error.message}`),
      );
    }, seconds * 1000);
    this.checkpointTimer.unref();
  }

  stop(): void {
    if (this.checkpointTimer !== undefined) clearInterval(this.checkpointTimer);
    this.checkpointTimer = undefined;
  }
}

/** Tuples of every space of `source`, when each space reported its count. */
function countTuples(source: SnapshotSource): number | undefined {
  let total = 0;
  for (const space of source.spaces) {
    if (space.count === undefined) return undefined;
    total += space.count;
  }
  return total;
}
