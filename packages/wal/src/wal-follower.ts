// The follower: every row after a vclock, first from the files, then live as the journal
// writes them. Layer: wal. The relay (replication) uses it to feed a replica; recovery does
// not (it reads files with XlogCursor directly).
// It reads a file the journal is appending to only up to the journal's committed position, so
// it never sees a half-written or later-truncated transaction. It yields to the event loop
// every `yieldEveryRows` rows so a long catch-up scan cannot starve heartbeats and requests.
// Once it has caught up with the journal, it serves new transactions from memory (the
// journal's onCommit feed) instead of re-reading the file after every write; the feed is
// bounded (LIVE_FEED_BYTES_MAX): a follower that falls behind by more drops it and reads the
// files again from its progress, so a slow reader costs disk reads, never unbounded memory.
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
  /** Bytes of row bodies the live feed may hold before it is dropped (default LIVE_FEED_BYTES_MAX). */
  readonly liveFeedBytesMax?: number;
}

/** Bytes (of row bodies) a follower's live feed holds at most: beyond, it reads the files again. */
export const LIVE_FEED_BYTES_MAX = 16 * 1024 * 1024;

/** An async stream of transactions (rows after `from`, rows at or below it filtered out). */
export async function* followWal(options: FollowOptions): AsyncGenerator<Xrow[], void, undefined> {
  const { fs, dir, hasher, journal, signal } = options;
  const progress = options.from.copy();
  const yieldEvery = options.yieldEveryRows ?? 1000;
  let sinceYield = 0;
  const waiter = new WriteWaiter(journal, signal);
  const feed =
    journal === undefined
      ? undefined
      : new LiveFeed(journal, options.liveFeedBytesMax ?? LIVE_FEED_BYTES_MAX, signal);
  /** After `rows` rows (yielded or skipped), lets the event loop run every yieldEvery rows. */
  const paced = async (rows: number): Promise<void> => {
    sinceYield += rows;
    if (sinceYield < yieldEvery) return;
    sinceYield = 0;
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
  const fresh = (rows: readonly Xrow[]): Xrow[] | undefined => {
    const out = rows.filter((row) => row.lsn > progress.get(row.replica_id));
    if (out.length === 0) return undefined;
    for (const row of out) progress.set(row.replica_id, row.lsn);
    return out;
  };
  try {
    let current = await firstFile(fs, dir, hasher, progress, waiter);
    while (current !== undefined) {
      const cursor = await XlogCursor.open(fs, current.path, 'XLOG', hasher);
      if (cursor === undefined) {
        current = await nextFile(fs, dir, hasher, current, waiter);
        continue;
      }
      // Where the journal remembers that every row before is at or below the progress.
      const skip = journal?.skipPoint?.(current.path, progress);
      if (skip !== undefined) cursor.skipTo(skip);
      let caughtUp = false;
      try {
        for (;;) {
          signal?.throwIfAborted();
          const generation = waiter.generation;
          // Armed before the journal's position is read: every commit after this moment is in
          // the feed, every commit before it is at or below that position.
          const armed = feed?.arm() ?? false;
          const position = journal?.position();
          const live = position !== undefined && position.path === current.path;
          const transaction = await cursor.next(live ? position.offset : undefined);
          if (transaction !== undefined) {
            // The part of a file the reader already has: skipped from the headers alone, but
            // counted, so a long skip still lets heartbeats and requests run.
            const rows = transaction.allAtOrBelow(progress) ? undefined : fresh(transaction.rows);
            if (rows !== undefined) yield rows;
            await paced(transaction.rowCount);
            continue;
          }
          if (live) {
            if (armed && feed!.healthy) {
              caughtUp = true;
              break;
            }
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
      if (caughtUp) {
        // Live: from memory until the feed overflows, then back to the files.
        for (;;) {
          const transaction = await feed!.next();
          if (transaction === undefined) break;
          const rows = fresh(transaction);
          if (rows === undefined) continue;
          yield rows;
          await paced(rows.length);
        }
        current = await firstFile(fs, dir, hasher, progress, waiter);
        continue;
      }
      current = await nextFile(fs, dir, hasher, current, waiter);
    }
  } finally {
    feed?.dispose();
    waiter.dispose();
  }
}

/**
 * The journal's committed transactions, queued for one follower, bounded. Overflowing drops
 * the queue and marks the feed unhealthy until the follower re-arms it from the files.
 */
class LiveFeed {
  private queue: (readonly Xrow[])[] = [];
  private head = 0;
  private bytes = 0;
  healthy = false;
  private pending: (() => void) | undefined;
  private readonly unsubscribe: () => void;
  private readonly onAbort = () => this.wake();

  constructor(
    journal: WalWriter,
    private readonly bytesMax: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.unsubscribe = journal.onCommit((transactions) => {
      if (!this.healthy) return;
      for (const rows of transactions) {
        for (const row of rows) this.bytes += row.body.length + 64;
        this.queue.push(rows);
      }
      if (this.bytes > this.bytesMax) this.drop();
      this.wake();
    });
    signal?.addEventListener('abort', this.onAbort);
  }

  /** Starts (or keeps) collecting; true when collecting was already on and nothing was lost. */
  arm(): boolean {
    if (this.healthy) return true;
    this.healthy = true;
    return false;
  }

  /** The next committed transaction; undefined once the feed overflowed (read the files). */
  async next(): Promise<readonly Xrow[] | undefined> {
    for (;;) {
      this.signal?.throwIfAborted();
      if (!this.healthy) return undefined;
      if (this.head < this.queue.length) {
        const rows = this.queue[this.head]!;
        this.queue[this.head++] = EMPTY_TRANSACTION;
        for (const row of rows) this.bytes -= row.body.length + 64;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        return rows;
      }
      await new Promise<void>((resolve) => {
        this.pending = resolve;
      });
    }
  }

  private drop(): void {
    this.healthy = false;
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
  }

  private wake(): void {
    const resolve = this.pending;
    this.pending = undefined;
    resolve?.();
  }

  dispose(): void {
    this.unsubscribe();
    this.signal?.removeEventListener('abort', this.onAbort);
    this.drop();
    this.wake();
  }
}

const EMPTY_TRANSACTION: readonly Xrow[] = [];

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
