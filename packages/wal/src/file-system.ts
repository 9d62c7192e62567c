// The FileSystem port: every byte the WAL (and the snapshot writer, and recovery) reads or writes
// goes through this interface, so tests can swap in FaultyFileSystem (testing.ts) to tear writes,
// fail syncs and short reads. Layer: wal. NodeFileSystem is the production implementation on
// node:fs's callback API: disk I/O runs on libuv's thread pool, except writes of at most
// `syncWriteMaxBytes` (SYNC_WRITE_MAX_BYTES_DEFAULT), which write(2) on the calling thread and
// return a settled promise. Handing a write to the pool and back costs more CPU than a small
// write itself (measured below); a write into the page cache does not wait for the device, and
// fdatasync, reads and everything else stay on the pool. Errors are Node's ErrnoException values
// (code 'EIO', 'ENOSPC' …), thrown into the returned promise either way; callers wrap them in
// SystemError/ClientError with context.
import * as fs from 'node:fs';
import { dirname } from 'node:path';

export interface FileHandle {
  /** Writes all of `data` at `position`; resolves when the kernel has it (not yet durable). */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Reads up to `length` bytes at `position` into `into[offset…]`; resolves with bytes read (0 at EOF). */
  read(into: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** fdatasync: data durable on the device. */
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export type OpenMode = 'read' | 'create' | 'readwrite';

export interface FileSystem {
  /** 'read': existing file read-only; 'create': new file, fails if it exists; 'readwrite': existing file. */
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  readdir(dir: string): Promise<string[]>;
  /** Size in bytes, or undefined if the file does not exist. */
  size(path: string): Promise<number | undefined>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(dir: string): Promise<void>;
  /** Makes a directory's entries (creates, renames, unlinks) durable. */
  syncDir(dir: string): Promise<void>;
}

const OPEN_FLAGS: Record<OpenMode, string> = { read: 'r', create: 'wx', readwrite: 'r+' };

function promised<T>(
  call: (callback: (error: NodeJS.ErrnoException | null, value: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    call((error, value) => (error === null ? resolve(value) : reject(error)));
  });
}

/**
 * Writes up to this size go to write(2) on the calling thread (NodeFileSystem's default). On
 * this project's 2-core VM (2026-12-02), an 8,000-byte fs.write through the thread pool cost
 * 115-137 us of process CPU and 170-195 us of wall clock per call, fs.writeSync 8-14 us; a WAL
 * batch of 100 inserts is about 8 KB, one of 1000-row transactions about 50 KB. At 256 KiB a
 * write into the page cache blocks the event loop for some tens of microseconds.
 */
export const SYNC_WRITE_MAX_BYTES_DEFAULT = 256 * 1024;

export interface NodeFileSystemOptions {
  /** Writes of at most this many bytes are made on the calling thread; 0: none (all pooled). */
  readonly syncWriteMaxBytes?: number;
}

const SETTLED: Promise<void> = Promise.resolve();

class NodeFileHandle implements FileHandle {
  constructor(
    private readonly fd: number,
    private readonly syncWriteMaxBytes: number,
  ) {}

  write(data: Uint8Array, position: number): Promise<void> {
    if (data.length > this.syncWriteMaxBytes) return this.writeInPool(data, position);
    try {
      let written = 0;
      while (written < data.length) {
        const n = fs.writeSync(this.fd, data, written, data.length - written, position + written);
        if (n === 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
        written += n;
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return SETTLED;
  }

  private async writeInPool(data: Uint8Array, position: number): Promise<void> {
    let written = 0;
    // fs.write may write less than asked (rare on regular files); loop until all is written.
    while (written < data.length) {
      const n = await promised<number>((cb) =>
        fs.write(this.fd, data, written, data.length - written, position + written, cb),
      );
      if (n === 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
      written += n;
    }
  }

  read(into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return promised<number>((cb) => fs.read(this.fd, into, offset, length, position, cb));
  }

  datasync(): Promise<void> {
    return promised<void>((cb) => fs.fdatasync(this.fd, (error) => cb(error, undefined)));
  }

  truncate(length: number): Promise<void> {
    return promised<void>((cb) => fs.ftruncate(this.fd, length, (error) => cb(error, undefined)));
  }

  async size(): Promise<number> {
    const stats = await promised<fs.Stats>((cb) => fs.fstat(this.fd, cb));
    return stats.size;
  }

  close(): Promise<void> {
    return promised<void>((cb) => fs.close(this.fd, (error) => cb(error, undefined)));
  }
}

export class NodeFileSystem implements FileSystem {
  private readonly syncWriteMaxBytes: number;

  constructor(options: NodeFileSystemOptions = {}) {
    const max = options.syncWriteMaxBytes ?? SYNC_WRITE_MAX_BYTES_DEFAULT;
    if (!(max >= 0)) throw new RangeError('syncWriteMaxBytes must be at least 0');
    this.syncWriteMaxBytes = max;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const fd = await promised<number>((cb) => fs.open(path, OPEN_FLAGS[mode], 0o644, cb));
    return new NodeFileHandle(fd, this.syncWriteMaxBytes);
  }

  readdir(dir: string): Promise<string[]> {
    return promised<string[]>((cb) => fs.readdir(dir, cb));
  }

  async size(path: string): Promise<number | undefined> {
    try {
      return (await promised<fs.Stats>((cb) => fs.stat(path, cb))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  rename(from: string, to: string): Promise<void> {
    return promised<void>((cb) => fs.rename(from, to, (error) => cb(error, undefined)));
  }

  unlink(path: string): Promise<void> {
    return promised<void>((cb) => fs.unlink(path, (error) => cb(error, undefined)));
  }

  mkdir(dir: string): Promise<void> {
    return promised<void>((cb) =>
      fs.mkdir(dir, { recursive: true }, (error) => cb(error, undefined)),
    );
  }

  async syncDir(dir: string): Promise<void> {
    const fd = await promised<number>((cb) => fs.open(dir, 'r', cb));
    try {
      await promised<void>((cb) => fs.fsync(fd, (error) => cb(error, undefined)));
    } finally {
      await promised<void>((cb) => fs.close(fd, (error) => cb(error, undefined)));
    }
  }
}

/** The directory of a file path (for syncDir after create/rename). */
export function directoryOf(path: string): string {
  return dirname(path);
}
