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
  };
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
    await this.inner.rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    const rule = this.take('unlink', path);
    if (rule !== undefined) throw errnoError(rule.code, 'unlink', path);
    await this.inner.unlink(path);
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
    if (rule === undefined) return this.inner.write(data, position);
    const keep = this.owner.tornLength(rule, data.length);
    if (keep > 0) await this.inner.write(data.subarray(0, keep), position);
    throw errnoError(rule.code, 'write', this.path);
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
    await this.inner.truncate(length);
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
