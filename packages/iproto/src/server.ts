// The iproto server: listens, accepts, and gives each socket a ServerConnection (session).
// Layer: iproto. It owns the listening socket and the set of live connections; everything a
// request means is the handler's (port.ts). close() is graceful: stop accepting, let in-flight
// requests finish and be answered, then close; sockets still open after the timeout are
// destroyed.
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server,
  type Socket,
} from 'node:net';
import { IPROTO_PACKET_SIZE_MAX, TARANTOOL_VERSION } from '@tarantype/core';
import { AuthThrottle, type AuthThrottleLimits } from './auth-throttle.js';
import { newSalt } from './greeting.js';
import {
  AUTH_FAILURE_DELAY_MS_DEFAULT,
  GRACEFUL_CLOSE_TIMEOUT_MS_DEFAULT,
  INPUT_BUFFERED_BYTES_MAX_DEFAULT,
  NET_MSG_MAX_DEFAULT,
  REPLY_FLUSH_REQUESTS_DEFAULT,
  REPLY_SLICE_MICROS_DEFAULT,
} from './limits.js';
import type { IprotoHandler, ReplicationHook, Session, SessionUser } from './port.js';
import {
  ProtocolErrorLog,
  type ProtocolErrorLogLimits,
  type ProtocolLogger,
} from './protocol-error-log.js';
import { type ConnectionSettings, ServerConnection } from './server-connection.js';

export interface IprotoServerOptions<U extends SessionUser = SessionUser> {
  /** The database behind the protocol (box, or a test double). */
  readonly handler: IprotoHandler<U>;
  /** Takes over connections for JOIN / SUBSCRIBE / FETCH_SNAPSHOT / REGISTER; else ER_UNSUPPORTED. */
  readonly replication?: ReplicationHook<U>;
  /** Requests in flight per connection before reading pauses (box.cfg.net_msg_max, 768). */
  readonly netMsgMax?: number;
  /**
   * Replies are coalesced into one socket write per input batch, but a long batch is answered
   * in slices: once the requests dispatched since the last write have taken replySliceMicros
   * (default REPLY_SLICE_MICROS_DEFAULT), the replies gathered so far are written, so a client
   * that pipelines gets its first replies while the server computes the rest and the two sides
   * work at the same time instead of taking turns. 0 writes after every replyFlushRequests
   * requests; Infinity writes once per batch.
   */
  readonly replySliceMicros?: number;
  /**
   * How often, in dispatched requests, the clock is read for the end of a slice (default
   * REPLY_FLUSH_REQUESTS_DEFAULT). With replySliceMicros 0 it is the slice: 1 writes after every
   * request; Infinity writes once per batch.
   */
  readonly replyFlushRequests?: number;
  /**
   * Largest request accepted, in bytes (default 2 GiB, Tarantool's IPROTO_PACKET_SIZE_MAX).
   * Larger length prefixes get "too big packet size in the header" and the connection closes.
   * A smaller value bounds the memory one request can take.
   */
  readonly packetSizeMaxBytes?: number;
  /**
   * Input the server's connections may hold at once, received but not yet whole requests
   * (partial frames, mostly); default 1 GiB (INPUT_BUFFERED_BYTES_MAX_DEFAULT). The connection
   * whose bytes cross it gets ER_MEMORY_ISSUE and is closed, so clients that stream large
   * partial frames cannot exhaust the process's memory.
   */
  readonly inputBufferedBytesMax?: number;
  /** Time from an AUTH request to its failure reply (default 250 ms; 0 disables). */
  readonly authFailureDelayMs?: number;
  /**
   * Limits on failed logins per peer address and over the server (auth-throttle.ts; defaults
   * in limits.ts). `false` turns them off (tests that fail logins on purpose, fast).
   */
  readonly authThrottle?: AuthThrottleLimits | false;
  /**
   * Where protocol errors go (bad frames, bad request headers or bodies, malformed AUTH): one
   * error line each, naming the peer, rate-limited (protocol-error-log.ts). None if omitted.
   */
  readonly logger?: ProtocolLogger;
  /** Rate limit of those lines (default 10 per 5 s, as Tarantool's say_ratelimited). */
  readonly protocolErrorLogLimits?: ProtocolErrorLogLimits;
  /** Version in the greeting (default "2.6.0"). */
  readonly version?: string;
  /**
   * Called with exceptions from handler code that were not TarantoolErrors (bugs, for logs).
   * `session` is undefined when the session could not be created (guestUser() threw).
   */
  readonly onHandlerError?: (error: unknown, session: Session<U> | undefined) => void;
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export class IprotoServer<U extends SessionUser = SessionUser> {
  private readonly settings: ConnectionSettings<U>;
  private readonly live = new Set<ServerConnection<U>>();
  private net: Server | undefined;
  private nextSessionId = 1;
  private closing = false;
  private readonly inputMeter = { bytes: 0 };

  constructor(options: IprotoServerOptions<U>) {
    this.settings = {
      handler: options.handler,
      replication: options.replication,
      netMsgMax: options.netMsgMax ?? NET_MSG_MAX_DEFAULT,
      replyFlushRequests: options.replyFlushRequests ?? REPLY_FLUSH_REQUESTS_DEFAULT,
      replySliceMs: (options.replySliceMicros ?? REPLY_SLICE_MICROS_DEFAULT) / 1000,
      packetSizeMaxBytes: options.packetSizeMaxBytes ?? IPROTO_PACKET_SIZE_MAX,
      inputMeter: this.inputMeter,
      inputBufferedBytesMax: options.inputBufferedBytesMax ?? INPUT_BUFFERED_BYTES_MAX_DEFAULT,
      authFailureDelayMs: options.authFailureDelayMs ?? AUTH_FAILURE_DELAY_MS_DEFAULT,
      authThrottle:
        options.authThrottle === false ? undefined : new AuthThrottle(options.authThrottle),
      version: options.version ?? TARANTOOL_VERSION,
      onHandlerError: options.onHandlerError,
      protocolErrorLog:
        options.logger === undefined
          ? undefined
          : new ProtocolErrorLog(options.logger, options.protocolErrorLogLimits),
    };
    if (!(this.settings.netMsgMax >= 1)) throw new RangeError('netMsgMax must be at least 1');
    if (!(this.settings.replyFlushRequests >= 1))
      throw new RangeError('replyFlushRequests must be at least 1');
    if (!(this.settings.replySliceMs >= 0))
      throw new RangeError('replySliceMicros must be at least 0');
  }

  /** Listens on host:port (port 0 = an ephemeral port); resolves with the bound address. */
  listen(port = 0, host = '127.0.0.1'): Promise<ListenAddress> {
    if (this.net !== undefined) return Promise.reject(new Error('the server is already listening'));
    const net = createNetServer({ noDelay: true }, (socket) => this.accept(socket));
    this.net = net;
    return new Promise((resolve, reject) => {
      net.once('error', reject);
      net.listen(port, host, () => {
        net.off('error', reject);
        const address = net.address() as AddressInfo;
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  /** The bound address, or undefined before listen(). */
  address(): ListenAddress | undefined {
    const address = this.net?.address();
    if (address === null || address === undefined || typeof address === 'string') return undefined;
    return { host: address.address, port: address.port };
  }

  /**
   * Input bytes held by this server's connections: received, not yet handed to the handler as
   * whole packets (partial frames, mostly). Drops as frames complete and when connections close
   * (each connection releases its buffers on close; see FrameDecoder.release).
   */
  get inputBufferedBytes(): number {
    return this.inputMeter.bytes;
  }

  /** Live sessions (box.session list). */
  get sessions(): ReadonlySet<Session<U>> {
    return this.live;
  }

  /** Serves an already connected socket (listen() calls it for every accepted one). */
  accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const peer = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
    let connection: ServerConnection<U>;
    try {
      connection = new ServerConnection(
        this.nextSessionId++,
        peer,
        newSalt(),
        socket,
        this.settings,
      );
    } catch (error) {
      // guestUser() threw: a handler bug must not take the listener down.
      this.reportBug(error);
      socket.destroy();
      return;
    }
    this.live.add(connection);
    void connection.closedPromise.then(() => this.live.delete(connection));
    connection.start().catch((error: unknown) => {
      this.reportBug(error, connection);
      connection.destroy();
    });
  }

  private reportBug(error: unknown, session?: Session<U>): void {
    try {
      this.settings.onHandlerError?.(error, session);
    } catch {
      // A failing logger must not take the server down.
    }
  }

  /**
   * Graceful close: stops accepting, lets in-flight requests finish and be answered, closes
   * each connection; destroys what is still open after `timeoutMs`.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing = true;
    const timeoutMs = options.timeoutMs ?? GRACEFUL_CLOSE_TIMEOUT_MS_DEFAULT;
    const net = this.net;
    const stopped = new Promise<void>((resolve) => {
      if (net === undefined || !net.listening) resolve();
      else net.close(() => resolve());
    });
    const drained = Promise.all([...this.live].map((connection) => connection.shutdown()));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    for (const connection of this.live) connection.destroy();
    await Promise.all([...this.live].map((connection) => connection.closedPromise));
    await stopped;
    this.settings.protocolErrorLog?.flush();
  }
}

/** Creates a server; call listen() on it. */
export function createServer<U extends SessionUser = SessionUser>(
  options: IprotoServerOptions<U>,
): IprotoServer<U> {
  return new IprotoServer(options);
}
