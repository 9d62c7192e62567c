// Progress bars on a real terminal: `tarantype start` runs in a tmux pane (a pseudo-terminal)
// over a data directory of 300 000 tuples (a snapshot of 250 000, an xlog of 50 000 more,
// generated here with @tarantype/box), and everything the pane receives is recorded with
// `tmux pipe-pane`. The recording must hold the recovery bars (percentage, MB, rate, ETA) and
// the pane, once the server is ready, only clean log lines (the bars were cleared). The same
// start with stderr piped must print the same Tarantool lines and no escape code at all. Then a
// replica under the pane joins a master's 80 000 tuples and shows the join bar.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Box } from '@tarantype/box';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { Cluster, STANDARD_USERS } from './replication/cluster.js';

const CLI = fileURLToPath(new URL('../bin/tarantype.js', import.meta.url));
const hasTmux = spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0;
const needsTmux = !hasTmux && process.env.CI !== 'true';
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for escape codes
const ESCAPE = /\u001b/;

/** Recovery: a snapshot long enough to read for a bar (≥ 100 ms) on a fast machine, then an xlog. */
const TUPLES = 300_000;
const SNAPSHOT_AT = 250_000;
/** A join streams about 150 000 rows/s here: this many take a few hundred ms. */
const JOIN_TUPLES = 80_000;

let root: string;
/** The generated data directories (never started in place: each test copies one). */
let fixture: string;
let joinFixture: string;
let session: string | undefined;
let cluster: Cluster | undefined;
const children: ChildProcess[] = [];

/** `tuples` rows of 100 bytes in space `bulk`, with a snapshot after `snapshotAt` of them. */
async function makeFixture(dir: string, tuples: number, snapshotAt: number): Promise<void> {
  const box = await Box.cfg({ work_dir: dir, checkpoint_interval: 0 });
  const space = await box.schema.space.create('bulk');
  await space.createIndex('primary');
  const pad = 'x'.repeat(100);
  for (let i = 0; i < tuples; i += 1000) {
    box.begin();
    for (let j = i; j < i + 1000; j++) void space.replace([j, pad]);
    await box.commit();
    if (i + 1000 === snapshotAt) await box.snapshot();
  }
  await box.close();
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'tarantype-progress-'));
  fixture = join(root, 'fixture');
  joinFixture = join(root, 'join-fixture');
  await makeFixture(fixture, TUPLES, SNAPSHOT_AT);
  await makeFixture(joinFixture, JOIN_TUPLES, JOIN_TUPLES);
}, 30_000);

afterEach(async () => {
  if (session !== undefined)
    spawnSync('tmux', ['kill-session', '-t', session], { stdio: 'ignore' });
  session = undefined;
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await cluster?.cleanup();
  cluster = undefined;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const pane = () => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', session!);

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  for (const started = performance.now(); performance.now() - started < timeoutMs; ) {
    if (predicate()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}:\n${pane()}`);
}

/**
 * Runs `command` in a new 200-column tmux pane, recording everything written to the pane in
 * `raw` from its first byte (the shell waits for an Enter until pipe-pane is attached), the
 * server's pid in `raw`.pid, and "exit=<status>" on the pane once it exited.
 */
function runInPane(name: string, command: string, raw: string): void {
  session = `tarantype-${name}-${process.pid}`;
  tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '200',
    '-y',
    '50',
    `sh -c 'read _; ${command} & echo $! > ${raw}.pid; wait $!; echo "exit=$?"; sleep 30'`,
  );
  tmux('pipe-pane', '-o', '-t', session, `cat >> ${raw}`);
  tmux('send-keys', '-t', session, 'Enter');
}

/** SIGTERM to the pane's server (started by runInPane with `raw`); resolves with its exit status. */
async function stopPane(raw: string): Promise<string> {
  process.kill(Number(read(`${raw}.pid`).trim()), 'SIGTERM');
  let status: string | undefined;
  await waitFor(() => (status = /exit=(\d+)/.exec(pane())?.[1]) !== undefined, 'the exit');
  return status!;
}

const read = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

it.skipIf(needsTmux)(
  'recovery shows bars on a terminal and plain lines with stderr piped (needs tmux)',
  { timeout: 60_000 },
  async () => {
    expect(hasTmux, 'tmux must be installed in CI').toBe(true);
    const data = join(root, 'recovery');
    cpSync(fixture, data, { recursive: true });
    const raw = join(root, 'recovery.raw');
    runInPane(
      'progress',
      `node ${CLI} start --data-dir ${data} --listen 127.0.0.1:0 --no-console`,
      raw,
    );
    await waitFor(() => pane().includes('ready to accept requests'), 'the server to be ready');
    const recorded = read(raw);
    // The snapshot's bar by bytes of its file, then the xlog's, each with a rate and an ETA.
    expect(recorded).toMatch(
      /recovery snapshot \d{20}\.snap \[=*-*\]\s+\d+% \| \d+ rows \| [\d.]+\/[\d.]+ MB \| \d+ rows\/s \| ETA [\d.]+ s/,
    );
    expect(recorded).toMatch(
      /recovery xlog \d{20}\.xlog \[=*-*\]\s+\d+% \| \d+ rows \| [\d.]+\/[\d.]+ MB \| \d+ rows\/s \| ETA [\d.]+ s/,
    );
    expect(recorded).toMatch(ESCAPE);
    // What stays on the screen: the log lines, whole, and no bar.
    const screen = pane();
    expect(screen).toMatch(/main I> recover from `.*\.xlog'\n/);
    expect(screen).toMatch(/main I> recovered \d+ rows in [\d.]+ s\n/);
    expect(screen).not.toMatch(/rows\/s \||\[=+/);
    expect(await stopPane(raw)).toBe('0');

    // The same start, stderr piped: Tarantool's lines, no bars, no escape codes.
    const piped = spawn(
      process.execPath,
      [CLI, 'start', '--data-dir', data, '--listen', '127.0.0.1:0', '--no-console'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(piped);
    let output = '';
    piped.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    piped.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    await waitFor(() => output.includes('ready to accept requests'), 'the piped start');
    const exited = new Promise((resolve) => piped.on('exit', resolve));
    process.kill(piped.pid!, 'SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toMatch(/main I> recovering from `.*\.snap'\n/);
    expect(output).toMatch(/main I> recover from `.*\.xlog'\n/);
    expect(output).toMatch(/main I> recovered \d+ rows in [\d.]+ s\n/);
    expect(output).not.toMatch(ESCAPE);
    expect(output).not.toMatch(/\[=+/);
  },
);

it.skipIf(needsTmux)(
  'a replica joining under a terminal shows the join bar (needs tmux)',
  { timeout: 60_000 },
  async () => {
    expect(hasTmux, 'tmux must be installed in CI').toBe(true);
    cluster = new Cluster('progress-join');
    const master = cluster.node('m1', 'tarantype', { users: STANDARD_USERS });
    cpSync(joinFixture, master.dir, { recursive: true });
    await master.start();
    const raw = join(cluster.root, 'replica.raw');
    const replicaDir = join(cluster.root, 'r1');
    runInPane(
      'progress-join',
      `node ${CLI} start --data-dir ${replicaDir} --listen 127.0.0.1:0 --no-console --replication ${master.uri()}`,
      raw,
    );
    await waitFor(() => pane().includes('ready to accept requests'), 'the replica to be ready');
    const recorded = read(raw);
    // 2.6's JOIN announces no total: rows, MB and rate, the password left out.
    expect(recorded).toMatch(
      new RegExp(
        `join initial data from replicator@${master.address.replace(/\./g, '\\.')} \\[.*\\]\\s+\\| \\d+ rows \\| [\\d.]+ MB \\| \\d+ rows/s \\| [\\d.]+ s elapsed`,
      ),
    );
    expect(recorded).not.toContain('password@');
    const screen = pane();
    expect(screen).toMatch(/I> initial data received\n/);
    expect(screen).not.toMatch(/rows\/s \|/);
    // The master's stderr is a pipe: its log has no escape code.
    expect(master.log).toMatch(/joining replica /);
    expect(master.log).not.toMatch(ESCAPE);
    expect(await stopPane(raw)).toBe('0');
  },
);
