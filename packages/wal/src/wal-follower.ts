// The follower: every row after a vclock, first from the files, then live as the journal
// writes them. Layer: wal. The relay (replication) uses it to feed a replica; recovery does
// not (it reads files with XlogCursor directly).
// It reads a file the journal is appending to only up to the journal's committed position, so
// it never sees a half-written or later-truncated transaction. It yields to the event loop
// every `yieldEveryRows` rows so a long catch-up scan cannot starve heartbeats and requests.
// Invariant: every yielded row has lsn > the follower's progress vclock for its replica_id, in
// file order; files are checked for continuity (XlogGapError when rows are missing).
import { type Hasher, type Vclock, XlogGapError, type Xrow } from '@tarantype/core';
import type { FileSystem } from './file-system.js';
import type { WalPosition, WalWriter } from './journal.js';
import { XlogCursor } from './xlog-cursor.js';
import { XlogDir, type XlogFileInfo } from './xlog-dir.js';

export interface FollowOptions {
  readonly fs: FileSystem;
  readonly dir: string;
  readonly hasher: Hasher;
  /** Rows with lsn ≤ from[replica_id] are skipped. */
  readonly from: Vclock;
  /** The live journal writing into `dir`; without it the follower stops at the end of the files. */
  readonly journal?: WalWriter;
  readonly signal?: AbortSignal;
  /** Yield to the event loop after this many rows (default 1000). */
  readonly yieldEveryRows?: number;
}

/** An async stream of transactions (rows after `from`, rows at or below it filtered out). */
export async function* followWal(options: FollowOptions): AsyncGenerator<Xrow[], void, undefined> {
  const { fs, dir, hasher, journal, signal } = options;
  const progress = options.from.copy();
  const yieldEvery = options.yieldEveryRows ?? 1000;
  let sinceYield = 0;
  const waiter = new WriteWaiter(journal, signal);
  try {
    let current = await firstFile(fs, dir, hasher, progress, waiter);
    while (current !== undefined) {
      const cursor = await XlogCursor.open(fs, current.path, 'XLOG', hasher);
      if (cursor === undefined) {
        current = await nextFile(fs, dir, hasher, current, waiter);
        continue;
      }
      try {
        for (;;) {
          signal?.throwIfAborted();
          const generation = waiter.generation;
          const position = journal?.position();
          const live = position !== undefined && position.path === current.path;
          const transaction = await cursor.next(live ? position.offset : undefined);
          if (transaction !== undefined) {
            const rows = transaction.rows.filter((row) => row.lsn > progress.get(row.replica_id));
            if (rows.length === 0) continue;
            for (const row of rows) progress.set(row.replica_id, row.lsn);
            yield rows;
            sinceYield += rows.length;
            if (sinceYield >= yieldEvery) {
              sinceYield = 0;
              await new Promise<void>((resolve) => setImmediate(resolve));
            }
            continue;
          }
          if (live) {
            await waiter.wait(generation);
            continue;
          }
          if (cursor.end === 'eof-marker') break;
          // Ended without its marker: finished if a newer file exists, else it may still grow.
          const newer = await nextFileNow(fs, dir, hasher, current);
          if (newer !== undefined || journal === undefined) break;
          cursor.resume();
          await waiter.wait(generation);
        }
      } finally {
        await cursor.close();
      }
      current = await nextFile(fs, dir, hasher, current, waiter);
    }
  } finally {
    waiter.dispose();
  }
}

/** Resolves on the journal's next write or file close (or abort). */
class WriteWaiter {
  /** Incremented on every journal notification: a wait for an older generation returns at once. */
  generation = 0;
  private pending: (() => void) | undefined;
  private readonly unsubscribe: (() => void) | undefined;
  private readonly onAbort = () => this.pending?.();

  constructor(
    readonly journal: WalWriter | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.unsubscribe = journal?.onWrite((_position: WalPosition) => {
      this.generation++;
      const resolve = this.pending;
      this.pending = undefined;
      resolve?.();
    });
    signal?.addEventListener('abort', this.onAbort);
  }

  /** Waits for a notification newer than `since` (a generation read before the last look). */
  wait(since: number): Promise<void> {
    this.signal?.throwIfAborted();
    if (since !== this.generation) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.pending = resolve;
    }).then(() => this.signal?.throwIfAborted());
  }

  dispose(): void {
    this.unsubscribe?.();
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}

async function firstFile(
  fs: FileSystem,
  dir: string,
  hasher: Hasher,
  from: Vclock,
  waiter: WriteWaiter,
): Promise<XlogFileInfo | undefined> {
  for (;;) {
    const generation = waiter.generation;
    const scanned = await XlogDir.scan(fs, dir, 'XLOG', hasher);
    const index = scanned.indexFor(from);
    if (index === -1) {
      const first = scanned.files[0]!.meta!;
      throw new XlogGapError(
        from.signature(),
        from.toString(),
        first.vclock.signature(),
        first.vclock.toString(),
      );
    }
    if (index !== undefined) return scanned.files[index];
    if (waiter.journal === undefined) return undefined;
    await waiter.wait(generation);
  }
}

async function nextFileNow(
  fs: FileSystem,
  dir: string,
  hasher: Hasher,
  after: XlogFileInfo,
): Promise<XlogFileInfo | undefined> {
  const scanned = await XlogDir.scan(fs, dir, 'XLOG', hasher);
  const next = scanned.files.find((file) => file.signature > after.signature);
  if (next === undefined) return undefined;
  const expected = after.meta?.vclock;
  const previous = next.meta?.prevVclock;
  if (expected !== undefined && previous !== undefined && !previous.equals(expected)) {
    // The file after `after` does not continue it: rows are missing in between.
    throw new XlogGapError(
      expected.signature(),
      expected.toString(),
      next.meta!.vclock.signature(),
      next.meta!.vclock.toString(),
    );
  }
  return next;
}

async function nextFile(
  fs: FileSystem,
  dir: string,
  hasher: Hasher,
  after: XlogFileInfo,
  waiter: WriteWaiter,
): Promise<XlogFileInfo | undefined> {
  for (;;) {
    const generation = waiter.generation;
    const next = await nextFileNow(fs, dir, hasher, after);
    if (next !== undefined || waiter.journal === undefined) return next;
    await waiter.wait(generation);
  }
}
