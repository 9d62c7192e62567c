// The snapshot directory: which `.snap` files exist, the newest one, leftovers of crashed
// snapshots, and garbage collection keeping `checkpoint_count` snapshots. Layer: snapshot.
// FORMAT.md §8. Scanning reads only meta headers and never changes the directory; only
// removeInprogress() and collectGarbage() delete files, and GC never deletes the newest
// `checkpoint_count` snapshots. A damaged header is recorded, never skipped silently: which
// snapshot to start from is box's decision, not a guess made here.

import { join } from 'node:path';
import { assert, type Hasher, type Vclock, XlogError } from '@tarantype/core';
import {
  type FileSystem,
  type Logger,
  parseXlogFileName,
  silentLogger,
  XlogCursor,
  type XlogMeta,
} from '@tarantype/wal';
import { io, wrapIo } from './io.js';

export interface SnapshotFileInfo {
  readonly path: string;
  /** The signature in the file name. */
  readonly signature: number;
  /** The meta header; undefined when it is incomplete or invalid (then `error` says why). */
  readonly meta: XlogMeta | undefined;
  readonly error?: XlogError;
}

export interface SnapshotGcResult {
  /** Paths removed, oldest first. */
  readonly removed: readonly string[];
  /** Paths kept, oldest first. */
  readonly kept: readonly string[];
  /**
   * VClock of the oldest kept snapshot: xlogs wholly below it are no longer needed. Undefined
   * when there is no snapshot or its header is damaged: then nothing may be trimmed.
   */
  readonly oldestKeptVclock: Vclock | undefined;
}

export class SnapshotDir {
  private constructor(
    readonly dir: string,
    private snapshots: SnapshotFileInfo[],
    private leftovers: string[],
    private readonly fs: FileSystem,
  ) {}

  /** Lists `dir` and reads the meta header of every `.snap` file in it. */
  static async scan(fs: FileSystem, dir: string, hasher: Hasher): Promise<SnapshotDir> {
    const names = await io('readdir', dir, fs.readdir(dir));
    const files: SnapshotFileInfo[] = [];
    const inprogress: string[] = [];
    for (const name of names) {
      const parsed = parseXlogFileName(name);
      if (parsed === undefined || parsed.type !== 'SNAP') continue;
      const path = join(dir, name);
      if (parsed.inprogress) inprogress.push(path);
      else files.push(await describe(fs, path, parsed.signature, hasher));
    }
    files.sort((a, b) => a.signature - b.signature);
    inprogress.sort();
    return new SnapshotDir(dir, files, inprogress, fs);
  }

  /** `.snap` files, oldest (smallest signature) first. */
  get files(): readonly SnapshotFileInfo[] {
    return this.snapshots;
  }

  /** Leftover `.snap.inprogress` files: snapshots that crashed. Never read. */
  get inprogress(): readonly string[] {
    return this.leftovers;
  }

  /** The newest snapshot (recovery starts from it), damaged or not; undefined if none. */
  latest(): SnapshotFileInfo | undefined {
    return this.snapshots[this.snapshots.length - 1];
  }

  /**
   * Deletes leftover `.snap.inprogress` files, each logged as Tarantool 2.6 logs it at
   * startup ("I> removed ./<name>.snap.inprogress"); returns how many.
   */
  async removeInprogress(logger: Logger = silentLogger): Promise<number> {
    const count = this.leftovers.length;
    for (const path of this.leftovers) {
      await io('unlink', path, this.fs.unlink(path));
      logger.info(`removed ${path}`);
    }
    this.leftovers = [];
    return count;
  }

  /**
   * Keeps the newest `checkpointCount` (≥ 1) snapshots and removes the older ones, oldest
   * first. Returns what it removed and the vclock box may trim the WAL up to.
   */
  async collectGarbage(
    checkpointCount: number,
    logger: Logger = silentLogger,
  ): Promise<SnapshotGcResult> {
    assert(
      Number.isInteger(checkpointCount) && checkpointCount >= 1,
      `checkpoint_count ${checkpointCount} must be ≥ 1`,
    );
    const keepFrom = Math.max(0, this.snapshots.length - checkpointCount);
    const removed: string[] = [];
    while (this.snapshots.length > checkpointCount) {
      const oldest = this.snapshots[0]!;
      await io('unlink', oldest.path, this.fs.unlink(oldest.path));
      logger.info(`removed ${oldest.path}`);
      removed.push(oldest.path);
      this.snapshots = this.snapshots.slice(1);
    }
    assert(removed.length === keepFrom, 'snapshot GC removed an unexpected number of files');
    const oldestKept = this.snapshots[0];
    return {
      removed,
      kept: this.snapshots.map((file) => file.path),
      oldestKeptVclock: oldestKept?.meta?.vclock.copy(),
    };
  }
}

/** Reads one file's meta header; a damaged header becomes `error`, not an exception. */
async function describe(
  fs: FileSystem,
  path: string,
  signature: number,
  hasher: Hasher,
): Promise<SnapshotFileInfo> {
  let cursor: XlogCursor | undefined;
  try {
    cursor = await XlogCursor.open(fs, path, 'SNAP', hasher);
  } catch (error) {
    if (error instanceof XlogError) return { path, signature, meta: undefined, error };
    throw wrapIo('open', path, error);
  }
  if (cursor === undefined) {
    return {
      path,
      signature,
      meta: undefined,
      error: new XlogError(`snapshot '${path}' is truncated: incomplete meta header`),
    };
  }
  await cursor.close();
  const metaSignature = cursor.meta.vclock.signature();
  if (metaSignature !== signature)
    return {
      path,
      signature,
      meta: undefined,
      error: invalidNameError(path, metaSignature, signature),
    };
  return { path, signature, meta: cursor.meta };
}

/** FORMAT.md S2, with Tarantool's ER_INVALID_XLOG_NAME text. */
export function invalidNameError(path: string, expected: number, got: number): XlogError {
  return new XlogError(`${path}: Invalid xlog name: expected ${expected} got ${got}`);
}
