// The master side of replication: JOIN and SUBSCRIBE served on a connection the iproto server
// hands over (PROTOCOL.md §3, §5). Layer: replication. The relay reaches the database only
// through the ports (Membership, MasterStatus, JoinSource, RowSource, GcConsumers); it knows no
// spaces, files or catalog. `ReplicationServer` implements iproto's ReplicationHook, so box
// passes it to the iproto server as its `replication` hook.
//
// SUBSCRIBE runs three loops on one connection until it breaks: rows from RowSource after the
// replica's vclock (filtered: no local rows, nothing in ID_FILTER, nothing of the replica's own
// unless it lost it), a heartbeat whenever nothing was sent for replication_timeout — a timer,
// so heartbeats also go out while RowSource scans old files, as long as it yields between
// batches (its contract) — and a reader of acks that moves the replica's GC consumer and
// expires the link after 4 × replication_timeout of silence.
// Invariant: the socket carries whole frames only; after the first error nothing but (at most)
// one error packet is written, then the connection closes.
import {
  ClientError,
  ErrorCode,
  errorName,
  GroupId,
  IprotoType,
  MsgpackWriter,
  makeXrow,
  NIL_UUID,
  type TarantoolError,
  TimedOutError,
  type Vclock,
  type Xrow,
} from '@tarantype/core';
import type {
  ReplicationChannel,
  ReplicationHook,
  ReplicationRequest,
  Session,
  SessionUser,
} from '@tarantype/iproto';
import { toTarantoolError } from '@tarantype/iproto';
import {
  appendRows,
  decodeJoin,
  decodePacket,
  decodeSubscribe,
  decodeVclockBody,
  encodeHeartbeat,
  encodeSubscribeResponse,
  encodeVclockPacket,
  type SubscribeRequest,
} from './codec.js';
import { DISCONNECT_TIMEOUT_FACTOR } from './limits.js';
import type { ReplicationLogger } from './log.js';
import type { GcConsumers, JoinSource, MasterStatus, Membership, RowSource } from './ports.js';
import { errorLogText, ReplicationSocketError, type SocketName } from './socket-error.js';

/** box.info.replication[id].downstream. */
export interface DownstreamInfo {
  /** 'follow' while the relay runs, 'stopped' after it ended. */
  readonly status: 'follow' | 'stopped';
  /** Seconds since the last ack from the replica (only while following). */
  readonly idle: number | undefined;
  /** The replica's vclock as its last ack said (only while following). */
  readonly vclock: Vclock | undefined;
  /**
   * Seconds between the WAL time of the newest row the replica acked and the ack's arrival
   * (2.6 has no downstream lag; 2.8 added it). undefined before any row was acked.
   */
  readonly lag: number | undefined;
  /** The error that stopped the relay. */
  readonly message: string | undefined;
  /** strerror text of a socket error that stopped it. */
  readonly system_message: string | undefined;
}

export interface ReplicationServerOptions {
  readonly membership: Membership;
  readonly master: MasterStatus;
  readonly joinSource: JoinSource;
  readonly rowSource: RowSource;
  readonly gc: GcConsumers;
  /** box.cfg.replication_timeout in seconds, read at each use (the option is dynamic). */
  readonly replicationTimeoutS: () => number;
  readonly log: ReplicationLogger;
  /** fd and addresses of a session's socket for log lines; default: only the peer is known. */
  readonly socketName?: (session: Session) => SocketName;
  /** Wall clock in seconds (heartbeat timestamps); default Date.now() / 1000. */
  readonly now?: () => number;
  /** Monotonic clock in milliseconds (timers, idle); default performance.now(). */
  readonly monotonicMs?: () => number;
}

/** One relay per replica uuid: what box.info shows as downstream. */
class RelayState {
  status: 'follow' | 'stopped' = 'follow';
  ackVclock: Vclock;
  lastAckMs: number;
  lag: number | undefined;
  error: TarantoolError | undefined;
  /** Stops the running relay (box.cfg, _cluster delete, shutdown). */
  abort: AbortController = new AbortController();
  /** Resolves when the relay loop has ended. */
  done: Promise<void> = Promise.resolve();

  constructor(vclock: Vclock, nowMs: number) {
    this.ackVclock = vclock.copy();
    this.lastAckMs = nowMs;
  }
}

/** Queued output above which the relay writes at once instead of at the end of the turn. */
const RELAY_BATCH_BYTES = 256 * 1024;

/** The relay's reason to stop when told to from outside. */
const STOP_REASON = new ClientError(ErrorCode.ER_SYSTEM, 'relay stopped');

export class ReplicationServer<U extends SessionUser = SessionUser> implements ReplicationHook<U> {
  private readonly relays = new Map<string, RelayState>();
  private readonly now: () => number;
  private readonly monotonicMs: () => number;

  constructor(private readonly options: ReplicationServerOptions) {
    this.now = options.now ?? (() => Date.now() / 1000);
    this.monotonicMs = options.monotonicMs ?? (() => performance.now());
  }

  /** The iproto hook: JOIN or SUBSCRIBE on `channel`. Rejections become error replies. */
  async handle(
    session: Session<U>,
    request: ReplicationRequest,
    channel: ReplicationChannel,
  ): Promise<void> {
    switch (request.type) {
      case IprotoType.JOIN:
        return this.join(session, request, channel);
      case IprotoType.SUBSCRIBE:
        return this.subscribe(session, request, channel);
      default:
        // Anonymous replicas (FETCH_SNAPSHOT, REGISTER) are not part of this implementation.
        throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'Replication', 'anonymous replicas');
    }
  }

  /** box.info.replication[id].downstream of the replica `uuid`, or undefined if it never subscribed. */
  downstream(uuid: string): DownstreamInfo | undefined {
    const relay = this.relays.get(uuid);
    if (relay === undefined) return undefined;
    if (relay.status === 'follow')
      return {
        status: 'follow',
        idle: (this.monotonicMs() - relay.lastAckMs) / 1000,
        vclock: relay.ackVclock.copy(),
        lag: relay.lag,
        message: undefined,
        system_message: undefined,
      };
    const error = relay.error;
    return {
      status: 'stopped',
      idle: undefined,
      vclock: undefined,
      lag: undefined,
      message: error?.message,
      system_message: error instanceof ReplicationSocketError ? error.systemMessage : undefined,
    };
  }

  /** Uuids of every replica that subscribed since this server started. */
  replicaUuids(): string[] {
    return [...this.relays.keys()];
  }

  /** Stops the relay of `uuid` (its `_cluster` row was deleted); keeps its stopped status. */
  async stopRelay(uuid: string): Promise<void> {
    const relay = this.relays.get(uuid);
    if (relay === undefined) return;
    relay.abort.abort(STOP_REASON);
    await relay.done;
  }

  /** Forgets a replica's downstream entry (it left `_cluster`). */
  forget(uuid: string): void {
    const relay = this.relays.get(uuid);
    if (relay !== undefined && relay.status === 'stopped') this.relays.delete(uuid);
  }

  /** Stops every relay (shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.relays.keys()].map((uuid) => this.stopRelay(uuid)));
  }

  private socketName(session: Session<U>): SocketName {
    return (
      this.options.socketName?.(session) ?? { fd: undefined, local: undefined, peer: session.peer }
    );
  }

  private describe(session: Session<U>): string {
    const name = this.socketName(session);
    let text = `fd ${name.fd ?? -1}`;
    if (name.local !== undefined) text += `, aka ${name.local}`;
    if (name.peer !== undefined) text += `, peer of ${name.peer}`;
    return text;
  }

  /** Checks common to JOIN and SUBSCRIBE before access: loading, then connection to self. */
  private checkPeer(uuid: string): void {
    if (this.options.master.isLoading()) throw new ClientError(ErrorCode.ER_LOADING);
    if (uuid === this.options.membership.instanceUuid)
      throw new ClientError(ErrorCode.ER_CONNECTION_TO_SELF);
  }

  private checkWalMode(): void {
    if (this.options.master.walMode() === 'none')
      throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'Replication', "wal_mode = 'none'");
  }

  // --- JOIN ------------------------------------------------------------------------------------

  private async join(
    session: Session<U>,
    request: ReplicationRequest,
    channel: ReplicationChannel,
  ): Promise<void> {
    const { membership, master, joinSource, gc, log } = this.options;
    const { instanceUuid } = decodeJoin(request.body);
    if (master.isLoading()) throw new ClientError(ErrorCode.ER_LOADING);
    if (instanceUuid === membership.instanceUuid)
      throw new ClientError(ErrorCode.ER_CONNECTION_TO_SELF);
    if (instanceUuid === NIL_UUID) throw new ClientError(ErrorCode.ER_INVALID_UUID, NIL_UUID);
    membership.checkReplicationAccess(session.user.id);
    const registered = membership.idOf(instanceUuid) !== undefined;
    if (!registered) master.checkRegistration(session.user.id);
    this.checkWalMode();
    const sync = rowSync(request.sync);
    log('info', 'main', `joining replica ${instanceUuid} at ${this.describe(session)}`);

    // Initial data: a read view and its vclock.
    const view = await joinSource.openJoinView();
    const startVclock = view.vclock.copy();
    try {
      await this.send(channel, encodeVclockPacket(startVclock, sync));
      const writer = new MsgpackWriter(64 * 1024);
      for await (const batch of view.rows()) {
        // Initial rows carry only their type (and the sync): no replica_id, lsn, timestamp.
        const bare: Xrow[] = [];
        for (const row of batch) {
          if (row.group_id === GroupId.LOCAL) continue;
          bare.push({ ...makeXrow(row.type, row.body), sync });
        }
        writer.reset();
        appendRows(writer, bare, sync);
        if (!channel.write(writer.toBytes())) await channel.drain();
        if (channel.closed) throw ReplicationSocketError.eof(this.socketName(session));
      }
    } finally {
      view.release();
    }
    log('info', 'main', 'initial data sent.');

    // Registration: the _cluster row is a WAL row after startVclock, so the final data has it.
    if (!registered) await membership.register(instanceUuid);
    const stopVclock = master.vclock();
    await this.send(channel, encodeVclockPacket(stopVclock, sync));
    await this.sendFinalData(channel, startVclock, stopVclock, sync);
    log('info', 'main', 'final data sent.');
    await this.send(channel, encodeVclockPacket(master.vclock(), sync));
    gc.advance(instanceUuid, stopVclock);
  }

  /** Every WAL row after `start` up to `stop` (components 1..31), all origins, local ones left out. */
  private async sendFinalData(
    channel: ReplicationChannel,
    start: Vclock,
    stop: Vclock,
    sync: number,
  ): Promise<void> {
    const position = start.copy();
    if (stop.isLessOrEqual(position, true)) return;
    const abort = new AbortController();
    try {
      for await (const transaction of this.options.rowSource.follow(start, abort.signal)) {
        const rows = filterTransaction(transaction, undefined);
        if (rows.length > 0 && !channel.write(encodeRows(rows, sync))) await channel.drain();
        if (channel.closed) throw new ClientError(ErrorCode.ER_SYSTEM, 'connection closed');
        for (const row of transaction)
          if (row.lsn > position.get(row.replica_id)) position.set(row.replica_id, row.lsn);
        if (stop.isLessOrEqual(position, true)) break;
      }
    } finally {
      abort.abort();
    }
  }

  private async send(channel: ReplicationChannel, bytes: Uint8Array): Promise<void> {
    if (channel.closed) throw new ClientError(ErrorCode.ER_SYSTEM, 'connection closed');
    if (!channel.write(bytes)) await channel.drain();
  }

  // --- SUBSCRIBE -------------------------------------------------------------------------------

  private async subscribe(
    session: Session<U>,
    request: ReplicationRequest,
    channel: ReplicationChannel,
  ): Promise<void> {
    const { membership, master, log } = this.options;
    const subscribe = decodeSubscribe(request.body);
    const uuid = subscribe.instanceUuid;
    this.checkPeer(uuid);
    if (subscribe.anon)
      throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'Replication', 'anonymous replicas');
    membership.checkReplicationAccess(session.user.id);
    const replicaId = membership.idOf(uuid);
    if (replicaId === undefined)
      throw new ClientError(ErrorCode.ER_UNKNOWN_REPLICA, uuid, membership.replicasetUuid());
    if (this.relays.get(uuid)?.status === 'follow')
      throw new ClientError(
        ErrorCode.ER_CFG,
        'replication',
        'duplicate connection with the same replica UUID',
      );
    this.checkWalMode();

    const localVclock = master.vclock();
    const sync = rowSync(request.sync);
    await this.send(
      channel,
      encodeSubscribeResponse(
        membership.instanceId(),
        localVclock,
        membership.replicasetUuid(),
        sync,
      ),
    );
    log('info', 'main', `subscribed replica ${uuid} at ${this.describe(session)}`);
    log(
      'info',
      'main',
      `remote vclock ${subscribe.vclock.toString()} local vclock ${localVclock.toString()}`,
    );
    const relay = new RelayState(subscribe.vclock, this.monotonicMs());
    this.relays.set(uuid, relay);
    let finish: () => void = () => {};
    relay.done = new Promise((resolve) => {
      finish = resolve;
    });
    try {
      await this.runSubscription(session, channel, subscribe, replicaId, localVclock, relay, sync);
    } finally {
      finish();
    }
  }

  /** The relay loop proper; returns when the link is broken (status 'stopped'). */
  private async runSubscription(
    session: Session<U>,
    channel: ReplicationChannel,
    subscribe: SubscribeRequest,
    replicaId: number,
    localVclock: Vclock,
    relay: RelayState,
    sync: number,
  ): Promise<void> {
    const { membership, gc, log } = this.options;
    const uuid = subscribe.instanceUuid;
    const fiber = `relay/${this.socketName(session).peer ?? '<unknown>'}`;
    const signal = relay.abort.signal;
    // The replica's component 0 is its own local rows: start ours at our own (2.6 does so).
    const from = subscribe.vclock.copy();
    from.set(0, localVclock.get(0));
    gc.advance(uuid, subscribe.vclock);

    let failed: TarantoolError | undefined;
    const fail = (error: unknown) => {
      if (failed === undefined) failed = toTarantoolError(error);
      if (!relay.abort.signal.aborted) relay.abort.abort(failed);
    };
    signal.addEventListener('abort', () => {
      if (failed === undefined) failed = toTarantoolError(signal.reason);
    });

    let lastSentMs = this.monotonicMs();
    const masterId = membership.instanceId();
    /** WAL timestamps of sent rows not yet acked, for downstream lag: [id, lsn, timestamp]. */
    const unacked: Array<[number, number, number]> = [];
    // Output coalescing: rows of the transactions the row source yields within one event-loop
    // turn go out in one socket write (a write per transaction cost more than the rest of the
    // relay). A full buffer is written at once, waiting for 'drain' if the socket is behind.
    const out = new MsgpackWriter(64 * 1024);
    let flushScheduled = false;
    /** The socket refused more (write() returned false): wait for 'drain' before queuing. */
    let backpressured = false;
    const flush = () => {
      flushScheduled = false;
      if (out.length === 0 || channel.closed) return !backpressured;
      const bytes = out.toBytes();
      out.reset();
      if (!channel.write(bytes)) backpressured = true;
      return !backpressured;
    };
    const queueRows = async (rows: readonly Xrow[]) => {
      if (backpressured) {
        await channel.drain();
        backpressured = false;
      }
      lastSentMs = this.monotonicMs();
      appendRows(out, rows, sync);
      if (out.length >= RELAY_BATCH_BYTES) {
        if (!flush()) {
          await channel.drain();
          backpressured = false;
        }
      } else if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
      if (channel.closed) throw ReplicationSocketError.eof(this.socketName(session));
    };

    // Heartbeats: right away, then whenever nothing was sent for replication_timeout.
    const heartbeat = () => {
      if (signal.aborted) return;
      if (channel.closed) {
        fail(ReplicationSocketError.eof(this.socketName(session)));
        return;
      }
      lastSentMs = this.monotonicMs();
      flush();
      channel.write(encodeHeartbeat(masterId, this.now(), sync));
    };
    heartbeat();
    let timer: NodeJS.Timeout | undefined;
    const scheduleHeartbeat = () => {
      const periodMs = this.options.replicationTimeoutS() * 1000;
      const dueMs = Math.max(1, lastSentMs + periodMs - this.monotonicMs());
      timer = setTimeout(() => {
        if (this.monotonicMs() - lastSentMs >= periodMs - 1) heartbeat();
        if (!signal.aborted) scheduleHeartbeat();
      }, dueMs);
    };
    scheduleHeartbeat();

    const reader = this.readAcks(session, channel, uuid, relay, signal, unacked).catch(fail);
    const streamer = (async () => {
      for await (const transaction of this.options.rowSource.follow(from, signal)) {
        const rows = filterTransaction(transaction, {
          replicaId,
          idFilter: subscribe.idFilter,
          localVclockAtSubscribe: localVclock,
        });
        if (signal.aborted) return;
        if (rows.length > 0) await queueRows(rows);
        const last = rows[rows.length - 1];
        if (last !== undefined && last.timestamp !== 0)
          unacked.push([last.replica_id, last.lsn, last.timestamp]);
        if (unacked.length > 1024) unacked.splice(0, unacked.length - 1024);
      }
    })().catch(fail);

    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    clearTimeout(timer);
    const error = failed ?? new ClientError(ErrorCode.ER_SYSTEM, 'relay stopped');
    relay.status = 'stopped';
    relay.error = error;
    const isSocket = error instanceof ReplicationSocketError;
    log(isSocket ? 'syserror' : 'error', fiber, errorLogText(error, errorName));
    log('crit', fiber, 'exiting the relay loop');
    // A socket error leaves nothing to tell, and a stop from this side (shutdown, the replica
    // left _cluster) closes like a process exit would; anything else is sent before closing
    // (2.6 does).
    if (!isSocket && error !== STOP_REASON && !channel.closed) channel.writeError(sync, error);
    channel.close();
    await Promise.allSettled([reader, streamer]);
  }

  /** Reads acks until EOF, an error or 4 × replication_timeout of silence. */
  private async readAcks(
    session: Session<U>,
    channel: ReplicationChannel,
    uuid: string,
    relay: RelayState,
    signal: AbortSignal,
    unacked: Array<[number, number, number]>,
  ): Promise<void> {
    while (!signal.aborted) {
      const timeoutMs = this.options.replicationTimeoutS() * 1000 * DISCONNECT_TIMEOUT_FACTOR;
      const packet = await readWithTimeout(channel, timeoutMs, signal);
      if (signal.aborted) return;
      // 2.6's relay reader times out with TimedOut (not a socket error): an error packet
      // "timed out" goes to the replica before the connection closes.
      if (packet === 'timeout') throw new TimedOutError();
      if (packet === undefined) throw ReplicationSocketError.eof(this.socketName(session));
      const decoded = decodePacket(packet);
      if (decoded.isError) throw decoded.error;
      const vclock = decodeVclockBody(decoded.row.body);
      const nowMs = this.monotonicMs();
      relay.lastAckMs = nowMs;
      while (unacked.length > 0) {
        const [id, lsn, timestamp] = unacked[0]!;
        if (vclock.get(id) < lsn) break;
        relay.lag = Math.max(0, this.now() - timestamp);
        unacked.shift();
      }
      if (vclock.signature() !== relay.ackVclock.signature()) this.options.gc.advance(uuid, vclock);
      relay.ackVclock = vclock;
    }
  }
}

/** The filter of relay_send_row; `subscriber` undefined = final JOIN (everything but local rows). */
interface SubscriberFilter {
  readonly replicaId: number;
  readonly idFilter: readonly number[];
  readonly localVclockAtSubscribe: Vclock;
}

/**
 * The rows of `transaction` a replica gets (PROTOCOL.md §5.3): local rows (group 1) are dropped
 * when unsigned (replica_id 0) and sent as NOP otherwise; rows of ids in ID_FILTER are dropped;
 * the subscriber's own rows only go back when it lost them (lsn ≤ our vclock at subscribe).
 * When rows were dropped, the survivors are re-marked so they still form a transaction: tsn =
 * their first lsn, is_commit on the last (2.6 would leave a dangling transaction here).
 */
export function filterTransaction(
  transaction: readonly Xrow[],
  subscriber: SubscriberFilter | undefined,
): Xrow[] {
  const out: Xrow[] = [];
  let changed = false;
  for (const row of transaction) {
    let sent: Xrow = row;
    if (row.group_id === GroupId.LOCAL) {
      if (row.replica_id === 0) {
        changed = true;
        continue;
      }
      sent = { ...row, type: IprotoType.NOP, group_id: GroupId.DEFAULT, body: new Uint8Array(0) };
    }
    if (subscriber !== undefined) {
      if (subscriber.idFilter.includes(row.replica_id)) {
        changed = true;
        continue;
      }
      if (
        row.replica_id === subscriber.replicaId &&
        row.lsn > subscriber.localVclockAtSubscribe.get(row.replica_id)
      ) {
        changed = true;
        continue;
      }
    }
    out.push(sent);
  }
  if (!changed || out.length === 0) return out;
  const tsn = out[0]!.lsn;
  return out.map((row, i) => ({
    ...row,
    tsn: out.length === 1 ? row.lsn : tsn,
    is_commit: i === out.length - 1,
  }));
}

/** The frames of `rows`, in one buffer. */
function encodeRows(rows: readonly Xrow[], sync: number): Uint8Array {
  const writer = new MsgpackWriter(256 + rows.reduce((n, row) => n + row.body.length + 40, 0));
  appendRows(writer, rows, sync);
  return writer.toBytes();
}

/** The request's sync as a row header field (Xrow.sync is a safe integer). */
function rowSync(sync: number | bigint): number {
  if (typeof sync === 'number') return sync;
  if (sync <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(sync);
  throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'Replication', 'sync values above 2^53');
}

/** The next packet, undefined at EOF, 'timeout' after `timeoutMs`, undefined when aborted. */
async function readWithTimeout(
  channel: ReplicationChannel,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Uint8Array | undefined | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      channel.readPacket(),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      }),
      new Promise<undefined>((resolve) => {
        onAbort = () => resolve(undefined);
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
