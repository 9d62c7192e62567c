// PowerLossDisk: a disk with a page cache in front of it, for power-loss tests. Layer: wal, test
// support (exported as '@tarantype/wal/testing'). kill -9 keeps the page cache, so it cannot tell
// wal_mode fsync and write apart; this model can.
//
// The disk wraps a real FileSystem (write-through: the inner files always hold what a running
// process sees) and keeps, per file, what is *durable*: the bytes a power loss would leave.
// mount() gives a FileSystem for one boot of the machine; every process of that boot uses it.
//
// Fault model (POSIX's promises, not one file system's kindness):
// - A write() is in the page cache only. fdatasync makes durable the writes and truncates issued
//   on that file before the call started (later ones may still be in flight).
// - A create, rename or unlink changes the directory in the page cache only; syncDir(dir) makes
//   the directory's current entries durable. A file whose directory was not synced after its
//   create (or rename) is gone after a power loss, or back under its old name; a file unlinked
//   without a directory sync comes back.
// - A failed fdatasync (failNextSync) behaves as Linux since "fsyncgate": the error is reported
//   once and the dirty pages are marked clean without reaching the device. A later successful
//   fdatasync does not save them; only rewriting the bytes does. Or (reachedDevice) the bytes
//   did reach the device and the error is reported all the same.
// - powerLoss(): the instant the power goes. Every operation of every mount fails with EIO from
//   then on (operations in flight included: their effect, if any, is not durable). By default
//   every byte and entry not made durable is dropped. With `random`, the kernel may have written
//   back part of what was dirty: per file, a prefix (in issue order) of the unsynced writes and
//   truncates survives, the last of them possibly torn at a 512-byte sector boundary; per
//   directory, the page-cache entries may have been committed as a whole.
// - reboot(): waits for the dead mounts' operations in flight to settle, rewrites the inner
//   files to the durable state and returns a new mount.
// Not modelled: reordering of writes to one file across a power loss (only prefixes survive:
// a storage engine never claims durability without a sync, and recovery is tested against
// arbitrary damage by other tests); a directory's own entry in its parent (mkdir is durable);
// bit rot. Files the disk never saw (opened, created, renamed or unlinked through a mount) are
// left alone (tarantype.lock, written by node:fs directly).
import { basename, dirname, join } from 'node:path';
import { errnoError } from './faulty-file-system.js';
import type { FileHandle, FileSystem, OpenMode } from './file-system.js';

/** The sector: the unit a device writes atomically (a torn write keeps whole sectors). */
export const SECTOR_SIZE_BYTES = 512;

type PendingOperation =
  | { readonly kind: 'write'; readonly position: number; readonly data: Uint8Array }
  | { readonly kind: 'truncate'; readonly length: number };

/** One file's durable bytes and the changes since its last successful fdatasync. */
class Inode {
  /** What the device holds. */
  durable: Uint8Array;
  /** Writes and truncates in the page cache only, in issue order. */
  pending: PendingOperation[] = [];

  constructor(durable: Uint8Array) {
    this.durable = durable;
  }

  /** Makes pending operations durable, up to and including `last` (if still pending). */
  persistThrough(last: PendingOperation | undefined): void {
    if (last === undefined) return;
    this.persist(this.pending.indexOf(last) + 1);
  }

  /** Makes the first `count` pending operations durable. */
  persist(count: number): void {
    for (const operation of this.pending.slice(0, count))
      this.durable = apply(this.durable, operation);
    this.pending = this.pending.slice(count);
  }
}

/** A copy (Buffer#slice would share the memory of a Buffer the caller reuses). */
function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function apply(bytes: Uint8Array, operation: PendingOperation): Uint8Array {
  if (operation.kind === 'truncate') {
    if (operation.length <= bytes.length) return copyOf(bytes.subarray(0, operation.length));
    const grown = new Uint8Array(operation.length);
    grown.set(bytes);
    return grown;
  }
  const end = operation.position + operation.data.length;
  const out = end > bytes.length ? new Uint8Array(end) : bytes;
  if (out !== bytes) out.set(bytes);
  out.set(operation.data, operation.position);
  return out;
}

/** A directory's entries: in the page cache (live) and on the device (durable). */
interface Directory {
  live: Map<string, Inode>;
  durable: Map<string, Inode>;
}

export interface PowerLossCounts {
  writes: number;
  datasyncs: number;
  dirSyncs: number;
  failedSyncs: number;
  powerLosses: number;
  /** Files whose unsynced bytes a power loss dropped (wholly or partly). */
  filesWithLostBytes: number;
}

export class PowerLossDisk {
  readonly counts: PowerLossCounts = {
    writes: 0,
    datasyncs: 0,
    dirSyncs: 0,
    failedSyncs: 0,
    powerLosses: 0,
    filesWithLostBytes: 0,
  };
  private readonly directories = new Map<string, Directory>();
  private boot = 0;
  private poweredOff = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly innerHandles = new Set<FileHandle>();
  private syncFailures: Array<{
    pathIncludes: string | undefined;
    skip: number;
    remaining: number;
    reachedDevice: boolean;
  }> = [];
  private operationsUntilPowerLoss: number | undefined;
  private scheduledRandom: (() => number) | undefined;
  private powerLossListeners: Array<() => void> = [];

  constructor(
    readonly inner: FileSystem,
    /**
     * innerSync false: skip the inner fdatasync/fsync calls (the model alone decides what is
     * durable; campaigns run faster and leave the real device alone). Default true.
     */
    private readonly options: { readonly innerSync?: boolean } = {},
  ) {}

  /** Runs the inner sync (or only yields, with innerSync false). */
  innerSync(sync: () => Promise<void>): Promise<void> {
    return this.track(this.options.innerSync === false ? Promise.resolve() : sync());
  }

  /** The file system of the current boot. */
  mount(): FileSystem {
    if (this.poweredOff) throw new Error('mount() after a power loss: call reboot() first');
    return new PowerLossFileSystem(this, this.boot);
  }

  get isPoweredOff(): boolean {
    return this.poweredOff;
  }

  /**
   * The next `count` fdatasyncs of matching paths (after letting `skip` through) fail with EIO,
   * fsyncgate style: the pages are marked clean without reaching the device; with
   * `reachedDevice` they did reach it and the error is reported anyway (a failed sync says
   * nothing of what was written: both must be survivable).
   */
  failNextSync(
    options: { pathIncludes?: string; skip?: number; count?: number; reachedDevice?: boolean } = {},
  ): void {
    this.syncFailures.push({
      pathIncludes: options.pathIncludes,
      skip: options.skip ?? 0,
      remaining: options.count ?? 1,
      reachedDevice: options.reachedDevice ?? false,
    });
  }

  /**
   * The power goes at the start of the `operations`-th operation from now (counting every
   * operation of every mount), before it has any effect. `random` as for powerLoss().
   */
  schedulePowerLoss(operations: number, random?: () => number): void {
    this.operationsUntilPowerLoss = Math.max(1, operations);
    this.scheduledRandom = random;
  }

  /** Resolves at the next power loss (scheduled or not). */
  whenPoweredOff(): Promise<void> {
    if (this.poweredOff) return Promise.resolve();
    return new Promise((resolve) => this.powerLossListeners.push(resolve));
  }

  /** The power goes now (see the file comment for what survives). */
  powerLoss(random?: () => number): void {
    if (this.poweredOff) return;
    this.poweredOff = true;
    this.operationsUntilPowerLoss = undefined;
    this.counts.powerLosses++;
    const inodes = new Set<Inode>();
    for (const directory of this.directories.values()) {
      if (random !== undefined && random() < 0.5) directory.durable = new Map(directory.live);
      for (const inode of directory.live.values()) inodes.add(inode);
      for (const inode of directory.durable.values()) inodes.add(inode);
    }
    for (const inode of inodes) {
      if (inode.pending.length === 0) continue;
      if (random === undefined) {
        inode.pending = [];
        this.counts.filesWithLostBytes++;
        continue;
      }
      const kept = Math.floor(random() * (inode.pending.length + 1));
      inode.persist(kept);
      const torn = inode.pending[0];
      if (torn?.kind === 'write' && random() < 0.5) {
        // Whole sectors of the write that reached the device (by absolute offset).
        const end = torn.position + torn.data.length;
        const firstBoundary = Math.ceil(torn.position / SECTOR_SIZE_BYTES) * SECTOR_SIZE_BYTES;
        const boundaries: number[] = [];
        for (let b = firstBoundary; b < end; b += SECTOR_SIZE_BYTES) boundaries.push(b);
        if (boundaries.length > 0) {
          const cut = boundaries[Math.floor(random() * boundaries.length)]!;
          if (cut > torn.position)
            inode.durable = apply(inode.durable, {
              kind: 'write',
              position: torn.position,
              data: torn.data.subarray(0, cut - torn.position),
            });
        }
      }
      if (inode.pending.length > 0) this.counts.filesWithLostBytes++;
      inode.pending = [];
    }
    const listeners = this.powerLossListeners;
    this.powerLossListeners = [];
    for (const listener of listeners) listener();
  }

  /** The process dies (kill -9) but the machine stays up: the page cache is kept. */
  crashProcesses(): void {
    this.boot++;
  }

  /**
   * Powers the machine back on: waits for the operations the dead mounts had in flight, puts
   * the inner files in their durable state and returns the new boot's mount.
   */
  async reboot(): Promise<FileSystem> {
    if (!this.poweredOff) throw new Error('reboot() without a power loss');
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    for (const handle of this.innerHandles) await handle.close().catch(() => {});
    this.innerHandles.clear();
    for (const [dir, directory] of this.directories) {
      const names = new Set([...directory.live.keys(), ...directory.durable.keys()]);
      for (const name of names)
        if ((await this.inner.size(join(dir, name))) !== undefined)
          await this.inner.unlink(join(dir, name));
      const rebooted = new Map<string, Inode>();
      for (const [name, inode] of directory.durable) {
        const handle = await this.inner.open(join(dir, name), 'create');
        try {
          if (inode.durable.length > 0) await handle.write(inode.durable, 0);
          await handle.datasync();
        } finally {
          await handle.close();
        }
        rebooted.set(name, new Inode(copyOf(inode.durable)));
      }
      await this.inner.syncDir(dir);
      this.directories.set(dir, { live: rebooted, durable: new Map(rebooted) });
    }
    this.boot++;
    this.poweredOff = false;
    this.syncFailures = [];
    return this.mount();
  }

  // {{{ used by the mounts

  /** Counts an operation and throws EIO when the power is off or the mount is dead. */
  enter(boot: number, syscall: string, path: string): void {
    if (this.operationsUntilPowerLoss !== undefined && --this.operationsUntilPowerLoss <= 0)
      this.powerLoss(this.scheduledRandom);
    if (this.poweredOff || boot !== this.boot) throw errnoError('EIO', syscall, path);
  }

  /** Runs an inner operation, tracked so reboot() can wait for it. */
  track<T>(operation: Promise<T>): Promise<T> {
    this.inFlight.add(operation);
    const untrack = () => this.inFlight.delete(operation);
    operation.then(untrack, untrack);
    return operation;
  }

  alive(boot: number): boolean {
    return !this.poweredOff && boot === this.boot;
  }

  directory(dir: string): Directory {
    let directory = this.directories.get(dir);
    if (directory === undefined) {
      directory = { live: new Map(), durable: new Map() };
      this.directories.set(dir, directory);
    }
    return directory;
  }

  /** The inode of `path` in the page cache; a file the disk never saw is adopted as durable. */
  async lookup(path: string): Promise<Inode | undefined> {
    const directory = this.directory(dirname(path));
    const name = basename(path);
    const known = directory.live.get(name);
    if (known !== undefined) return known;
    const size = await this.inner.size(path);
    if (size === undefined) return undefined;
    const bytes = new Uint8Array(size);
    const handle = await this.inner.open(path, 'read');
    try {
      let at = 0;
      while (at < size) {
        const n = await handle.read(bytes, at, size - at, at);
        if (n === 0) break;
        at += n;
      }
    } finally {
      await handle.close();
    }
    // Another lookup may have adopted it meanwhile.
    const again = directory.live.get(name);
    if (again !== undefined) return again;
    const inode = new Inode(bytes);
    directory.live.set(name, inode);
    if (!directory.durable.has(name)) directory.durable.set(name, inode);
    return inode;
  }

  registerHandle(handle: FileHandle): void {
    this.innerHandles.add(handle);
  }

  unregisterHandle(handle: FileHandle): void {
    this.innerHandles.delete(handle);
  }

  countWrite(): void {
    this.counts.writes++;
  }

  /** Whether this fdatasync of `path` fails (consuming the rule), and how. */
  takeSyncFailure(path: string): 'lost' | 'reached device' | undefined {
    for (const rule of this.syncFailures) {
      if (rule.pathIncludes !== undefined && !path.includes(rule.pathIncludes)) continue;
      if (rule.skip > 0) {
        rule.skip--;
        continue;
      }
      rule.remaining--;
      if (rule.remaining <= 0) this.syncFailures = this.syncFailures.filter((r) => r !== rule);
      this.counts.failedSyncs++;
      return rule.reachedDevice ? 'reached device' : 'lost';
    }
    return undefined;
  }

  syncedDirectory(dir: string, entries: Map<string, Inode>): void {
    this.directory(dir).durable = entries;
    this.counts.dirSyncs++;
  }

  // }}}
}

/** One boot's view of a PowerLossDisk: a FileSystem whose operations die with the boot. */
class PowerLossFileSystem implements FileSystem {
  constructor(
    private readonly disk: PowerLossDisk,
    private readonly boot: number,
  ) {}

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const { disk } = this;
    disk.enter(this.boot, 'open', path);
    let inode: Inode | undefined;
    if (mode === 'create') {
      const handle = await disk.track(disk.inner.open(path, 'create'));
      inode = new Inode(new Uint8Array(0));
      if (!disk.alive(this.boot)) {
        await handle.close().catch(() => {});
        throw errnoError('EIO', 'open', path);
      }
      disk.directory(dirname(path)).live.set(basename(path), inode);
      disk.registerHandle(handle);
      return new PowerLossFileHandle(disk, this.boot, handle, inode, path);
    }
    inode = await disk.track(disk.lookup(path));
    const handle = await disk.track(disk.inner.open(path, mode));
    if (inode === undefined || !disk.alive(this.boot)) {
      await handle.close().catch(() => {});
      throw errnoError(inode === undefined ? 'ENOENT' : 'EIO', 'open', path);
    }
    disk.registerHandle(handle);
    return new PowerLossFileHandle(disk, this.boot, handle, inode, path);
  }

  async readdir(dir: string): Promise<string[]> {
    this.disk.enter(this.boot, 'readdir', dir);
    return this.disk.track(this.disk.inner.readdir(dir));
  }

  async size(path: string): Promise<number | undefined> {
    this.disk.enter(this.boot, 'stat', path);
    return this.disk.track(this.disk.inner.size(path));
  }

  async rename(from: string, to: string): Promise<void> {
    const { disk } = this;
    disk.enter(this.boot, 'rename', from);
    const inode = await disk.track(disk.lookup(from));
    await disk.track(disk.inner.rename(from, to));
    if (!disk.alive(this.boot)) throw errnoError('EIO', 'rename', from);
    if (inode === undefined) return;
    disk.directory(dirname(from)).live.delete(basename(from));
    disk.directory(dirname(to)).live.set(basename(to), inode);
  }

  async unlink(path: string): Promise<void> {
    const { disk } = this;
    disk.enter(this.boot, 'unlink', path);
    await disk.track(disk.lookup(path));
    await disk.track(disk.inner.unlink(path));
    if (!disk.alive(this.boot)) throw errnoError('EIO', 'unlink', path);
    disk.directory(dirname(path)).live.delete(basename(path));
  }

  async mkdir(dir: string): Promise<void> {
    this.disk.enter(this.boot, 'mkdir', dir);
    await this.disk.track(this.disk.inner.mkdir(dir));
    this.disk.directory(dir);
  }

  async syncDir(dir: string): Promise<void> {
    const { disk } = this;
    disk.enter(this.boot, 'fsync', dir);
    // The entries at the call: what the device gets if the sync completes.
    const entries = new Map(disk.directory(dir).live);
    await disk.innerSync(() => disk.inner.syncDir(dir));
    if (!disk.alive(this.boot)) throw errnoError('EIO', 'fsync', dir);
    disk.syncedDirectory(dir, entries);
  }
}

class PowerLossFileHandle implements FileHandle {
  constructor(
    private readonly disk: PowerLossDisk,
    private readonly boot: number,
    private readonly inner: FileHandle,
    private readonly inode: Inode,
    private readonly path: string,
  ) {}

  async write(data: Uint8Array, position: number): Promise<void> {
    const { disk } = this;
    disk.enter(this.boot, 'write', this.path);
    disk.countWrite();
    // Recorded before the inner write: the bytes are in the page cache from the call on (a
    // power loss in the middle may keep none, some or all of them, as for any unsynced write).
    this.inode.pending.push({ kind: 'write', position, data: copyOf(data) });
    await disk.track(this.inner.write(data, position));
    if (!disk.alive(this.boot)) throw errnoError('EIO', 'write', this.path);
  }

  async read(into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.disk.enter(this.boot, 'read', this.path);
    return this.disk.track(this.inner.read(into, offset, length, position));
  }

  async datasync(): Promise<void> {
    const { disk } = this;
    disk.enter(this.boot, 'fdatasync', this.path);
    disk.counts.datasyncs++;
    // What this sync covers: the writes and truncates issued before it.
    const last = this.inode.pending[this.inode.pending.length - 1];
    const failure = disk.takeSyncFailure(this.path);
    if (failure === 'reached device') {
      this.inode.persistThrough(last);
      throw errnoError('EIO', 'fdatasync', this.path);
    }
    if (failure === 'lost') {
      // fsyncgate: the pages are marked clean and never reach the device.
      const index = last === undefined ? -1 : this.inode.pending.indexOf(last);
      this.inode.pending = this.inode.pending.slice(index + 1);
      throw errnoError('EIO', 'fdatasync', this.path);
    }
    await disk.innerSync(() => this.inner.datasync());
    if (!disk.alive(this.boot)) throw errnoError('EIO', 'fdatasync', this.path);
    this.inode.persistThrough(last);
  }

  async truncate(length: number): Promise<void> {
    const { disk } = this;
    disk.enter(this.boot, 'ftruncate', this.path);
    this.inode.pending.push({ kind: 'truncate', length });
    await disk.track(this.inner.truncate(length));
    if (!disk.alive(this.boot)) throw errnoError('EIO', 'ftruncate', this.path);
  }

  async size(): Promise<number> {
    this.disk.enter(this.boot, 'fstat', this.path);
    return this.disk.track(this.inner.size());
  }

  async close(): Promise<void> {
    this.disk.unregisterHandle(this.inner);
    // Closing never fails for the caller, even on a dead mount (the kernel closes a dead
    // process's descriptors); durability is unchanged by close.
    await this.disk.track(this.inner.close()).catch(() => {});
  }
}
