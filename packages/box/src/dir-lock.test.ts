// DirLock: the in-process refusal (also through a symlink), the informational PID file, and
// the kernel lock seen by other programs: util-linux flock(1) and Tarantool 2.6 itself, which
// flocks its wal_dir the same way, so the two refuse each other.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirLock, LOCK_FILE_NAME } from './dir-lock.js';

let root: string;
let dir: string;
const locks: DirLock[] = [];
const children: ChildProcess[] = [];
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'tarantype-dir-lock-'));
  dir = join(root, 'data');
  await mkdir(dir);
});
afterEach(async () => {
  for (const lock of locks.splice(0)) lock.release();
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  await rm(root, { recursive: true, force: true });
});

function acquire(path: string): DirLock {
  const lock = DirLock.acquire(path);
  locks.push(lock);
  return lock;
}

function alreadyRunning(path: string) {
  return {
    code: ErrorCode.ER_ALREADY_RUNNING,
    message: `Failed to lock WAL directory ${path} and hot_standby mode is off`,
  };
}

/** Whether some process (not necessarily this one) holds the flock: asks flock(1). */
function lockedPerKernel(path: string): boolean {
  const result = spawnSync('flock', ['--exclusive', '--nonblock', path, 'true']);
  if (result.error !== undefined) throw result.error;
  return result.status !== 0;
}

describe('DirLock in one process', () => {
  it('refuses a second lock on the directory, also through a symlink, until released', async () => {
    const alias = join(root, 'alias');
    await symlink(dir, alias);
    const first = acquire(dir);
    expect(() => DirLock.acquire(dir)).toThrow(expect.objectContaining(alreadyRunning(dir)));
    expect(() => DirLock.acquire(alias)).toThrow(expect.objectContaining(alreadyRunning(alias)));
    expect(() => DirLock.acquire(`${dir}/.`)).toThrow(
      expect.objectContaining(alreadyRunning(`${dir}/.`)),
    );
    first.release();
    first.release(); // idempotent: Box.close after a failed start may release twice
    acquire(alias);
  });

  it('names the holder in the PID file while held and removes it on release', async () => {
    const lock = acquire(dir);
    expect(await readFile(join(dir, LOCK_FILE_NAME), 'utf8')).toBe(`${process.pid}\n`);
    expect(lockedPerKernel(dir)).toBe(true);
    lock.release();
    await expect(readFile(join(dir, LOCK_FILE_NAME))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(lockedPerKernel(dir)).toBe(false);
  });

  it('ignores a PID file left behind, even one naming a live process or this one', async () => {
    // A container's PID 1 killed and restarted as PID 1 leaves a file naming the new process.
    for (const pid of [process.pid, 1]) {
      await writeFile(join(dir, LOCK_FILE_NAME), `${pid}\n`);
      const lock = acquire(dir);
      expect(await readFile(join(dir, LOCK_FILE_NAME), 'utf8')).toBe(`${process.pid}\n`);
      lock.release();
    }
  });

  it('reports a missing directory as a system error naming it', () => {
    const missing = join(root, 'missing');
    expect(() => DirLock.acquire(missing)).toThrow(
      expect.objectContaining({
        code: ErrorCode.ER_SYSTEM,
        message: `Can't open path: ${missing}: ENOENT`,
      }),
    );
  });
});

/** Runs flock(1) holding `path` until killed; resolves once it holds the lock. */
function holdWithFlock(path: string): Promise<ChildProcess> {
  // --close: the shell does not inherit the lock, so killing flock alone releases it.
  const child = spawn(
    'flock',
    ['--exclusive', '--nonblock', '--close', path, 'sh', '-c', 'echo locked; read line'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('locked')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`flock exited ${code}: ${stderr}`)));
  });
}

describe('DirLock against other processes', () => {
  it('refuses while another process holds the flock and takes it once that one was SIGKILLed', async () => {
    const holder = await holdWithFlock(dir);
    expect(() => DirLock.acquire(dir)).toThrow(expect.objectContaining(alreadyRunning(dir)));
    const exited = new Promise((resolve) =>
      holder.once('exit', (_code, signal) => resolve(signal)),
    );
    holder.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    holder.stdin!.end(); // lets the orphaned `sh` (which never held the lock) exit
    acquire(dir);
  });
});

const hasTarantool = spawnSync('tarantool', ['--version'], { stdio: 'ignore' }).status === 0;
const skipTarantool = !hasTarantool && process.env.CI !== 'true';
if (skipTarantool) console.warn('skipping the Tarantool 2.6 lock interop test: no `tarantool`');

/** `tarantool -e` running box.cfg on `walDir`; resolves with its exit code and stderr. */
function tarantoolBoxCfg(walDir: string, memtxDir: string, then: string) {
  const script = `box.cfg{wal_dir = '${walDir}', memtx_dir = '${memtxDir}', log_level = 5} ${then}`;
  const child = spawn('tarantool', ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stderr })),
  );
  return { child, exited, stdout: () => stdout };
}

describe.skipIf(skipTarantool)('DirLock and Tarantool 2.6 on one wal_dir', () => {
  it('refuses Tarantool while held, and is refused while Tarantool runs', async () => {
    expect(hasTarantool, 'tarantool must be installed under CI=true').toBe(true);
    const memtxDir = join(root, 'memtx');
    await mkdir(memtxDir);
    const lock = acquire(dir);
    const refused = await tarantoolBoxCfg(dir, memtxDir, 'os.exit(0)').exited;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `can't initialize storage: Failed to lock WAL directory ${dir} and hot_standby mode is off`,
    );
    lock.release();

    const running = tarantoolBoxCfg(
      dir,
      memtxDir,
      "print('configured') io.stdout:flush() require('fiber').sleep(60)",
    );
    await expect
      .poll(() => running.stdout(), { timeout: 20_000, interval: 50 })
      .toContain('configured');
    expect(() => DirLock.acquire(dir)).toThrow(expect.objectContaining(alreadyRunning(dir)));
    running.child.kill('SIGKILL');
    await running.exited;
    acquire(dir);
  });
});
