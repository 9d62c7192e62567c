// Running the real Tarantool 2.6 in tests: as a net.box client script, or as a server on an
// ephemeral port. Every child is killed by its PID when the test ends; tests skip when
// `tarantool` is not on PATH.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const hasTarantool: boolean = (() => {
  try {
    return spawnSync('tarantool', ['--version'], { timeout: 5000 }).status === 0;
  } catch {
    return false;
  }
})();

/** Runs `tarantool <script> ...args` to completion; resolves with its stdout. */
export function runTarantoolScript(
  script: string,
  args: string[],
  timeoutMs = 20_000,
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'tarantype-netbox-'));
  const file = join(dir, 'client.lua');
  writeFileSync(file, script);
  return new Promise((resolve, reject) => {
    const child = spawn('tarantool', [file, ...args], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`tarantool script timed out; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ stdout, stderr, code });
    });
  });
}

export interface TarantoolServer {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Starts a Tarantool 2.6 server (wal_mode none, in a temporary directory) listening on an
 * ephemeral port. `setup` is Lua run after box.cfg, before listening.
 */
export async function startTarantool(setup: string, timeoutMs = 20_000): Promise<TarantoolServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tarantype-tt-'));
  const portFile = join(dir, 'port');
  const script = `
box.cfg{work_dir = ${JSON.stringify(dir)}, wal_mode = 'none', log = 'tarantool.log', memtx_memory = 64 * 1024 * 1024, checkpoint_interval = 0}
${setup}
box.cfg{listen = '127.0.0.1:0'}
local port = tostring(box.info.listen):match(':(%d+)$')
local f = io.open(${JSON.stringify(portFile)}, 'w'); f:write(port); f:close()
`;
  writeFileSync(join(dir, 'server.lua'), script);
  const child: ChildProcess = spawn('tarantool', [join(dir, 'server.lua')], {
    cwd: dir,
    stdio: 'ignore',
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('tarantool did not start');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  let port = 0;
  while (port === 0) {
    try {
      port = Number(readFileSync(portFile, 'utf8'));
    } catch {
      // not yet listening
    }
    if (port === 0) {
      if (Date.now() > deadline || child.exitCode !== null) {
        process.kill(pid, 'SIGKILL');
        let log = '';
        try {
          log = readFileSync(join(dir, 'tarantool.log'), 'utf8');
        } catch {
          // no log
        }
        throw new Error(`tarantool server did not come up: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return {
    port,
    pid,
    async stop() {
      if (child.exitCode === null) process.kill(pid, 'SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
