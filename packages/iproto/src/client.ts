// A typed iproto client for Tarantool 2.6 and tarantype servers. Layer: iproto.
//
// connect('user:pass@host:port') → IprotoClient with ping, select, insert, replace, update,
// upsert, delete, call (CALL), call16 (CALL_16), eval and execute. Requests are pipelined:
// each gets a fresh sync, is appended to an output buffer written once per tick, and its reply
// is matched by sync whatever the order. Options give per-request timeouts (TimedOutError),
// reconnection with exponential backoff (requests made while disconnected wait in a bounded
// queue; requests already sent when the connection dropped fail, since whether they ran is
// unknown), and spaces/indexes by name: names resolve through a cache of `_vspace`/`_vindex`
// (net.box's way), dropped when a reply carries a new schema version; a request that used
// names carries its schema version, and ER_WRONG_SCHEMA_VERSION makes the client refetch and
// retry. Server errors reject with RemoteError (a TarantoolError with the server's type, code
// and message).
import { connect as netConnect, type Socket } from 'node:net';
import {
  ClientError,
  ErrorCode,
  IprotoType,
  type IteratorCode,
  type IteratorName,
  IteratorType,
  MsgpackReader,
  MsgpackWriter,
  SystemError,
  SystemSpace,
  TimedOutError,
  writeDeleteBody,
  writeSelectBody,
  writeTupleBody,
  writeUpdateBody,
  writeUpsertBody,
} from '@tarantype/core';
import { chapSha1Scramble } from './chap-sha1.js';
import { ClientSchema, type SpaceInfo } from './client-schema.js';
import { readErrorBody } from './error-encoding.js';
import { FrameDecoder, NEED_MORE } from './frame-decoder.js';
import { decodeGreeting, type Greeting } from './greeting.js';
import {
  CLIENT_OFFLINE_QUEUE_MAX,
  GREETING_SIZE,
  RECONNECT_DELAY_INITIAL_MS,
  RECONNECT_DELAY_MAX_MS,
  SCHEMA_RETRY_MAX,
} from './limits.js';
import { positionReader } from './request.js';
import { parseUri } from './uri.js';

export interface ReconnectOptions {
  /** First delay after a connection drops (doubles per failed attempt). Default 50 ms. */
  readonly initialDelayMs?: number;
  /** Cap of the delay. Default 2000 ms. */
  readonly maxDelayMs?: number;
  /** Attempts before giving up (the client then closes). Default unlimited. */
  readonly maxAttempts?: number;
}

export interface ConnectOptions {
  readonly host?: string;
  readonly port: number;
  readonly user?: string;
  readonly password?: string;
  /** Time allowed for TCP connect + greeting + AUTH. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Default timeout of every request; none by default. */
  readonly requestTimeoutMs?: number;
  /** Reconnect after a dropped connection (default on); false to close instead. */
  readonly reconnect?: false | ReconnectOptions;
}

export interface RequestOptions {
  /** Reject with TimedOutError if no reply arrives in time. */
  readonly timeoutMs?: number;
}

export interface SelectOptions extends RequestOptions {
  /** Default 0xFFFFFFFF (no limit). */
  readonly limit?: number;
  readonly offset?: number;
  /** 'EQ' (default), 'REQ', 'ALL', 'LT', 'LE', 'GE', 'GT', … or the code. */
  readonly iterator?: IteratorName | Lowercase<IteratorName> | IteratorCode;
}

export interface UpdateOptions extends RequestOptions {
  /** Base of field numbers in operations; default 0 (net.box uses 1). */
  readonly indexBase?: number;
}

/** An update operation: [op, field, ...args], e.g. ['=', 1, 'x'], ['+', 2, 10], [':', 1, 0, 2, 'ab']. */
export type UpdateOperation = readonly [string, number | string, ...unknown[]];

/** EXECUTE result: rows with column metadata, or the affected row count. */
export interface SqlResponse {
  readonly metadata?: ReadonlyArray<{ readonly name: string; readonly type: string }>;
  readonly rows?: unknown[][];
  readonly rowCount?: number;
  readonly autoincrementIds?: readonly number[];
}

type SpaceRef = number | string;
type BodyWriter = (w: MsgpackWriter) => void;
type BodyReader<T> = (reader: MsgpackReader, schemaVersion: number) => T;

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly read: BodyReader<unknown>;
  timer: NodeJS.Timeout | undefined;
  /** Settled (timed out or answered): skip it if still queued. */
  done: boolean;
}

interface Outgoing {
  readonly type: number;
  readonly schemaVersion: number;
  readonly body: BodyWriter | undefined;
  readonly pending: Pending;
}

const LIMIT_ALL = 0xffffffff;
const CONNECT_TIMEOUT_MS_DEFAULT = 10_000;

const readNothing: BodyReader<undefined> = () => undefined;

/** Reads a body map and returns its DATA array ([] when absent). */
const readData: BodyReader<unknown[]> = (reader) => {
  let data: unknown[] = [];
  const n = reader.readMapHeader();
  for (let i = 0; i < n; i++) {
    const key = reader.readUint();
    if (key === 0x30) data = reader.readValue() as unknown[];
    else reader.skip();
  }
  return data;
};

const readFirstTuple: BodyReader<unknown> = (reader, schemaVersion) =>
  readData(reader, schemaVersion)[0];

const readSql: BodyReader<SqlResponse> = (reader) => {
  const result: {
    metadata?: Array<{ name: string; type: string }>;
    rows?: unknown[][];
    rowCount?: number;
    autoincrementIds?: number[];
  } = {};
  const n = reader.readMapHeader();
  for (let i = 0; i < n; i++) {
    const key = reader.readUint();
    const value = reader.readValue();
    if (key === 0x30) result.rows = value as unknown[][];
    else if (key === 0x32 && Array.isArray(value)) {
      result.metadata = value.map((column) => {
        const c = column as Map<number, unknown>;
        return { name: String(c.get(0)), type: String(c.get(1)) };
      });
    } else if (key === 0x42 && value instanceof Map) {
      result.rowCount = Number(value.get(0) ?? 0);
      const ids = value.get(1);
      if (Array.isArray(ids)) result.autoincrementIds = ids as number[];
    }
  }
  return result;
};

function iteratorCode(iterator: SelectOptions['iterator']): number {
  if (iterator === undefined) return IteratorType.EQ;
  if (typeof iterator === 'number') return iterator;
  const code = (IteratorType as Record<string, number>)[iterator.toUpperCase()];
  if (code === undefined) throw new TypeError(`unknown iterator '${iterator}'`);
  return code;
}

/** Connects (TCP, greeting, AUTH when a user is given) and resolves with a ready client. */
export function connect(target: string | ConnectOptions): Promise<IprotoClient> {
  return IprotoClient.connect(typeof target === 'string' ? parseUri(target) : target);
}

export class IprotoClient {
  /** The greeting of the current connection. */
  greeting: Greeting | undefined;
  /** Schema version of the last reply. */
  schemaVersion = 0;
  private socket: Socket | undefined;
  private decoder = new FrameDecoder();
  private readonly reader = new MsgpackReader(new Uint8Array(0));
  private out = new MsgpackWriter(16 * 1024);
  private readonly pending = new Map<number, Pending>();
  private readonly queue: Outgoing[] = [];
  private nextSync = 1;
  private ready = false;
  private closed = false;
  private flushScheduled = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private schema: ClientSchema | undefined;
  private schemaLoading: Promise<ClientSchema> | undefined;
  private drainWaiters: Array<() => void> = [];

  private constructor(private readonly options: ConnectOptions) {}

  /** Connects (TCP, greeting, AUTH when a user is given); see connect(). */
  static async connect(options: ConnectOptions): Promise<IprotoClient> {
    const client = new IprotoClient(options);
    await client.open();
    return client;
  }

  /** True while a connection is established and authenticated. */
  get connected(): boolean {
    return this.ready;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  // ---- public requests ----

  ping(options?: RequestOptions): Promise<void> {
    return this.send(IprotoType.PING, undefined, readNothing, options);
  }

  select<T = unknown[]>(
    space: SpaceRef,
    index: SpaceRef = 0,
    key: readonly unknown[] = [],
    options: SelectOptions = {},
  ): Promise<T[]> {
    const iterator = iteratorCode(options.iterator);
    const run = (spaceId: number, indexId: number, schemaVersion: number) =>
      this.send<T[]>(
        IprotoType.SELECT,
        (w) =>
          writeSelectBody(
            w,
            spaceId,
            indexId,
            options.limit ?? LIMIT_ALL,
            options.offset ?? 0,
            iterator,
            key,
          ),
        readData as BodyReader<T[]>,
        options,
        schemaVersion,
      );
    if (typeof space === 'number' && typeof index === 'number') return run(space, index, 0);
    return this.withNames(space, index, run);
  }

  insert<T = unknown[]>(
    space: SpaceRef,
    tuple: readonly unknown[],
    options?: RequestOptions,
  ): Promise<T> {
    return this.store<T>(IprotoType.INSERT, space, tuple, options);
  }

  replace<T = unknown[]>(
    space: SpaceRef,
    tuple: readonly unknown[],
    options?: RequestOptions,
  ): Promise<T> {
    return this.store<T>(IprotoType.REPLACE, space, tuple, options);
  }

  update<T = unknown[]>(
    space: SpaceRef,
    index: SpaceRef,
    key: readonly unknown[],
    ops: readonly UpdateOperation[],
    options: UpdateOptions = {},
  ): Promise<T | undefined> {
    const run = (spaceId: number, indexId: number, schemaVersion: number) =>
      this.send<T | undefined>(
        IprotoType.UPDATE,
        (w) => writeUpdateBody(w, spaceId, indexId, options.indexBase ?? 0, key, ops),
        readFirstTuple as BodyReader<T | undefined>,
        options,
        schemaVersion,
      );
    if (typeof space === 'number' && typeof index === 'number') return run(space, index, 0);
    return this.withNames(space, index, run);
  }

  upsert(
    space: SpaceRef,
    tuple: readonly unknown[],
    ops: readonly UpdateOperation[],
    options: UpdateOptions = {},
  ): Promise<void> {
    const run = (spaceId: number, _indexId: number, schemaVersion: number) =>
      this.send<void>(
        IprotoType.UPSERT,
        (w) => writeUpsertBody(w, spaceId, options.indexBase ?? 0, tuple, ops),
        readNothing,
        options,
        schemaVersion,
      );
    if (typeof space === 'number') return run(space, 0, 0);
    return this.withNames(space, 0, run);
  }

  delete<T = unknown[]>(
    space: SpaceRef,
    index: SpaceRef,
    key: readonly unknown[],
    options?: RequestOptions,
  ): Promise<T | undefined> {
    const run = (spaceId: number, indexId: number, schemaVersion: number) =>
      this.send<T | undefined>(
        IprotoType.DELETE,
        (w) => writeDeleteBody(w, spaceId, indexId, key),
        readFirstTuple as BodyReader<T | undefined>,
        options,
        schemaVersion,
      );
    if (typeof space === 'number' && typeof index === 'number') return run(space, index, 0);
    return this.withNames(space, index, run);
  }

  /** CALL: the function's return values as they are. */
  call<R extends unknown[] = unknown[]>(
    name: string,
    args: readonly unknown[] = [],
    options?: RequestOptions,
  ): Promise<R> {
    return this.send<R>(
      IprotoType.CALL,
      callBody(0x22, name, args),
      readData as BodyReader<R>,
      options,
    );
  }

  /** CALL_16 (Tarantool 1.6 convention): return values wrapped as tuples. */
  call16(
    name: string,
    args: readonly unknown[] = [],
    options?: RequestOptions,
  ): Promise<unknown[][]> {
    return this.send(
      IprotoType.CALL_16,
      callBody(0x22, name, args),
      readData as BodyReader<unknown[][]>,
      options,
    );
  }

  /** EVAL: the expression's return values. */
  eval<R extends unknown[] = unknown[]>(
    expr: string,
    args: readonly unknown[] = [],
    options?: RequestOptions,
  ): Promise<R> {
    return this.send<R>(
      IprotoType.EVAL,
      callBody(0x27, expr, args),
      readData as BodyReader<R>,
      options,
    );
  }

  /** SQL EXECUTE of a statement text with bound parameters. */
  execute(
    sql: string,
    bind: readonly unknown[] = [],
    options?: RequestOptions,
  ): Promise<SqlResponse> {
    return this.send(
      IprotoType.EXECUTE,
      (w) => {
        w.byte(0x82);
        w.byte(0x40);
        w.str(sql);
        w.byte(0x41);
        w.value(bind);
      },
      readSql,
      options,
    );
  }

  /** The space cache (fetched on first use of a name); for introspection. */
  async spaces(): Promise<SpaceInfo[]> {
    return [...(await this.loadSchema()).spaces];
  }

  /** Waits for in-flight requests, then closes. No reconnection afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.rejectQueue(new ClientError(ErrorCode.ER_NO_CONNECTION));
    if (this.pending.size > 0)
      await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    const socket = this.socket;
    if (socket === undefined || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }

  /** Closes at once; in-flight requests fail. */
  destroy(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.rejectQueue(new ClientError(ErrorCode.ER_NO_CONNECTION));
    this.socket?.destroy();
  }

  // ---- connection ----

  /** One connection attempt: TCP, greeting, AUTH. Rejects (and cleans up) on failure. */
  private async open(): Promise<void> {
    const host = this.options.host ?? '127.0.0.1';
    const address = `${host}:${this.options.port}`;
    const timeoutMs = this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    const socket = netConnect({ host, port: this.options.port });
    socket.setNoDelay(true);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, timeoutMs);
    try {
      const rest = await readGreeting(socket, (greeting) => {
        this.greeting = decodeGreeting(greeting);
      });
      this.socket = socket;
      this.decoder = new FrameDecoder();
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.once('close', () => this.onDisconnect(socket));
      socket.on('error', () => undefined);
      if (rest.length > 0) this.onData(rest);
      if (this.options.user !== undefined)
        await this.authenticate(this.options.user, this.options.password ?? '');
      clearTimeout(timer);
      this.ready = true;
      this.flushQueue();
    } catch (error) {
      clearTimeout(timer);
      socket.destroy();
      if (this.socket === socket) this.socket = undefined;
      if (timedOut) throw new TimedOutError(`connect to ${address} timed out`);
      if (isTarantool(error) && !(error instanceof SystemError)) throw error;
      throw new SystemError(`connect to ${address} failed`, error);
    }
  }

  private authenticate(user: string, password: string): Promise<void> {
    const salt = this.greeting!.salt;
    const pending = this.newPending(readNothing, undefined);
    this.writeRequest({
      type: IprotoType.AUTH,
      schemaVersion: 0,
      body: (w) => {
        w.byte(0x82);
        w.byte(0x23);
        w.str(user);
        w.byte(0x21);
        w.byte(0x92);
        w.str('chap-sha1');
        w.bin(chapSha1Scramble(password, salt));
      },
      pending: pending.pending,
    });
    this.flush();
    return pending.promise as Promise<void>;
  }

  private onData(chunk: Uint8Array): void {
    this.decoder.push(chunk);
    for (;;) {
      const packet = this.decoder.next();
      if (packet === NEED_MORE) return;
      if (packet instanceof ClientError) {
        this.socket?.destroy();
        return;
      }
      try {
        this.onPacket(packet);
      } catch {
        // A reply we cannot parse: the stream is not trustworthy any more.
        this.socket?.destroy();
        return;
      }
    }
  }

  private onPacket(packet: Uint8Array): void {
    const reader = this.reader;
    positionReader(reader, packet);
    let status = 0;
    let sync = 0;
    let schemaVersion = 0;
    const n = reader.readMapHeader();
    for (let i = 0; i < n; i++) {
      const key = reader.readUint();
      if (key === 0x00) status = reader.readUint();
      else if (key === 0x01) sync = reader.readUint();
      else if (key === 0x05) schemaVersion = reader.readUint();
      else reader.skip();
    }
    if (status === IprotoType.CHUNK) return; // box.session.push: not supported, ignored
    this.observeSchemaVersion(schemaVersion);
    const pending = this.pending.get(sync);
    if (pending === undefined) return; // timed out earlier
    this.pending.delete(sync);
    this.settle(pending);
    if (status === IprotoType.OK) {
      if (reader.remaining === 0) reader.reset(EMPTY_MAP);
      pending.resolve(pending.read(reader, schemaVersion));
    } else {
      pending.reject(readErrorBody(reader, status));
    }
    this.notifyDrain();
  }

  private observeSchemaVersion(version: number): void {
    this.schemaVersion = version;
    if (this.schema !== undefined && this.schema.version !== version && version !== 0)
      this.schema = undefined;
  }

  private onDisconnect(socket: Socket): void {
    if (this.socket !== socket) return;
    const wasReady = this.ready;
    this.socket = undefined;
    this.decoder.release(); // a partial reply's buffer goes now, not at the next GC
    this.ready = false;
    // The next server may be another instance: names are looked up again.
    this.schema = undefined;
    const lost = new SystemError('Peer closed');
    for (const pending of this.pending.values()) {
      this.settle(pending);
      pending.reject(lost);
    }
    this.pending.clear();
    this.notifyDrain();
    this.out.reset();
    // A connection that never became ready is open()'s to report (and retry).
    if (this.closed || !wasReady) return;
    if (this.options.reconnect === false) {
      this.closed = true;
      this.rejectQueue(new ClientError(ErrorCode.ER_NO_CONNECTION));
      return;
    }
    this.scheduleReconnect(0);
  }

  private scheduleReconnect(attempt: number): void {
    const reconnect = this.options.reconnect === false ? {} : (this.options.reconnect ?? {});
    const maxAttempts = reconnect.maxAttempts ?? Number.POSITIVE_INFINITY;
    if (attempt >= maxAttempts) {
      this.closed = true;
      this.rejectQueue(new ClientError(ErrorCode.ER_NO_CONNECTION));
      return;
    }
    const initial = reconnect.initialDelayMs ?? RECONNECT_DELAY_INITIAL_MS;
    const max = reconnect.maxDelayMs ?? RECONNECT_DELAY_MAX_MS;
    const delay = Math.min(max, initial * 2 ** Math.min(attempt, 30));
    this.reconnectTimer = setTimeout(() => {
      if (this.closed) return;
      this.open().then(
        () => undefined,
        (error: unknown) => {
          // A refused AUTH will not fix itself by waiting: fail what is waiting for it.
          if (
            isTarantool(error) &&
            !(error instanceof SystemError) &&
            !(error instanceof TimedOutError)
          ) {
            this.rejectQueue(error);
          }
          if (!this.closed) this.scheduleReconnect(attempt + 1);
        },
      );
    }, delay);
  }

  // ---- request plumbing ----

  private newPending(
    read: BodyReader<unknown>,
    timeoutMs: number | undefined,
  ): { pending: Pending; promise: Promise<unknown> } {
    let resolve!: (value: unknown) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending: Pending = { resolve, reject, read, timer: undefined, done: false };
    if (timeoutMs !== undefined) {
      pending.timer = setTimeout(() => {
        if (pending.done) return;
        pending.done = true;
        for (const [sync, p] of this.pending) {
          if (p === pending) {
            this.pending.delete(sync);
            break;
          }
        }
        this.notifyDrain();
        reject(new TimedOutError());
      }, timeoutMs);
    }
    return { pending, promise };
  }

  private settle(pending: Pending): void {
    pending.done = true;
    if (pending.timer !== undefined) clearTimeout(pending.timer);
  }

  private send<T>(
    type: number,
    body: BodyWriter | undefined,
    read: BodyReader<T>,
    options?: RequestOptions,
    schemaVersion = 0,
  ): Promise<T> {
    const { pending, promise } = this.newPending(
      read,
      options?.timeoutMs ?? this.options.requestTimeoutMs,
    );
    const outgoing: Outgoing = { type, schemaVersion, body, pending };
    if (this.ready) {
      try {
        this.writeRequest(outgoing);
      } catch (error) {
        this.settle(pending);
        pending.reject(error);
      }
      this.scheduleFlush();
    } else if (this.closed) {
      this.settle(pending);
      pending.reject(new ClientError(ErrorCode.ER_NO_CONNECTION));
    } else if (this.queue.length >= CLIENT_OFFLINE_QUEUE_MAX) {
      this.settle(pending);
      pending.reject(new ClientError(ErrorCode.ER_NO_CONNECTION));
    } else {
      this.queue.push(outgoing);
    }
    return promise as Promise<T>;
  }

  /** Appends one request frame to the output buffer and registers its reply. */
  private writeRequest(outgoing: Outgoing): void {
    const w = this.out;
    const start = w.length;
    const sync = this.nextSync++;
    try {
      w.uint32Fixed(0);
      w.mapHeader(outgoing.schemaVersion === 0 ? 2 : 3);
      w.byte(0x00);
      w.uint(outgoing.type);
      w.byte(0x01);
      w.uint(sync);
      if (outgoing.schemaVersion !== 0) {
        w.byte(0x05);
        w.uint(outgoing.schemaVersion);
      }
      outgoing.body?.(w);
    } catch (error) {
      w.length = start;
      throw error;
    }
    w.view.setUint32(start + 1, w.length - start - 5);
    this.pending.set(sync, outgoing.pending);
  }

  private flushQueue(): void {
    const queued = this.queue.splice(0);
    for (const outgoing of queued) {
      if (outgoing.pending.done) continue;
      try {
        this.writeRequest(outgoing);
      } catch (error) {
        this.settle(outgoing.pending);
        outgoing.pending.reject(error);
      }
    }
    this.flush();
  }

  private rejectQueue(error: unknown): void {
    for (const outgoing of this.queue.splice(0)) {
      if (outgoing.pending.done) continue;
      this.settle(outgoing.pending);
      outgoing.pending.reject(error);
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.out.length === 0 || this.socket === undefined) return;
    this.socket.write(this.out.toBytes());
    if (this.out.bytes.length > 1024 * 1024) this.out = new MsgpackWriter(16 * 1024);
    else this.out.reset();
  }

  private notifyDrain(): void {
    if (this.pending.size > 0 || this.drainWaiters.length === 0) return;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private store<T>(
    type: number,
    space: SpaceRef,
    tuple: readonly unknown[],
    options?: RequestOptions,
  ): Promise<T> {
    const run = (spaceId: number, _indexId: number, schemaVersion: number) =>
      this.send<T>(
        type,
        (w) => writeTupleBody(w, spaceId, tuple),
        readFirstTuple as BodyReader<T>,
        options,
        schemaVersion,
      );
    if (typeof space === 'number') return run(space, 0, 0);
    return this.withNames(space, 0, run);
  }

  // ---- names ----

  /** Resolves names, runs the request with the schema version, retries on a schema change. */
  private async withNames<T>(
    space: SpaceRef,
    index: SpaceRef,
    run: (spaceId: number, indexId: number, schemaVersion: number) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const schema = await this.loadSchema();
      let info = schema.space(space);
      if (info === undefined && attempt === 0) {
        this.schema = undefined;
        info = (await this.loadSchema()).space(space);
      }
      if (info === undefined) throw new ClientError(ErrorCode.ER_NO_SUCH_SPACE, space);
      const indexId = typeof index === 'number' ? index : info.indexes.get(index);
      if (indexId === undefined)
        throw new ClientError(ErrorCode.ER_NO_SUCH_INDEX_NAME, index, info.name);
      try {
        return await run(info.id, indexId, schema.version);
      } catch (error) {
        if (
          !isTarantool(error) ||
          error.code !== ErrorCode.ER_WRONG_SCHEMA_VERSION ||
          attempt >= SCHEMA_RETRY_MAX
        )
          throw error;
        this.schema = undefined;
      }
    }
  }

  private loadSchema(): Promise<ClientSchema> {
    if (this.schema !== undefined) return Promise.resolve(this.schema);
    if (this.schemaLoading === undefined) {
      this.schemaLoading = this.fetchSchema().finally(() => {
        this.schemaLoading = undefined;
      });
    }
    return this.schemaLoading;
  }

  /** Selects all of _vspace and _vindex (pipelined) until both carry one schema version. */
  private async fetchSchema(): Promise<ClientSchema> {
    for (let attempt = 0; ; attempt++) {
      const selectAll = (spaceId: number) =>
        this.send<{ rows: unknown[]; version: number }>(
          IprotoType.SELECT,
          (w) => writeSelectBody(w, spaceId, 0, LIMIT_ALL, 0, IteratorType.ALL, EMPTY_KEY),
          (reader, version) => ({ rows: readData(reader, version), version }),
        );
      const [spaces, indexes] = await Promise.all([
        selectAll(SystemSpace.VSPACE),
        selectAll(SystemSpace.VINDEX),
      ]);
      if (spaces.version === indexes.version || attempt >= SCHEMA_RETRY_MAX) {
        this.schema = new ClientSchema(spaces.version, spaces.rows, indexes.rows);
        return this.schema;
      }
    }
  }
}

function callBody(nameKey: number, name: string, args: readonly unknown[]): BodyWriter {
  return (w) => {
    w.byte(0x82);
    w.byte(nameKey);
    w.str(name);
    w.byte(0x21);
    w.value(args);
  };
}

/** The key of a full scan: an empty array. */
const EMPTY_KEY = new Uint8Array([0x90]);

/** Body of a reply that had none (never from Tarantool, tolerated). */
const EMPTY_MAP = new Uint8Array([0x80]);

function isTarantool(error: unknown): error is { code: number; type: string; message: string } {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'number' &&
    typeof (error as { type?: unknown }).type === 'string'
  );
}

/** Reads the 128-byte greeting; resolves with the bytes that followed it in the same reads. */
function readGreeting(
  socket: Socket,
  onGreeting: (bytes: Uint8Array) => void,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length < GREETING_SIZE) return;
      cleanup();
      const all = Buffer.concat(chunks);
      try {
        onGreeting(all.subarray(0, GREETING_SIZE));
      } catch (error) {
        reject(error);
        return;
      }
      resolve(all.subarray(GREETING_SIZE));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      cleanup();
      reject(new SystemError('connection closed before the greeting'));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
