// `tarantype check`: equal members exit 0; one changed tuple, a missing row, a missing space
// exit 1 and name the first differing key; usage mistakes exit 2 (through the real bin). The
// data spans several batches (batch size 7 over 50 rows) so the GT paging is exercised.
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkCommand, checkMembers, formatReport } from '../src/check.js';
import type { Instance } from '../src/index.js';
import { startInstance, tempDir } from './helpers.js';
import {
  Cluster,
  needsTarantool,
  requireTarantool,
  STANDARD_USERS,
} from './replication/cluster.js';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/tarantype.js');
const credentials = { users: { alice: { password: 'secret', roles: ['super'] } } };

let instances: Instance[] = [];
let cleanups: Array<() => Promise<void>> = [];
let cluster: Cluster | undefined;
beforeEach(() => {
  instances = [];
  cleanups = [];
});
afterEach(async () => {
  for (const i of instances) await i.stop();
  for (const c of cleanups) await c();
  await cluster?.cleanup();
  cluster = undefined;
});

/** An instance with spaces 'tester' (50 rows, unsigned key) and 'names' (string key). */
async function member(): Promise<{ instance: Instance; uri: string }> {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const { instance, port } = await startInstance(dir, { credentials });
  instances.push(instance);
  const box = instance.box;
  const tester = await box.schema.space.create('tester');
  await tester.createIndex('primary');
  for (let i = 1; i <= 50; i++) await box.space.tester!.insert([i, `row ${i}`, { n: i }]);
  const names = await box.schema.space.create('names');
  await names.createIndex('primary', { parts: [{ field: 0, type: 'string' }] });
  for (const n of ['b', 'a', 'c']) await box.space.names!.insert([n, n.length]);
  return { instance, uri: `alice:secret@127.0.0.1:${port}` };
}

function runBin(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

describe('tarantype check', () => {
  it('equal members: every space equal, exit 0 (bin), digests independent of the batch size', async () => {
    const [a, b] = [await member(), await member()];
    const report = await checkMembers([a.uri, b.uri], { batchSize: 7 });
    expect(report.equal).toBe(true);
    expect(report.spaces.map((s) => [s.name, s.rows])).toEqual([
      ['tester', [50, 50]],
      ['names', [3, 3]],
    ]);
    expect(report.spaces[0]!.digests[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(report.spaces[0]!.digests[0]).toBe(report.spaces[0]!.digests[1]);
    expect(report.systemSpaces).toBeGreaterThan(5);
    const whole = await checkMembers([a.uri, b.uri], { batchSize: 1000 });
    expect(whole.spaces.map((s) => s.digests)).toEqual(report.spaces.map((s) => s.digests));
    const run = await runBin(['check', a.uri, b.uri, '--batch-size', '7']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^space \d+ 'tester': equal$/m);
    expect(run.stdout).toMatch(/system spaces \(id < 512\) not compared/);
    expect(run.stdout).toMatch(/^all 2 user spaces equal on 2 members$/m);
  });

  it('one changed tuple: exit 1, the key named with what each member has', async () => {
    const [a, b, c] = [await member(), await member(), await member()];
    await b.instance.box.space.tester!.replace([23, 'changed', { n: 23 }]);
    const out: string[] = [];
    const code = await checkCommand(
      [a.uri, b.uri, c.uri],
      { batchSize: 7 },
      { write: (t: string) => out.push(t) },
    );
    expect(code).toBe(1);
    const text = out.join('');
    expect(text).toMatch(/^space \d+ 'tester': DIFFERENT$/m);
    const [pa, pb, pc] = [a, b, c].map((m) => m.uri.split(':').at(-1));
    expect(text).toContain(
      `first differing key [23]: 127.0.0.1:${pa} has [23,"row 23",{"n":23}]; 127.0.0.1:${pb} has [23,"changed",{"n":23}]; 127.0.0.1:${pc} has [23,"row 23",{"n":23}]`,
    );
    expect(text).toMatch(/^space \d+ 'names': equal$/m);
    expect(text).toMatch(/^1 of 2 user spaces differ: tester$/m);
    // Through the bin as well.
    const run = await runBin(['check', a.uri, b.uri]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('first differing key [23]');
  });

  it('a missing row, a missing space: named, exit 1', async () => {
    const [a, b] = [await member(), await member()];
    await b.instance.box.space.names!.delete(['a']);
    await a.instance.box.schema.space.create('only_on_a');
    const report = await checkMembers([a.uri, b.uri], { batchSize: 2 });
    expect(report.equal).toBe(false);
    const names = report.spaces.find((s) => s.name === 'names')!;
    expect(names.rows).toEqual([3, 2]);
    expect(names.difference).toMatch(
      /^first differing key \["a"\]: 127\.0\.0\.1:\d+ has \["a",1\]; 127\.0\.0\.1:\d+ has no such key$/,
    );
    const only = report.spaces.find((s) => s.name === 'only_on_a')!;
    expect(only.difference).toMatch(/^space missing on 127\.0\.0\.1:\d+$/);
    expect(formatReport(report)).toMatch(/^2 of 3 user spaces differ: names, only_on_a$/m);
  });

  it('usage mistakes exit 2; an unreachable member exits 1', async () => {
    const one = await runBin(['check', 'alice:secret@127.0.0.1:1']);
    expect(one.code).toBe(2);
    expect(one.stderr).toBe('tarantype check: give at least two URIs to compare\n');
    expect((await runBin(['check'])).code).toBe(2);
    expect((await runBin(['check', 'a:1', 'b:2', '--batch-size', '0'])).code).toBe(2);
    const [a] = [await member()];
    const down = await runBin(['check', a.uri, 'alice:secret@127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^tarantype check: cannot connect to 127\.0\.0\.1:1: /);
  });

  it.skipIf(needsTarantool.skip)(
    'a Tarantool 2.6 member with the same rows is equal to a tarantype one',
    async () => {
      requireTarantool();
      const a = await member();
      cluster = new Cluster('check');
      const t = await cluster.node('t', 'tarantool', { users: STANDARD_USERS }).start();
      const client = await t.client();
      await client.eval(`
      local s = box.schema.space.create('tester') s:create_index('primary')
      for i = 1, 50 do s:insert{i, 'row ' .. i, {n = i}} end
      local n = box.schema.space.create('names') n:create_index('primary', {parts = {1, 'string'}})
      for _, k in ipairs({'b', 'a', 'c'}) do n:insert{k, #k} end`);
      const report = await checkMembers([a.uri, t.uri('alice')], { batchSize: 7 });
      expect(report.spaces.map((s) => [s.name, s.equal])).toEqual([
        ['tester', true],
        ['names', true],
      ]);
      expect(report.equal).toBe(true);
    },
  );
});
