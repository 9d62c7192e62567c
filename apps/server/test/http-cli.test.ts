// `tarantype start --http` and the config file's `http:` key, as real processes: a bad value is
// a usage error (exit 2, one line, nothing created), a taken port is a failed start (exit 1),
// a good one logs its bound address as the binary port does and serves /health. Also the
// HTTP server alone (in-process): 404, 405 with Allow, 500 with the handler's message, HEAD.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HEALTH_CODES, healthOf } from '../src/http/health.js';
import { parseHttpAddress, startHttpServer } from '../src/http/server.js';
import { createLogger } from '../src/index.js';
import { checkStartOptions, type StartFlags, UsageError } from '../src/start-options.js';
import { LogCapture, startInstance, tempDir } from './helpers.js';
import { httpGet } from './http-helpers.js';

const CLI = join(import.meta.dirname, '..', 'bin', 'tarantype.js');
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

function run(args: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, 'start', '--no-console', ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stderr: result.stderr };
}

describe('tarantype start --http: usage errors', () => {
  // [flags, config file text, the one line]. The first of each kind runs as a process (exit 2,
  // one line, nothing created); the others go through the same checks in-process.
  const BAD: ReadonlyArray<readonly [Partial<StartFlags>, string | undefined, string]> = [
    [{ http: '70000' }, undefined, "--http: '70000': port 70000 is out of range (0..65535)"],
    [
      { http: 'localhost:http' },
      undefined,
      "--http: 'localhost:http': expected a port or host:port",
    ],
    [{ http: ':8081' }, undefined, "--http: ':8081': expected a host before ':'"],
    [{ http: '' }, undefined, '--http: expected a port or host:port'],
    [
      { config: 'c.yaml' },
      'http: 127.0.0.1:99999\n',
      "http in c.yaml: '127.0.0.1:99999': port 99999 is out of range",
    ],
    [{ config: 'c.yaml' }, 'http: [8081]\n', 'http in c.yaml: expected a port or host:port'],
  ];
  it.each(BAD)('%j is refused with one line', async (flags, config, line) => {
    const path = join(dir, 'c.yaml');
    if (config !== undefined) await writeFile(path, config);
    const error = await checkStartOptions({
      console: false,
      dataDir: join(dir, 'data'),
      ...flags,
      ...(flags.config === undefined ? {} : { config: path }),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toContain(line.replace('c.yaml', path));
    expect((error as UsageError).message).not.toContain('\n');
  });

  it.each([
    [['--http', '70000'], undefined, BAD[0]![2]],
    [['--config', 'c.yaml'], 'http: 127.0.0.1:99999\n', BAD[4]![2]],
    [['--http'], undefined, "option '--http <[host:]port>' argument missing"],
  ] as const)('%j exits 2 with one line and creates nothing', async (args, config, line) => {
    if (config !== undefined) await writeFile(join(dir, 'c.yaml'), config);
    const { status, stderr } = run(['--data-dir', 'data', '--listen', '0', ...args]);
    expect(status).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(line);
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('a taken port fails the start (exit 1) before the data directory is touched', async () => {
    const taken = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const port = (taken.address() as { port: number }).port;
    try {
      const { status, stderr } = run(['--http', String(port), '--data-dir', 'data']);
      expect(status).toBe(1);
      expect(stderr).toMatch(
        new RegExp(`cannot start: listen EADDRINUSE.*127\\.0\\.0\\.1:${port}`),
      );
      expect(existsSync(join(dir, 'data'))).toBe(false);
    } finally {
      taken.close();
    }
  });

  it('--http 0 listens on loopback, logs the address and serves /health; SIGTERM closes it', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'start', '--no-console', '--listen', '127.0.0.1:0', '--data-dir', dir, '--http', '0'],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    try {
      const ready = Date.now();
      while (!log.includes('ready to accept requests') && Date.now() - ready < 10_000)
        await new Promise((r) => setTimeout(r, 20));
      const port = Number(/main I> http: bound to 127\.0\.0\.1:(\d+)$/m.exec(log)?.[1]);
      expect(port).toBeGreaterThan(0);
      // Bound before box.cfg{} (so /health can say loading), like the binary port's line.
      expect(log.indexOf('http: bound to')).toBeLessThan(log.indexOf('binary: bound to'));
      expect(await httpGet(port, '/health')).toMatchObject({ status: 200, body: 'ok\n' });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await expect(httpGet(port, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('the HTTP server', () => {
  it('parses --http values: a port is loopback, host:port and [v6]:port as given', () => {
    expect(parseHttpAddress('8081')).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(parseHttpAddress(8081)).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(parseHttpAddress('0.0.0.0:9100')).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(parseHttpAddress('localhost:9100')).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(parseHttpAddress('[::1]:9100')).toEqual({ host: '::1', port: 9100 });
    expect(() => parseHttpAddress('x')).toThrow("'x': expected a port or host:port");
  });

  it('answers 404, 405 with Allow, 500 with the message, and HEAD from a GET route', async () => {
    const log = new LogCapture();
    const endpoint = await startHttpServer(
      { host: '127.0.0.1', port: 0 },
      [
        {
          method: 'GET',
          path: '/fine',
          handle: (_req, res, url) => {
            res.writeHead(200, { 'Content-Type': 'text/plain' });
            res.end(`q=${url.searchParams.get('q')}\n`);
          },
        },
        {
          method: 'GET',
          path: '/broken',
          handle: async () => {
            throw new Error('the handler broke');
          },
        },
      ],
      createLogger({ level: 5, format: 'plain', destination: log }),
    );
    try {
      const port = Number(endpoint.address.split(':')[1]);
      expect(log.lines.some((l) => l.endsWith(`http: bound to ${endpoint.address}`))).toBe(true);
      expect(await httpGet(port, '/fine?q=1')).toMatchObject({ status: 200, body: 'q=1\n' });
      expect(await httpGet(port, '/nope')).toMatchObject({
        status: 404,
        body: 'no such path: /nope\n',
      });
      const post = await httpGet(port, '/fine', 'POST');
      expect(post).toMatchObject({ status: 405, body: 'method POST not allowed on /fine\n' });
      expect(post.headers.allow).toBe('GET');
      expect(await httpGet(port, '/broken')).toMatchObject({
        status: 500,
        body: 'the handler broke\n',
      });
      expect(log.lines.some((l) => l.includes('http: GET /broken: the handler broke'))).toBe(true);
      expect(await httpGet(port, '/fine', 'HEAD')).toMatchObject({ status: 200, body: '' });
    } finally {
      await endpoint.close();
    }
  });

  it('/health says stopping (503) from the moment stop() is called', async () => {
    const { instance } = await startInstance(dir, { http: { host: '127.0.0.1', port: 0 } });
    expect(healthOf(instance).state).toBe('ok');
    const stopped = instance.stop();
    // box.info still says running while requests in flight finish.
    expect(instance.box.info().status).toBe('running');
    expect(healthOf(instance)).toMatchObject({ state: 'stopping', status: 'running' });
    expect(HEALTH_CODES.stopping).toBe(503);
    await stopped;
    expect(healthOf(instance).state).toBe('stopping');
  });

  it('two instances in one process serve their own numbers (a Registry each)', async () => {
    const http = { host: '127.0.0.1', port: 0 };
    await mkdir(join(dir, 'a'));
    await mkdir(join(dir, 'b'));
    const a = await startInstance(join(dir, 'a'), { http });
    const b = await startInstance(join(dir, 'b'), { http });
    try {
      await a.instance.box.schema.space.create('only_a');
      const portOf = (i: typeof a) => Number(i.instance.httpAddress!.split(':')[1]);
      const lsn = async (i: typeof a) =>
        Number(/^tnt_info_lsn (\d+)$/m.exec((await httpGet(portOf(i), '/metrics')).body)?.[1]);
      expect(await lsn(a)).toBe(a.instance.box.info().lsn);
      expect(await lsn(b)).toBe(b.instance.box.info().lsn);
      expect(await lsn(a)).toBeGreaterThan(await lsn(b));
    } finally {
      await a.instance.stop();
      await b.instance.stop();
    }
  });
});
