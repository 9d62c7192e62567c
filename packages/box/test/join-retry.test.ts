// A JOIN whose connection breaks before its snapshot is saved (the master died, the network
// did): Box.cfg drops that Box and JOINs again from scratch with the same uuid, up to
// JOIN_ATTEMPTS_MAX times (2.6 fails the start, gh-6126). A proxy in front of a master cuts
// the first connections after some bytes of the initial data.
import { mkdir } from 'node:fs/promises';
import { connect, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer } from '@tarantype/iproto';
import { RecordingLogger } from '@tarantype/wal/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Box, BoxHandler, FunctionRegistry } from '../src/index.js';
import { open, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const closers: Array<() => Promise<unknown>> = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => {});
  await cleanup();
});

const PASSWORD = 'replicator-secret';

/** Forwards to `port`; each of the first `cuts` connections is destroyed after `afterBytes`. */
async function cuttingProxy(port: number, cuts: number, afterBytes: number): Promise<number> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createTcpServer((client) => {
    const cut = connections++ < cuts;
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    let forwarded = 0;
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (!cut) return void client.write(chunk);
      const room = afterBytes - forwarded;
      forwarded += chunk.length;
      if (room > 0) client.write(chunk.subarray(0, room));
      if (forwarded >= afterBytes) {
        client.destroy();
        upstream.destroy();
      }
    });
    for (const socket of [client, upstream]) {
      socket.on('error', () => {});
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as { port: number }).port;
}

async function master(): Promise<{ box: Box; port: number }> {
  const masterDir = join(dir, 'master');
  await mkdir(masterDir);
  const { box } = await open(masterDir);
  closers.push(() => box.close());
  await box.schema.user.create('replicator', { password: PASSWORD });
  await box.schema.user.grant('replicator', 'replication');
  const space = await box.schema.space.create('tester');
  await space.createIndex('primary');
  await Promise.all(Array.from({ length: 2000 }, (_, i) => space.insert([i, 'x'.repeat(200)])));
  const server = createServer({
    handler: new BoxHandler(box, new FunctionRegistry()),
    replication: box.replicaSet.relay,
  });
  const { port } = await server.listen(0, '127.0.0.1');
  closers.push(() => server.close());
  return { box, port };
}

const replicaCfg = (port: number) => ({
  work_dir: join(dir, 'replica'),
  replication: `replicator:${PASSWORD}@127.0.0.1:${port}`,
  replication_timeout: 0.05,
  replication_connect_timeout: 5,
  checkpoint_interval: 0,
});

describe('a JOIN broken before its snapshot is saved', () => {
  it('is started again from scratch with the same uuid and completes', async () => {
    const { box: m1, port } = await master();
    const proxy = await cuttingProxy(port, 2, 100_000);
    const logger = new RecordingLogger();
    const replica = await Box.cfg(replicaCfg(proxy), { logger });
    closers.push(() => replica.close());
    const broke = logger.messages().filter((m) => m.includes('the JOIN broke before its data'));
    expect(broke).toHaveLength(2);
    expect(replica.space.tester!.select()).toEqual(m1.space.tester!.select());
    // One registration of the replica's uuid, whatever JOIN got that far.
    const members = m1.space._cluster!.select([], { iterator: 'ALL' });
    expect(members.filter((t) => t[1] === replica.instanceUuid)).toHaveLength(1);
  });

  it('gives up after JOIN_ATTEMPTS_MAX JOINs with the last error', async () => {
    const { port } = await master();
    const proxy = await cuttingProxy(port, 1000, 50_000);
    const logger = new RecordingLogger();
    await expect(Box.cfg(replicaCfg(proxy), { logger })).rejects.toThrow(/unexpected EOF/);
    const broke = logger.messages().filter((m) => m.includes('the JOIN broke before its data'));
    expect(broke).toHaveLength(9);
  });
});
