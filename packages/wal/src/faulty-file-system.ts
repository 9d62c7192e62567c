// FaultyFileSystem: a FileSystem that wraps a real one and injects the faults a storage engine
// must survive. Layer: wal, test support (exported as '@tarantype/wal/testing').
//
// Fault model (what can happen to one operation):
// - write: succeeds whole; or fails with EIO/ENOSPC having written nothing; or is *torn*:
//   only a prefix of its bytes reaches the file, then it fails (EIO) — a crash or device error
//   in the middle of a write.
// - datasync: succeeds; or fails (EIO) — the data written before it may or may not be durable,
//   so callers must treat the transaction as failed (as after Linux's "fsyncgate").
// - read: may return fewer bytes than asked (a short read, never zero before EOF); callers loop.
// - truncate, rename, unlink, create: succeed or fail with the injected code, with no effect.
// - limitSpace(): a disk of a given capacity. A write that would take the bytes in use past it
//   writes the prefix that fits and then fails with ENOSPC (what a short write() followed by
//   an ENOSPC write() leaves); truncate, unlink and a rename over a file give space back.
// - crash(): the process "dies" at that instant: every later operation on any file fails with
//   EIO and nothing more changes on disk; the files are left exactly as they were (torn tails
//   included), which is what a restarted process finds after kill -9.
// Not modelled: bit rot inside the file system (tests flip bits in files directly), reordering
// of writes across a power loss (we never claim durability without datasync).
// Faults are either scheduled (failNext, tearNextWrite) or random with a seeded PRNG
// (randomFaults), so every failing run can be replayed.
import type { FileHandle, FileSystem, OpenMode } from './file-system.js';

export type FaultOperation =
  | 'open'
  | 'write'
  | 'datasync'
  | 'truncate'
  | 'rename'
  | 'unlink'
  | 'read'
  | 'syncDir';

export interface FaultRule {
  readonly operation: FaultOperation;
  readonly code: 'EIO' | 'ENOSPC' | 'EACCES';
  /** Only paths containing this substring. */
  readonly pathIncludes?: string;
  /** For writes: bytes of the write that reach the file before the failure (a torn write). */
  readonly keepBytes?: number;
  /** Matching operations to let through before this rule fires. */
  skip: number;
  /** Times the rule fires before it is removed. */
  remaining: number;
}

export interface FaultCounts {
  open: number;
  write: number;
  datasync: number;
  truncate: number;
  rename: number;
  unlink: number;
  read: number;
  syncDir: number;
  injected: number;
  /** Writes refused by limitSpace's capacity (counted in `injected` too). */
  noSpace: number;
}

export interface RandomFaults {
  readonly seed: number;
  /** Probability that a write fails (half of the failures are torn). */
  readonly writeFailureRate?: number;
  readonly syncFailureRate?: number;
  readonly shortReads?: boolean;
}

export function errnoError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const errnos: Record<string, number> = { EIO: -5, ENOSPC: -28, EACCES: -13 };
  return Object.assign(new Error(`${code}: injected fault, ${syscall} '${path}'`), {
    code,
    errno: errnos[code] ?? -5,
    syscall,
    path,
  });
}

/** mulberry32: a small seeded PRNG (deterministic fault schedules). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultyFileSystem implements FileSystem {
  readonly counts: FaultCounts = {
    open: 0,
    write: 0,
    datasync: 0,
    truncate: 0,
    rename: 0,
    unlink: 0,
    read: 0,
    syncDir: 0,
    injected: 0,
    noSpace: 0,
  };
  /** limitSpace's capacity; undefined: unlimited. */
  private capacityBytes: number | undefined;
  /** Bytes in use on the modelled disk (tracked once limitSpace was called). */
  private usedBytesNow = 0;
  private rules: FaultRule[] = [];
  private crashed = false;
  private random: (() => number) | undefined;
  private randomFaults: RandomFaults | undefined;

  constructor(private readonly inner: FileSystem) {}

  /** The next `count` matching operations (after skipping `skip`) fail with `code`. */
  failNext(
    operation: FaultOperation,
    code: FaultRule['code'] = 'EIO',
    options: { pathIncludes?: string; skip?: number; count?: number } = {},
  ): void {
    this.rules.push({
      operation,
      code,
      ...(options.pathIncludes === undefined ? {} : { pathIncludes: options.pathIncludes }),
      skip: options.skip ?? 0,
      remaining: options.count ?? 1,
    });
  }

  /** The next write keeps only its first `keepBytes` bytes, then fails with EIO. */
  tearNextWrite(keepBytes: number, options: { pathIncludes?: string; skip?: number } = {}): void {
    this.rules.push({
      operation: 'write',
      code: 'EIO',
      keepBytes,
      ...(options.pathIncludes === undefined ? {} : { pathIncludes: options.pathIncludes }),
      skip: options.skip ?? 0,
      remaining: 1,
    });
  }

  /** Random faults from a seeded PRNG (replayable). */
  setRandomFaults(faults: RandomFaults | undefined): void {
    this.randomFaults = faults;
    this.random = faults === undefined ? undefined : seededRandom(faults.seed);
  }

  /**
   * Models a disk of `capacityBytes` holding the files of `dirs` (their sizes now are what is
   * in use; without `dirs` the bytes in use stay as tracked). Only changes made through this
   * file system are tracked afterwards. `undefined` lifts the limit.
   */
  async limitSpace(capacityBytes: number | undefined, dirs?: readonly string[]): Promise<void> {
    this.capacityBytes = capacityBytes;
    if (dirs === undefined) return;
    let used = 0;
    for (const dir of dirs) {
      const names = await this.inner.readdir(dir).catch(() => [] as string[]);
      for (const name of names) used += (await this.inner.size(`${dir}/${name}`)) ?? 0;
    }
    this.usedBytesNow = used;
  }

  /** Bytes in use on the modelled disk (see limitSpace). */
  get usedBytes(): number {
    return this.usedBytesNow;
  }

  /** Bytes left before ENOSPC; Infinity without a limit. */
  get freeBytes(): number {
    return this.capacityBytes === undefined
      ? Number.POSITIVE_INFINITY
      : Math.max(0, this.capacityBytes - this.usedBytesNow);
  }

  /**
   * A file grows by `growthBytes`: returns how many of them fit, and takes them (no await
   * between the check and the reservation, so concurrent writes cannot both take the last bytes).
   */
  reserve(growthBytes: number): number {
    if (growthBytes <= 0) return growthBytes;
    const fits = Math.min(growthBytes, this.freeBytes);
    this.usedBytesNow += fits;
    return fits;
  }

  /** A file shrank or went away: its bytes are free again. */
  release(bytes: number): void {
    if (bytes > 0) this.usedBytesNow = Math.max(0, this.usedBytesNow - bytes);
  }

  /** From now on every operation fails and nothing changes: the process died. */
  crash(): void {
    this.crashed = true;
  }

  clearFaults(): void {
    this.rules = [];
    this.setRandomFaults(undefined);
  }

  /** Returns the rule that fires for this operation, if any (consuming it). */
  take(operation: FaultOperation, path: string): FaultRule | undefined {
    this.counts[operation]++;
    if (this.crashed) return { operation, code: 'EIO', skip: 0, remaining: 1 };
    for (const rule of this.rules) {
      if (rule.operation !== operation) continue;
      if (rule.pathIncludes !== undefined && !path.includes(rule.pathIncludes)) continue;
      if (rule.skip > 0) {
        rule.skip--;
        continue;
      }
      rule.remaining--;
      if (rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
      this.counts.injected++;
      return rule;
    }
    return this.randomRule(operation);
  }

  private randomRule(operation: FaultOperation): FaultRule | undefined {
    const faults = this.randomFaults;
    const random = this.random;
    if (faults === undefined || random === undefined) return undefined;
    if (operation === 'write' && random() < (faults.writeFailureRate ?? 0)) {
      this.counts.injected++;
      const torn = random() < 0.5;
      return { operation, code: 'EIO', skip: 0, remaining: 1, ...(torn ? { keepBytes: -1 } : {}) };
    }
    if (operation === 'datasync' && random() < (faults.syncFailureRate ?? 0)) {
      this.counts.injected++;
      return { operation, code: 'EIO', skip: 0, remaining: 1 };
    }
    return undefined;
  }

  /** Bytes to keep for a torn write (keepBytes -1 = a random prefix). */
  tornLength(rule: FaultRule, length: number): number {
    if (rule.keepBytes === undefined) return 0;
    if (rule.keepBytes >= 0) return Math.min(rule.keepBytes, length);
    return Math.floor((this.random?.() ?? 0.5) * length);
  }

  shortRead(length: number): number {
    if (this.randomFaults?.shortReads !== true || length <= 1) return length;
    return 1 + Math.floor((this.random?.() ?? 0.5) * (length - 1));
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const rule = this.take('open', path);
    if (rule !== undefined) throw errnoError(rule.code, 'open', path);
    return new FaultyFileHandle(this, await this.inner.open(path, mode), path);
  }

  readdir(dir: string): Promise<string[]> {
    return this.inner.readdir(dir);
  }

  size(path: string): Promise<number | undefined> {
    return this.inner.size(path);
  }

  async rename(from: string, to: string): Promise<void> {
    const rule = this.take('rename', from);
    if (rule !== undefined) throw errnoError(rule.code, 'rename', from);
    const replaced = (await this.inner.size(to)) ?? 0;
    await this.inner.rename(from, to);
    this.release(replaced);
  }

  async unlink(path: string): Promise<void> {
    const rule = this.take('unlink', path);
    if (rule !== undefined) throw errnoError(rule.code, 'unlink', path);
    const size = (await this.inner.size(path)) ?? 0;
    await this.inner.unlink(path);
    this.release(size);
  }

  mkdir(dir: string): Promise<void> {
    return this.inner.mkdir(dir);
  }

  async syncDir(dir: string): Promise<void> {
    const rule = this.take('syncDir', dir);
    if (rule !== undefined) throw errnoError(rule.code, 'fsync', dir);
    await this.inner.syncDir(dir);
  }
}

class FaultyFileHandle implements FileHandle {
  constructor(
    private readonly owner: FaultyFileSystem,
    private readonly inner: FileHandle,
    private readonly path: string,
  ) {}

  async write(data: Uint8Array, position: number): Promise<void> {
    const rule = this.owner.take('write', this.path);
    if (rule === undefined) return this.writeWithinSpace(data, position);
    const keep = this.owner.tornLength(rule, data.length);
    if (keep > 0) await this.writeWithinSpace(data.subarray(0, keep), position);
    throw errnoError(rule.code, 'write', this.path);
  }

  /** Writes what fits on the modelled disk; ENOSPC after the prefix that fits. */
  private async writeWithinSpace(data: Uint8Array, position: number): Promise<void> {
    if (this.owner.freeBytes === Number.POSITIVE_INFINITY) return this.inner.write(data, position);
    const size = await this.inner.size();
    const growth = position + data.length - size;
    const fits = this.owner.reserve(growth);
    if (fits >= growth) return this.inner.write(data, position);
    const keep = size + fits - position;
    if (keep > 0) await this.inner.write(data.subarray(0, keep), position);
    this.owner.counts.noSpace++;
    this.owner.counts.injected++;
    throw errnoError('ENOSPC', 'write', this.path);
  }

  async read(into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const rule = this.owner.take('read', this.path);
    if (rule !== undefined) throw errnoError(rule.code, 'read', this.path);
    return this.inner.read(into, offset, this.owner.shortRead(length), position);
  }

  async datasync(): Promise<void> {
    const rule = this.owner.take('datasync', this.path);
    if (rule !== undefined) throw errnoError(rule.code, 'fdatasync', this.path);
    await this.inner.datasync();
  }

  async truncate(length: number): Promise<void> {
    const rule = this.owner.take('truncate', this.path);
    if (rule !== undefined) throw errnoError(rule.code, 'ftruncate', this.path);
    const size = await this.inner.size();
    await this.inner.truncate(length);
    if (length < size) this.owner.release(size - length);
    else this.owner.reserve(length - size);
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
