// `tarantype start` checks every option before it acts: real processes, each bad option gives
// exit code 2, one line on stderr, no stack trace, and no data directory. Also --help's
// defaults, the version banner, TypeScript init modules of every extension and package type,
// and the README's config + init example (a function the init module registers, granted by
// the config's credentials).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '@tarantype/iproto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadInitModule } from '../src/init-module.js';
import { tempDir } from './helpers.js';

const CLI = join(import.meta.dirname, '..', 'bin', 'tarantype.js');
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** [name, extra files, args, the line's text (a part of it)] */
const BAD: ReadonlyArray<readonly [string, Record<string, string>, string[], string]> = [
  [
    'unparsable --listen',
    {},
    ['--listen', 'bad uri!'],
    "--listen: 'bad uri!': expected host:service",
  ],
  ['--listen port out of range', {}, ['--listen', '70000'], 'port 70000 is out of range'],
  [
    '--listen host:port out of range',
    {},
    ['--listen', '127.0.0.1:99999'],
    'port 99999 is out of range',
  ],
  [
    '--listen on a UNIX socket',
    {},
    ['--listen', 'unix/:/tmp/x.sock'],
    'UNIX sockets are not supported',
  ],
  ['--listen without its value', {}, ['--listen'], "option '--listen <uri>' argument missing"],
  [
    '--wal-mode',
    {},
    ['--wal-mode', 'bogus'],
    "--wal-mode: Incorrect value for option 'wal_mode': bogus",
  ],
  ['--log-level not an integer', {}, ['--log-level', 'x'], 'expected an integer'],
  ['--log-level out of range', {}, ['--log-level', '9'], 'expected an integer from 0 to 7'],
  ['--log-format', {}, ['--log-format', 'xml'], "expected 'plain' or 'json'"],
  [
    '--replication URI',
    {},
    ['--replication', 'not a uri'],
    "option 'replication': expected host:service",
  ],
  [
    '--admin in a missing directory',
    {},
    ['--admin', 'missing/admin.sock'],
    '/missing does not exist',
  ],
  ['--console-language', {}, ['--console-language', 'py'], "must be lua or js, not 'py'"],
  ['an unknown option', {}, ['--bogus'], "unknown option '--bogus'"],
  [
    '--data-dir is a file',
    { afile: '' },
    ['--data-dir', 'afile'],
    "--data-dir: 'afile' is not a directory",
  ],
  ['--config missing', {}, ['--config', 'nope.yaml'], 'cannot read config nope.yaml: no such file'],
  [
    '--config bad YAML',
    { 'c.yaml': 'listen: [\n' },
    ['--config', 'c.yaml'],
    'config c.yaml: invalid YAML',
  ],
  [
    '--config not a map',
    { 'c.yaml': '- 1\n' },
    ['--config', 'c.yaml'],
    'expected a map of options',
  ],
  [
    '--config unknown option',
    { 'c.yaml': 'nosuch: 1\n' },
    ['--config', 'c.yaml'],
    "config c.yaml: Incorrect value for option 'nosuch': unexpected option",
  ],
  [
    '--config bad wal_mode',
    { 'c.yaml': 'wal_mode: bogus\n' },
    ['--config', 'c.yaml'],
    "option 'wal_mode': bogus",
  ],
  [
    '--config bad listen',
    { 'c.yaml': 'listen: 127.0.0.1:70000\n' },
    ['--config', 'c.yaml'],
    'listen in c.yaml',
  ],
  [
    '--config log in a missing directory',
    { 'c.yaml': 'log: missing/t.log\n' },
    ['--config', 'c.yaml'],
    '/missing does not exist',
  ],
  [
    '--config credentials typo',
    { 'c.yaml': 'credentials:\n  users:\n    app:\n      pasword: x\n' },
    ['--config', 'c.yaml'],
    "credentials.users.app: unexpected key 'pasword'",
  ],
  [
    '--config unknown permission',
    {
      'c.yaml':
        'credentials:\n  users:\n    app:\n      privileges:\n        - permissions: [rede]\n          universe: true\n',
    },
    ['--config', 'c.yaml'],
    "unknown permission 'rede'",
  ],
  ['--init missing', {}, ['--init', 'nope.mjs'], 'init module nope.mjs: no such file'],
  [
    '--init syntax error',
    { 'bad.mjs': 'export default 1 +;\n' },
    ['--init', 'bad.mjs'],
    'init module bad.mjs: ',
  ],
  [
    '--init without a function',
    { 'none.mjs': 'export const x = 1;\n' },
    ['--init', 'none.mjs'],
    "must export a default function (or 'init')",
  ],
];

describe('tarantype start: a bad option is one line and exit 2, with nothing touched', () => {
  for (const [name, files, args, text] of BAD) {
    it(name, { timeout: 30_000 }, async () => {
      for (const [file, content] of Object.entries(files))
        await writeFile(join(dir, file), content);
      const dataArgs = args.includes('--data-dir') ? [] : ['--data-dir', 'data'];
      const { status, stdout, stderr } = run(['start', '--no-console', ...dataArgs, ...args]);
      expect(status, stderr).toBe(2);
      expect(stdout).toBe('');
      const lines = stderr.split('\n').filter((l) => l !== '');
      expect(lines, stderr).toHaveLength(1);
      expect(lines[0]).toContain(text);
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(existsSync(join(dir, 'data'))).toBe(false);
    });
  }
});

describe('tarantype --help and --version', () => {
  it('start --help shows the defaults', () => {
    const { status, stdout } = run(['start', '--help']);
    expect(status).toBe(0);
    for (const text of [
      '(default: write)',
      '(default: 5)',
      '(default: plain)',
      '(default: the current directory)',
      '(default: "lua")',
    ])
      expect(stdout.replace(/\s+/g, ' ')).toContain(text);
  });

  it('--version prints the package version', () => {
    const { status, stdout } = run(['--version']);
    expect(status).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

interface Started {
  log: string[];
  port: number;
  stop(): Promise<number | null>;
}

function start(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [CLI, 'start', '--no-console', ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`not ready:\n${log.join('\n')}`));
    }, 20_000);
    let buffer = '';
    child.stderr.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      log.push(...lines);
      if (lines.some((l) => l.endsWith('ready to accept requests'))) {
        clearTimeout(timer);
        const port = Number(/binary: bound to [\d.]+:(\d+)/.exec(log.join('\n'))?.[1]);
        resolve({
          log,
          port,
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${log.join('\n')}${buffer}`));
    });
  });
}

describe('tarantype start', () => {
  it("logs the version banner first, as 2.6's C> lines", { timeout: 30_000 }, async () => {
    const server = await start(['--listen', '127.0.0.1:0', '--data-dir', 'data']);
    expect(server.log[0]).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[\d+\] main C> tarantype \d+\.\d+\.\d+\S* \(Tarantool 2\.6\.0 compatible\)$/,
    );
    expect(server.log[1]).toMatch(/ main C> log level 5$/);
    expect(await server.stop()).toBe(0);
  });

  it("runs the README's config + init example: the init module's function is granted by the credentials", {
    timeout: 30_000,
  }, async () => {
    await writeFile(
      join(dir, 'config.yaml'),
      'listen: 127.0.0.1:0\nwal_mode: write\ncheckpoint_interval: 3600\ncredentials:\n  users:\n    alice:\n      password: secret\n      roles: [super]\n    app:\n      password: app-secret\n      privileges:\n        - permissions: [read, write]\n          spaces: [kv]\n        - permissions: [execute]\n          functions: [kv.get]\n',
    );
    await writeFile(
      join(dir, 'init.mjs'),
      "export default async function ({ box, functions, multi }) {\n  const kv = await box.schema.space.create('kv', { if_not_exists: true });\n  await kv.createIndex('primary', { if_not_exists: true, parts: [{ field: 0, type: 'string' }] });\n  functions.register('kv.get', (key) => box.space.kv.get([key]) ?? null);\n  functions.register('kv.both', () => multi(1, 2));\n}\n",
    );
    const run = async (expectCreated: boolean) => {
      const server = await start([
        '--config',
        'config.yaml',
        '--init',
        'init.mjs',
        '--data-dir',
        'data',
      ]);
      expect(server.log.filter((l) => / W> /.test(l))).toEqual([]);
      expect(server.log.some((l) => l.endsWith('credentials: created function kv.get'))).toBe(
        expectCreated,
      );
      const app = await connect(`app:app-secret@127.0.0.1:${server.port}`);
      await app.insert('kv', ['k', 'v']).catch(() => undefined);
      expect(await app.call('kv.get', ['k'])).toEqual([['k', 'v']]);
      // Only what was granted: kv.both is not.
      await expect(app.call('kv.both', [])).rejects.toThrow(
        "Execute access to function 'kv.both' is denied for user 'app'",
      );
      await app.close();
      expect(await server.stop()).toBe(0);
    };
    await run(true);
    // A restart finds the grant in place and changes nothing.
    await run(false);
  });

  it('runs a .cts init module in an ESM package', { timeout: 30_000 }, async () => {
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    await writeFile(
      join(dir, 'init.cts'),
      "interface Ctx { functions: { register(name: string, fn: () => unknown): void } }\nexport default function ({ functions }: Ctx): void {\n  functions.register('answer', () => 42);\n}\n",
    );
    const server = await start([
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      'data',
      '--init',
      'init.cts',
    ]);
    expect(server.log.some((l) => l.endsWith('init module init.cts done'))).toBe(true);
    expect(await server.stop()).toBe(0);
  });
});

describe('loadInitModule', () => {
  it('loads a TypeScript module of every extension under every package type', async () => {
    for (const type of ['commonjs', 'module', undefined]) {
      const sub = join(dir, type ?? 'none');
      await mkdir(sub);
      if (type !== undefined) await writeFile(join(sub, 'package.json'), JSON.stringify({ type }));
      for (const ext of ['ts', 'mts', 'cts']) {
        const file = join(sub, `init.${ext}`);
        await writeFile(
          file,
          `interface R { a: number }\nexport default function (): R { return { a: ${ext.length} }; }\n`,
        );
        const init = (await loadInitModule(file)) as unknown as () => { a: number };
        expect(init(), `${type} ${ext}`).toEqual({ a: ext.length });
      }
    }
  });
});
