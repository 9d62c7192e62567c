// The exit code a supervisor sees: the `tarantype` bin as installed (node_modules/.bin/tarantype,
// pnpm's shim, which execs node) run as a real process. SIGTERM → a clean stop → 0 with the log
// complete; a failed start → 1, even when something the init module started would keep Node
// alive.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const BIN = join(import.meta.dirname, '..', '..', '..', 'node_modules', '.bin', 'tarantype');
let dir: string;
let cleanup: () => Promise<void>;
const children: ChildProcess[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await cleanup();
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs the bin; `exited` resolves with its exit, or rejects after `timeoutMs` (then kills it). */
function runBin(args: string[], timeoutMs = 15_000) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run the bootstrap (pnpm install)`);
  const child = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<Exit>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running after ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
  return { child, exited, stderr: () => stderr };
}

async function waitFor(read: () => Promise<string>, text: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  let content = '';
  while (Date.now() < deadline) {
    content = await read();
    if (content.includes(text)) return content;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no "${text}" within 20 s:\n${content}`);
}

describe('tarantype bin under a supervisor', () => {
  it('is the server process itself: SIGTERM stops it cleanly, exit 0, the log file complete', {
    timeout: 40_000,
  }, async () => {
    const logFile = join(dir, 'tarantype.log');
    const config = join(dir, 'config.yaml');
    await writeFile(config, `log: ${logFile}\ncheckpoint_interval: 0\n`);
    const run = runBin([
      'start',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      join(dir, 'data'),
      '--config',
      config,
      '--no-console',
    ]);
    const log = () => readFile(logFile, 'utf8').catch(() => '');
    const text = await waitFor(log, 'ready to accept requests');
    // The PID in the log is the spawned PID: no npm/sh process stands between.
    expect(text).toContain(`[${run.child.pid}] main I> ready to accept requests`);
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    // The lines written after SIGTERM reach the file before the process exits.
    const after = await log();
    expect(after).toContain('main I> got SIGTERM');
    expect(after).toMatch(/main I> stopped: the xlog is closed\n$/);
  });

  it('exits 1 when the start fails, even if the init module left a timer running', {
    timeout: 40_000,
  }, async () => {
    const init = join(dir, 'init.mjs');
    await writeFile(
      init,
      "export default function () { setInterval(() => {}, 1000); throw new Error('init failed on purpose'); }\n",
    );
    const run = runBin([
      'start',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      join(dir, 'data'),
      '--init',
      init,
      '--no-console',
    ]);
    expect(await run.exited).toEqual({ code: 1, signal: null });
    expect(run.stderr()).toContain('main E> cannot start: init failed on purpose');
  });

  it('exits 1 when the listen port is taken', { timeout: 40_000 }, async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const run = runBin([
        'start',
        '--listen',
        `127.0.0.1:${port}`,
        '--data-dir',
        join(dir, 'data'),
        '--no-console',
      ]);
      expect(await run.exited).toEqual({ code: 1, signal: null });
      expect(run.stderr()).toContain('cannot start: listen EADDRINUSE');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
