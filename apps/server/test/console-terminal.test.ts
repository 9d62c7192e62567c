// The interactive console in a real terminal: `tarantype start` (no listen: an unconfigured
// start, as `tarantool`) runs in a tmux pane, the seed tutorial's terminal-1 lines are typed
// with send-keys, starting with the box.cfg{} that creates the database, and the pane must
// show Tarantool 2.6's answers (reference §2, normalised), then os.exit() ends the process.
// The second test is the whole tutorial of the seed's §6.10 in two terminals (two tmux
// windows, each a shell that runs `tarantype start`), typed as the chapter has it (bare port
// numbers, the multi-line box.cfg{}), with the reference's 2.6 answers: the replica joins,
// each side's writes, terminal 1's os.exit() and restart, the replica working meanwhile, and
// the master-master box.cfg{replication} that brings the replica's rows back, and both sides'
// box.info.vclock (the reference's extra line).
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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

/** One of the tutorial's terminals: a tmux window running a shell. */
class Terminal {
  /** Where the last answer ended in the pane's history (the next one is looked for after). */
  private seen = 0;
  constructor(
    readonly target: string,
    readonly name: string,
  ) {}

  pane(): string {
    return normalise(tmux('capture-pane', '-p', '-J', '-S', '-', '-t', this.target));
  }

  type(line: string): void {
    tmux('send-keys', '-t', this.target, '-l', line);
    tmux('send-keys', '-t', this.target, 'Enter');
  }

  /** Waits for `text` to appear after the previous answer (`keep`: the next match may start
   * with it, as a prompt the next step's echo begins with). */
  async expect(
    texts: string | string[],
    what: string,
    keep = false,
    timeoutMs = 30_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pane = this.pane();
      for (const text of Array.isArray(texts) ? texts : [texts]) {
        const at = pane.indexOf(text, this.seen);
        if (at < 0) continue;
        this.seen = keep ? at : at + text.length;
        return;
      }
      if (Date.now() > deadline)
        throw new Error(
          `${this.name}: timed out waiting for ${what}:\n--- expected ---\n${texts}\n--- pane after the previous answer ---\n${pane.slice(this.seen)}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Types a console statement (one line, or several as the chapter spreads box.cfg{}) and
   * expects the prompt echo followed by the answer, as 2.6 prints it. */
  async step(lines: string | string[], ...answers: string[]): Promise<void> {
    const all = Array.isArray(lines) ? lines : [lines];
    const echo = all.map((line, i) => `${i === 0 ? 'tarantype> ' : '         > '}${line}`);
    // As a user types: each continuation line once its prompt is there (typed ahead, a line
    // may echo before the prompt that should precede it, on a loaded machine).
    for (const [i, line] of all.entries()) {
      this.type(line);
      if (i < all.length - 1)
        await this.expect(
          `${echo.slice(0, i + 1).join('\n')}\n         > `,
          `the continuation prompt after ${line}`,
          true,
        );
    }
    await this.expect(
      answers.map((answer) => `${echo.join('\n')}\n${answer}\n`),
      all.join(' '),
    );
  }
}

const EMPTY = '---\n...\n';

it.skipIf(!hasTmux && process.env.CI !== 'true')(
  'the whole two-terminal tutorial of the seed (§6.10) shows what Tarantool 2.6 shows (needs tmux)',
  { timeout: 180_000 },
  async () => {
    expect(hasTmux, 'tmux must be installed in CI').toBe(true);
    session = `tarantype-tutorial-${process.pid}`;
    // The chapter's ports are 3301 and 3302; free ones here, as tests share the machine.
    const port1 = await freePort();
    const port2 = await freePort();
    const shell = 'env PS1="$ " bash --norc --noprofile';
    tmux('new-session', '-d', '-s', session, '-n', 't1', '-x', '200', '-y', '50', shell);
    tmux('new-window', '-t', session, '-n', 't2', shell);
    const t1 = new Terminal(`${session}:t1`, 'terminal 1');
    const t2 = new Terminal(`${session}:t2`, 'terminal 2');
    // As the chapter's `~/tarantool/src/tarantool` in each node's directory; the log goes to
    // a file so that the pane holds the console alone.
    const start = (t: Terminal, node: string) => {
      t.type(
        `cd ${dir} && mkdir -p ${node} && cd ${node} && node ${CLI} start 2>>../${node}.log; echo "exit=$?"`,
      );
      return t.expect('tarantype> ', 'the prompt', true);
    };

    // Terminal 1: a new replica set.
    await start(t1, 'tarantool_test_node_1');
    await t1.step(`box.cfg{listen = ${port1}}`, EMPTY);
    await t1.step("box.schema.user.create('replicator', {password = 'password'})", EMPTY);
    await t1.step("box.schema.user.grant('replicator','execute','role','replication')", EMPTY);
    await t1.step(
      "box.space._cluster:select({0}, {iterator = 'GE'})",
      "---\n- - [1, '<uuid>']\n...\n",
    );

    // Terminal 2: a replica joins.
    await start(t2, 'tarantool_test_node_2');
    await t2.step(
      [
        'box.cfg{',
        `  listen = ${port2},`,
        `  replication = 'replicator:password@localhost:${port1}'`,
        '}',
      ],
      EMPTY,
    );
    await t2.step(
      "box.space._cluster:select({0}, {iterator = 'GE'})",
      "---\n- - [1, '<uuid>']\n  - [2, '<uuid>']\n...\n",
    );

    // Terminal 1: a space and a tuple.
    await t1.step("s = box.schema.space.create('tester')", EMPTY);
    await t1.step("i = s:create_index('primary', {})", EMPTY);
    await t1.step(
      "s:insert{1, 'Tuple inserted on Terminal #1'}",
      "---\n- [1, 'Tuple inserted on Terminal #1']\n...\n",
    );

    // Terminal 2: the replica has it, and writes its own.
    await t2.step('s = box.space.tester', EMPTY);
    // The row travels asynchronously: as a user would, look again until it arrived.
    const select = "s:select({1}, {iterator = 'GE'})";
    for (let tries = 0; ; tries++) {
      t2.type(select);
      try {
        await t2.expect(
          `tarantype> ${select}\n---\n- - [1, 'Tuple inserted on Terminal #1']\n...\n`,
          select,
          false,
          2000,
        );
        break;
      } catch (error) {
        if (tries === 5) throw error;
      }
    }
    await t2.step(
      "s:insert{2, 'Tuple inserted on Terminal #2'}",
      "---\n- [2, 'Tuple inserted on Terminal #2']\n...\n",
    );

    // Terminal 1: os.exit(); both nodes have their snapshot and xlog.
    t1.type('os.exit()');
    await t1.expect('tarantype> os.exit()\nexit=0\n', 'the exit');
    for (const node of ['tarantool_test_node_1', 'tarantool_test_node_2']) {
      const files = readdirSync(join(dir, node));
      expect(
        files.some((f) => f.endsWith('.snap')),
        `${node}: ${files}`,
      ).toBe(true);
      expect(
        files.some((f) => f.endsWith('.xlog')),
        `${node}: ${files}`,
      ).toBe(true);
    }

    // Terminal 2: the replica keeps working with its master down.
    await t2.step(
      "box.space.tester:select({0}, {iterator = 'GE'})",
      "---\n- - [1, 'Tuple inserted on Terminal #1']\n  - [2, 'Tuple inserted on Terminal #2']\n...\n",
    );
    await t2.step("box.space.tester:insert{3, 'Another'}", "---\n- [3, 'Another']\n...\n");

    // Terminal 1: restarted, it recovers its own rows only (the replica is not its source).
    await start(t1, 'tarantool_test_node_1');
    await t1.step(`box.cfg{listen = ${port1}}`, EMPTY);
    await t1.step(
      "box.space.tester:select({0}, {iterator = 'GE'})",
      "---\n- - [1, 'Tuple inserted on Terminal #1']\n...\n",
    );
    // Master-master: box.cfg{replication} returns once synced (2.6), with the replica's rows.
    await t1.step(
      ['box.cfg{', `  replication = 'replicator:password@localhost:${port2}'`, '}'],
      EMPTY,
    );
    await t1.step(
      "box.space.tester:select({0}, {iterator = 'GE'})",
      "---\n- - [1, 'Tuple inserted on Terminal #1']\n  - [2, 'Tuple inserted on Terminal #2']\n  - [3, 'Another']\n...\n",
    );
    // 2.6's order: LuaJIT's hash order of the table's keys (luajit-order.ts).
    for (const t of [t1, t2]) await t.step('box.info.vclock', '---\n- {2: 2, 1: 10}\n...\n');

    for (const t of [t1, t2]) {
      t.type('os.exit()');
      await t.expect('tarantype> os.exit()\nexit=0\n', 'the exit');
    }
  },
);
