// The data directory lock: two writers must never share one wal_dir (they would assign the
// same LSNs twice: RELIABILITY.md row 10). Layer: box.
// Like Tarantool 2.6 (path_lock: open(wal_dir, O_RDONLY), flock(LOCK_EX | LOCK_NB)), the lock
// is an advisory flock(2) on the directory itself, taken without waiting. The kernel drops it
// when the last descriptor of that open file description closes, so a holder killed with
// SIGKILL (or a container's PID 1 killed and restarted as PID 1 again) leaves nothing to clean
// up: the next start simply takes it. Locking the directory rather than a file in it means no
// file can be deleted or replaced to break the exclusion, and a symlink to the directory
// resolves to the same inode, so it is refused too.
// Within one process the lock is also kept in a set keyed by the directory's dev:ino. Local
// filesystems make two flocks through two opens conflict even in one process, but where flock
// is emulated with fcntl record locks (Linux over NFS) locks are per process and a second Box
// on the same directory would be let in; the set refuses it on every filesystem.
// `tarantype.lock` in the directory holds the holder's PID (as seen in its PID namespace) for
// operators; it is informational only, never read to decide anything. A clean release removes
// it; after a crash it stays, naming the dead holder, until the next start overwrites it.
// Node opens files with O_CLOEXEC, so a child the server spawns does not inherit (and keep
// alive) the lock. Not done: hot_standby (waiting for the lock); Windows (no flock on a
// directory handle).
import { closeSync, fstatSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClientError, ErrorCode, SystemError } from '@tarantype/core';
import { flockSync } from 'fs-ext-extra-prebuilt';

export const LOCK_FILE_NAME = 'tarantype.lock';

/** dev:ino of every data directory this process holds the lock of. */
const heldDirectories = new Set<string>();

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

export class DirLock {
  private released = false;

  private constructor(
    /** The directory as configured (the ER_ALREADY_RUNNING text names it so). */
    readonly dir: string,
    /** The open directory the flock is on; closing it releases the lock. */
    private readonly fd: number,
    /** The directory's `${dev}:${ino}` in `heldDirectories`. */
    private readonly key: string,
  ) {}

  /** The informational file naming the holder's PID. */
  get path(): string {
    return join(this.dir, LOCK_FILE_NAME);
  }

  /** Takes the lock of `dir` or throws ER_ALREADY_RUNNING (held by this or another process). */
  static acquire(dir: string): DirLock {
    let fd: number;
    try {
      fd = openSync(dir, 'r');
    } catch (error) {
      throw new SystemError(`Can't open path: ${dir}`, error);
    }
    let lock: DirLock;
    try {
      const stat = fstatSync(fd, { bigint: true });
      const key = `${stat.dev}:${stat.ino}`;
      if (heldDirectories.has(key)) throw new ClientError(ErrorCode.ER_ALREADY_RUNNING, dir);
      try {
        flockSync(fd, 'exnb');
      } catch (error) {
        const code = errorCode(error);
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK')
          throw new ClientError(ErrorCode.ER_ALREADY_RUNNING, dir);
        throw new SystemError(`Can't lock path: ${dir}`, error);
      }
      heldDirectories.add(key);
      lock = new DirLock(dir, fd, key);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    try {
      writeFileSync(lock.path, `${process.pid}\n`, { mode: 0o644 });
    } catch (error) {
      lock.release();
      throw new SystemError(`Can't write ${lock.path}`, error);
    }
    return lock;
  }

  /** Removes the PID file while still holding the lock, then unlocks. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      unlinkSync(this.path);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw new SystemError(`Can't remove ${this.path}`, error);
    } finally {
      heldDirectories.delete(this.key);
      closeSync(this.fd);
    }
  }
}
