// The replica side of replication: one Applier per URI in box.cfg.replication (PROTOCOL.md §6).
// Layer: replication. It connects (through a Connector, so tests inject failures), reads the
// greeting, asks for the master's ballot (VOTE), authenticates, JOINs into a BootstrapTarget
// when box gave one, SUBSCRIBEs from TransactionSink.vclock(), groups the stream into
// transactions, applies them through the sink and acks with the vclock. Failures follow 2.6's
// applier_f: socket and system errors → 'disconnected', configuration errors (loading, access,
// credentials, duplicate connection) → 'loading', both retried every replication_timeout;
// anything else (a duplicate key from the sink, a foreign replica set) → 'stopped' for good.
// Invariant: at most one connection at a time; acks only in 'sync'/'follow' and only with a
// vclock the sink reports as durable.
import {
  ClientError,
  ErrorCode,
  errorName,
  IprotoType,
  NIL_UUID,
  type TarantoolError,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import {
  type Ballot,
  chapSha1Scramble,
  decodeGreeting,
  parseUri,
  toTarantoolError,
  type UriParts,
} from '@tarantype/iproto';
import {
  decodeBallot,
  decodePacket,
  decodeSubscribeResponse,
  decodeVclockBody,
  encodeAck,
  encodeAuth,
  encodeJoin,
  encodeSubscribe,
  encodeVote,
  isDmlType,
  SERVER_VERSION_ID,
} from './codec.js';
import { type ApplierConnection, type Connector, tcpConnector } from './connection.js';
import {
  DISCONNECT_TIMEOUT_FACTOR,
  INITIAL_BATCH_ROWS,
  JOIN_PROGRESS_ROWS,
  REPLICATION_CONNECT_TIMEOUT_DEFAULT_S,
  REPLICATION_SYNC_LAG_DEFAULT_S,
} from './limits.js';
import type { ReplicationLogger } from './log.js';
import type {
  BootstrapTarget,
  DiscardableBootstrapTarget,
  FailedRowError,
  Membership,
  TransactionSink,
} from './ports.js';
import { formatRequest } from './request-string.js';
import { errorLogText, ReplicationSocketError } from './socket-error.js';
import { nodeTimers, type TimerHandle, type Timers } from './timers.js';
import { TransactionAssembler } from './transaction-assembler.js';

/** 2.6's applier states (enum applier_state), lowercased as box.info prints them. */
export type ApplierState =
  | 'off'
  | 'connect'
  | 'connected'
  | 'auth'
  | 'ready'
  | 'initial_join'
  | 'final_join'
  | 'joined'
  | 'sync'
  | 'follow'
  | 'stopped'
  | 'disconnected'
  | 'loading';

/** box.info.replication[id].upstream. */
export interface UpstreamInfo {
  readonly status: ApplierState;
  /** Seconds since the last packet from the master. */
  readonly idle: number;
  /** The URI without its password: "replicator@127.0.0.1:3301". */
  readonly peer: string;
  /** Seconds between the master's timestamp of the last row/heartbeat and its arrival. */
  readonly lag: number;
  /** The last error (kept until the next successful greeting), if any. */
  readonly message: string | undefined;
  /** strerror text of the last error when it was a socket error. */
  readonly system_message: string | undefined;
}

export interface ApplierOptions {
  /** "[user[:password]@]host:port" as in box.cfg.replication. */
  readonly uri: string;
  /** This (replica) instance: its uuid, id and replica set uuid (read, never written). */
  readonly membership: Membership;
  readonly sink: TransactionSink;
  /** Given when this instance has no data and must JOIN first. */
  readonly bootstrap?: BootstrapTarget;
  /**
   * Instead of `bootstrap`: asked after each connect and auth until a JOIN completed, resolves
   * with the target to JOIN into, or undefined to SUBSCRIBE. box uses it to hold every applier
   * of a fresh instance at 'ready' until it has picked the bootstrap leader from their ballots.
   */
  readonly gate?: () => Promise<BootstrapTarget | undefined>;
  /** Default: TCP (node:net). */
  readonly connect?: Connector;
  /** box.cfg.replication_timeout (seconds), read at each use. Also the reconnect period. */
  readonly replicationTimeoutS: () => number;
  /** box.cfg.replication_connect_timeout (seconds): bound of TCP connect + greeting; default 30. */
  readonly connectTimeoutS?: () => number;
  /** box.cfg.replication_sync_lag (seconds); default 10. */
  readonly replicationSyncLagS?: () => number;
  /**
   * ID_FILTER of SUBSCRIBE. 2.6 sends [own id] once the local WAL accepts writes and nothing
   * while orphan; default: [own id] when the instance has one.
   */
  readonly idFilter?: () => readonly number[];
  /**
   * Transactions handed to the sink before the first is durable. 1 (default) applies them
   * strictly one after another; more needs a sink that keeps call order.
   */
  readonly transactionsInFlightMax?: number;
  readonly log: ReplicationLogger;
  /** Wall clock in seconds (lag); default Date.now() / 1000. */
  readonly now?: () => number;
  /** Monotonic milliseconds (idle, timeouts); default performance.now(). */
  readonly monotonicMs?: () => number;
  /** Timers (reconnect sleep, connect bound, read watchdog); default Node's. */
  readonly timers?: Timers;
}

type StateListener = (state: ApplierState, applier: Applier) => void;

/** Thrown inside the loop when stop() was called. */
class Stopped extends Error {}

/** Errors after which 2.6 retries with status 'loading' (configuration not ready yet). */
const LOADING_CODES = new Set<number>([
  ErrorCode.ER_LOADING,
  ErrorCode.ER_CFG,
  ErrorCode.ER_ACCESS_DENIED,
  ErrorCode.ER_NO_SUCH_USER,
  ErrorCode.ER_PASSWORD_MISMATCH,
  ErrorCode.ER_SYNC_QUORUM_TIMEOUT,
  ErrorCode.ER_SYNC_ROLLBACK,
]);

/** Errors after which 2.6 logs "will retry every N second". */
const RETRY_LOGGED_CODES = new Set<number>([
  ErrorCode.ER_LOADING,
  ErrorCode.ER_CFG,
  ErrorCode.ER_ACCESS_DENIED,
  ErrorCode.ER_NO_SUCH_USER,
  ErrorCode.ER_SYSTEM,
  ErrorCode.ER_UNKNOWN_REPLICA,
  ErrorCode.ER_PASSWORD_MISMATCH,
]);

export class Applier {
  readonly uri: UriParts;
  /** "user@host:port" (no password): the peer of box.info and the fiber name's tail. */
  readonly peer: string;
  private currentState: ApplierState = 'off';
  private readonly listeners = new Set<StateListener>();
  private connection: ApplierConnection | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private wakeSleep: (() => void) | undefined;
  private lastError: TarantoolError | undefined;
  private lastLoggedCode = 0;
  private lastRowMs: number;
  private lagS = 0;
  /** Rows of the transactions applied from SUBSCRIBE streams (every connection): metrics. */
  private appliedRows = 0;
  private versionId = 0;
  private joined = false;
  private ackScheduled = false;
  private remoteVclockAtSubscribe = new Vclock();
  private readonly now: () => number;
  private readonly monotonicMs: () => number;
  private readonly timers: Timers;
  /** The master's uuid from its greeting. */
  remoteUuid: string | undefined;
  /** The master's replica id from the SUBSCRIBE reply. */
  masterId: number | undefined;
  /** The master's ballot from VOTE (undefined if it does not know VOTE). */
  ballot: Ballot | undefined;

  constructor(private readonly options: ApplierOptions) {
    this.uri = parseUri(options.uri);
    this.peer = `${this.uri.user !== undefined ? `${this.uri.user}@` : ''}${this.uri.host}:${this.uri.port}`;
    this.now = options.now ?? (() => Date.now() / 1000);
    this.monotonicMs = options.monotonicMs ?? (() => performance.now());
    this.timers = options.timers ?? nodeTimers;
    this.lastRowMs = this.monotonicMs();
  }

  get state(): ApplierState {
    return this.currentState;
  }

  /** The last error the applier met (box.info upstream.message), or undefined. */
  get error(): TarantoolError | undefined {
    return this.lastError;
  }

  /** Rows applied from the master's SUBSCRIBE streams since this applier was made (a counter). */
  get rowsApplied(): number {
    return this.appliedRows;
  }

  /** Calls `listener` on every state change; returns a function that removes it. */
  onStateChange(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** box.info.replication[id].upstream. */
  info(): UpstreamInfo {
    const error = this.lastError;
    return {
      status: this.currentState,
      idle: (this.monotonicMs() - this.lastRowMs) / 1000,
      peer: this.peer,
      lag: this.lagS,
      message: error?.message,
      system_message: error instanceof ReplicationSocketError ? error.systemMessage : undefined,
    };
  }

  /** Starts the connect → (join) → subscribe loop. */
  start(): void {
    if (this.running !== undefined) return;
    this.stopping = false;
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /** Stops and disconnects; resolves once the loop has ended (state 'off' unless 'stopped'). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.connection?.close();
    this.wakeSleep?.();
    await this.running;
    if (this.currentState !== 'stopped') this.setState('off');
  }

  /** Resolves when the applier reaches one of `states`; rejects if it stops first. */
  waitFor(states: readonly ApplierState[]): Promise<ApplierState> {
    if (states.includes(this.currentState)) return Promise.resolve(this.currentState);
    return new Promise((resolve, reject) => {
      const remove = this.onStateChange((state) => {
        if (states.includes(state)) {
          remove();
          resolve(state);
        } else if (state === 'stopped' || state === 'off') {
          remove();
          reject(this.lastError ?? new ClientError(ErrorCode.ER_SYSTEM, `applier is ${state}`));
        }
      });
    });
  }

  private get fiber(): string {
    return `applier/${this.peer}`;
  }

  private log(level: Parameters<ReplicationLogger>[0], message: string, fiber = this.fiber): void {
    this.options.log(level, fiber, message);
  }

  private setState(state: ApplierState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    for (const listener of [...this.listeners]) listener(state, this);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let retry = true;
      try {
        await this.session();
      } catch (raw) {
        if (raw instanceof Stopped || this.stopping) break;
        const error = toTarantoolError(raw);
        retry = await this.onFailure(error);
      } finally {
        this.connection?.close();
        this.connection = undefined;
        this.timers.clearTimeout(this.watchdog);
        this.watchdog = undefined;
        this.watchdogFired = false;
      }
      if (!retry || this.stopping) break;
      await this.sleep(this.options.replicationTimeoutS() * 1000);
    }
  }

  /** applier_f's catch blocks: log, pick the state, say whether to retry. */
  private async onFailure(error: TarantoolError): Promise<boolean> {
    const code = error.code;
    if (
      code === ErrorCode.ER_CONNECTION_TO_SELF &&
      this.remoteUuid === this.options.membership.instanceUuid
    ) {
      this.setState('off');
      return false;
    }
    this.lastError = error;
    this.logError(error);
    const retryable = LOADING_CODES.has(code) || code === ErrorCode.ER_SYSTEM;
    if (this.joinStarted && !this.joined) {
      // A JOIN broke part way: the target holds part of the data. Retry only from scratch.
      const bootstrap = this.options.bootstrap;
      if (!retryable || bootstrap === undefined || !isDiscardable(bootstrap)) {
        this.setState('stopped');
        return false;
      }
      await bootstrap.discard();
      this.joinStarted = false;
    }
    if (LOADING_CODES.has(code)) {
      this.setState('loading');
      return true;
    }
    if (code === ErrorCode.ER_SYSTEM) {
      this.setState('disconnected');
      return true;
    }
    this.setState('stopped');
    return false;
  }

  private joinStarted = false;

  /** applier_log_error: the line for the state, the error, and the retry notice. */
  private logError(error: TarantoolError): void {
    if (this.lastLoggedCode === error.code) return;
    switch (this.currentState) {
      case 'connect':
        this.log('info', "can't connect to master");
        break;
      case 'connected':
      case 'ready':
        this.log('info', "can't join/subscribe");
        break;
      case 'auth':
        this.log('info', 'failed to authenticate');
        break;
      case 'sync':
      case 'follow':
      case 'initial_join':
      case 'final_join':
        this.log('info', "can't read row");
        break;
      default:
        break;
    }
    const level = error instanceof ReplicationSocketError ? 'syserror' : 'error';
    this.log(level, errorLogText(error, errorName));
    if (RETRY_LOGGED_CODES.has(error.code))
      this.log('info', `will retry every ${this.options.replicationTimeoutS().toFixed(2)} second`);
    this.lastLoggedCode = error.code;
  }

  private sleep(ms: number): Promise<void> {
    const timers = this.timers;
    return new Promise((resolve) => {
      const timer = timers.setTimeout(done, ms);
      function done() {
        timers.clearTimeout(timer);
        resolve();
      }
      this.wakeSleep = done;
    });
  }

  private connectTimeoutMs(): number {
    return (this.options.connectTimeoutS?.() ?? REPLICATION_CONNECT_TIMEOUT_DEFAULT_S) * 1000;
  }

  private disconnectTimeoutMs(): number {
    return this.options.replicationTimeoutS() * 1000 * DISCONNECT_TIMEOUT_FACTOR;
  }

  /**
   * One packet, decoded; an error packet is thrown. `timed`: fail with "timed out" if nothing
   * arrives within 4 × replication_timeout (false during JOIN, as 2.6). One watchdog timer per
   * connection measures it, not a timer per packet (that cost more than decoding).
   */
  private async read(timed: boolean): Promise<Xrow> {
    const connection = this.connection;
    if (connection === undefined || this.stopping) throw new Stopped();
    if (timed) {
      this.timedReadSinceMs = this.monotonicMs();
      this.armWatchdog(connection);
    }
    let packet: Uint8Array;
    try {
      packet = await connection.readPacket();
    } catch (error) {
      if (this.watchdogFired) throw ReplicationSocketError.timedOut();
      throw error;
    } finally {
      this.timedReadSinceMs = undefined;
    }
    if (this.stopping) throw new Stopped();
    return this.rowOf(packet, connection);
  }

  /**
   * The next row when its packet is already buffered, else undefined (read() then waits). The
   * stream takes a run of buffered rows in one turn this way: they are all submitted before the
   * journal's flush, which is queued as a microtask by the first, and so share one WAL write.
   * Awaiting each row instead let the flush run after the first of them, and the WAL wrote
   * batches of 1 and 63 transactions in turn (at 64 in flight).
   */
  private readBuffered(): Xrow | undefined {
    const connection = this.connection;
    if (connection?.takeBufferedPacket === undefined || this.stopping) return undefined;
    const packet = connection.takeBufferedPacket();
    return packet === undefined ? undefined : this.rowOf(packet, connection);
  }

  private rowOf(packet: Uint8Array, connection: ApplierConnection): Xrow {
    const decoded = decodePacket(packet);
    this.lastRowMs = this.monotonicMs();
    this.bytesAtLastRow = connection.receivedBytes ?? 0;
    if (decoded.isError) throw decoded.error;
    return decoded.row;
  }

  /**
   * When a timed read waits past its deadline, closes the connection (the read then fails).
   * Idle is measured by progress (gh-4042): bytes of a packet still arriving count, so a row of
   * many megabytes on a slow link is not silence; while they flow the watchdog looks every
   * quarter of the timeout. An expired deadline is looked at once more in the next turn: after
   * a stall of this process (a long EVAL, a GC pause) the timers run before the poll phase has
   * read what the master sent meanwhile, and that is not silence either.
   */
  private armWatchdog(connection: ApplierConnection): void {
    if (this.watchdog !== undefined) return;
    let bytesSeen = connection.receivedBytes;
    let progressMs = Number.NEGATIVE_INFINITY;
    let expired = false;
    const check = () => {
      this.watchdog = undefined;
      if (this.connection !== connection || this.timedReadSinceMs === undefined) return;
      const timeoutMs = this.disconnectTimeoutMs();
      // Progress: bytes beyond those of the last whole packet and of the last look.
      const bytes = connection.receivedBytes;
      const flowing = bytes !== undefined && bytes > Math.max(bytesSeen ?? 0, this.bytesAtLastRow);
      if (flowing) {
        bytesSeen = bytes;
        progressMs = this.monotonicMs();
      }
      const since = Math.max(this.timedReadSinceMs, this.lastRowMs, progressMs);
      const left = since + timeoutMs - this.monotonicMs();
      if (left <= 0) {
        if (!expired) {
          expired = true;
          this.watchdog = this.timers.setTimeout(check, 0);
          return;
        }
        this.watchdogFired = true;
        connection.close();
        return;
      }
      expired = false;
      const delay = flowing ? Math.min(left, timeoutMs / 4) : left;
      this.watchdog = this.timers.setTimeout(check, Math.max(1, delay));
    };
    this.watchdog = this.timers.setTimeout(check, this.disconnectTimeoutMs());
  }

  /** connection.receivedBytes when the last whole packet was read. */
  private bytesAtLastRow = 0;
  private timedReadSinceMs: number | undefined;
  private watchdog: TimerHandle | undefined;
  private watchdogFired = false;

  private write(bytes: Uint8Array): void {
    const connection = this.connection;
    if (connection === undefined || this.stopping) throw new Stopped();
    connection.write(bytes);
  }

  /** One connection's life: connect, auth, (join), subscribe; returns only by throwing. */
  private async session(): Promise<void> {
    await this.connectAndAuth();
    const bootstrap = this.joined
      ? undefined
      : this.options.gate !== undefined
        ? await this.options.gate()
        : this.options.bootstrap;
    if (this.stopping) throw new Stopped();
    if (bootstrap !== undefined) await this.join(bootstrap);
    await this.subscribe();
  }

  private async connectAndAuth(): Promise<void> {
    const { membership } = this.options;
    this.setState('connect');
    const connect = this.options.connect ?? tcpConnector;
    // TCP connect and greeting within replication_connect_timeout: 2.6 waits forever (a
    // SIGSTOPped master shows 'connect' until SIGCONT, reference §2b D); we keep that look
    // for any pause shorter than the bound, and a dead peer cannot hold the applier.
    let timedOut = false;
    let timer: TimerHandle | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = this.timers.setTimeout(() => {
        timedOut = true;
        reject(ReplicationSocketError.timedOut());
      }, this.connectTimeoutMs());
    });
    expired.catch(() => {});
    let greetingBytes: Uint8Array;
    try {
      const pending = connect(this.uri.host, this.uri.port);
      // A connection that arrives after the deadline is closed, not leaked.
      pending.then(
        (connection) => {
          if (timedOut) connection.close();
        },
        () => {},
      );
      this.connection = await Promise.race([pending, expired]);
      if (this.stopping) throw new Stopped();
      greetingBytes = await Promise.race([this.connection.readGreeting(), expired]);
    } finally {
      this.timers.clearTimeout(timer);
    }
    this.lastRowMs = this.monotonicMs();
    let greeting: ReturnType<typeof decodeGreeting>;
    try {
      greeting = decodeGreeting(greetingBytes);
    } catch {
      throw new ClientError(ErrorCode.ER_PROTOCOL, 'Invalid greeting');
    }
    if (greeting.protocol !== 'Binary')
      throw new ClientError(ErrorCode.ER_PROTOCOL, 'Unsupported protocol for replication');
    if (greeting.versionId !== this.versionId) {
      const peerAddress = this.connection.socketName.peer ?? `${this.uri.host}:${this.uri.port}`;
      this.log(
        'info',
        `remote master ${greeting.instanceUuid ?? NIL_UUID} at ${peerAddress} running Tarantool ${greeting.version}`,
      );
    }
    this.remoteUuid = greeting.instanceUuid?.toLowerCase();
    this.versionId = greeting.versionId;
    // A fresh greeting clears the previous error from box.info (2.6's diag_clear).
    this.lastError = undefined;

    this.write(encodeVote());
    let vote: Xrow | undefined;
    try {
      vote = await this.read(true);
    } catch (error) {
      // A master that does not know VOTE answers ER_UNKNOWN_REQUEST_TYPE: go on without.
      if ((error as Partial<TarantoolError>).code !== ErrorCode.ER_UNKNOWN_REQUEST_TYPE)
        throw error;
    }
    if (vote !== undefined) this.ballot = decodeBallot(vote.body);
    this.setState('connected');
    if (this.remoteUuid === membership.instanceUuid)
      throw new ClientError(ErrorCode.ER_CONNECTION_TO_SELF);

    if (this.uri.user !== undefined) {
      this.setState('auth');
      this.write(
        encodeAuth(this.uri.user, chapSha1Scramble(this.uri.password ?? '', greeting.salt)),
      );
      await this.read(true);
      this.log('info', 'authenticated');
    }
    this.setState('ready');
  }

  /** JOIN: initial data into the target, the final rows, then the target's first checkpoint. */
  private async join(target: BootstrapTarget): Promise<void> {
    const { membership } = this.options;
    this.write(encodeJoin(membership.instanceUuid));
    this.setState('initial_join');
    const first = await this.read(false);
    if (first.type !== IprotoType.OK)
      throw new ClientError(ErrorCode.ER_UNKNOWN_REQUEST_TYPE, first.type);
    // Only now has the target anything to discard: a JOIN refused outright (access denied,
    // loading) is retried like any auth error (reference §8c: retried every second).
    this.joinStarted = true;
    const vclock = decodeVclockBody(first.body);
    let batch: Xrow[] = [];
    let rowCount = 0;
    for (;;) {
      const row = await this.read(false);
      if (row.type === IprotoType.OK) break;
      if (!isDmlType(row.type)) throw new ClientError(ErrorCode.ER_UNKNOWN_REQUEST_TYPE, row.type);
      batch.push(row);
      if (batch.length >= INITIAL_BATCH_ROWS) {
        target.loadInitial(batch);
        batch = [];
      }
      if (++rowCount % JOIN_PROGRESS_ROWS === 0)
        this.log('info', `${(rowCount / 1e6).toFixed(1)}M rows received`);
    }
    if (batch.length > 0) target.loadInitial(batch);
    await target.initialLoaded(vclock.copy());
    this.log('info', 'initial data received');

    this.setState('final_join');
    const assembler = new TransactionAssembler();
    for (;;) {
      const row = await this.read(false);
      if (row.type === IprotoType.OK) break;
      if (!isDmlType(row.type)) throw new ClientError(ErrorCode.ER_UNKNOWN_REQUEST_TYPE, row.type);
      const transaction = assembler.push(row, membership.replicasetUuid());
      if (transaction === undefined) continue;
      const last = transaction[transaction.length - 1]!;
      if (last.lsn <= vclock.get(last.replica_id)) continue;
      await target.applyFinal(transaction);
      vclock.set(last.replica_id, last.lsn);
      if (++rowCount % JOIN_PROGRESS_ROWS === 0)
        this.log('info', `${(rowCount / 1e6).toFixed(1)}M rows received`);
    }
    this.log('info', 'final data received');
    await target.finish(vclock.copy());
    this.joined = true;
    this.setState('joined');
    this.setState('ready');
  }

  /** SUBSCRIBE and the row stream; returns only by throwing. */
  private async subscribe(): Promise<void> {
    const { membership, sink } = this.options;
    const vclock = sink.vclock();
    const ownId = membership.instanceId();
    const idFilter = this.options.idFilter?.() ?? (ownId !== 0 ? [ownId] : []);
    const replicasetUuid = membership.replicasetUuid();
    this.write(
      encodeSubscribe({
        replicasetUuid,
        instanceUuid: membership.instanceUuid,
        vclock,
        serverVersion: SERVER_VERSION_ID,
        anon: false,
        idFilter,
      }),
    );
    const reply = await this.read(true);
    if (reply.type !== IprotoType.OK)
      throw new ClientError(ErrorCode.ER_PROTOCOL, 'Invalid response to SUBSCRIBE');
    const response = decodeSubscribeResponse(reply);
    if (
      response.replicasetUuid !== undefined &&
      response.replicasetUuid !== NIL_UUID &&
      response.replicasetUuid !== replicasetUuid
    )
      throw new ClientError(
        ErrorCode.ER_REPLICASET_UUID_MISMATCH,
        response.replicasetUuid,
        replicasetUuid,
      );
    this.masterId = response.masterId;
    this.remoteVclockAtSubscribe = response.vclock;
    this.log('info', 'subscribed');
    this.log(
      'info',
      `remote vclock ${response.vclock.toString()} local vclock ${vclock.toString()}`,
    );
    this.setState('sync');
    this.lastLoggedCode = 0;
    this.lagS = Number.POSITIVE_INFINITY;
    await this.stream(replicasetUuid);
  }

  private async stream(replicasetUuid: string): Promise<void> {
    const assembler = new TransactionAssembler();
    const inFlightMax = Math.max(1, this.options.transactionsInFlightMax ?? 1);
    // Transactions handed to the sink and not yet settled (they settle in order), and the wake-up
    // of the read loop waiting for one of them to settle: O(1) per transaction.
    let inFlight = 0;
    let wake: (() => void) | undefined;
    const settled = () => {
      inFlight--;
      const resume = wake;
      wake = undefined;
      resume?.();
    };
    let applyError: unknown;
    for (;;) {
      if (applyError !== undefined) throw applyError;
      let row: Xrow;
      try {
        row = this.readBuffered() ?? (await this.read(true));
      } catch (error) {
        // A failed apply closes the connection, which ends a pending read with EOF: the
        // apply error is the cause (2.6: upstream 'stopped' with the duplicate-key message).
        if (applyError !== undefined) throw applyError;
        throw error;
      }
      this.lagS = Math.max(0, this.now() - row.timestamp);
      const transaction = assembler.push(row, replicasetUuid);
      if (transaction === undefined) continue;
      if (transaction[0]!.lsn === 0) {
        // Heartbeat: answer with an ack (which also re-checks sync → follow).
        this.signalAck();
        continue;
      }
      inFlight++;
      this.options.sink.applyTransaction(transaction).then(
        () => {
          this.appliedRows += transaction.length;
          this.signalAck();
          settled();
        },
        (error: unknown) => {
          const failedRow = (error as Partial<FailedRowError> | undefined)?.failedRow;
          if (applyError === undefined && failedRow !== undefined)
            this.log('error', `error applying row: ${formatRequest(failedRow)}`);
          applyError ??= error;
          this.connection?.close();
          settled();
        },
      );
      if (inFlight >= inFlightMax) await new Promise<void>((resolve) => (wake = resolve));
      if (applyError !== undefined) throw applyError;
    }
  }

  /** Wakes the ack writer (applierw): one ack per event-loop turn however many arrived. */
  private signalAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      this.checkSync();
      if (this.currentState !== 'sync' && this.currentState !== 'follow') return;
      const connection = this.connection;
      if (connection === undefined) return;
      connection.write(encodeAck(this.options.sink.vclock()));
    });
  }

  /** sync → follow once caught up with the master's vclock at subscribe and the lag is small. */
  private checkSync(): void {
    if (this.currentState !== 'sync') return;
    const syncLag = this.options.replicationSyncLagS?.() ?? REPLICATION_SYNC_LAG_DEFAULT_S;
    if (
      this.lagS <= syncLag &&
      this.remoteVclockAtSubscribe.isLessOrEqual(this.options.sink.vclock(), true)
    )
      this.setState('follow');
  }
}

function isDiscardable(target: BootstrapTarget): target is DiscardableBootstrapTarget {
  return typeof (target as Partial<DiscardableBootstrapTarget>).discard === 'function';
}
