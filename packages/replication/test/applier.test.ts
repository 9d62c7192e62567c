// The applier against scripted masters in memory (a Connector of pipes, no sockets): the 2.6
// state sequence, error → state mapping and log lines, reconnect pacing, the silence timeout,
// dropped connections mid-transaction and mid-JOIN, duplicated and reordered rows, a duplicate
// key stopping it, acks after heartbeats and applied transactions.
import {
  encode,
  encodeXrowHeader,
  IprotoType,
  MsgpackWriter,
  makeXrow,
  SystemSpace,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import { encodeGreeting } from '@tarantype/iproto';
import { afterEach, describe, expect, it } from 'vitest';
import { Applier, type ApplierState } from '../src/applier.js';
import {
  decodePacket,
  decodeSubscribe,
  decodeVclockBody,
  encodeHeartbeat,
  encodeRow,
  encodeSubscribeResponse,
  encodeVclockPacket,
} from '../src/codec.js';
import type { ApplierConnection, Connector } from '../src/connection.js';
import type { TransactionSink } from '../src/ports.js';
import { ReplicationSocketError } from '../src/socket-error.js';
import { FakeReplica, insertBody, LogRecorder, sleep, until } from './fake-box.js';

const MASTER = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const RS = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const REPLICA = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';
const SOCKET = { fd: 9, local: '127.0.0.1:40000', peer: '127.0.0.1:3301' };

function frame(header: Xrow, body?: Uint8Array): Uint8Array {
  const w = new MsgpackWriter();
  encodeXrowHeader(w, header);
  if (body !== undefined) w.raw(body);
  const packet = w.toBytes();
  const out = new Uint8Array(packet.length + 5);
  out[0] = 0xce;
  new DataView(out.buffer).setUint32(1, packet.length);
  out.set(packet, 5);
  return out;
}
const ok = (body = new Uint8Array([0x80])) => frame(makeXrow(IprotoType.OK), body);
const ballot = () =>
  ok(new Uint8Array([0x81, 0x29, 0x84, 0x01, 0xc2, 0x04, 0xc2, 0x02, 0x80, 0x03, 0x80]));
function errorFrame(code: number, message: string): Uint8Array {
  const body = encode(
    new Map<number, unknown>([
      [0x31, message],
      [
        0x52,
        new Map([
          [
            0,
            [
              new Map<number, unknown>([
                [0, 'ClientError'],
                [3, message],
                [5, code],
              ]),
            ],
          ],
        ]),
      ],
    ]),
  );
  return frame(makeXrow(0x8000 | code), body);
}
function row(
  replicaId: number,
  lsn: number,
  tuple: unknown[],
  tsn = lsn,
  commit = true,
): Uint8Array {
  return encodeRow({
    ...makeXrow(IprotoType.INSERT, insertBody(512, tuple)),
    replica_id: replicaId,
    lsn,
    tsn,
    is_commit: commit,
    timestamp: Date.now() / 1000,
  });
}

/** Blocks this process' event loop for `ms` (a long EVAL, a GC pause). */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

/** The master's end of one in-memory connection. */
class MasterEnd implements ApplierConnection {
  readonly socketName = SOCKET;
  private toApplier: Array<Uint8Array | undefined> = [];
  private toMaster: Uint8Array[] = [];
  private applierWaiter: (() => void) | undefined;
  private masterWaiter: (() => void) | undefined;
  closed = false;
  greeting: Uint8Array = encodeGreeting(MASTER, new Uint8Array(32).fill(7));

  /** A master that accepted the connection but is stopped never sends its greeting. */
  silent = false;
  /** Bytes "received" so far (a test moves it to stand for part of a packet arriving). */
  receivedBytes?: number;
  async readGreeting(): Promise<Uint8Array> {
    while (this.silent && !this.closed) await sleep(10);
    if (this.closed) throw ReplicationSocketError.eof(SOCKET);
    return this.greeting;
  }
  async readPacket(): Promise<Uint8Array> {
    for (;;) {
      if (this.toApplier.length > 0) {
        const next = this.toApplier.shift();
        if (next === undefined) {
          this.closed = true;
          throw ReplicationSocketError.eof(SOCKET);
        }
        return next.subarray(5);
      }
      if (this.closed) throw ReplicationSocketError.eof(SOCKET);
      await new Promise<void>((resolve) => {
        this.applierWaiter = resolve;
      });
    }
  }
  /** As TcpConnection's: a packet already here, never the EOF marker (readPacket throws it). */
  takeBufferedPacket(): Uint8Array | undefined {
    if (this.closed || this.toApplier[0] === undefined) return undefined;
    return this.toApplier.shift()!.subarray(5);
  }
  write(bytes: Uint8Array): void {
    if (this.closed) return;
    this.toMaster.push(bytes);
    this.masterWaiter?.();
  }
  close(): void {
    this.closed = true;
    this.applierWaiter?.();
    this.masterWaiter?.();
  }
  // --- the script's side ---
  send(...frames: Uint8Array[]): void {
    this.toApplier.push(...frames);
    this.applierWaiter?.();
  }
  /** Drops the connection (the applier reads EOF after what was sent). */
  drop(): void {
    this.toApplier.push(undefined);
    this.applierWaiter?.();
  }
  /** The next packet from the applier. */
  async next(timeoutMs = 3000): Promise<Xrow> {
    const deadline = Date.now() + timeoutMs;
    while (this.toMaster.length === 0) {
      if (this.closed) throw new Error('connection closed');
      if (Date.now() > deadline) throw new Error('no packet from the applier');
      await Promise.race([
        new Promise<void>((resolve) => {
          this.masterWaiter = resolve;
        }),
        sleep(20),
      ]);
    }
    return decodePacket(this.toMaster.shift()!.subarray(5)).row;
  }
  /** Answers VOTE and AUTH. */
  async handshake(): Promise<void> {
    expect((await this.next()).type).toBe(IprotoType.VOTE);
    this.send(ballot());
    expect((await this.next()).type).toBe(IprotoType.AUTH);
    this.send(ok());
  }
  /** Answers SUBSCRIBE (returning the request) with vclock `vclock`, then a heartbeat. */
  async acceptSubscribe(vclock: Vclock, replicaset = RS) {
    const request = await this.next();
    expect(request.type).toBe(IprotoType.SUBSCRIBE);
    this.send(
      encodeSubscribeResponse(1, vclock, replicaset),
      encodeHeartbeat(1, Date.now() / 1000),
    );
    return decodeSubscribe(request.body);
  }
}

/** A Connector whose every connect runs `script` on a fresh MasterEnd (or refuses). */
class ScriptedMaster {
  readonly connects: number[] = [];
  readonly ends: MasterEnd[] = [];
  refuse = 0;
  constructor(private readonly script: (end: MasterEnd, attempt: number) => Promise<void>) {}
  readonly connector: Connector = async () => {
    this.connects.push(Date.now());
    if (this.refuse > 0) {
      this.refuse--;
      throw ReplicationSocketError.connect(
        { fd: 9, local: '127.0.0.1:40001', peer: undefined },
        Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
      );
    }
    const end = new MasterEnd();
    this.ends.push(end);
    void this.script(end, this.ends.length).catch(() => {});
    return end;
  };
}

let appliers: Applier[] = [];
afterEach(async () => {
  for (const applier of appliers) await applier.stop();
  appliers = [];
});

function makeApplier(
  master: ScriptedMaster,
  replica: FakeReplica,
  options: {
    join?: boolean;
    timeoutS?: number;
    connectTimeoutS?: number;
    inFlight?: number;
    sink?: TransactionSink;
  } = {},
) {
  const logs = new LogRecorder();
  const states: ApplierState[] = [];
  const applier = new Applier({
    uri: 'replicator:password@127.0.0.1:3301',
    membership: replica,
    sink: options.sink ?? replica,
    ...(options.inFlight !== undefined ? { transactionsInFlightMax: options.inFlight } : {}),
    ...(options.join === true ? { bootstrap: replica } : {}),
    connect: master.connector,
    replicationTimeoutS: () => options.timeoutS ?? 0.05,
    ...(options.connectTimeoutS !== undefined
      ? { connectTimeoutS: () => options.connectTimeoutS! }
      : {}),
    log: logs.log,
  });
  applier.onStateChange((state) => states.push(state));
  appliers.push(applier);
  return { applier, logs, states };
}

function joinedReplica(): FakeReplica {
  const replica = new FakeReplica(REPLICA);
  replica.replicaset = RS;
  replica.cluster.set(MASTER, 1);
  replica.cluster.set(REPLICA, 2);
  return replica;
}

describe('applier', () => {
  it('joins, subscribes and follows with 2.6 states, log lines and acks', async () => {
    const master = new ScriptedMaster(async (end) => {
      await end.handshake();
      const join = await end.next();
      expect(join.type).toBe(IprotoType.JOIN);
      const initial = (space: number, tuple: unknown[]) =>
        frame(makeXrow(IprotoType.INSERT), insertBody(space, tuple));
      end.send(
        encodeVclockPacket(new Vclock({ 1: 5 })),
        initial(SystemSpace.SCHEMA, ['cluster', RS]),
        initial(SystemSpace.CLUSTER, [1, MASTER]),
        initial(512, [1, 'a']),
        encodeVclockPacket(new Vclock({ 1: 6 })),
        encodeRow({
          ...makeXrow(IprotoType.INSERT, insertBody(SystemSpace.CLUSTER, [2, REPLICA])),
          replica_id: 1,
          lsn: 6,
          tsn: 6,
          timestamp: 1,
        }),
        encodeVclockPacket(new Vclock({ 1: 6 })),
      );
      const request = await end.acceptSubscribe(new Vclock({ 1: 6 }));
      expect(request.instanceUuid).toBe(REPLICA);
      expect(request.replicasetUuid).toBe(RS);
      expect(request.vclock.toString()).toBe('{1: 6}');
      expect(request.idFilter).toEqual([2]);
      const ack = await end.next();
      expect(ack.type).toBe(IprotoType.OK);
      expect(decodeVclockBody(ack.body).toString()).toBe('{1: 6}');
      end.send(row(1, 7, [2], 7, false), row(1, 8, [3], 7, true));
      const ack2 = await end.next();
      expect(decodeVclockBody(ack2.body).toString()).toBe('{1: 8}');
    });
    const replica = new FakeReplica(REPLICA);
    const { applier, logs, states } = makeApplier(master, replica, { join: true });
    applier.start();
    await applier.waitFor(['follow']);
    await until(() => replica.localVclock.get(1) === 8);
    expect(states).toEqual([
      'connect',
      'connected',
      'auth',
      'ready',
      'initial_join',
      'final_join',
      'joined',
      'ready',
      'sync',
      'follow',
    ]);
    expect(replica.initialVclock?.toString()).toBe('{1: 5}');
    expect(replica.finishedAt?.toString()).toBe('{1: 6}');
    expect(replica.instanceId()).toBe(2);
    expect(replica.applied.map((tx) => tx.map((r) => r.lsn))).toEqual([[7, 8]]);
    expect(applier.masterId).toBe(1);
    expect(applier.remoteUuid).toBe(MASTER);
    expect(logs.lines).toEqual([
      `info applier/replicator@127.0.0.1:3301 remote master ${MASTER} at 127.0.0.1:3301 running Tarantool 2.6.0`,
      'info applier/replicator@127.0.0.1:3301 authenticated',
      'info applier/replicator@127.0.0.1:3301 initial data received',
      'info applier/replicator@127.0.0.1:3301 final data received',
      'info applier/replicator@127.0.0.1:3301 subscribed',
      'info applier/replicator@127.0.0.1:3301 remote vclock {1: 6} local vclock {1: 6}',
    ]);
    const info = applier.info();
    expect(info).toMatchObject({
      status: 'follow',
      peer: 'replicator@127.0.0.1:3301',
      message: undefined,
    });
    expect(info.lag).toBeLessThan(1);
    expect(info.idle).toBeLessThan(1);
  });

  it('retries a refused connect every replication_timeout, then subscribes', async () => {
    const master = new ScriptedMaster(async (end) => {
      await end.handshake();
      await end.acceptSubscribe(new Vclock());
    });
    master.refuse = 3;
    const { applier, logs, states } = makeApplier(master, joinedReplica(), { timeoutS: 0.06 });
    applier.start();
    await until(() => applier.state === 'disconnected');
    expect(applier.info()).toMatchObject({
      status: 'disconnected',
      message: 'connect, called on fd 9, aka 127.0.0.1:40001',
      system_message: 'Connection refused',
    });
    await applier.waitFor(['follow']);
    const gaps = master.connects.slice(1).map((t, i) => t - master.connects[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(55);
    // Logged once per error code, as 2.6.
    expect(logs.texts()).toEqual([
      "can't connect to master",
      'SystemError connect, called on fd 9, aka 127.0.0.1:40001: Connection refused',
      'will retry every 0.06 second',
      `remote master ${MASTER} at 127.0.0.1:3301 running Tarantool 2.6.0`,
      'authenticated',
      'subscribed',
      'remote vclock {} local vclock {}',
    ]);
    expect(states.slice(0, 2)).toEqual(['connect', 'disconnected']);
    expect(applier.info().message).toBeUndefined();
  });

  it('ER_LOADING and bad credentials → loading and retry; unknown replica → stopped', async () => {
    const master = new ScriptedMaster(async (end, attempt) => {
      expect((await end.next()).type).toBe(IprotoType.VOTE);
      end.send(ballot());
      expect((await end.next()).type).toBe(IprotoType.AUTH);
      if (attempt === 1) return end.send(errorFrame(116, "Instance bootstrap hasn't finished yet"));
      if (attempt === 2)
        return end.send(errorFrame(47, "Incorrect password supplied for user 'replicator'"));
      end.send(ok());
      await end.next();
      end.send(errorFrame(62, `Replica ${REPLICA} is not registered with replica set ${RS}`));
    });
    const { applier, logs, states } = makeApplier(master, joinedReplica());
    applier.start();
    await until(() => applier.state === 'stopped');
    expect(states.filter((s) => s === 'loading')).toHaveLength(2);
    expect(applier.info()).toMatchObject({
      status: 'stopped',
      message: `Replica ${REPLICA} is not registered with replica set ${RS}`,
      system_message: undefined,
    });
    expect(logs.texts()).toEqual([
      `remote master ${MASTER} at 127.0.0.1:3301 running Tarantool 2.6.0`,
      'failed to authenticate',
      "ER_LOADING: Instance bootstrap hasn't finished yet",
      'will retry every 0.05 second',
      'failed to authenticate',
      "ER_PASSWORD_MISMATCH: Incorrect password supplied for user 'replicator'",
      'will retry every 0.05 second',
      'authenticated',
      "can't join/subscribe",
      `ER_UNKNOWN_REPLICA: Replica ${REPLICA} is not registered with replica set ${RS}`,
      'will retry every 0.05 second',
    ]);
    await sleep(120);
    expect(master.ends).toHaveLength(3);
  });

  it('a foreign replica set stops it with ER_REPLICASET_UUID_MISMATCH', async () => {
    const other = 'eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee';
    const master = new ScriptedMaster(async (end) => {
      await end.handshake();
      await end.acceptSubscribe(new Vclock(), other);
    });
    const { applier } = makeApplier(master, joinedReplica());
    applier.start();
    await until(() => applier.state === 'stopped');
    expect(applier.info().message).toBe(`Replica set UUID mismatch: expected ${other}, got ${RS}`);
  });

  it('drops a partial transaction on EOF, skips duplicated and old rows, keeps order per origin', async () => {
    const master = new ScriptedMaster(async (end, attempt) => {
      await end.handshake();
      const request = await end.acceptSubscribe(new Vclock({ 1: 3, 3: 1 }));
      if (attempt === 1) {
        expect(request.vclock.toString()).toBe('{}');
        end.send(row(1, 1, [1]), row(1, 2, [2], 2, false)); // lsn 2 opens a transaction …
        await sleep(30);
        end.drop(); // … that never commits
        return;
      }
      expect(request.vclock.toString()).toBe('{1: 1}');
      end.send(
        row(1, 2, [2], 2, false),
        row(1, 3, [3], 2, true),
        row(1, 2, [2], 2, false), // the same transaction again (e.g. through another path)
        row(1, 3, [3], 2, true),
        row(1, 1, [1]), // an old row
        row(3, 1, [301]), // another origin, interleaved between origin 1's rows
      );
    });
    const replica = joinedReplica();
    const { applier, states } = makeApplier(master, replica);
    applier.start();
    await until(() => replica.localVclock.get(3) === 1 && replica.localVclock.get(1) === 3);
    await sleep(20);
    expect(replica.applied.map((tx) => tx.map((r) => `${r.replica_id}:${r.lsn}`))).toEqual([
      ['1:1'],
      ['1:2', '1:3'],
      ['3:1'],
    ]);
    expect(states).toContain('disconnected');
    expect(applier.state).toBe('follow');
  });

  it('hands a run of rows that arrived together to the sink in one turn, so they share a WAL write', async () => {
    // The journal queues its flush as a microtask at the first submit of a turn: a sink that
    // does the same counts the transactions each flush would write.
    const replica = joinedReplica();
    const batches: number[] = [];
    let open = 0;
    const sink: TransactionSink = {
      vclock: () => replica.vclock(),
      applyTransaction: (rows) => {
        if (open++ === 0)
          queueMicrotask(() => {
            batches.push(open);
            open = 0;
          });
        return replica.applyTransaction(rows);
      },
    };
    const master = new ScriptedMaster(async (end) => {
      await end.handshake();
      await end.acceptSubscribe(new Vclock({ 1: 0 }));
      await sleep(20);
      end.send(...Array.from({ length: 10 }, (_, i) => row(1, i + 1, [i + 1])));
      await sleep(20);
      end.send(row(1, 11, [11]));
    });
    const { applier } = makeApplier(master, replica, { sink, inFlight: 64 });
    applier.start();
    await until(() => replica.localVclock.get(1) === 11);
    // Awaiting each row let the first flush go with 1 transaction and the rest after it.
    expect(batches).toEqual([10, 1]);
    expect(replica.applied.flat().map((r) => r.lsn)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('a duplicate key from the sink stops it with the error, no retry', async () => {
    const master = new ScriptedMaster(async (end) => {
      await end.handshake();
      await end.acceptSubscribe(new Vclock({ 1: 1 }));
      end.send(row(1, 1, [7]));
    });
    const replica = joinedReplica();
    replica.tuples.set('512:7', [7, 'local']);
    const { applier, logs } = makeApplier(master, replica);
    applier.start();
    await until(() => applier.state === 'stopped');
    expect(applier.info().message).toBe(
      "Duplicate key exists in unique index 'primary' in space '512'",
    );
    expect(logs.texts().slice(-3)).toEqual([
      `error applying row: {type: 'INSERT', replica_id: 1, lsn: 1, space_id: 512, index_id: 0, tuple: [7]}`,
      "can't read row",
      "ER_TUPLE_FOUND: Duplicate key exists in unique index 'primary' in space '512'",
    ]);
    expect(replica.localVclock.get(1)).toBe(0);
    await sleep(100);
    expect(master.ends).toHaveLength(1);
  });

  it('drops the link after 4 × replication_timeout of silence and reconnects', async () => {
    const master = new ScriptedMaster(async (end, attempt) => {
      await end.handshake();
      await end.acceptSubscribe(new Vclock());
      if (attempt > 1) {
        const beat = setInterval(() => end.send(encodeHeartbeat(1, Date.now() / 1000)), 20);
        await sleep(1000);
        clearInterval(beat);
      }
      // attempt 1: a master that stops talking (SIGSTOP)
    });
    const { applier, logs } = makeApplier(master, joinedReplica(), { timeoutS: 0.1 });
    applier.start();
    await applier.waitFor(['follow']);
    const followedAt = Date.now();
    await until(() => applier.state === 'disconnected');
    const silence = Date.now() - followedAt;
    expect(silence).toBeGreaterThanOrEqual(380);
    expect(silence).toBeLessThan(2000);
    expect(applier.info()).toMatchObject({
      message: 'timed out',
      system_message: 'Connection timed out',
    });
    expect(logs.texts()).toContain("can't read row");
    expect(logs.texts()).toContain('SystemError timed out: Connection timed out');
    await applier.waitFor(['follow']);
    // Heartbeats keep the second link up well beyond the timeout.
    await sleep(300);
    expect(applier.state).toBe('follow');
  });

  it('a heartbeat that arrived while this process stalled past the timeout is not silence', async () => {
    let end: MasterEnd | undefined;
    const master = new ScriptedMaster(async (e) => {
      end = e;
      await e.handshake();
      await e.acceptSubscribe(new Vclock());
    });
    const { applier, logs } = makeApplier(master, joinedReplica(), { timeoutS: 0.1 });
    applier.start();
    await applier.waitFor(['follow']);
    // A 600 ms stall (400 ms of silence is a timeout) in the check phase, as a long EVAL in an
    // I/O callback; the master's heartbeat came meanwhile and is read once the timers ran.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        block(600);
        setImmediate(() => {
          end!.send(encodeHeartbeat(1, Date.now() / 1000));
          resolve();
        });
      }),
    );
    await sleep(50);
    expect(applier.state).toBe('follow');
    expect(logs.texts()).not.toContain('SystemError timed out: Connection timed out');
    expect(master.ends).toHaveLength(1);
  });

  it('idle is measured by progress: a packet still arriving is not silence (gh-4042)', async () => {
    let trickle: NodeJS.Timeout | undefined;
    const master = new ScriptedMaster(async (end) => {
      await end.handshake();
      await end.acceptSubscribe(new Vclock());
      // A row of many megabytes on a slow link: bytes keep coming, no whole packet for 1 s.
      end.receivedBytes = 0;
      trickle = setInterval(() => {
        end.receivedBytes! += 1000;
      }, 50);
      await sleep(1000);
      clearInterval(trickle);
      end.send(encodeHeartbeat(1, Date.now() / 1000));
      // Then the link goes quiet for good.
    });
    const { applier } = makeApplier(master, joinedReplica(), { timeoutS: 0.1 });
    applier.start();
    await applier.waitFor(['follow']);
    const followedAt = Date.now();
    await sleep(1050);
    // 2.5 × the 400 ms disconnect timeout without a whole packet, and still following.
    expect(applier.state).toBe('follow');
    expect(master.ends).toHaveLength(1);
    await until(() => applier.state === 'disconnected', 3000);
    // The silence after the trickle ended (at ~1 s) was detected within the timeout + a quarter.
    const silence = Date.now() - followedAt - 1000;
    expect(silence).toBeGreaterThanOrEqual(380);
    expect(silence).toBeLessThan(1200);
    clearInterval(trickle);
  });

  it("a master that accepts but never greets: 'connect' until replication_connect_timeout", async () => {
    const master = new ScriptedMaster(async (end, attempt) => {
      if (attempt === 1) {
        end.silent = true;
        return;
      }
      await end.handshake();
      await end.acceptSubscribe(new Vclock());
    });
    const { applier, states } = makeApplier(master, joinedReplica(), {
      timeoutS: 0.05,
      connectTimeoutS: 1,
    });
    applier.start();
    // Well past 4 × replication_timeout (0.2 s) it still shows 'connect', as 2.6 (§2b D).
    await sleep(500);
    expect(applier.state).toBe('connect');
    await until(() => applier.state === 'disconnected', 3000);
    expect(applier.info()).toMatchObject({
      message: 'timed out',
      system_message: 'Connection timed out',
    });
    await applier.waitFor(['follow']);
    expect(states.slice(0, 3)).toEqual(['connect', 'disconnected', 'connect']);
    expect(master.ends[0]!.closed).toBe(true);
  });

  it('a JOIN broken part way is discarded and done again', async () => {
    const master = new ScriptedMaster(async (end, attempt) => {
      await end.handshake();
      await end.next();
      const initial = (space: number, tuple: unknown[]) =>
        frame(makeXrow(IprotoType.INSERT), insertBody(space, tuple));
      end.send(
        encodeVclockPacket(new Vclock({ 1: 2 })),
        initial(SystemSpace.SCHEMA, ['cluster', RS]),
      );
      if (attempt === 1) return end.drop();
      end.send(
        initial(SystemSpace.CLUSTER, [1, MASTER]),
        initial(SystemSpace.CLUSTER, [2, REPLICA]),
        encodeVclockPacket(new Vclock({ 1: 2 })),
        encodeVclockPacket(new Vclock({ 1: 2 })),
      );
      await end.acceptSubscribe(new Vclock({ 1: 2 }));
    });
    const replica = new FakeReplica(REPLICA);
    const { applier, states } = makeApplier(master, replica, { join: true });
    applier.start();
    await applier.waitFor(['follow']);
    expect(replica.discards).toBe(1);
    expect(replica.initialRows).toHaveLength(3);
    expect(states.filter((s) => s === 'initial_join')).toHaveLength(2);
  });

  it('refuses rows with replica_id ≥ 32 and a broken transaction (stopped)', async () => {
    const master = new ScriptedMaster(async (end) => {
      await end.handshake();
      await end.acceptSubscribe(new Vclock());
      end.send(row(32, 1, [1]));
    });
    const { applier } = makeApplier(master, joinedReplica());
    applier.start();
    await until(() => applier.state === 'stopped');
    expect(applier.info().message).toBe(`Replica 32 is not registered with replica set ${RS}`);
  });

  it('a URI pointing at this very instance turns the applier off (ER_CONNECTION_TO_SELF)', async () => {
    const master = new ScriptedMaster(async (end) => {
      expect((await end.next()).type).toBe(IprotoType.VOTE);
      end.send(ballot());
    });
    const replica = joinedReplica();
    const connector = master.connector;
    const self: Connector = async (host, port) => {
      const end = (await connector(host, port)) as MasterEnd;
      end.greeting = encodeGreeting(REPLICA, new Uint8Array(32).fill(3));
      return end;
    };
    const logs = new LogRecorder();
    const applier = new Applier({
      uri: 'replicator:password@127.0.0.1:3301',
      membership: replica,
      sink: replica,
      connect: self,
      replicationTimeoutS: () => 0.05,
      log: logs.log,
    });
    appliers.push(applier);
    const states: ApplierState[] = [];
    applier.onStateChange((state) => states.push(state));
    applier.start();
    await until(() => applier.state === 'off');
    await sleep(120);
    expect(master.ends).toHaveLength(1);
    expect(states).toEqual(['connect', 'connected', 'off']);
  });

  it('goes on without a ballot when the master does not know VOTE', async () => {
    const master = new ScriptedMaster(async (end) => {
      expect((await end.next()).type).toBe(IprotoType.VOTE);
      end.send(errorFrame(48, 'Unknown request type 68'));
      expect((await end.next()).type).toBe(IprotoType.AUTH);
      end.send(ok());
      await end.acceptSubscribe(new Vclock());
    });
    const { applier } = makeApplier(master, joinedReplica());
    applier.start();
    await applier.waitFor(['follow']);
    expect(applier.ballot).toBeUndefined();
  });

  it('stop() closes the link and leaves the applier off', async () => {
    const master = new ScriptedMaster(async (end) => {
      await end.handshake();
      await end.acceptSubscribe(new Vclock());
    });
    const { applier } = makeApplier(master, joinedReplica(), { timeoutS: 1 });
    applier.start();
    await applier.waitFor(['follow']);
    await applier.stop();
    expect(applier.state).toBe('off');
    expect(master.ends[0]!.closed).toBe(true);
  });
});
