// The data directory lock: two processes must never write one wal_dir (they would assign the
// same LSNs twice: RELIABILITY.md row 10). Layer: box.
// Node has no flock(), so the lock is a file created with O_EXCL holding the owner's PID.
// A lock whose PID is no longer alive is stale (the owner was killed) and is taken over;
// a live PID refuses with Tarantool's ER_ALREADY_RUNNING text. The lock is released on close
// and, best effort, on process exit. Limitation (documented): PID reuse by an unrelated process
// after a crash makes a stale lock look live; the operator removes the file.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ClientError, ErrorCode } from '@tarantype/core';

export const LOCK_FILE_NAME = 'tarantype.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DirLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(readonly path: string) {
    process.once('exit', this.onExit);
  }

  /** Takes the lock of `dir` or throws ER_ALREADY_RUNNING. */
  static acquire(dir: string): DirLock {
    const path = join(dir, LOCK_FILE_NAME);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o644);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return new DirLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = Number.parseInt(readOwner(path), 10);
      if (Number.isInteger(owner) && owner > 0 && (owner === process.pid || alive(owner))) {
        throw new ClientError(ErrorCode.ER_ALREADY_RUNNING, dir);
      }
      // Stale: the owner died without releasing. Remove and retry (another starter may race us;
      // O_EXCL decides who wins).
      try {
        unlinkSync(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    throw new ClientError(ErrorCode.ER_ALREADY_RUNNING, dir);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    process.removeListener('exit', this.onExit);
    try {
      if (readOwner(this.path).trim() === String(process.pid)) unlinkSync(this.path);
    } catch {
      // Already gone: nothing to release.
    }
  }
}

function readOwner(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
