// Our applier and our relay over real sockets (the iproto server, tcpConnector), a fake box on
// each side: a master restart mid-stream (rows written while it is down arrive after the
// reconnect), the status sequence of reference §2b A/B, a frozen link (proxy that stops
// forwarding) timing out on both sides, and the replica's restart resubscribing from its vclock.
import {
  createServer as createNetServer,
  connect as netConnect,
  type Server,
  type Socket,
} from 'node:net';
import { createServer, type IprotoServer } from '@tarantype/iproto';
import { MemoryHandler } from '@tarantype/iproto/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { Applier, type ApplierState } from '../src/applier.js';
import { ReplicationServer } from '../src/relay.js';
import { FakeMaster, FakeReplica, insertBody, LogRecorder, sleep, until } from './fake-box.js';

const MASTER = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const RS = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const REPLICA = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';
const TIMEOUT_S = 0.1;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A master process: the iproto server with our relay over a persistent FakeMaster. */
async function startMaster(fake: FakeMaster, port = 0) {
  const handler = new MemoryHandler();
  (handler as { uuid: string }).uuid = fake.instanceUuid;
  handler.createUser('replicator', 'password');
  const logs = new LogRecorder();
  const relay = new ReplicationServer({
    membership: fake,
    master: fake,
    joinSource: fake,
    rowSource: fake.wal,
    gc: fake,
    replicationTimeoutS: () => TIMEOUT_S,
    log: logs.log,
  });
  const server: IprotoServer = createServer({ handler, replication: relay, authFailureDelayMs: 0 });
  const address = await server.listen(port, '127.0.0.1');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await relay.close();
    await server.close();
  };
  cleanups.push(stop);
  return { relay, port: address.port, stop, logs };
}

/** A proxy that can freeze (stop forwarding, like a SIGSTOPped peer). */
async function startProxy(target: number) {
  let frozen = false;
  const sockets: Socket[] = [];
  const server: Server = createNetServer((client) => {
    const upstream = netConnect({ host: '127.0.0.1', port: target });
    sockets.push(client, upstream);
    client.on('data', (chunk) => {
      if (!frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!frozen) client.write(chunk);
    });
    // While frozen nothing passes, not even a close: each side only sees silence.
    const closeLater = (socket: Socket) => () => {
      if (!frozen) socket.destroy();
      else pendingCloses.push(socket);
    };
    client.on('close', closeLater(upstream));
    upstream.on('close', closeLater(client));
    client.on('error', closeLater(upstream));
    upstream.on('error', closeLater(client));
  });
  const pendingCloses: Socket[] = [];
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((r) => server.close(r));
  });
  return {
    port,
    freeze: (value: boolean) => {
      frozen = value;
      if (!value) for (const socket of pendingCloses.splice(0)) socket.destroy();
    },
  };
}

function startApplier(port: number, replica: FakeReplica, join: boolean) {
  const logs = new LogRecorder();
  const states: ApplierState[] = [];
  const applier = new Applier({
    uri: `replicator:password@127.0.0.1:${port}`,
    membership: replica,
    sink: replica,
    ...(join ? { bootstrap: replica } : {}),
    replicationTimeoutS: () => TIMEOUT_S,
    log: logs.log,
  });
  applier.onStateChange((state) => states.push(state));
  cleanups.push(() => applier.stop());
  applier.start();
  return { applier, logs, states };
}

describe('relay ↔ applier over TCP', () => {
  it('survives a master restart mid-stream and catches up', async () => {
    const fake = new FakeMaster(MASTER, RS);
    fake.wal.append(1, [{ body: insertBody(512, [1, 'before join']) }]);
    const first = await startMaster(fake);
    const replica = new FakeReplica(REPLICA);
    const { applier, logs, states } = startApplier(first.port, replica, true);
    await applier.waitFor(['follow']);
    expect(replica.instanceId()).toBe(2);
    fake.wal.append(1, [{ body: insertBody(512, [2]) }]);
    await until(() => replica.tuples.has('512:2'));
    await until(
      () => first.relay.downstream(REPLICA)?.vclock?.toString() === replica.vclock().toString(),
    );

    await first.stop();
    await until(() => applier.state === 'disconnected');
    const message = applier.info().message ?? '';
    expect(message).toMatch(
      /^unexpected EOF when reading from socket, called on fd \d+, aka 127\.0\.0\.1:\d+, peer of 127\.0\.0\.1:\d+$/,
    );
    expect(applier.info().system_message).toBe('Broken pipe');
    // While it is down: refused connects, each retry 'disconnected' with connect's message.
    fake.wal.append(1, [{ body: insertBody(512, [3]) }, { body: insertBody(512, [4]) }]);
    await sleep(4 * TIMEOUT_S * 1000);
    expect(applier.info()).toMatchObject({
      status: 'disconnected',
      system_message: 'Connection refused',
    });
    expect(applier.info().message).toMatch(/^connect, called on fd -?\d+/);

    const second = await startMaster(fake, first.port);
    await until(
      () => replica.tuples.has('512:4'),
      5000,
      'the rows written while the master was down',
    );
    await applier.waitFor(['follow']);
    expect(replica.applied.map((tx) => tx.map((r) => r.lsn))).toEqual([[3], [4, 5]]);
    expect(second.relay.downstream(REPLICA)?.status).toBe('follow');
    // Reference §2b A/B: follow → disconnected → (connect → disconnected)* → connect … → follow.
    const afterFirstFollow = states.slice(states.indexOf('follow') + 1);
    expect(afterFirstFollow[0]).toBe('disconnected');
    expect(afterFirstFollow.slice(-6)).toEqual([
      'connect',
      'connected',
      'auth',
      'ready',
      'sync',
      'follow',
    ]);
    expect(afterFirstFollow.filter((s) => s !== 'connect' && s !== 'disconnected').length).toBe(5);
    expect(logs.texts()).toContain("can't read row");
    expect(logs.texts()).toContain(`will retry every ${TIMEOUT_S.toFixed(2)} second`);
    // The refused reconnects share ER_SYSTEM with the EOF: logged once, as 2.6 (§2b A).
    expect(logs.texts()).not.toContain("can't connect to master");
    // No second JOIN after the restart.
    expect(states.filter((s) => s === 'initial_join')).toHaveLength(1);
  });

  it('a frozen link times out on both sides, then recovers', async () => {
    const fake = new FakeMaster(MASTER, RS);
    fake.cluster.set(REPLICA, 2);
    const master = await startMaster(fake);
    const proxy = await startProxy(master.port);
    const replica = new FakeReplica(REPLICA);
    replica.replicaset = RS;
    replica.cluster.set(REPLICA, 2);
    const { applier } = startApplier(proxy.port, replica, false);
    await applier.waitFor(['follow']);
    proxy.freeze(true);
    const frozenAt = Date.now();
    await until(() => applier.state === 'disconnected', 3000, 'the applier timeout');
    // 4 × timeout after the last packet, which came about one heartbeat period before the
    // freeze (less under load): well after the freeze, in any case.
    expect(Date.now() - frozenAt).toBeGreaterThanOrEqual(2 * TIMEOUT_S * 1000);
    expect(applier.info()).toMatchObject({
      message: 'timed out',
      system_message: 'Connection timed out',
    });
    await until(
      () => master.relay.downstream(REPLICA)?.status === 'stopped',
      3000,
      'the relay timeout',
    );
    proxy.freeze(false);
    await applier.waitFor(['follow']);
    fake.wal.append(1, [{ body: insertBody(512, [9]) }]);
    await until(() => replica.tuples.has('512:9'));
  });
});
