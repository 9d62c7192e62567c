// The Lua console and EVAL: the reference's console transcripts replayed byte for byte (after
// normalising UUIDs, addresses, pids and times), Tarantool's net.box as an EVAL/CALL client
// (conn:eval, the seed's create_index('primary', {}) over the wire, functions defined in Lua),
// `tarantype connect host:port` over the binary port, and `\set language`.
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { connect } from '@tarantype/iproto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, Instance, runConsoleClient } from '../src/index.js';
import { hasTarantool, LogCapture, runLua, startInstance, tempDir } from './helpers.js';

interface Step {
  readonly command: string;
  readonly expected: string;
  /** A read-only line that waits for background fibers: re-typed until it matches. */
  readonly wait: boolean;
}

/** "tarantool> cmd" lines, each followed by its YAML document (--- … ...). */
function parseTranscript(path: string): Step[] {
  const lines = readFileSync(new URL(path, import.meta.url), 'utf8').split('\n');
  const steps: Step[] = [];
  let wait = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('# wait')) wait = true;
    if (!line.startsWith('tarantool> ')) continue;
    const command = line.slice('tarantool> '.length);
    const output: string[] = [];
    for (i++; i < lines.length; i++) {
      output.push(lines[i]!);
      if (lines[i] === '...') break;
    }
    steps.push({ command, expected: `${output.join('\n')}\n`, wait });
    wait = false;
  }
  return steps;
}

/** What varies from run to run (the reference's "do not assert literally" list). */
function normalise(text: string): string {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/function: 0x[0-9a-f]+/g, 'function: <address>')
    .replace(/^((?:- | {2})version: ).*$/m, '$1<version>')
    .replace(/^((?:- | {2})package: ).*$/m, '$1<package>')
    .replace(/^( {2}(?:uptime|pid): )\d+$/gm, '$1<n>')
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>');
}

async function replay(instance: Instance, path: string): Promise<void> {
  const session = instance.consoleSession();
  expect(session.language).toBe('lua');
  for (const step of parseTranscript(path)) {
    let printed = await session.evaluate(step.command);
    for (
      let tries = 0;
      step.wait && tries < 40 && normalise(printed) !== `${normalise(step.expected)}\n`;
      tries++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      printed = await session.evaluate(step.command);
    }
    // The interactive console prints an empty line after each document.
    expect(normalise(printed), step.command).toBe(`${normalise(step.expected)}\n`);
    // A person (or the reference's driver) types the next line a little later: background
    // fibers (box.once waiting for read_only = false) run meanwhile, as in Tarantool.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let dir: string;
let cleanup: () => Promise<void>;
let instance: Instance | undefined;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  await instance?.stop();
  instance = undefined;
  await cleanup();
});

describe('Lua console transcripts (reference §2, §6a, §6b, §1a, §12b)', () => {
  it('the tutorial and duplicate-action lines print what Tarantool 2.6 prints', async () => {
    ({ instance } = await startInstance(dir));
    await replay(instance, './fixtures/console-tutorial.txt');
  });

  it('a fresh instance: box.info, box.info.server, box.snapshot', async () => {
    ({ instance } = await startInstance(dir));
    await replay(instance, './fixtures/console-fresh.txt');
  });

  it('option validation, box.info.gc(), temporary and is_local spaces, read_only (§10c, §10d, §6c, §3)', async () => {
    ({ instance } = await startInstance(dir));
    await replay(instance, './fixtures/console-options.txt');
  });

  it('multi-line statements, \\set language, functions and tuples', async () => {
    ({ instance } = await startInstance(dir));
    const session = instance.consoleSession();
    expect(await session.evaluate('box.cfg{')).toBe('');
    expect(session.incomplete).toBe(true);
    expect(await session.evaluate('  read_only = false')).toBe('');
    expect(await session.evaluate('}')).toBe('---\n...\n\n');
    expect(session.incomplete).toBe(false);
    await session.evaluate("s = box.schema.space.create('t')");
    await session.evaluate("s:create_index('pk')");
    await session.evaluate("for i = 1, 3 do s:insert{i, 'v' .. i} end");
    expect(await session.evaluate('t = s:get{2}')).toBe('---\n...\n\n');
    expect(await session.evaluate('t[1], t[2], #t')).toBe('---\n- 2\n- v2\n- 2\n...\n\n');
    expect(
      await session.evaluate('local n = 0 for _, t in s:pairs() do n = n + t[1] end return n'),
    ).toBe('---\n- 6\n...\n\n');
    expect(await session.evaluate("s:update({1}, {{'=', 2, 'x'}})")).toBe(
      "---\n- [1, 'x']\n...\n\n",
    );
    expect(await session.evaluate('s:delete{3}')).toBe("---\n- [3, 'v3']\n...\n\n");
    expect(await session.evaluate('s:count(), s:len()')).toBe('---\n- 2\n- 2\n...\n\n');
    expect(await session.evaluate("require('log').info('from lua %d', 5)")).toBe('---\n...\n\n');
    expect(await session.evaluate('\\set language js')).toBe('---\n- true\n...\n\n');
    expect(session.language).toBe('js');
    expect(await session.evaluate('box.space.t.len()')).toBe('---\n- 2\n...\n\n');
    expect(await session.evaluate('\\set language lua')).toBe('---\n- true\n...\n\n');
    expect(await session.evaluate("require('nope')")).toMatch(/module 'nope' not found/);
  });

  it('os.exit() asks the instance to stop', async () => {
    let exitCode: number | undefined;
    ({ instance } = await startInstance(dir, { onExit: (code) => (exitCode = code) }));
    const session = instance.consoleSession();
    void session.evaluate('os.exit(3)');
    await new Promise((r) => setTimeout(r, 50));
    expect(exitCode).toBe(3);
  });
});

describe.skipIf(!hasTarantool && process.env.CI !== 'true')(
  'EVAL with net.box (needs tarantool)',
  () => {
    it('conn:eval, access checked first, the seed create_index line over the wire, Lua functions over CALL', {
      timeout: 60_000,
    }, async () => {
      expect(hasTarantool, 'tarantool must be installed in CI').toBe(true);
      let port: number;
      ({ instance, port } = await startInstance(dir));
      const admin = instance.consoleSession();
      await admin.evaluate("box.schema.user.create('ops', {password = 'pw'})");
      await admin.evaluate("box.schema.user.grant('ops', 'read,write,execute,create', 'universe')");
      await admin.evaluate("box.schema.user.create('reader', {password = 'pw'})");
      await admin.evaluate("box.schema.user.grant('reader', 'read', 'universe')");
      await admin.evaluate('function double(x) return x * 2, "twice" end');
      // In _func with a grant: callable by a user without Execute on universe.
      await admin.evaluate("box.schema.func.create('double')");
      await admin.evaluate("box.schema.user.grant('reader', 'execute', 'function', 'double')");
      const out = await runLua(
        dir,
        `
      local net = require('net.box')
      local guest = net.connect('127.0.0.1:${port}')
      print('guest', pcall(guest.eval, guest, 'return 1'))
      local reader = net.connect('reader:pw@127.0.0.1:${port}')
      print('reader', pcall(reader.eval, reader, 'return 1'))
      print('granted function', reader:call('double', {4}))
      local c = net.connect('ops:pw@127.0.0.1:${port}')
      print('id', c:eval('return box.info.id'))
      print('session', c:eval('return box.session.user(), box.session.id() > 0'))
      print('args', c:eval('local a, b, t = ... return b, a, t[2]', {1, 'two', {3, 4}}))
      print('nil', c:eval('return nil') == nil)
      print('none', select('#', c:eval('local x = 1')))
      print('error', pcall(c.eval, c, "box.error(box.error.NO_SUCH_SPACE, 'zz')"))
      local ok, e = pcall(c.eval, c, "box.error(box.error.NO_SUCH_SPACE, 'zz')")
      print('code', e.code)
      print('lua error', pcall(c.eval, c, "error('boom')"))
      c:eval("s = box.schema.space.create('seed')")
      print('eval create_index', c:eval("return s:create_index('primary', {}).name"))
      c:call('box.schema.space.create', {'tester'})
      print('call create_index', c:call('box.space.tester:create_index', {'primary', {}}).name)
      print('call select', #c:call('box.space.tester:select', {{}, {}}))
      c:call('box.space.tester:insert', {{1, 'Tuple inserted on Terminal #1'}})
      print('tuple', c:eval("return box.space.tester:get{1}")[2])
      print('lua function', c:call('double', {21}))
      print('vclock', require('json').encode(c:eval('return box.info.vclock')))
      `,
      );
      expect(out).toEqual([
        "guest\tfalse\tExecute access to universe '' is denied for user 'guest'",
        "reader\tfalse\tExecute access to universe '' is denied for user 'reader'",
        'granted function\t8\ttwice',
        'id\t1',
        'session\tops\ttrue',
        'args\ttwo\t1\t4',
        'nil\ttrue',
        'none\t0',
        "error\tfalse\tSpace 'zz' does not exist",
        'code\t36',
        'lua error\tfalse\teval:1: boom',
        'eval create_index\tprimary',
        'call create_index\tprimary',
        'call select\t0',
        'tuple\tTuple inserted on Terminal #1',
        'lua function\t42\ttwice',
        expect.stringMatching(/^vclock\t\{"1":\d+\}$/),
      ]);
    });
  },
);

describe.skipIf(!hasTarantool && process.env.CI !== 'true')(
  'tarantoolctl connect (needs tarantool)',
  () => {
    it('works over the binary port and the admin console, as against Tarantool', {
      timeout: 30_000,
    }, async () => {
      expect(hasTarantool, 'tarantool must be installed in CI').toBe(true);
      let port: number;
      ({ instance, port } = await startInstance(dir, { admin: join(dir, 'admin.sock') }));
      const admin = instance.consoleSession();
      await admin.evaluate("box.schema.user.create('ops', {password = 'pw'})");
      await admin.evaluate("box.schema.user.grant('ops', 'read,write,execute,create', 'universe')");
      const run = (uri: string, input: string) =>
        new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
          const child = execFile(
            'tarantoolctl',
            ['connect', uri],
            { timeout: 20_000 },
            (error, stdout, stderr) => (error ? reject(error) : resolve({ stdout, stderr })),
          );
          child.stdin?.end(input);
        });
      const binary = `ops:pw@127.0.0.1:${port}`;
      // Without a terminal, tarantoolctl sends its whole input as one statement.
      expect(await run(binary, 'box.info.id\n')).toEqual({
        stdout: '---\n- 1\n...\n\n',
        stderr: `connected to 127.0.0.1:${port}\n`,
      });
      expect(
        normalise(
          (await run(binary, "return box.space._cluster:select({0}, {iterator = 'GE'})\n")).stdout,
        ),
      ).toBe("---\n- - [1, '<uuid>']\n...\n\n");
      // The admin console greets as Tarantool's does, so tarantoolctl accepts it; a client that
      // leaves before its answer does not take the server down.
      const socket = instance.adminAddress!;
      expect(await run(socket, "require('fiber').sleep(0.05) return box.info.id\n")).toEqual({
        stdout: '---\n- 1\n...\n\n',
        stderr: `connected to unix/:${socket}\n`,
      });
      const early = execFile('tarantoolctl', ['connect', socket]);
      early.stdin?.end("require('fiber').sleep(0.2)\n");
      await new Promise((r) => setTimeout(r, 50));
      early.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 300));
      expect((await run(socket, 'box.info.id\n')).stdout).toBe('---\n- 1\n...\n\n');
    });
  },
);

describe('tarantype connect over the binary port', () => {
  it('evaluates each statement with EVAL and prints the console YAML', async () => {
    let port: number;
    ({ instance, port } = await startInstance(dir));
    await instance.consoleSession().evaluate("box.schema.user.create('ops', {password = 'pw'})");
    await instance
      .consoleSession()
      .evaluate("box.schema.user.grant('ops', 'read,write,execute,create', 'universe')");
    const input = new PassThrough();
    const output = new PassThrough();
    let printed = '';
    output.on('data', (chunk) => (printed += chunk));
    const done = runConsoleClient(`ops:pw@127.0.0.1:${port}`, input, output);
    input.end(
      "box.space._cluster:select({0}, {iterator = 'GE'})\nbox.cfg{\n  read_only = false\n}\nbox.session.user()\n",
    );
    await done;
    expect(normalise(printed)).toBe(
      [
        'connected to 127.0.0.1:<port>',
        "127.0.0.1:<port>> ---\n- - [1, '<uuid>']\n...\n",
        '127.0.0.1:<port>>          >          > ---\n...\n',
        '127.0.0.1:<port>> ---\n- ops\n...\n',
        '127.0.0.1:<port>> ',
      ].join('\n'),
    );
  });

  it('shows the access error for a user without Execute on universe', async () => {
    let port: number;
    ({ instance, port } = await startInstance(dir));
    const input = new PassThrough();
    const output = new PassThrough();
    let printed = '';
    output.on('data', (chunk) => (printed += chunk));
    const done = runConsoleClient(`127.0.0.1:${port}`, input, output);
    input.end('box.info.id\n');
    await done;
    expect(printed).toContain(
      "---\n- error: Execute access to universe '' is denied for user 'guest'\n...\n",
    );
  });
});

describe('an unconfigured start', () => {
  it('answers "Please call box.cfg{} first" until the first box.cfg{} creates the database', async () => {
    const log = new LogCapture();
    const started = await Instance.start({
      cfg: { work_dir: dir, checkpoint_interval: 0 },
      logger: createLogger({ level: 5, format: 'plain', destination: log }),
      unconfigured: true,
    });
    instance = started;
    expect(started.configured).toBe(false);
    const session = started.consoleSession();
    expect(await session.evaluate('box.info.status')).toBe(
      '---\n- error: Please call box.cfg{} first\n...\n\n',
    );
    expect(await session.evaluate('box.space._schema')).toMatch(/Please call box.cfg\{\} first/);
    // Printing box.info / box.cfg runs their __serialize: an error, not a crash.
    expect(await session.evaluate('box.info')).toBe(
      '---\n- error: Please call box.cfg{} first\n...\n\n',
    );
    expect(await session.evaluate('box.cfg')).toMatch(/Please call box.cfg\{\} first/);
    expect(await session.evaluate('1 + 1')).toBe('---\n- 2\n...\n\n');
    expect(await session.evaluate("box.cfg{listen = '127.0.0.1:0'}")).toBe('---\n...\n\n');
    expect(started.configured).toBe(true);
    expect(log.lines.some((l) => l.endsWith('initializing an empty data directory'))).toBe(true);
    expect(log.lines.some((l) => l.endsWith('ready to accept requests'))).toBe(true);
    expect(await session.evaluate('box.info.status, box.cfg.listen')).toBe(
      '---\n- running\n- 127.0.0.1:0\n...\n\n',
    );
    const client = await connect(started.listenAddress!);
    await client.ping();
    client.close();
    // A second box.cfg{} reconfigures as usual; the JavaScript console has its box now.
    expect(await session.evaluate('box.cfg{read_only = false}')).toBe('---\n...\n\n');
    await session.evaluate('\\set language js');
    expect(await session.evaluate('box.info().status')).toBe('---\n- running\n...\n\n');
  });
});

describe('the seed tutorial in two consoles', () => {
  it('terminal 2 joins terminal 1 with its first box.cfg{} and sees its tuple', {
    timeout: 60_000,
  }, async () => {
    const logger = createLogger({ level: 5, format: 'plain', destination: new LogCapture() });
    const { dir: dir2, cleanup: cleanup2 } = await tempDir();
    const master = await Instance.start({
      cfg: { work_dir: dir, checkpoint_interval: 0 },
      logger,
      unconfigured: true,
    });
    instance = master;
    let replica: Instance | undefined;
    try {
      const t1 = master.consoleSession();
      expect(await t1.evaluate("box.cfg{listen = '127.0.0.1:0'}")).toBe('---\n...\n\n');
      const port = master.listenAddress!.split(':')[1];
      for (const line of [
        "box.schema.user.create('replicator', {password = 'password'})",
        "box.schema.user.grant('replicator','execute','role','replication')",
      ])
        expect(await t1.evaluate(line), line).toBe('---\n...\n\n');
      replica = await Instance.start({
        cfg: { work_dir: dir2, checkpoint_interval: 0 },
        logger,
        unconfigured: true,
      });
      const t2 = replica.consoleSession();
      expect(await t2.evaluate('box.cfg{')).toBe('');
      expect(await t2.evaluate("  listen = '127.0.0.1:0',")).toBe('');
      expect(await t2.evaluate(`  replication = 'replicator:password@localhost:${port}'`)).toBe('');
      expect(await t2.evaluate('}')).toBe('---\n...\n\n');
      expect(
        normalise(await t2.evaluate("box.space._cluster:select({0}, {iterator = 'GE'})")),
      ).toBe("---\n- - [1, '<uuid>']\n  - [2, '<uuid>']\n...\n\n");
      await t1.evaluate("s = box.schema.space.create('tester')");
      await t1.evaluate("i = s:create_index('primary', {})");
      expect(await t1.evaluate("s:insert{1, 'Tuple inserted on Terminal #1'}")).toBe(
        "---\n- [1, 'Tuple inserted on Terminal #1']\n...\n\n",
      );
      let seen = '';
      for (let i = 0; i < 100 && !seen.includes('Terminal #1'); i++) {
        await new Promise((r) => setTimeout(r, 20));
        seen = await t2.evaluate(
          "box.space.tester and box.space.tester:select({1}, {iterator = 'GE'})",
        );
      }
      expect(seen).toBe("---\n- - [1, 'Tuple inserted on Terminal #1']\n...\n\n");
      expect(await t2.evaluate("box.space.tester:insert{2, 'Tuple inserted on Terminal #2'}")).toBe(
        "---\n- [2, 'Tuple inserted on Terminal #2']\n...\n\n",
      );
      expect(await t2.evaluate('box.info.replication[1].upstream.status')).toBe(
        '---\n- follow\n...\n\n',
      );
    } finally {
      await replica?.stop();
      await cleanup2();
    }
  });
});

describe('the admin console socket', () => {
  it('replaces a socket file left by a dead process, and keeps a live one', async () => {
    const path = join(dir, 'admin.sock');
    // A process that binds the socket and dies without removing it.
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    ({ instance } = await startInstance(dir, { admin: path }));
    expect(instance.adminAddress).toBe(path);
    const { dir: other, cleanup: cleanupOther } = await tempDir();
    try {
      await expect(startInstance(other, { admin: path })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await cleanupOther();
    }
  });
});
