// The interactive console in a real terminal: `tarantype start` (no listen: an unconfigured
// start, as `tarantool`) runs in a tmux pane, the seed tutorial's terminal-1 lines are typed
// with send-keys, starting with the box.cfg{} that creates the database, and the pane must
// show Tarantool 2.6's answers (reference §2, normalised), then os.exit() ends the process.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const CLI = fileURLToPath(new URL('../bin/tarantype.js', import.meta.url));
const hasTmux = spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0;

/** The first steps of the tutorial fixture: terminal 1 of the seed, before replication. */
const STEPS = 8;

function steps(): Array<{ command: string; expected: string }> {
  const lines = readFileSync(
    new URL('./fixtures/console-tutorial.txt', import.meta.url),
    'utf8',
  ).split('\n');
  const out: Array<{ command: string; expected: string }> = [];
  for (let i = 0; i < lines.length && out.length < STEPS; i++) {
    if (!lines[i]!.startsWith('tarantool> ')) continue;
    const command = lines[i]!.slice('tarantool> '.length);
    const expected: string[] = [];
    for (i++; lines[i] !== '...'; i++) expected.push(lines[i]!);
    expected.push('...');
    out.push({ command, expected: expected.join('\n') });
  }
  return out;
}

const normalise = (text: string) =>
  text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });

let dir: string;
let cleanup: () => Promise<void>;
let session: string | undefined;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  if (session !== undefined)
    spawnSync('tmux', ['kill-session', '-t', session], { stdio: 'ignore' });
  session = undefined;
  await cleanup();
});

async function waitFor(predicate: (pane: string) => boolean, what: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const pane = tmux('capture-pane', '-p', '-J', '-S', '-', '-t', session!);
    if (predicate(pane)) return pane;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `timed out waiting for ${what}:\n${tmux('capture-pane', '-p', '-J', '-S', '-', '-t', session!)}`,
  );
}

it.skipIf(!hasTmux && process.env.CI !== 'true')(
  'the seed tutorial typed into `tarantype start` shows what Tarantool shows (needs tmux)',
  { timeout: 60_000 },
  async () => {
    expect(hasTmux, 'tmux must be installed in CI').toBe(true);
    session = `tarantype-console-${process.pid}`;
    const log = join(dir, 'server.log');
    // The log goes to a file so that the pane holds the console alone.
    tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '200',
      '-y',
      '50',
      `node ${CLI} start --data-dir ${dir} 2>${log}; echo "exit=$?"; sleep 30`,
    );
    await waitFor((pane) => pane.includes('tarantype> '), 'the prompt');
    let seen = 0;
    // Started without a listen port: the database is created by the first line typed,
    // box.cfg{listen = 'localhost:3301'} (on a free port here, as tests share the machine).
    const port = await freePort();
    for (const step of steps()) {
      tmux(
        'send-keys',
        '-t',
        session,
        '-l',
        step.command.replace('localhost:3301', `localhost:${port}`),
      );
      tmux('send-keys', '-t', session, 'Enter');
      seen++;
      await waitFor((pane) => pane.split('\n...\n').length > seen, `the answer to ${step.command}`);
    }
    tmux('send-keys', '-t', session, '-l', 'os.exit()');
    tmux('send-keys', '-t', session, 'Enter');
    const pane = await waitFor((p) => /exit=\d+/.test(p), 'the process to exit');
    const transcript = normalise(pane.slice(pane.indexOf('tarantype> '))).replace(
      `localhost:${port}`,
      'localhost:3301',
    );
    const expected = steps()
      .map((s) => `tarantype> ${s.command}\n${normalise(s.expected)}\n\n`)
      .join('');
    if (process.env.SHOW_PANE) console.log(transcript);
    expect(transcript).toContain(`${expected}tarantype> os.exit()\nexit=0`);
  },
);
