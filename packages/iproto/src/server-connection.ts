// One accepted client connection: the session, its request pipeline and its socket.
// Layer: iproto (the only place, with server.ts, that touches sockets on the server side).
//
// Life: onConnect hook → greeting (one write) → requests. Requests are dispatched in arrival
// order and run concurrently (pipelining); replies go out as they complete, matched by sync,
// coalesced into one socket write per tick. AUTH and replication requests run alone: they wait
// for earlier requests to finish and hold later ones back, so a request pipelined after AUTH
// runs as the new user, as in Tarantool where AUTH does not yield.
//
// Bounds (PROTOCOL.md §7): at most netMsgMax requests in flight, and at most
// OUTPUT_HIGH_WATER_MARK_BYTES of unsent replies; past either, the socket is paused (no more
// input is read) until it drops below. A framing error is replied (sync 0) and the socket is
// half-closed; an error inside a well-framed packet is replied with the request's sync and the
// connection stays. Framing errors, undecodable requests and malformed AUTHs are protocol
// errors, logged through the server's rate-limited ProtocolErrorLog. Input held by all connections is counted (inputMeter) against
// inputBufferedBytesMax, and released as soon as the socket closes. AUTH may first wait for
// the failed-login throttle (auth-throttle.ts, rule A7).
//
// Invariant: `inFlight` counts requests whose handler was called and whose reply is not yet
// written; graceful close ends the socket only when it is 0 and the output is flushed.
import type { Socket } from 'node:net';
import {
  ClientError,
  ErrorCode,
  IprotoType,
  MsgpackWriter,
  type TarantoolError,
  Vclock,
} from '@tarantype/core';
import type { AuthThrottle } from './auth-throttle.js';
import { CredentialsError } from './chap-sha1.js';
import { toTarantoolError } from './error-encoding.js';
import { FrameDecoder, type InputMeter, NEED_MORE } from './frame-decoder.js';
import { encodeGreeting } from './greeting.js';
import { CLOSE_LINGER_MS, OUTPUT_HIGH_WATER_MARK_BYTES } from './limits.js';
import type {
  IprotoHandler,
  ReplicationChannel,
  ReplicationHook,
  Session,
  SessionUser,
} from './port.js';
import type { ProtocolErrorLog } from './protocol-error-log.js';
import {
  type AuthRequest,
  decodeRequest,
  type ReplicationRequest,
  type Request,
  RequestDecodeError,
  type Sync,
} from './request.js';
import {
  writeBallot,
  writeCall16,
  writeError,
  writeOk,
  writeOptionalTuple,
  writePrepareResult,
  writeSqlResult,
  writeTuples,
  writeValues,
  writeVclockReply,
} from './response-writer.js';

/** Settings a connection takes from its server. */
export interface ConnectionSettings<U extends SessionUser> {
  readonly handler: IprotoHandler<U>;
  readonly replication: ReplicationHook<U> | undefined;
  readonly netMsgMax: number;
  /** Dispatched requests between two looks at the clock for the slice's end (≥ 1). */
  readonly replyFlushRequests: number;
  /** Work, in ms, after which the replies gathered so far are written (≥ 0). */
  readonly replySliceMs: number;
  readonly packetSizeMaxBytes: number;
  /** Counts input bytes held by all of the server's connections (IprotoServer.inputBufferedBytes). */
  readonly inputMeter: InputMeter;
  /** Above this many held bytes, the connection that crossed it is closed (ER_MEMORY_ISSUE). */
  readonly inputBufferedBytesMax: number;
  readonly authFailureDelayMs: number;
  /** Failed-login limits shared by the server's connections; none if undefined. */
  readonly authThrottle: AuthThrottle | undefined;
  readonly version: string;
  readonly onHandlerError: ((error: unknown, session: Session<U> | undefined) => void) | undefined;
  /** Logs protocol errors (bad frames, undecodable requests, malformed AUTH); none if undefined. */
  readonly protocolErrorLog: ProtocolErrorLog | undefined;
}

type State = 'connecting' | 'open' | 'closing' | 'closed';

/** Iterator codes 0..11 (EQ … NEIGHBOR); others are rejected before the handler (R14). */
const ITERATOR_MAX = 11;

/** Output writers larger than this are dropped after a flush rather than kept for reuse. */
const OUTPUT_BUFFER_KEEP_BYTES = 1024 * 1024;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

const unsupported = (what: string) => new ClientError(ErrorCode.ER_UNSUPPORTED, 'tarantype', what);

export class ServerConnection<U extends SessionUser> implements Session<U> {
  user: U;
  private state: State = 'connecting';
  private readonly decoder: FrameDecoder;
  private out = new MsgpackWriter(16 * 1024);
  private inFlight = 0;
  /** AUTH or replication request waiting for the pipeline to drain, or running. */
  private exclusive: AuthRequest | ReplicationRequest | undefined;
  private exclusiveRunning = false;
  private channel: Channel<U> | undefined;
  private flushScheduled = false;
  /** Requests dispatched since the last flush or look at the clock (replyFlushRequests). */
  private dispatchedSinceFlush = 0;
  /** When the current slice of a pipelined batch began (performance.now(), ms). */
  private sliceStartMs = 0;
  private readPaused = false;
  /**
   * pump() is running: flush() → updateReading() may resume the socket and call pump() again;
   * the inner call must not run, or a framing error it meets (the decoder reports one until
   * fail() releases it) would be replied twice.
   */
  private pumping = false;
  /** The greeting was sent: onDisconnect is due when the socket closes. */
  private greeted = false;
  private closedResolve: (() => void) | undefined;
  readonly closedPromise: Promise<void>;

  /** The socket's fd while it is open (Session.fd: "called on fd 18, aka …"). */
  get fd(): number | undefined {
    const handle = (this.socket as unknown as { _handle?: { fd?: number } | null })._handle;
    return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
  }

  /** "address:port" of this end (Session.local). */
  get local(): string | undefined {
    const { localAddress, localPort } = this.socket;
    return localAddress === undefined ? undefined : `${localAddress}:${localPort}`;
  }

  constructor(
    readonly id: number,
    readonly peer: string,
    readonly salt: Uint8Array,
    private readonly socket: Socket,
    private readonly settings: ConnectionSettings<U>,
  ) {
    this.user = settings.handler.guestUser();
    this.decoder = new FrameDecoder(settings.packetSizeMaxBytes, { meter: settings.inputMeter });
    this.closedPromise = new Promise((resolve) => {
      this.closedResolve = resolve;
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.updateReading());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onClose());
  }

  /** Runs onConnect, then writes the greeting and starts reading requests. */
  async start(): Promise<void> {
    this.socket.pause();
    const handler = this.settings.handler;
    try {
      if (handler.onConnect !== undefined) await handler.onConnect(this);
    } catch (error) {
      if (this.state !== 'connecting') return;
      this.replyError(0, this.normalize(error));
      this.flush();
      this.fail();
      return;
    }
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.greeted = true;
    this.socket.write(encodeGreeting(handler.instanceUuid(), this.salt, this.settings.version));
    this.socket.resume();
  }

  /** Graceful close: no new requests; in-flight ones finish and are answered; then end. */
  shutdown(): Promise<void> {
    if (this.state === 'connecting' || this.state === 'open') {
      this.state = 'closing';
      this.channel?.close();
      this.maybeFinishClosing();
    }
    this.updateReading();
    return this.closedPromise;
  }

  /** Closes the socket at once (in-flight replies are dropped). */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.decoder.push(chunk);
    if (this.channel !== undefined) this.channel.onInput();
    else this.pump();
    if (this.settings.inputMeter.bytes > this.settings.inputBufferedBytesMax) this.overBudget();
  }

  /**
   * The server's connections hold more unfinished input than inputBufferedBytesMax: the one
   * whose bytes crossed the line (it still holds a partial frame) is answered ER_MEMORY_ISSUE
   * with sync 0 and closed, as a connection whose input buffer cannot grow.
   */
  private overBudget(): void {
    const held = this.decoder.bufferedBytes;
    if (held === 0 || this.state === 'closed') return;
    const error = new ClientError(ErrorCode.ER_MEMORY_ISSUE, held, 'iproto', 'input buffer');
    this.reportProtocolError(error);
    this.replyError(0, error);
    this.flush();
    this.fail();
  }

  private onClose(): void {
    this.state = 'closed';
    // A partial frame's bytes go now, not when this connection is garbage-collected.
    this.decoder.release();
    this.channel?.onInput();
    if (this.greeted) {
      try {
        this.settings.handler.onDisconnect?.(this);
      } catch {
        // on_disconnect errors are ignored, as Tarantool logs and ignores them.
      }
    }
    this.closedResolve?.();
  }

  /** Dispatches buffered requests while the pipeline has room. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    this.sliceStartMs = performance.now();
    try {
      this.pumpPackets();
    } finally {
      this.pumping = false;
    }
    if (this.state === 'closed') return;
    this.updateReading();
    this.scheduleFlush();
  }

  private pumpPackets(): void {
    while (
      this.state === 'open' &&
      this.exclusive === undefined &&
      this.inFlight < this.settings.netMsgMax &&
      this.outputBacklog() <= OUTPUT_HIGH_WATER_MARK_BYTES
    ) {
      const packet = this.decoder.next();
      if (packet === NEED_MORE) break;
      if (packet instanceof ClientError) {
        this.reportProtocolError(packet);
        this.replyError(0, packet);
        this.flush();
        this.fail();
        return;
      }
      this.handlePacket(packet);
      // Replies of a long input batch leave in slices of at least replySliceMs of work, so the
      // client works on the first ones while the rest are computed, and a batch of cheap
      // requests is not cut into many socket writes (PROTOCOL.md §7, "Reply coalescing").
      if (++this.dispatchedSinceFlush >= this.settings.replyFlushRequests) {
        const now = performance.now();
        if (now - this.sliceStartMs >= this.settings.replySliceMs) {
          this.flush();
          this.sliceStartMs = now;
        } else this.dispatchedSinceFlush = 0;
      }
    }
  }

  /** Pauses or resumes reading the socket to keep the bounds of §7. */
  private updateReading(): void {
    if (this.state === 'closed') return;
    const blocked =
      this.state !== 'open' ||
      this.exclusive !== undefined ||
      this.inFlight >= this.settings.netMsgMax ||
      this.outputBacklog() > OUTPUT_HIGH_WATER_MARK_BYTES;
    if (blocked && !this.readPaused && this.channel === undefined) {
      this.readPaused = true;
      this.socket.pause();
    } else if (!blocked && this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
      // Frames may already be buffered: dispatch them without waiting for more input.
      this.pump();
    }
  }

  /** Reply bytes not yet taken by the kernel: coalesced ones plus the socket's queue. */
  private outputBacklog(): number {
    return this.out.length + this.socket.writableLength;
  }

  private handlePacket(packet: Uint8Array): void {
    const request = decodeRequest(packet);
    if (request instanceof RequestDecodeError) {
      this.reportProtocolError(request.error);
      this.replyError(request.sync, request.error);
      return;
    }
    switch (request.type) {
      case IprotoType.AUTH:
      case IprotoType.JOIN:
      case IprotoType.SUBSCRIBE:
      case IprotoType.FETCH_SNAPSHOT:
      case IprotoType.REGISTER:
        this.exclusive = request;
        this.maybeRunExclusive();
        return;
      default:
        this.dispatch(request);
    }
  }

  /** R13: a non-zero SCHEMA_VERSION must match (2.6's message swaps the two numbers). */
  private schemaError(request: Request): ClientError | undefined {
    if (request.schemaVersion === 0) return undefined;
    const current = this.settings.handler.schemaVersion();
    if (request.schemaVersion === current) return undefined;
    return new ClientError(ErrorCode.ER_WRONG_SCHEMA_VERSION, request.schemaVersion, current);
  }

  private dispatch(request: Exclude<Request, AuthRequest | ReplicationRequest>): void {
    let early = this.schemaError(request);
    if (
      early === undefined &&
      request.type === IprotoType.SELECT &&
      request.iterator > ITERATOR_MAX
    ) {
      early = new ClientError(ErrorCode.ER_ILLEGAL_PARAMS, 'Invalid iterator type');
    }
    if (early !== undefined) {
      this.replyError(request.sync, early);
      return;
    }
    let result: unknown;
    try {
      result = this.invoke(request);
    } catch (error) {
      this.replyError(request.sync, this.normalize(error));
      return;
    }
    if (!isThenable(result)) {
      this.reply(request, result);
      return;
    }
    this.inFlight++;
    result.then(
      (value) => this.complete(() => this.reply(request, value)),
      (error: unknown) => this.complete(() => this.replyError(request.sync, this.normalize(error))),
    );
  }

  /** Calls the handler method for `request`; returns its (possibly promised) result. */
  private invoke(request: Exclude<Request, AuthRequest | ReplicationRequest>): unknown {
    const h = this.settings.handler;
    switch (request.type) {
      case IprotoType.SELECT:
        return h.select(this, request);
      case IprotoType.INSERT:
        return h.insert(this, request);
      case IprotoType.REPLACE:
        return h.replace(this, request);
      case IprotoType.UPDATE:
        return h.update(this, request);
      case IprotoType.DELETE:
        return h.delete(this, request);
      case IprotoType.UPSERT:
        return h.upsert(this, request);
      case IprotoType.CALL:
      case IprotoType.CALL_16:
        return h.call(this, request);
      case IprotoType.EVAL:
        if (h.eval === undefined) throw unsupported('EVAL');
        return h.eval(this, request);
      case IprotoType.EXECUTE:
        if (h.execute === undefined) throw unsupported('SQL');
        return h.execute(this, request);
      case IprotoType.PREPARE:
        if (h.prepare === undefined) throw unsupported('SQL');
        return h.prepare(this, request);
      case IprotoType.PING:
        return h.ping?.(this);
      case IprotoType.VOTE:
      case IprotoType.VOTE_DEPRECATED:
        if (h.ballot === undefined) throw unsupported('VOTE');
        return h.ballot(this);
    }
  }

  /** Encodes the handler's result as the reply `request` expects. */
  private reply(request: Exclude<Request, AuthRequest | ReplicationRequest>, value: unknown): void {
    if (this.state === 'closed') return;
    const w = this.out;
    const sync = request.sync;
    const schemaVersion = this.settings.handler.schemaVersion();
    try {
      switch (request.type) {
        case IprotoType.SELECT:
          writeTuples(w, sync, schemaVersion, value as Iterable<never>);
          break;
        case IprotoType.INSERT:
        case IprotoType.REPLACE:
        case IprotoType.UPDATE:
        case IprotoType.DELETE:
          writeOptionalTuple(w, sync, schemaVersion, value as never);
          break;
        case IprotoType.UPSERT:
          writeTuples(w, sync, schemaVersion, []);
          break;
        case IprotoType.CALL:
        case IprotoType.EVAL:
          writeValues(w, sync, schemaVersion, asValues(value));
          break;
        case IprotoType.CALL_16:
          writeCall16(w, sync, schemaVersion, asValues(value));
          break;
        case IprotoType.EXECUTE:
          writeSqlResult(w, sync, schemaVersion, value as never);
          break;
        case IprotoType.PREPARE:
          writePrepareResult(w, sync, schemaVersion, value as never);
          break;
        case IprotoType.PING:
          writeOk(w, sync, schemaVersion);
          break;
        case IprotoType.VOTE:
          writeBallot(w, sync, schemaVersion, value as never);
          break;
        case IprotoType.VOTE_DEPRECATED:
          writeVclockReply(
            w,
            sync,
            schemaVersion,
            (value as { vclock: Vclock }).vclock ?? new Vclock(),
          );
          break;
      }
    } catch (error) {
      // The value could not be encoded (a function, a symbol, a cycle, a bad tuple …).
      this.reportHandlerError(error);
      this.replyError(sync, new ClientError(ErrorCode.ER_PROC_LUA, errorMessage(error)));
    }
    this.scheduleFlush();
  }

  private replyError(sync: Sync, error: TarantoolError): void {
    if (this.state === 'closed') return;
    writeError(this.out, sync, this.settings.handler.schemaVersion(), error);
    this.scheduleFlush();
  }

  private normalize(error: unknown): TarantoolError {
    const normalized = toTarantoolError(error);
    if (normalized !== error) this.reportHandlerError(error);
    return normalized;
  }

  /** Called by Channel too. */
  reportProtocolError(error: TarantoolError): void {
    this.settings.protocolErrorLog?.report(this.peer, error);
  }

  private reportHandlerError(error: unknown): void {
    try {
      this.settings.onHandlerError?.(error, this);
    } catch {
      // A failing logger must not take the connection down.
    }
  }

  /** Bookkeeping after an asynchronous request finished. */
  private complete(writeReply: () => void): void {
    this.inFlight--;
    writeReply();
    if (this.exclusive !== undefined) this.maybeRunExclusive();
    else if (this.state === 'open') this.updateReading();
    this.maybeFinishClosing();
  }

  private maybeRunExclusive(): void {
    const request = this.exclusive;
    if (
      request === undefined ||
      this.exclusiveRunning ||
      this.inFlight > 0 ||
      this.state !== 'open'
    )
      return;
    this.exclusiveRunning = true;
    this.inFlight++;
    const run =
      request.type === IprotoType.AUTH ? this.runAuth(request) : this.runReplication(request);
    run.finally(() => {
      this.inFlight--;
      this.exclusive = undefined;
      this.exclusiveRunning = false;
      this.scheduleFlush();
      if (this.state === 'open') this.pump();
      this.maybeFinishClosing();
    });
  }

  /**
   * AUTH: rules A1–A6. Every failure is answered AUTH_FAILURE_DELAY after the request began.
   * The failed-login throttle may hold the request before the credentials are checked (A7).
   */
  private async runAuth(request: AuthRequest): Promise<void> {
    const started = Date.now();
    let error: TarantoolError | undefined = this.schemaError(request);
    const admission =
      error === undefined
        ? this.settings.authThrottle?.admit(this.socket.remoteAddress ?? '')
        : undefined;
    if (admission !== undefined && admission.waitMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, admission.waitMs));
      if (this.state === 'closed') {
        admission.release(); // never checked: no failure to count
        return;
      }
    }
    if (error === undefined) {
      try {
        this.user = await this.settings.handler.authenticate(this, request);
      } catch (caught) {
        error = this.normalize(caught);
        // A malformed AUTH body or scramble (chap-sha1.ts) is a protocol error; a wrong
        // password or unknown user is not.
        if (error.code === ErrorCode.ER_INVALID_MSGPACK) this.reportProtocolError(error);
        if (
          error.code === ErrorCode.ER_NO_SUCH_USER ||
          error.code === ErrorCode.ER_PASSWORD_MISMATCH
        ) {
          error = new CredentialsError();
        }
      }
    }
    if (error === undefined) {
      admission?.release();
      if (this.state !== 'closed')
        writeOk(this.out, request.sync, this.settings.handler.schemaVersion());
      return;
    }
    const wait = started + this.settings.authFailureDelayMs - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    this.replyError(request.sync, error);
  }

  /** JOIN / SUBSCRIBE / FETCH_SNAPSHOT / REGISTER: hand the socket to the replication hook. */
  private async runReplication(request: ReplicationRequest): Promise<void> {
    const hook = this.settings.replication;
    if (hook === undefined) {
      this.replyError(request.sync, unsupported('replication'));
      return;
    }
    this.flush();
    const channel = new Channel(this, this.socket, this.decoder);
    this.channel = channel;
    try {
      await hook.handle(this, request, channel);
    } catch (error) {
      if (!channel.closed && this.state !== 'closed') channel.writeError(request.sync, error);
    }
    this.channel = undefined;
    if (channel.closed) this.fail();
    // The channel left the socket paused; the next pump() resumes it.
    else this.readPaused = true;
  }

  /** Called by Channel. */
  writeChannelError(sync: Sync, error: unknown): void {
    this.replyError(sync, this.normalize(error));
    this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.out.length === 0) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes the coalesced replies in one socket write. */
  private flush(): void {
    this.dispatchedSinceFlush = 0;
    if (this.out.length === 0) return;
    if (this.state === 'closed') {
      this.out.reset();
      return;
    }
    this.socket.write(this.out.toBytes());
    if (this.out.bytes.length > OUTPUT_BUFFER_KEEP_BYTES) this.out = new MsgpackWriter(16 * 1024);
    else this.out.reset();
    // Reading may have stopped on the coalesced output alone: if the kernel took it all at
    // once there will be no 'drain' event, so look again now.
    this.updateReading();
  }

  private maybeFinishClosing(): void {
    if (this.state !== 'closing' || this.inFlight > 0) return;
    this.flush();
    this.state = 'closed';
    this.socket.end();
  }

  /** After a fatal error: stop reading requests, half-close, destroy if the peer lingers. */
  private fail(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.decoder.release();
    this.socket.end();
    this.socket.resume(); // discard input so the peer's close is seen
    setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS).unref();
  }
}

function asValues(value: unknown): readonly unknown[] {
  if (Array.isArray(value)) return value;
  return value === undefined ? [] : [value];
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The replication hook's view of a connection (ReplicationChannel). */
class Channel<U extends SessionUser> implements ReplicationChannel {
  private waiting: ((packet: Uint8Array | undefined) => void) | undefined;
  private isClosed = false;

  constructor(
    private readonly connection: ServerConnection<U>,
    private readonly socket: Socket,
    private readonly decoder: FrameDecoder,
  ) {
    socket.pause();
  }

  get closed(): boolean {
    return this.isClosed || this.socket.destroyed;
  }

  /** New input arrived or the socket closed: wake a waiting reader. */
  onInput(): void {
    if (this.waiting === undefined) return;
    const packet = this.tryRead();
    if (packet === NEED_MORE) return;
    const resolve = this.waiting;
    this.waiting = undefined;
    this.socket.pause();
    resolve(packet);
  }

  private tryRead(): Uint8Array | undefined | typeof NEED_MORE {
    if (this.closed) return undefined;
    const packet = this.decoder.next();
    if (packet instanceof ClientError) {
      this.connection.reportProtocolError(packet);
      this.connection.writeChannelError(0, packet);
      this.close();
      return undefined;
    }
    if (packet === NEED_MORE && this.socket.readableEnded) return undefined;
    return packet;
  }

  readPacket(): Promise<Uint8Array | undefined> {
    const packet = this.tryRead();
    if (packet !== NEED_MORE) return Promise.resolve(packet);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.resume();
    });
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    return this.socket.write(bytes);
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  drain(): Promise<void> {
    if (this.closed || this.socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  writeError(sync: Sync, error: unknown): void {
    if (this.closed) return;
    this.connection.writeChannelError(sync, error);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(undefined);
  }
}
