// The master side of replication: JOIN and SUBSCRIBE served on a connection the iproto server
// hands over (PROTOCOL.md §3, §5). Layer: replication. The relay reaches the database only
// through the ports (Membership, MasterStatus, JoinSource, RowSource, GcConsumers); it knows no
// spaces, files or catalog. `ReplicationServer` implements iproto's ReplicationHook, so box
// passes it to the iproto server as its `replication` hook. It checks each request in 2.6's
// order and answers it; a SUBSCRIBE then runs as a Subscription (subscription.ts) until the
// link breaks. Invariant: at most one following relay per replica uuid (a second SUBSCRIBE
// gets ER_CFG "duplicate connection"), and its downstream status outlives it.
import {
  ClientError,
  ErrorCode,
  GroupId,
  IprotoType,
  MsgpackWriter,
  makeXrow,
  NIL_UUID,
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
  decodeSubscribe,
  encodeSubscribeResponse,
  encodeVclockPacket,
} from './codec.js';
import type { ReplicationLogger } from './log.js';
import type { GcConsumers, JoinSource, MasterStatus, Membership, RowSource } from './ports.js';
import { ReplicationSocketError, type SocketName } from './socket-error.js';
import { filterTransaction, RelayState, STOP_REASON, Subscription } from './subscription.js';
import { nodeTimers, type Timers } from './timers.js';

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
  /** Timers (heartbeats, the ack read timeout); default Node's. */
  readonly timers?: Timers;
}

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

  /** Rows sent to the replica `uuid` since this server started (every SUBSCRIBE of it). */
  rowsSent(uuid: string): number | undefined {
    return this.relays.get(uuid)?.rowsSent;
  }

  /**
   * Bytes of output the relay of `uuid` holds now (queued rows plus the socket's unsent
   * bytes, also after it stopped while the socket still holds some); undefined if it never
   * subscribed.
   */
  outputBytes(uuid: string): number | undefined {
    return this.relays.get(uuid)?.outputBytes();
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
    const view = await joinSource.openJoinView(instanceUuid);
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
    // Registered before the first await, so a concurrent SUBSCRIBE of the same uuid is refused.
    const relay = new RelayState(subscribe.vclock, this.monotonicMs());
    relay.rowsSent = this.relays.get(uuid)?.rowsSent ?? 0;
    this.relays.set(uuid, relay);
    let finish: () => void = () => {};
    relay.done = new Promise((resolve) => {
      finish = resolve;
    });
    try {
      await this.send(
        channel,
        encodeSubscribeResponse(
          membership.instanceId(),
          localVclock,
          membership.replicasetUuid(),
          sync,
        ),
      );
    } catch (error) {
      relay.status = 'stopped';
      relay.error = toTarantoolError(error);
      finish();
      throw error;
    }
    log('info', 'main', `subscribed replica ${uuid} at ${this.describe(session)}`);
    log(
      'info',
      'main',
      `remote vclock ${subscribe.vclock.toString()} local vclock ${localVclock.toString()}`,
    );
    try {
      await new Subscription(
        {
          rowSource: this.options.rowSource,
          gc: this.options.gc,
          log: this.options.log,
          replicationTimeoutS: this.options.replicationTimeoutS,
          now: this.now,
          monotonicMs: this.monotonicMs,
          timers: this.options.timers ?? nodeTimers,
        },
        {
          channel,
          socketName: this.socketName(session),
          request: subscribe,
          replicaId,
          masterId: membership.instanceId(),
          localVclock,
          relay,
          sync,
        },
      ).run();
    } finally {
      finish();
    }
  }
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
