// The network-path ceiling (src/ceiling/net-server.ts, built into dist/) serves what netload.lua
// needs: every op runs error-free through net.box, a tiny net.box script sees its writes, a
// duplicate insert is refused, the WAL grows by more than the inserted tuples and reads back as a
// valid xlog. Needs `tarantool` (net.box is the client): FAILS under CI=true without it, skips
// with a visible reason otherwise.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkWalDir } from '@tarantype/wal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasTarantool, runTarantoolJson } from '../src/lib/tarantool.js';

const SERVER = new URL('../dist/ceiling/net-server.js', import.meta.url).pathname;
const XLOG = '00000000000000000000.xlog';

if (!hasTarantool) {
  if (process.env.CI === 'true') throw new Error('tarantool is not installed (CI=true needs it)');
  console.warn('ceiling-net: SKIPPED, tarantool is not installed (net.box is the client)');
}

/** Starts the server; resolves with its port once it printed `listening <port>`. */
function start(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [SERVER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
      const m = /^listening (\d+)\n/.exec(stdout);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`net-server exited ${code}: ${stderr}`)));
  });
}
function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.on('exit', (code) => resolve(code));
  });
}

describe.skipIf(!hasTarantool)('the Node ceiling iproto server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tarantype-ceiling-net-'));
  let server: { child: ChildProcess; port: number };
  beforeAll(async () => {
    server = await start(['--port', '0', '--dir', join(dir, 'wal')]);
  });
  afterAll(async () => {
    if (server?.child.pid !== undefined && server.child.exitCode === null) {
      process.kill(server.child.pid, 'SIGTERM');
      await exited(server.child);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers net.box (first, on an empty space): insert, get, update, a refused duplicate; the WAL grows', async () => {
    const xlog = join(dir, 'wal', XLOG);
    const before = statSync(xlog).size;
    const script = join(dir, 'check.lua');
    writeFileSync(
      script,
      `local c = require('net.box').connect('127.0.0.1:${server.port}')
local s = c.space.bench
local json = require('json')
local out = {}
out.insert = s:insert({1, 'a', 2}):totable()
out.get = s:get(1):totable()
out.update = s:update(1, {{'+', 3, 1}}):totable()
local ok, err = pcall(s.insert, s, {1, 'a', 2})
out.duplicate = {ok = ok, message = tostring(err)}
out.after = s:get(1):totable()
print(json.encode(out))
os.exit(0)
`,
    );
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile('tarantool', [script], { timeout: 10_000 }, (error, out, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(out),
      ),
    );
    const out = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(out.insert).toEqual([1, 'a', 2]);
    expect(out.get).toEqual([1, 'a', 2]);
    expect(out.update).toEqual([1, 'a', 3]);
    expect(out.duplicate.ok).toBe(false);
    expect(out.duplicate.message).toMatch(/Duplicate key exists in unique index/);
    expect(out.after).toEqual([1, 'a', 3]);
    // {1,'a',2} and the update are 6 + 7 bytes of tuple; each row also carries its header
    expect(statSync(xlog).size - before).toBeGreaterThan(13);
  });

  for (const op of ['ping', 'insert', 'replace', 'select', 'update', 'mixed']) {
    it(`serves netload.lua ${op} (200 requests, 10 in flight) without errors`, async () => {
      // KEYS=1000 keeps the prefill (replace of keys 1..KEYS) short
      const r = await runTarantoolJson(
        'netload.lua',
        [`127.0.0.1:${server.port}`, op, '200', '10'],
        { KEYS: '1000' },
        20_000,
      );
      expect(r.errors, String(r.first_error)).toBe(0);
      expect(r.ops).toBe(200);
      expect(r.ops_per_s as number).toBeGreaterThan(0);
    });
  }

  it('exits 0 on SIGTERM, leaving a valid xlog (one block per row) closed with its EOF marker', async () => {
    process.kill(server.child.pid!, 'SIGTERM');
    expect(await exited(server.child)).toBe(0);
    const report = await checkWalDir(join(dir, 'wal'));
    expect(report.violations).toEqual([]);
    expect(report.xlogs).toHaveLength(1);
    expect(report.xlogs[0]!.end).toBe('eof-marker');
    // insert 200 + replace 200 (+ prefill 1000) + update 200 + mixed ~40 + the script's 2
    expect(report.xlogs[0]!.endVclock!.get(1)).toBeGreaterThan(1600);
  });

  it('refuses bad arguments with a usage error and exit code 2', async () => {
    const child = spawn(process.execPath, [SERVER, '--port', 'x', '--dir', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    expect(await exited(child)).toBe(2);
    expect(stderr).toMatch(/usage: node dist\/ceiling\/net-server\.js --port P --dir D/);
  });
});
