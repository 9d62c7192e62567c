// examples/custom-server.mjs: its function, its allow-list, its file system and its relay.
import { execFile, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Box } from '@tarantype/box';
import { connect } from '@tarantype/iproto';
import { expect, it } from 'vitest';
import { startServer } from '../custom-server.mjs';
import { tempDir, until } from './helpers.js';

type Started = Awaited<ReturnType<typeof startServer>>;
/** The part of tarantool-driver 3.1.0 (no types of its own) this test uses. */
interface Driver {
  connect(): Promise<void>;
  disconnect(): void;
  call(name: string, ...args: unknown[]): Promise<unknown[]>;
}
const TarantoolConnection = createRequire(import.meta.url)('tarantool-driver') as new (
  options: Record<string, unknown>,
) => Driver;

it('serves its own function to allowed users, refuses others, counts bytes, feeds a replica', async () => {
  const master = await tempDir();
  const replicaDir = await tempDir();
  const server: Started = await startServer({ dir: master.dir, allowed: ['app', 'replicator'] });
  let replica: Box | undefined;
  try {
    const client = await connect(`app:secret@127.0.0.1:${server.port}`);
    expect(await client.call('bump', ['x'])).toEqual([1]);
    expect(await client.call('bump', ['x'])).toEqual([2]);
    expect(await client.select('kv', 0, ['x'])).toEqual([['x', 2]]);
    await client.close();

    // admin exists and its password is not the point: the allow-list refuses it first.
    await expect(connect(`admin:whatever@127.0.0.1:${server.port}`)).rejects.toMatchObject({
      message: "Session access to universe '' is denied for user 'admin'",
    });
    const before = server.fs.bytesWritten;
    expect(before).toBeGreaterThan(0);

    // A third-party client (tarantool-driver) sees the same server.
    const driver = new TarantoolConnection({
      host: '127.0.0.1',
      port: server.port,
      username: 'app',
      password: 'secret',
      lazyConnect: true,
    });
    await driver.connect();
    // Its call() is CALL_16: each return value comes back wrapped as a tuple.
    expect(await driver.call('bump', 'y')).toEqual([[1]]);
    driver.disconnect();
    expect(server.fs.bytesWritten).toBeGreaterThan(before);

    // Replication through box's relay: a replica joins, then follows new writes.
    replica = await Box.cfg({
      work_dir: replicaDir.dir,
      replication: [`replicator:pw@127.0.0.1:${server.port}`],
      read_only: true,
    });
    const replicaBox = replica;
    expect(replicaBox.space.kv?.get(['x'])).toEqual(['x', 2]);
    const again = await connect(`app:secret@127.0.0.1:${server.port}`);
    await again.call('bump', ['x']);
    await again.close();
    await until(() => (replicaBox.space.kv?.get(['x'])?.[1] === 3 ? true : undefined), 'x = 3');
  } finally {
    await replica?.close();
    await server.close();
    await master.cleanup();
    await replicaDir.cleanup();
  }
});

const tarantool = spawnSync('tarantool', ['--version'], { encoding: 'utf8' });
const haveTarantool = tarantool.status === 0;
if (!haveTarantool && process.env.CI !== 'true')
  console.warn('skipping the net.box test: `tarantool` is not installed');

it.skipIf(!haveTarantool && process.env.CI !== 'true')(
  "Tarantool 2.6's net.box calls its function and meets its allow-list",
  async () => {
    if (!haveTarantool) throw new Error('CI=true and `tarantool` is not installed');
    const { dir, cleanup } = await tempDir();
    const server: Started = await startServer({ dir, allowed: ['app'] });
    try {
      const script = `local net = require('net.box')
local c = net.connect('app:secret@127.0.0.1:${server.port}')
print(c:call('bump', {'n'}), c:call('bump', {'n'}))
local refused = net.connect('replicator:pw@127.0.0.1:${server.port}')
print(refused.error)
os.exit(0)`;
      const out = await new Promise<string>((resolve, reject) => {
        execFile('tarantool', ['-e', script], { cwd: dir, timeout: 15_000 }, (error, stdout) =>
          error === null ? resolve(stdout) : reject(error),
        );
      });
      expect(out.trim().split('\n')).toEqual([
        '1\t2',
        "Session access to universe '' is denied for user 'replicator'",
      ]);
    } finally {
      await server.close();
      await cleanup();
    }
  },
  30_000,
);
