// examples/custom-server.mjs: its function, its allow-list, its file system and its relay.
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
