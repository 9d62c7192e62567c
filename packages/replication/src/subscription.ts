// One running SUBSCRIBE on the master (PROTOCOL.md §5): its output queue, heartbeat timer,
// ack reader and row streamer, and the filter of the rows a subscriber gets. Layer:
// replication. ReplicationServer (relay.ts) checks the request, replies, then runs one of
// these until the link breaks.
//
// Three activities share the connection: rows from RowSource after the replica's vclock
// (queued and written once per event-loop turn, waiting for 'drain' when the socket refuses
// more), a heartbeat whenever nothing was sent for replication_timeout (a timer, so it also
// goes out while RowSource scans old files, as long as it yields between batches), and a
// reader of acks that moves the replica's GC consumer and expires the link after 4 ×
// replication_timeout of silence. Invariant: the first failure wins; after it nothing but at
// most one error packet is written, then the connection closes.
import {
  ClientError,
  ErrorCode,
  errorName,
  GroupId,
  IprotoType,
  MsgpackWriter,
  type TarantoolError,
  TimedOutError,
  type Vclock,
  type Xrow,
} from '@tarantype/core';
import { type ReplicationChannel, toTarantoolError } from '@tarantype/iproto';
import {
  appendRows,
  decodePacket,
  decodeVclockBody,
  encodeHeartbeat,
  type SubscribeRequest,
} from './codec.js';
import { DISCONNECT_TIMEOUT_FACTOR, RELAY_OUTPUT_HIGH_WATER_BYTES } from './limits.js';
import type { ReplicationLogger } from './log.js';
import type { GcConsumers, RowSource } from './ports.js';
import { errorLogText, ReplicationSocketError, type SocketName } from './socket-error.js';
import type { TimerHandle, Timers } from './timers.js';

/** One relay per replica uuid: what box.info shows as downstream. */
export class RelayState {
  status: 'follow' | 'stopped' = 'follow';
  ackVclock: Vclock;
  lastAckMs: number;
  lag: number | undefined;
  error: TarantoolError | undefined;
  /** Stops the running relay (box.cfg, _cluster delete, shutdown). */
  abort: AbortController = new AbortController();
  /** Resolves when the relay loop has ended. */
  done: Promise<void> = Promise.resolve();
  /**
   * Rows sent to this replica since the server started (metrics: a counter). A new
   * SUBSCRIBE of the same replica carries it on (ReplicationServer.subscribe).
   */
  rowsSent = 0;
  /**
   * Bytes of output the running relay holds: queued rows not yet written plus what the socket
   * has not handed to the kernel. Bounded by RELAY_OUTPUT_BOUND_BYTES plus one
   * transaction (PROTOCOL.md §4.3).
   */
  outputBytes: () => number = () => 0;

  constructor(vclock: Vclock, nowMs: number) {
    this.ackVclock = vclock.copy();
    this.lastAckMs = nowMs;
  }
}

/** Queued output above which the relay writes at once instead of at the end of the turn. */
const RELAY_BATCH_BYTES = 256 * 1024;

/** The relay's reason to stop when told to from outside. */
export const STOP_REASON = new ClientError(ErrorCode.ER_SYSTEM, 'relay stopped');

/** What a subscription needs of its server. */
export interface SubscriptionContext {
  readonly rowSource: RowSource;
  readonly gc: GcConsumers;
  readonly log: ReplicationLogger;
  readonly replicationTimeoutS: () => number;
  readonly now: () => number;
  readonly monotonicMs: () => number;
  readonly timers: Timers;
}

/** One subscriber. */
export interface SubscriptionTarget {
  readonly channel: ReplicationChannel;
  readonly socketName: SocketName;
  readonly request: SubscribeRequest;
  /** The subscriber's id in _cluster. */
  readonly replicaId: number;
  /** This instance's id: heartbeats carry it. */
  readonly masterId: number;
  /** This instance's vclock when the SUBSCRIBE was answered. */
  readonly localVclock: Vclock;
  readonly relay: RelayState;
  readonly sync: number;
}

/** Sent rows not yet acked, kept for downstream lag: at most this many. */
const UNACKED_MAX = 1024;

export class Subscription {
  private readonly out = new MsgpackWriter(64 * 1024);
  private flushScheduled = false;
  /** The socket refused more (write() returned false): wait for 'drain' before queuing. */
  private backpressured = false;
  private lastSentMs: number;
  private timer: TimerHandle | undefined;
  private failed: TarantoolError | undefined;
  /**
   * WAL timestamps of sent rows not yet acked: [replica id, lsn, timestamp], oldest at
   * unackedHead. A queue with a moving head: shift() and splice(0, …) cost O(length) per row
   * under load, where this list stays full.
   */
  private unacked: Array<[number, number, number]> = [];
  private unackedHead = 0;
  private readonly signal: AbortSignal;

  constructor(
    private readonly context: SubscriptionContext,
    private readonly target: SubscriptionTarget,
  ) {
    this.lastSentMs = context.monotonicMs();
    this.signal = target.relay.abort.signal;
    // After the relay stopped the socket may still hold bytes the peer never read: they count.
    target.relay.outputBytes = () => this.out.length + (this.target.channel.bufferedBytes ?? 0);
  }

  /** Runs until the link breaks or the relay is stopped; the relay is 'stopped' after. */
  async run(): Promise<void> {
    const { channel, relay, request, sync } = this.target;
    const { log } = this.context;
    const fiber = `relay/${this.target.socketName.peer ?? '<unknown>'}`;
    this.signal.addEventListener('abort', () => {
      this.failed ??= toTarantoolError(this.signal.reason);
    });
    this.context.gc.advance(request.instanceUuid, request.vclock);
    this.heartbeat();
    this.scheduleHeartbeat();
    const reader = this.readAcks().catch((error: unknown) => this.fail(error));
    const streamer = this.stream().catch((error: unknown) => this.fail(error));
    await new Promise<void>((resolve) => {
      if (this.signal.aborted) resolve();
      else this.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    this.context.timers.clearTimeout(this.timer);
    const error = this.failed ?? new ClientError(ErrorCode.ER_SYSTEM, 'relay stopped');
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

  private fail(error: unknown): void {
    this.failed ??= toTarantoolError(error);
    if (!this.signal.aborted) this.target.relay.abort.abort(this.failed);
  }

  /** Rows after the replica's vclock, filtered (R20), queued for the socket. */
  private async stream(): Promise<void> {
    const { request, localVclock, replicaId } = this.target;
    // The replica's component 0 is its own local rows: start ours at our own (2.6 does so).
    const from = request.vclock.copy();
    from.set(0, localVclock.get(0));
    const filter = { replicaId, idFilter: request.idFilter, localVclockAtSubscribe: localVclock };
    for await (const transaction of this.context.rowSource.follow(from, this.signal)) {
      const rows = filterTransaction(transaction, filter);
      if (this.signal.aborted) return;
      if (rows.length === 0) continue;
      await this.queueRows(rows);
      this.target.relay.rowsSent += rows.length;
      const last = rows[rows.length - 1]!;
      if (last.timestamp !== 0) this.unacked.push([last.replica_id, last.lsn, last.timestamp]);
      // Beyond UNACKED_MAX the oldest go (their lag is not measured); compacted once the dead
      // head is as long as the rest.
      if (this.unacked.length - this.unackedHead > UNACKED_MAX)
        this.unackedHead = this.unacked.length - UNACKED_MAX;
      if (this.unackedHead >= UNACKED_MAX) {
        this.unacked = this.unacked.slice(this.unackedHead);
        this.unackedHead = 0;
      }
    }
  }

  /** Writes what is queued; false when the socket refused more. */
  private flush(): boolean {
    this.flushScheduled = false;
    if (this.out.length === 0 || this.target.channel.closed) return !this.backpressured;
    const bytes = this.out.toBytes();
    this.out.reset();
    if (!this.target.channel.write(bytes)) this.backpressured = true;
    return !this.backpressured;
  }

  /** Output held for this replica: queued rows plus the socket's bytes not yet in the kernel. */
  private held(): number {
    return this.out.length + (this.target.channel.bufferedBytes ?? 0);
  }

  /**
   * Whether to stop taking rows until the socket drains. A channel that reports its buffered
   * bytes is let fill up to RELAY_OUTPUT_HIGH_WATER_BYTES (the kernel keeps sending meanwhile);
   * one that does not is waited for as soon as it refuses a write.
   */
  private mustWait(): boolean {
    if (!this.backpressured) return false;
    if (this.target.channel.bufferedBytes === undefined) return true;
    return this.held() >= RELAY_OUTPUT_HIGH_WATER_BYTES;
  }

  /**
   * Output coalescing: rows of the transactions the row source yields within one event-loop
   * turn go out in one socket write (a write per transaction cost more than the rest of the
   * relay). A full buffer is written at once. Backpressure: while the replica does not read,
   * the relay stops pulling rows from the row source (which then leaves them in the WAL files,
   * see wal-follower.ts), so what this relay holds stays below RELAY_OUTPUT_HIGH_WATER_BYTES
   * plus one transaction.
   */
  private async queueRows(rows: readonly Xrow[]): Promise<void> {
    const { channel } = this.target;
    while (this.mustWait() && !channel.closed) {
      await channel.drain();
      this.backpressured = false;
    }
    this.lastSentMs = this.context.monotonicMs();
    appendRows(this.out, rows, this.target.sync);
    if (this.out.length >= RELAY_BATCH_BYTES) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    if (channel.closed) throw ReplicationSocketError.eof(this.target.socketName);
  }

  /** A heartbeat now (what is queued goes first). */
  private heartbeat(): void {
    const { channel, masterId, sync } = this.target;
    if (this.signal.aborted) return;
    if (channel.closed) {
      this.fail(ReplicationSocketError.eof(this.target.socketName));
      return;
    }
    this.lastSentMs = this.context.monotonicMs();
    this.flush();
    channel.write(encodeHeartbeat(masterId, this.context.now(), sync));
  }

  /** Heartbeats whenever nothing was sent for replication_timeout (read at each period). */
  private scheduleHeartbeat(): void {
    const periodMs = this.context.replicationTimeoutS() * 1000;
    const dueMs = Math.max(1, this.lastSentMs + periodMs - this.context.monotonicMs());
    this.timer = this.context.timers.setTimeout(() => {
      if (this.context.monotonicMs() - this.lastSentMs >= periodMs - 1) this.heartbeat();
      if (!this.signal.aborted) this.scheduleHeartbeat();
    }, dueMs);
  }

  /** Reads acks until EOF, an error or 4 × replication_timeout of silence. */
  private async readAcks(): Promise<void> {
    const { channel, relay, request } = this.target;
    while (!this.signal.aborted) {
      const timeoutMs = this.context.replicationTimeoutS() * 1000 * DISCONNECT_TIMEOUT_FACTOR;
      const packet = await readWithTimeout(channel, timeoutMs, this.signal, this.context.timers);
      if (this.signal.aborted) return;
      // 2.6's relay reader times out with TimedOut (not a socket error): an error packet
      // "timed out" goes to the replica before the connection closes.
      if (packet === 'timeout') throw new TimedOutError();
      if (packet === undefined) throw ReplicationSocketError.eof(this.target.socketName);
      const decoded = decodePacket(packet);
      if (decoded.isError) throw decoded.error;
      const vclock = decodeVclockBody(decoded.row.body);
      relay.lastAckMs = this.context.monotonicMs();
      while (this.unackedHead < this.unacked.length) {
        const [id, lsn, timestamp] = this.unacked[this.unackedHead]!;
        if (vclock.get(id) < lsn) break;
        relay.lag = Math.max(0, this.context.now() - timestamp);
        this.unackedHead++;
      }
      if (vclock.signature() !== relay.ackVclock.signature())
        this.context.gc.advance(request.instanceUuid, vclock);
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

/** The next packet, undefined at EOF, 'timeout' after `timeoutMs`, undefined when aborted. */
async function readWithTimeout(
  channel: ReplicationChannel,
  timeoutMs: number,
  signal: AbortSignal,
  timers: Timers,
): Promise<Uint8Array | undefined | 'timeout'> {
  let timer: TimerHandle | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      channel.readPacket(),
      new Promise<'timeout'>((resolve) => {
        // After a stall of this process (a long EVAL, a GC pause) an expired timer runs before
        // the poll phase has read what the peer sent meanwhile: decide in the next turn, so an
        // ack that is already here wins, and only real silence is a timeout.
        timer = timers.setTimeout(() => {
          timer = timers.setTimeout(() => resolve('timeout'), 0);
        }, timeoutMs);
      }),
      new Promise<undefined>((resolve) => {
        onAbort = () => resolve(undefined);
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    timers.clearTimeout(timer);
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
