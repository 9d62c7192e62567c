// The relay in memory: a ReplicationChannel double instead of a socket, FakeMaster behind the
// ports. JOIN's markers and registration, SUBSCRIBE's checks (2.6 errors), filtering, heartbeats
// during a long scan, acks moving the GC consumer, EOF and silence ending the relay.
import {
  ClientError,
  ErrorCode,
  IprotoType,
  SystemSpace,
  TARANTOOL_VERSION_ID,
  TarantoolError,
  Vclock,
  XlogGapError,
  type Xrow,
} from '@tarantype/core';
import type { ReplicationChannel, ReplicationRequest, Session } from '@tarantype/iproto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodePacket,
  decodeSubscribeResponse,
  decodeVclockBody,
  encodeAck,
  encodeJoin,
  encodeSubscribe,
} from '../src/codec.js';
import { RELAY_OUTPUT_HIGH_WATER_BYTES } from '../src/limits.js';
import { ReplicationServer } from '../src/relay.js';
import { bodyOf, FakeMaster, insertBody, LogRecorder, sleep, until } from './fake-box.js';
import { frames } from './recording-checks.js';

const MASTER = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const RS = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const REPLICA = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';

/** A ReplicationChannel over arrays: what the relay wrote, and packets the test feeds it. */
class MemoryChannel implements ReplicationChannel {
  readonly written: Uint8Array[] = [];
  readonly errors: Array<{ sync: number | bigint; error: unknown }> = [];
  private inbox: Array<Uint8Array | undefined> = [];
  private waiter: ((packet: Uint8Array | undefined) => void) | undefined;
  private isClosed = false;

  get closed(): boolean {
    return this.isClosed;
  }
  /** Feeds one frame (the length prefix is stripped as FrameDecoder would). */
  feed(frame: Uint8Array): void {
    this.deliver(frame.subarray(5));
  }
  end(): void {
    this.deliver(undefined);
  }
  private deliver(packet: Uint8Array | undefined): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter !== undefined) waiter(packet);
    else this.inbox.push(packet);
  }
  readPacket(): Promise<Uint8Array | undefined> {
    if (this.isClosed) return Promise.resolve(undefined);
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift());
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }
  /** While false, write() reports a full socket (after `freeWrites` more writes) and drain() waits for release(). */
  writable = true;
  freeWrites = 0;
  private drained: Array<() => void> = [];
  write(bytes: Uint8Array): boolean {
    if (this.isClosed) return false;
    this.written.push(bytes);
    if (this.writable) return true;
    return this.freeWrites-- > 0;
  }
  drain(): Promise<void> {
    if (this.writable || this.isClosed) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }
  release(): void {
    this.writable = true;
    for (const resolve of this.drained.splice(0)) resolve();
  }
  writeError(sync: number | bigint, error: unknown): void {
    this.errors.push({ sync, error });
  }
  close(): void {
    this.isClosed = true;
    this.deliver(undefined);
  }
  /** Decoded rows the relay wrote. */
  rows(): Xrow[] {
    return frames(Buffer.concat(this.written)).map((f) => decodePacket(f.packet).row);
  }
}

/**
 * A channel that buffers as a Node socket does: write() is refused once 16 KiB are pending
 * (the stream's highWaterMark) but takes the bytes anyway; bufferedBytes says how many wait.
 */
class NodeLikeChannel extends MemoryChannel {
  private pending = 0;
  private stalled = false;
  private waiting: Array<() => void> = [];
  get bufferedBytes(): number {
    return this.pending;
  }
  stall(): void {
    this.stalled = true;
  }
  override write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.written.push(bytes);
    if (!this.stalled) return true;
    this.pending += bytes.length;
    return this.pending < 16 * 1024;
  }
  override drain(): Promise<void> {
    if (this.pending === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  override release(): void {
    this.stalled = false;
    this.pending = 0;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

/** Blocks this process' event loop for `ms` (a long EVAL, a GC pause). */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

const session = (userId = 32): Session => ({
  id: 1,
  peer: '127.0.0.1:50000',
  salt: new Uint8Array(32),
  user: { id: userId, name: userId === 0 ? 'guest' : 'replicator' },
});

function request(frame: Uint8Array): ReplicationRequest {
  const { row } = decodePacket(frame.subarray(5));
  return {
    type: row.type as ReplicationRequest['type'],
    sync: row.sync,
    schemaVersion: 0,
    packet: frame.subarray(5),
    body: row.body.length > 0 ? row.body : undefined,
  };
}

function subscribeRequest(
  vclock: Vclock,
  uuid = REPLICA,
  idFilter: number[] = [],
): ReplicationRequest {
  return request(
    encodeSubscribe({
      replicasetUuid: RS,
      instanceUuid: uuid,
      vclock,
      serverVersion: TARANTOOL_VERSION_ID,
      anon: false,
      idFilter,
    }),
  );
}

let servers: ReplicationServer[] = [];
afterEach(async () => {
  for (const server of servers) await server.close();
  servers = [];
});

function setup(timeoutS = 0.05) {
  const master = new FakeMaster(MASTER, RS);
  const logs = new LogRecorder();
  const server = new ReplicationServer({
    membership: master,
    master,
    joinSource: master,
    rowSource: master.wal,
    gc: master,
    replicationTimeoutS: () => timeoutS,
    log: logs.log,
  });
  servers.push(server);
  return { master, logs, server };
}

async function expectRejects(
  promise: Promise<unknown>,
  code: number,
  message: string,
): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TarantoolError);
  expect((error as TarantoolError).code).toBe(code);
  expect((error as TarantoolError).message).toBe(message);
}

describe('JOIN', () => {
  it('sends start marker, initial rows, stop marker, the _cluster row, end marker', async () => {
    const { master, logs, server } = setup();
    master.wal.append(1, [{ body: insertBody(512, [1, 'a']) }]);
    const channel = new MemoryChannel();
    await server.handle(session(), request(encodeJoin(REPLICA, 7)), channel);
    const rows = channel.rows();
    expect(rows.every((row) => row.sync === 7)).toBe(true);
    const markers = rows.flatMap((row, i) => (row.type === IprotoType.OK ? [i] : []));
    expect(markers).toHaveLength(3);
    const [start, stop, end] = markers.map((i) => decodeVclockBody(rows[i]!.body).toString());
    expect(start).toBe('{1: 1}');
    expect(stop).toBe('{1: 2}');
    expect(end).toBe('{1: 2}');
    const initial = rows.slice(markers[0]! + 1, markers[1]);
    expect(initial.map((row) => [row.replica_id, row.lsn, row.timestamp])).toEqual(
      initial.map(() => [0, 0, 0]),
    );
    expect(initial.map((row) => bodyOf(row).tuple)).toContainEqual(['cluster', RS]);
    const final = rows.slice(markers[1]! + 1, markers[2]);
    expect(final).toHaveLength(1);
    expect(final[0]).toMatchObject({ type: IprotoType.INSERT, replica_id: 1, lsn: 2 });
    expect(bodyOf(final[0]!)).toEqual({ space: SystemSpace.CLUSTER, tuple: [2, REPLICA] });
    expect(master.idOf(REPLICA)).toBe(2);
    expect(master.openViews).toBe(0);
    expect(master.gcPositions.get(REPLICA)).toBe('{1: 2}');
    expect(logs.texts()).toEqual([
      `joining replica ${REPLICA} at fd -1, peer of 127.0.0.1:50000`,
      'initial data sent.',
      'final data sent.',
    ]);
  });

  it('rows written during the initial stage come as final data, rows after stop do not', async () => {
    const { master, server } = setup();
    master.wal.append(1, [{ body: insertBody(512, [1]) }]);
    master.joinBatchDelayMs = 5;
    const channel = new MemoryChannel();
    const joining = server.handle(session(), request(encodeJoin(REPLICA)), channel);
    // Two writes while the read view is being sent.
    await sleep(2);
    master.wal.append(1, [{ body: insertBody(512, [2]) }, { body: insertBody(512, [3]) }]);
    master.wal.append(1, [{ body: insertBody(512, [4]) }]);
    await joining;
    master.wal.append(1, [{ body: insertBody(512, [5]) }]);
    const rows = channel.rows();
    const markers = rows.flatMap((row, i) => (row.type === IprotoType.OK ? [i] : []));
    expect(markers.map((i) => decodeVclockBody(rows[i]!.body).toString())).toEqual([
      '{1: 1}',
      '{1: 5}',
      '{1: 5}',
    ]);
    const initial = rows.slice(markers[0]! + 1, markers[1]).map((row) => bodyOf(row).tuple[0]);
    expect(initial).toContain(1);
    expect(initial).not.toContain(2);
    const final = rows.slice(markers[1]! + 1, markers[2]);
    expect(final.map((row) => [row.lsn, row.is_commit, bodyOf(row).tuple[0]])).toEqual([
      [2, false, 2],
      [3, true, 3],
      [4, true, 4],
      [5, true, 2], // the _cluster registration [2, uuid]
    ]);
  });

  it('a registered uuid re-joins without a new _cluster row; checks come in 2.6 order', async () => {
    const { master, server } = setup();
    master.cluster.set(REPLICA, 2);
    const channel = new MemoryChannel();
    await server.handle(session(), request(encodeJoin(REPLICA)), channel);
    const markers = channel.rows().filter((row) => row.type === IprotoType.OK);
    expect(markers.map((row) => decodeVclockBody(row.body).toString())).toEqual(['{}', '{}', '{}']);
    expect(channel.rows()).toHaveLength(3 + master.snapshot.length);

    const other = 'dddddddd-dddd-4ddd-8ddd-dddddddddddd';
    master.loading = true;
    await expectRejects(
      server.handle(session(), request(encodeJoin(other)), new MemoryChannel()),
      ErrorCode.ER_LOADING,
      "Instance bootstrap hasn't finished yet",
    );
    master.loading = false;
    await expectRejects(
      server.handle(session(), request(encodeJoin(MASTER)), new MemoryChannel()),
      ErrorCode.ER_CONNECTION_TO_SELF,
      'Connection to self',
    );
    await expectRejects(
      server.handle(session(0), request(encodeJoin(other)), new MemoryChannel()),
      ErrorCode.ER_ACCESS_DENIED,
      "Read access to universe '' is denied for user 'guest'",
    );
    master.readOnly = true;
    await expectRejects(
      server.handle(session(), request(encodeJoin(other)), new MemoryChannel()),
      ErrorCode.ER_READONLY,
      "Can't modify data because this instance is in read-only mode.",
    );
    master.readOnly = false;
    master.mode = 'none';
    await expectRejects(
      server.handle(session(), request(encodeJoin(other)), new MemoryChannel()),
      ErrorCode.ER_UNSUPPORTED,
      "Replication does not support wal_mode = 'none'",
    );
  });
});

describe('SUBSCRIBE', () => {
  it('refuses unknown replicas, duplicates and anonymous ones with 2.6 errors', async () => {
    const { master, server } = setup();
    await expectRejects(
      server.handle(session(), subscribeRequest(new Vclock()), new MemoryChannel()),
      ErrorCode.ER_UNKNOWN_REPLICA,
      `Replica ${REPLICA} is not registered with replica set ${RS}`,
    );
    master.cluster.set(REPLICA, 2);
    // Two at once: exactly one wins, the other is a duplicate.
    const pair = [new MemoryChannel(), new MemoryChannel()];
    const racing = pair.map((channel) =>
      server.handle(session(), subscribeRequest(new Vclock()), channel).then(
        () => 'ran',
        (error: TarantoolError) => error.code,
      ),
    );
    await until(() => server.downstream(REPLICA)?.status === 'follow');
    for (const channel of pair) channel.end();
    expect((await Promise.all(racing)).sort()).toEqual([ErrorCode.ER_CFG, 'ran'].sort());
    const first = new MemoryChannel();
    const running = server.handle(session(), subscribeRequest(new Vclock()), first);
    await until(() => server.downstream(REPLICA)?.status === 'follow');
    await expectRejects(
      server.handle(session(), subscribeRequest(new Vclock()), new MemoryChannel()),
      ErrorCode.ER_CFG,
      "Incorrect value for option 'replication': duplicate connection with the same replica UUID",
    );
    const anon = request(
      encodeSubscribe({
        replicasetUuid: RS,
        instanceUuid: 'dddddddd-dddd-4ddd-8ddd-dddddddddddd',
        vclock: new Vclock(),
        serverVersion: TARANTOOL_VERSION_ID,
        anon: true,
        idFilter: [],
      }),
    );
    await expectRejects(
      server.handle(session(), anon, new MemoryChannel()),
      ErrorCode.ER_UNSUPPORTED,
      'Replication does not support anonymous replicas',
    );
    first.end();
    await running;
  });

  it('replies with the master id and vclock, heartbeats, streams filtered rows, reads acks', async () => {
    const { master, logs, server } = setup();
    master.cluster.set(REPLICA, 2);
    master.wal.append(1, [{ body: insertBody(512, [1]) }]); // {1: 1}: the replica has it
    master.wal.append(2, [{ body: insertBody(512, [100]) }]); // the replica's own row, known
    master.wal.append(1, [
      { body: insertBody(512, [2]) },
      { body: insertBody(600, [9]), groupId: 1 },
    ]);
    master.wal.append(0, [{ body: insertBody(600, [1]), groupId: 1 }]); // local: never sent
    master.wal.append(3, [{ body: insertBody(512, [300]) }]); // filtered by ID_FILTER [3]
    const channel = new MemoryChannel();
    const running = server.handle(
      session(),
      subscribeRequest(new Vclock({ 1: 1, 2: 1 }), REPLICA, [3]),
      channel,
    );
    await until(() => channel.rows().filter((r) => r.lsn === 0 && r.type === 0).length >= 3);
    const rows = channel.rows();
    const reply = decodeSubscribeResponse(rows[0]!);
    expect(reply).toMatchObject({ masterId: 1, replicasetUuid: RS });
    expect(reply.vclock.toString()).toBe('{1: 3, 2: 1, 3: 1}');
    // A heartbeat right after the reply.
    expect(rows[1]).toMatchObject({ type: 0, replica_id: 1, lsn: 0 });
    const data = rows.filter((row) => row.lsn > 0);
    // lsn 2 of replica 1 plus its local row signed with id 1 (sent as NOP), nothing else.
    expect(data.map((row) => [row.replica_id, row.lsn, row.type, row.is_commit])).toEqual([
      [1, 2, IprotoType.INSERT, false],
      [1, 3, IprotoType.NOP, true],
    ]);
    expect(server.downstream(REPLICA)?.status).toBe('follow');

    channel.feed(encodeAck(new Vclock({ 1: 3, 2: 1 })));
    await until(() => server.downstream(REPLICA)?.vclock?.toString() === '{1: 3, 2: 1}');
    expect(master.gcPositions.get(REPLICA)).toBe('{1: 3, 2: 1}');
    expect(server.downstream(REPLICA)?.idle).toBeLessThan(1);

    // The replica's own new rows are not echoed; the master's are.
    master.wal.append(2, [{ body: insertBody(512, [101]) }]);
    master.wal.append(1, [{ body: insertBody(512, [4]) }]);
    await until(() => channel.rows().some((row) => row.replica_id === 1 && row.lsn === 4));
    expect(channel.rows().some((row) => row.replica_id === 2)).toBe(false);

    channel.end();
    await running;
    const downstream = server.downstream(REPLICA);
    expect(downstream).toMatchObject({
      status: 'stopped',
      message: 'unexpected EOF when reading from socket, called on fd -1, peer of 127.0.0.1:50000',
      system_message: 'Broken pipe',
    });
    expect(channel.errors).toEqual([]);
    expect(channel.closed).toBe(true);
    expect(logs.lines).toContain(
      'syserror relay/127.0.0.1:50000 SystemError unexpected EOF when reading from socket, called on fd -1, peer of 127.0.0.1:50000: Broken pipe',
    );
    expect(logs.lines).toContain('crit relay/127.0.0.1:50000 exiting the relay loop');
    expect(logs.texts(), logs.lines.join('\n')).toContain(
      `remote vclock {1: 1, 2: 1} local vclock {0: 1, 1: 3, 2: 1, 3: 1}`,
    );
  });

  it('keeps sending heartbeats while a long WAL scan is under way', async () => {
    const { master, server } = setup(0.05);
    master.cluster.set(REPLICA, 2);
    for (let i = 0; i < 6; i++) master.wal.append(1, [{ body: insertBody(512, [i]) }]);
    master.wal.scanDelayMs = 130; // each old transaction takes 2.6 heartbeat periods to read
    const channel = new MemoryChannel();
    const running = server.handle(session(), subscribeRequest(new Vclock()), channel);
    // Acks keep the link alive meanwhile.
    const acking = setInterval(() => channel.feed(encodeAck(new Vclock())), 40);
    await until(() => channel.rows().some((row) => row.lsn === 6), 5000, 'the scan to finish');
    clearInterval(acking);
    const rows = channel.rows();
    const firstData = rows.findIndex((row) => row.lsn > 0);
    const lastData = rows.findIndex((row) => row.lsn === 6);
    const heartbeatsDuringScan = rows
      .slice(firstData, lastData)
      .filter((row) => row.type === 0 && row.lsn === 0).length;
    expect(heartbeatsDuringScan).toBeGreaterThanOrEqual(5);
    channel.end();
    await running;
  });

  for (const [what, size, scanDelayMs] of [
    ['big rows, one turn', 20_000, 0],
    ['small rows, one per turn', 10, 2],
  ] as const) {
    it(`stops reading the WAL while the socket is full, resumes on drain (${what})`, async () => {
      const { master, server } = setup(1);
      master.cluster.set(REPLICA, 2);
      const filler = 'x'.repeat(size);
      for (let i = 0; i < 50; i++) master.wal.append(1, [{ body: insertBody(512, [i, filler]) }]);
      master.wal.scanDelayMs = scanDelayMs;
      const channel = new MemoryChannel();
      channel.writable = false;
      channel.freeWrites = 2; // the SUBSCRIBE reply and the first heartbeat
      const running = server.handle(session(), subscribeRequest(new Vclock()), channel);
      await sleep(150);
      const sentWhileFull = channel.rows().filter((row) => row.lsn > 0).length;
      // Some rows went out, then the relay waited for 'drain' instead of queuing the rest.
      expect(sentWhileFull).toBeGreaterThan(0);
      expect(sentWhileFull).toBeLessThan(20);
      channel.release();
      await until(() => channel.rows().some((row) => row.lsn === 50));
      channel.end();
      await running;
    });
  }

  it('a socket that reports its buffered bytes fills up to RELAY_OUTPUT_HIGH_WATER_BYTES + one transaction, no more', async () => {
    const { master, server } = setup(1);
    master.cluster.set(REPLICA, 2);
    const size = 50_000;
    const filler = 'x'.repeat(size);
    const total = Math.ceil((3 * RELAY_OUTPUT_HIGH_WATER_BYTES) / size);
    for (let i = 0; i < total; i++) master.wal.append(1, [{ body: insertBody(512, [i, filler]) }]);
    const channel = new NodeLikeChannel();
    const running = server.handle(session(), subscribeRequest(new Vclock()), channel);
    channel.stall();
    // Acks keep the link alive; the socket never drains.
    const acking = setInterval(() => channel.feed(encodeAck(new Vclock())), 100);
    await until(() => (server.outputBytes(REPLICA) ?? 0) >= RELAY_OUTPUT_HIGH_WATER_BYTES);
    await sleep(200);
    const held = server.outputBytes(REPLICA)!;
    expect(held).toBe(channel.bufferedBytes);
    expect(held).toBeGreaterThanOrEqual(RELAY_OUTPUT_HIGH_WATER_BYTES);
    expect(held).toBeLessThanOrEqual(RELAY_OUTPUT_HIGH_WATER_BYTES + size + 1024);
    const sentWhileFull = channel.rows().filter((row) => row.lsn > 0).length;
    expect(sentWhileFull).toBeLessThan(total / 2);
    channel.release();
    await until(() => channel.rows().some((row) => row.lsn === total));
    clearInterval(acking);
    expect(channel.rows().filter((row) => row.lsn > 0)).toHaveLength(total);
    channel.end();
    await running;
  });

  it('ends with an error packet "timed out" after 4 × replication_timeout without acks', async () => {
    const { master, server } = setup(0.05);
    master.cluster.set(REPLICA, 2);
    const channel = new MemoryChannel();
    const started = Date.now();
    await server.handle(session(), subscribeRequest(new Vclock()), channel);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(3000);
    expect(channel.errors).toHaveLength(1);
    expect((channel.errors[0]!.error as TarantoolError).message).toBe('timed out');
    expect((channel.errors[0]!.error as TarantoolError).code).toBe(ErrorCode.ER_SYSTEM);
    expect(server.downstream(REPLICA)).toMatchObject({ status: 'stopped', message: 'timed out' });
    // Heartbeats went out meanwhile, one per period.
    const heartbeats = channel.rows().filter((row) => row.type === 0 && row.lsn === 0).length;
    expect(heartbeats).toBeGreaterThanOrEqual(4);
  });

  it('an ack that arrived while this process stalled past the timeout is not a timeout', async () => {
    const { master, server } = setup(0.05); // 200 ms of silence is a timeout
    master.cluster.set(REPLICA, 2);
    const channel = new MemoryChannel();
    const running = server.handle(session(), subscribeRequest(new Vclock()), channel);
    await until(() => server.downstream(REPLICA)?.status === 'follow');
    channel.feed(encodeAck(new Vclock()));
    await sleep(10);
    // A 400 ms stall in the check phase (as a long EVAL in an I/O callback); the replica's ack
    // came meanwhile and is read after it, once the expired timers have run.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        block(400);
        setImmediate(() => {
          channel.feed(encodeAck(new Vclock()));
          resolve();
        });
      }),
    );
    await sleep(20);
    expect(channel.errors).toEqual([]);
    expect(server.downstream(REPLICA)?.status).toBe('follow');
    channel.end();
    await running;
  });

  it('a missing xlog stops the relay with the XlogGapError sent to the replica', async () => {
    const { master, server } = setup();
    master.cluster.set(REPLICA, 2);
    master.wal.gap = new XlogGapError(15, '{1: 14, 2: 1}', 17, '{1: 17}');
    const channel = new MemoryChannel();
    await server.handle(session(), subscribeRequest(new Vclock()), channel);
    expect((channel.errors[0]!.error as Error).message).toBe(
      'Missing .xlog file between LSN 15 {1: 14, 2: 1} and 17 {1: 17}',
    );
    expect(server.downstream(REPLICA)).toMatchObject({
      status: 'stopped',
      message: 'Missing .xlog file between LSN 15 {1: 14, 2: 1} and 17 {1: 17}',
      system_message: undefined,
    });
  });

  it('stopRelay() ends a following relay', async () => {
    const { master, server } = setup(1);
    master.cluster.set(REPLICA, 2);
    const channel = new MemoryChannel();
    const running = server.handle(session(), subscribeRequest(new Vclock()), channel);
    await until(() => server.downstream(REPLICA)?.status === 'follow');
    await sleep(10);
    await server.stopRelay(REPLICA);
    await running;
    expect(server.downstream(REPLICA)?.status).toBe('stopped');
    expect(channel.closed).toBe(true);
    expect(new ClientError(ErrorCode.ER_SYSTEM, 'x').code).toBe(115);
  });
});
