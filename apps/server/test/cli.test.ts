// The CLI end to end: real processes, real sockets, real files.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '@tarantype/iproto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const CLI = join(import.meta.dirname, '..', 'bin', 'tarantype.js');
let dir: string;
let cleanup: () => Promise<void>;
const children: ChildProcess[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await cleanup();
});

interface Running {
  child: ChildProcess;
  log: string[];
  port: number;
  admin: number;
  exited: Promise<number | null>;
}

function startCli(args: string[]): Promise<Running> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'start',
      '--listen',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
      '--data-dir',
      join(dir, 'data'),
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  const log: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "ready to accept requests":\n${log.join('\n')}`)),
      20_000,
    );
    let buffer = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      log.push(...lines);
      if (lines.some((l) => l.includes('ready to accept requests'))) {
        clearTimeout(timer);
        const port = Number(/binary: bound to [\d.]+:(\d+)/.exec(log.join('\n'))?.[1]);
        const admin = Number(/admin console: bound to [\d.]+:(\d+)/.exec(log.join('\n'))?.[1]);
        resolve({ child, log, port, admin, exited });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${log.join('\n')}${buffer}`));
    });
  });
}

function consoleCommands(admin: number, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'connect', `127.0.0.1:${admin}`], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`connect exited ${code}: ${out}`)),
    );
    child.stdin.end(input);
  });
}

describe('tarantype CLI', () => {
  it('starts, takes writes, stops on SIGTERM with exit 0 and a clean xlog, and restarts with the data', {
    timeout: 60_000,
  }, async () => {
    const first = await startCli([]);
    expect(
      first.log.some((l) => / \[\d+\] main I> initializing an empty data directory$/.test(l)),
    ).toBe(true);
    const output = await consoleCommands(
      first.admin,
      "box.schema.user.create('app', {password = 'pw'})\nbox.schema.user.grant('app', 'read,write', 'universe')\nbox.schema.space.create('kv'):create_index('primary')\nbox.space.kv:len()\n",
    );
    expect(output).toContain('---\n- 0\n...');
    const client = await connect(`app:pw@127.0.0.1:${first.port}`);
    await Promise.all(Array.from({ length: 500 }, (_, i) => client.insert('kv', [i, 'value'])));
    await client.close();
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.log.some((l) => l.includes('stopped: the xlog is closed'))).toBe(true);

    const second = await startCli([]);
    expect(second.log.some((l) => l.includes("wasn't correctly closed"))).toBe(false);
    expect(second.log.some((l) => l.includes('recover from'))).toBe(true);
    expect(await consoleCommands(second.admin, 'box.space.kv:len()\n')).toContain(
      '---\n- 500\n...',
    );
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });

  it('writes its log to the file named by box.cfg.log (--config)', {
    timeout: 60_000,
  }, async () => {
    const config = join(dir, 'config.yaml');
    const logFile = join(dir, 'tarantype.log');
    await writeFile(config, `log: ${logFile}\ncheckpoint_interval: 0\n`);
    const child = spawn(
      process.execPath,
      [
        CLI,
        'start',
        '--listen',
        '127.0.0.1:0',
        '--data-dir',
        join(dir, 'data'),
        '--config',
        config,
      ],
      { stdio: 'ignore' },
    );
    children.push(child);
    const deadline = Date.now() + 20_000;
    let text = '';
    while (Date.now() < deadline && !text.includes('ready to accept requests')) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      text = await readFile(logFile, 'utf8').catch(() => '');
    }
    expect(text).toMatch(/ main I> ready to accept requests\n/);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('logs JSON lines with --log-format json and refuses bad options with Tarantool texts', {
    timeout: 60_000,
  }, async () => {
    const running = await startCli(['--log-format', 'json', '--wal-mode', 'fsync']);
    const ready = running.log
      .map((l) => JSON.parse(l) as { msg: string; level: number })
      .find((r) => r.msg === 'ready to accept requests');
    expect(ready?.level).toBe(30);
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    // A usage mistake: exit 2 before the data directory is touched (cli-usage.test.ts has all).
    await expect(startCli(['--wal-mode', 'bogus'])).rejects.toThrow(
      "exited with 2:\ntarantype start: --wal-mode: Incorrect value for option 'wal_mode': bogus",
    );
  });
});
