// examples/http-replica.mjs: a replica in a Node service, serving reads over HTTP, following a
// tarantype master (`tarantype start`, a separate process) and a Tarantool 2.6 master.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { connect, type IprotoClient } from '@tarantype/iproto';
import { afterEach, expect, it } from 'vitest';
import { startReplicaService } from '../http-replica.mjs';
import { tempDir, until } from './helpers.js';

const root = new URL('../..', import.meta.url).pathname;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a master process; resolves with a client of it (replicator:pw) once it answers. */
async function startMaster(command: string, args: string[], port: number): Promise<IprotoClient> {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  cleanups.push(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode}: ${stderr}`);
    try {
      const client = await connect(`replicator:pw@127.0.0.1:${port}`);
      await client.select('kv', 0, ['']); // the init script has run
      cleanups.push(() => client.close());
      return client;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${command} never answered: ${error} ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function readsFollowTheMaster(master: IprotoClient, port: number): Promise<void> {
  await master.replace('kv', ['before', 'joined with the snapshot']);
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const service = await startReplicaService({ master: `replicator:pw@127.0.0.1:${port}`, dir });
  cleanups.push(() => service.close());
  const get = async (key: string) => {
    const response = await fetch(`${service.url}/kv/${encodeURIComponent(key)}`);
    return { status: response.status, body: await response.json() };
  };
  expect(await get('before')).toEqual({
    status: 200,
    body: ['before', 'joined with the snapshot'],
  });
  expect(await get('after')).toEqual({ status: 404, body: null });
  await master.replace('kv', ['after', 'followed from the WAL']);
  await until(() => (service.box.space.kv?.get(['after']) ? true : undefined), 'the new row');
  expect(await get('after')).toEqual({ status: 200, body: ['after', 'followed from the WAL'] });
  const status = await (await fetch(`${service.url}/status`)).json();
  expect(JSON.stringify(status)).toContain('"status":"follow"');
  // Read-only: a write on the replica is refused.
  await expect(service.box.space.kv!.insert(['local', 'x'])).rejects.toThrow(/read-only/);
}

it('follows a tarantype master and serves its rows over HTTP', async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const init = join(dir, 'init.mjs');
  await writeFile(
    init,
    `export default async function ({ box }) {
      await box.schema.user.create('replicator', { password: 'pw', if_not_exists: true });
      await box.schema.user.grant('replicator', 'replication', undefined, undefined, { if_not_exists: true });
      const kv = box.space.kv ?? (await box.schema.space.create('kv'));
      if (kv.index[0] === undefined) await kv.createIndex('primary', { parts: [{ field: 0, type: 'string' }] });
      await box.schema.user.grant('replicator', 'read,write', 'space', 'kv', { if_not_exists: true });
    }\n`,
  );
  const port = await freePort();
  const master = await startMaster(
    process.execPath,
    [
      join(root, 'apps/server/bin/tarantype.js'),
      'start',
      '--listen',
      `127.0.0.1:${port}`,
      '--data-dir',
      join(dir, 'master'),
      '--init',
      init,
      '--no-console',
    ],
    port,
  );
  await readsFollowTheMaster(master, port);
}, 60_000);

const tarantool = spawnSync('tarantool', ['--version'], { encoding: 'utf8' });
const haveTarantool = tarantool.status === 0;
if (!haveTarantool && process.env.CI !== 'true')
  console.warn('skipping the Tarantool 2.6 master test: `tarantool` is not installed');

it.skipIf(!haveTarantool && process.env.CI !== 'true')(
  'follows a Tarantool 2.6 master and serves its rows over HTTP',
  async () => {
    if (!haveTarantool) throw new Error('CI=true and `tarantool` is not installed');
    expect(tarantool.stdout).toMatch(/^Tarantool 2\.6\./);
    const { dir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    const port = await freePort();
    const script = join(dir, 'master.lua');
    await writeFile(
      script,
      `box.cfg{ listen = '127.0.0.1:${port}', work_dir = '${dir}', log = 'master.log' }
box.schema.user.create('replicator', { password = 'pw', if_not_exists = true })
box.schema.user.grant('replicator', 'replication', nil, nil, { if_not_exists = true })
local kv = box.schema.space.create('kv', { if_not_exists = true })
kv:create_index('primary', { parts = { { 1, 'string' } }, if_not_exists = true })
box.schema.user.grant('replicator', 'read,write', 'space', 'kv', { if_not_exists = true })
`,
    );
    const master = await startMaster('tarantool', [script], port);
    await readsFollowTheMaster(master, port);
  },
  60_000,
);
