// The data-directory lock end to end: real `tarantype start` processes killed with SIGKILL,
// started twice on one directory (also through a symlink), and run as PID 1 of a fresh PID
// namespace (a container's init), where a PID-file lock would name the new process itself.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const CLI = join(import.meta.dirname, '..', 'bin', 'tarantype.js');
const READY = 'ready to accept requests';
const STARTUP_TIMEOUT_MS = 20_000;

let dir: string;
let cleanup: () => Promise<void>;
const children: ChildProcess[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  await cleanup();
});

interface Server {
  child: ChildProcess;
  log: string[];
  /** Resolves on "ready to accept requests"; rejects if the process exits first. */
  ready: Promise<void>;
  /** The exit code, or the signal's name when it was killed. */
  exited: Promise<number | string>;
}

/** Spawns `command` (a `tarantype start` on `dataDir`, possibly wrapped) and follows its log. */
function spawnServer(dataDir: string, wrapper: string[] = []): Server {
  const argv = [...wrapper, process.execPath, CLI, 'start', '--listen', '127.0.0.1:0'];
  const child = spawn(argv[0]!, [...argv.slice(1), '--data-dir', dataDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  const log: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "${READY}" in ${STARTUP_TIMEOUT_MS} ms:\n${log.join('\n')}`)),
      STARTUP_TIMEOUT_MS,
    );
    let buffer = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      log.push(...lines);
      if (lines.some((l) => l.includes(READY))) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`exited (${how}) before "${READY}":\n${log.join('\n')}${buffer}`));
    });
  });
  ready.catch(() => {}); // Tests that expect a refusal await `exited` instead.
  return { child, log, ready, exited };
}

async function killHard(server: Server, pid = server.child.pid!): Promise<void> {
  process.kill(pid, 'SIGKILL');
  await server.exited;
}

async function lockFileText(dataDir: string): Promise<string> {
  return readFile(join(dataDir, 'tarantype.lock'), 'utf8');
}

function alreadyRunning(walDir: string): string {
  return `cannot start: Failed to lock WAL directory ${walDir} and hot_standby mode is off`;
}

describe('data directory lock (real processes)', () => {
  it('starts again on the same data dir after the server was killed with SIGKILL', async () => {
    const data = join(dir, 'data');
    const first = spawnServer(data);
    await first.ready;
    expect(await lockFileText(data)).toBe(`${first.child.pid}\n`);
    await killHard(first);
    expect(await first.exited).toBe('SIGKILL');
    // The dead holder's PID file is still there: only the kernel lock decides, and it is gone.
    expect(await lockFileText(data)).toBe(`${first.child.pid}\n`);

    const second = spawnServer(data);
    await second.ready;
    expect(second.log.some((l) => l.includes('recovering from'))).toBe(true);
    expect(await lockFileText(data)).toBe(`${second.child.pid}\n`);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    await expect(lockFileText(data)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("refuses a second live server on the data dir, also through a symlink, with Tarantool's text", async () => {
    const data = join(dir, 'data');
    const alias = join(dir, 'alias');
    const first = spawnServer(data);
    await first.ready;
    await symlink(data, alias);

    const direct = spawnServer(data);
    expect(await direct.exited).toBe(1);
    expect(direct.log.some((l) => l.endsWith(alreadyRunning(data)))).toBe(true);
    const viaSymlink = spawnServer(alias);
    expect(await viaSymlink.exited).toBe(1);
    expect(viaSymlink.log.some((l) => l.endsWith(alreadyRunning(alias)))).toBe(true);
    // The refused starts left the holder and its PID file alone.
    expect(first.child.exitCode).toBeNull();
    expect(await lockFileText(data)).toBe(`${first.child.pid}\n`);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const afterStop = spawnServer(alias);
    await afterStop.ready;
    afterStop.child.kill('SIGTERM');
    expect(await afterStop.exited).toBe(0);
  });
});

// `unshare -p -f --mount-proc` makes the server PID 1 of a new PID namespace, as in a container.
// --kill-child takes the namespace down if unshare itself is killed (afterEach cleanup).
const UNSHARE = ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc'];
const probe = spawnSync(UNSHARE[0]!, [...UNSHARE.slice(1), 'true'], { encoding: 'utf8' });
const unshareReason =
  probe.status === 0
    ? undefined
    : `${UNSHARE.join(' ')} is not permitted here (${probe.error?.message ?? probe.stderr.trim()})`;
const skipNamespace = unshareReason !== undefined && process.env.CI !== 'true';
if (skipNamespace) console.warn(`skipping the PID namespace test: ${unshareReason}`);

/** The host PID of the namespace's PID 1: unshare's only child. */
async function namespaceInit(server: Server): Promise<number> {
  const unsharePid = server.child.pid!;
  const children = await readFile(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8');
  const pids = children.trim().split(/\s+/).map(Number);
  expect(pids).toHaveLength(1);
  const status = await readFile(`/proc/${pids[0]}/status`, 'utf8');
  // NSpid lists the PID in every namespace from the host's down: the last one is 1.
  expect(/^NSpid:.*\t1$/m.test(status), status).toBe(true);
  return pids[0]!;
}

describe('data directory lock as PID 1 of a PID namespace', () => {
  it.skipIf(skipNamespace)(
    'starts again as PID 1 of a new namespace after PID 1 was killed with SIGKILL',
    async () => {
      expect(unshareReason, 'unshare must work under CI=true').toBeUndefined();
      const data = join(dir, 'data');
      const first = spawnServer(data, UNSHARE);
      await first.ready;
      expect(first.log.some((l) => l.includes(`[1] main I> ${READY}`))).toBe(true);
      await killHard(first, await namespaceInit(first));
      // The file names PID 1, which is the new process's own PID too: it must not matter.
      expect(await lockFileText(data)).toBe('1\n');

      const second = spawnServer(data, UNSHARE);
      await second.ready;
      expect(second.log.some((l) => l.includes(`[1] main I> ${READY}`))).toBe(true);
      expect(second.log.some((l) => l.includes('recovering from'))).toBe(true);
      // PID 1 gets only the signals it handles: the server's SIGTERM handler stops it cleanly.
      process.kill(await namespaceInit(second), 'SIGTERM');
      expect(await second.exited).toBe(0);
      await expect(lockFileText(data)).rejects.toMatchObject({ code: 'ENOENT' });
    },
  );
});
