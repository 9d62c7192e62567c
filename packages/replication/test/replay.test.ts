// Our applier fed the recorded stream of a real 2.6 master (fixtures/session.m2r.bin) over TCP,
// cut into random chunks (seeded: SEED=<n> replays a run), as a 2.6 replica received it. The
// applier must JOIN, subscribe and apply the live rows, and its first four packets (VOTE, AUTH,
// JOIN, SUBSCRIBE) must be byte for byte what the real 2.6 replica sent on that connection.
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { IprotoType } from '@tarantype/core';
import { afterEach, expect, it } from 'vitest';
import { Applier } from '../src/applier.js';
import { FakeReplica, LogRecorder, until } from './fake-box.js';
import { frames } from './recording-checks.js';
import { REPLICA_UUID, REPLICASET_UUID } from './tarantool-pair.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const m2r = new Uint8Array(readFileSync(join(FIXTURES, 'session.m2r.bin')));
const r2m = new Uint8Array(readFileSync(join(FIXTURES, 'session.r2m.bin')));

/** mulberry32: a small seeded generator, so a failing cut pattern can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

for (const maxChunk of [1, 7, 4096]) {
  it(`applies a recorded 2.6 master stream cut in chunks of at most ${maxChunk} bytes`, async () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    const next = random(seed);
    const received: Buffer[] = [];
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.on('error', () => {});
      // Write the recording in random pieces, yielding between them.
      let offset = 0;
      const pump = () => {
        if (socket.destroyed) return;
        let budget = 64;
        while (offset < m2r.length && budget-- > 0) {
          const size = 1 + Math.floor(next() * maxChunk);
          socket.write(m2r.subarray(offset, offset + size));
          offset += size;
        }
        if (offset < m2r.length) setImmediate(pump);
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => server.close(r));
    });

    const replica = new FakeReplica(REPLICA_UUID);
    const logs = new LogRecorder();
    const applier = new Applier({
      uri: `replicator:password@127.0.0.1:${port}`,
      membership: replica,
      sink: replica,
      bootstrap: replica,
      // Long enough that the end of the recording (silence) does not time the link out here.
      replicationTimeoutS: () => 5,
      log: logs.log,
    });
    cleanups.push(() => applier.stop());
    applier.start();
    try {
      await until(() => replica.applied.length === 6, 10_000, 'the recorded live transactions');
      expect(replica.replicasetUuid()).toBe(REPLICASET_UUID);
      expect(replica.instanceId()).toBe(2);
      expect(replica.initialRows.length).toBeGreaterThan(400);
      expect(replica.applied.map((tx) => tx.map((row) => row.type))).toEqual([
        [IprotoType.INSERT],
        [IprotoType.INSERT, IprotoType.REPLACE, IprotoType.UPDATE],
        [IprotoType.UPSERT],
        [IprotoType.DELETE],
        [IprotoType.UPDATE],
        [IprotoType.INSERT],
      ]);
      // The recording's timestamps are old, so the lag is far above replication_sync_lag
      // (10 s): the applier stays in 'sync' (the instance would stay orphan), as 2.6 would.
      expect(applier.info().lag).toBeGreaterThan(10);
      expect(applier.state).toBe('sync');
      // What we sent: the 2.6 replica's VOTE, AUTH, JOIN and SUBSCRIBE, byte for byte.
      await until(() => frames(Buffer.concat(received)).length >= 4);
      const ours = frames(Buffer.concat(received)).slice(0, 4);
      const theirs = frames(r2m).slice(0, 4);
      expect(ours.map((f) => Buffer.from(f.frame).toString('hex'))).toEqual(
        theirs.map((f) => Buffer.from(f.frame).toString('hex')),
      );
    } catch (error) {
      console.error(
        `replay failed with SEED=${seed}`,
        applier.state,
        applier.info(),
        replica.applied.length,
        replica.initialRows.length,
        logs.lines,
      );
      throw error;
    }
  }, 20_000);
}
