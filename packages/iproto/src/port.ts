// The port between the iproto server and the database (PROTOCOL.md §8). Layer: iproto.
//
// The server owns sockets, framing, decoding, sessions, pipelining, backpressure and reply
// encoding; it knows nothing about spaces, users or functions. `box` implements IprotoHandler
// (tests use the in-memory double in testing.ts). Every method may return a value or a
// promise; a write should resolve only when it is durable (wal_mode permitting), because the
// reply goes out as soon as it resolves. Whatever a method throws or rejects with is sent to the
// client as an error reply (TarantoolError subclasses keep their code and type; anything else
// becomes ER_PROC_LUA with its message); the connection stays open.
//
// Requests arrive already decoded and validated (mandatory keys, value types, schema version,
// iterator range). Tuples, keys, ops and args are raw MessagePack arrays (Uint8Array views of
// the received packet: copy what you keep).
import type { Vclock } from '@tarantype/core';
import type { RawMsgpack } from './raw-msgpack.js';
import type {
  AuthRequest,
  CallRequest,
  DeleteRequest,
  EvalRequest,
  ExecuteRequest,
  InsertRequest,
  PrepareRequest,
  ReplicationRequest,
  SelectRequest,
  Sync,
  UpdateRequest,
  UpsertRequest,
} from './request.js';

export type Awaitable<T> = T | PromiseLike<T>;

/**
 * A tuple in a reply: a JS array (encoded by the server), or the tuple's MessagePack bytes
 * (a Uint8Array or RawMsgpack holding one array), copied into the reply without re-encoding.
 */
export type TupleData = Uint8Array | RawMsgpack | readonly unknown[];

/**
 * Tuples a handler streams from its own memory into a SELECT reply without copying them out
 * first: the server calls `forEach` once, synchronously, right after the handler returns, and
 * `forEach` calls `emit` with each tuple (bytes [start, end) hold one MessagePack array, valid
 * during the call) and returns how many it emitted. It must not throw for anything a client
 * did: check the request before returning the stream.
 */
export class TupleStream {
  constructor(
    readonly forEach: (emit: (bytes: Uint8Array, start: number, end: number) => void) => number,
  ) {}
}

/** The minimum the server knows of a user; box's user type extends it. */
export interface SessionUser {
  /** Tarantool user id (guest 0, admin 1). */
  readonly id: number;
  readonly name: string;
}

/** One client connection as handlers see it (box.session). */
export interface Session<U extends SessionUser = SessionUser> {
  /** Unique within the server, from 1 (box.session.id()). */
  readonly id: number;
  /** "address:port" of the client (box.session.peer()). */
  readonly peer: string;
  /** The socket's fd and "address:port" of this end, for 2.6-style socket names in messages. */
  readonly fd?: number | undefined;
  readonly local?: string | undefined;
  /** The 32-byte salt of this connection's greeting (chap-sha1 uses the first 20 bytes). */
  readonly salt: Uint8Array;
  /** The authenticated user: guestUser() until a successful AUTH. */
  readonly user: U;
}

/** VOTE reply (IPROTO_BALLOT), in the order Tarantool encodes it. */
export interface Ballot {
  /** box.cfg.read_only. */
  readonly is_ro: boolean;
  /** Still bootstrapping / syncing, or read-only. */
  readonly is_loading: boolean;
  /** Current vclock. */
  readonly vclock: Vclock;
  /** Oldest vclock still available in WAL files. */
  readonly gc_vclock: Vclock;
}

/** SQL column metadata (IPROTO_METADATA entry). */
export interface SqlColumn {
  readonly name: string;
  readonly type: string;
  readonly collation?: string;
  readonly is_nullable?: boolean;
  readonly is_autoincrement?: boolean;
  readonly span?: string;
}

/** EXECUTE result: rows with metadata (SELECT-like) or a row count (DML). */
export type SqlResult =
  | { readonly metadata: readonly SqlColumn[]; readonly rows: Iterable<TupleData> }
  | { readonly rowCount: number; readonly autoincrementIds?: readonly number[] };

/** PREPARE result; undefined for an unprepare (PREPARE with a statement id). */
export interface PrepareResult {
  readonly stmtId: number;
  readonly bindCount: number;
  readonly bindMetadata: readonly SqlColumn[];
  /** Result columns of a SELECT-like statement. */
  readonly metadata?: readonly SqlColumn[];
}

/**
 * What box implements. Optional methods the handler lacks are answered by the server:
 * ping → OK; eval / execute / prepare / ballot → ER_UNSUPPORTED.
 */
export interface IprotoHandler<U extends SessionUser = SessionUser> {
  /** This instance's UUID, written in each greeting. */
  instanceUuid(): string;
  /** Current schema version: sent in every reply header and checked against requests (R13). */
  schemaVersion(): number;
  /** The user of a new session, before any AUTH (guest). */
  guestUser(): U;

  /**
   * AUTH. Resolve with the new session user, or throw. Use authenticateChapSha1() for the
   * scramble and request-shape rules, then check the Session privilege. The server runs AUTH
   * alone on its connection, maps ER_NO_SUCH_USER / ER_PASSWORD_MISMATCH to one
   * CredentialsError and delays every failure.
   */
  authenticate(session: Session<U>, request: AuthRequest): Awaitable<U>;

  /** SELECT: the matching tuples, at most `limit` after skipping `offset`. May be lazy. */
  select(session: Session<U>, request: SelectRequest): Awaitable<Iterable<TupleData> | TupleStream>;
  /** INSERT: the inserted tuple. */
  insert(session: Session<U>, request: InsertRequest): Awaitable<TupleData | undefined>;
  /** REPLACE: the new tuple. */
  replace(session: Session<U>, request: InsertRequest): Awaitable<TupleData | undefined>;
  /** UPDATE: the new tuple, or undefined when no tuple matched the key. */
  update(session: Session<U>, request: UpdateRequest): Awaitable<TupleData | undefined>;
  /** DELETE: the deleted tuple, or undefined when none matched. */
  delete(session: Session<U>, request: DeleteRequest): Awaitable<TupleData | undefined>;
  /** UPSERT: nothing is returned to the client. */
  upsert(session: Session<U>, request: UpsertRequest): Awaitable<void>;

  /**
   * CALL and CALL_16: the function's return values (Lua's multiple returns). The server
   * encodes them as they are for CALL and wraps them as tuples for CALL_16. A RawMsgpack in
   * the values is copied as is (and counts as a tuple for CALL_16 when it holds an array).
   */
  call(session: Session<U>, request: CallRequest): Awaitable<readonly unknown[]>;
  /** EVAL: the expression's return values, encoded as CALL's. */
  eval?(session: Session<U>, request: EvalRequest): Awaitable<readonly unknown[]>;
  /** SQL EXECUTE. */
  execute?(session: Session<U>, request: ExecuteRequest): Awaitable<SqlResult>;
  /** SQL PREPARE (or unprepare). */
  prepare?(session: Session<U>, request: PrepareRequest): Awaitable<PrepareResult | undefined>;

  /** PING (answered OK without a handler; allowed before AUTH and while loading). */
  ping?(session: Session<U>): Awaitable<void>;
  /** VOTE / VOTE_DEPRECATED: this instance's ballot. */
  ballot?(session: Session<U>): Awaitable<Ballot>;

  /**
   * A connection was accepted (box.session.on_connect), before the greeting. Throwing sends
   * the error (sync 0) instead of a greeting and closes the connection.
   */
  onConnect?(session: Session<U>): Awaitable<void>;
  /** The connection closed (box.session.on_disconnect). Errors are ignored. */
  onDisconnect?(session: Session<U>): void;
}

/**
 * The socket of a connection handed to the replication hook (JOIN, SUBSCRIBE, FETCH_SNAPSHOT,
 * REGISTER). While the hook runs, the connection dispatches no requests: packets the peer sends
 * are delivered by readPacket().
 */
export interface ReplicationChannel {
  /** The next whole packet from the peer (header + body, no length prefix); undefined at EOF. */
  readPacket(): Promise<Uint8Array | undefined>;
  /** Writes already framed bytes (0xce + u32 length + packet). False: wait for drain(). */
  write(bytes: Uint8Array): boolean;
  /** Resolves when the socket's output buffer has drained (or the channel closed). */
  drain(): Promise<void>;
  /**
   * Bytes written but not yet taken by the kernel (the socket's writableLength): what the
   * peer's slowness costs this process. Optional: a channel without it reports nothing.
   */
  readonly bufferedBytes?: number;
  /** Writes an error reply with the fixed response header. */
  writeError(sync: Sync, error: unknown): void;
  /** Closes the connection (SUBSCRIBE ends so). */
  close(): void;
  readonly closed: boolean;
}

/** Takes over a connection for a replication request (@tarantype/replication's ReplicationServer). */
export interface ReplicationHook<U extends SessionUser = SessionUser> {
  /**
   * Serve `request` on `channel`. When the returned promise settles and the channel is still
   * open, the connection goes back to normal request processing (JOIN does so); a rejection is
   * first sent as an error reply with the request's sync.
   */
  handle(
    session: Session<U>,
    request: ReplicationRequest,
    channel: ReplicationChannel,
  ): Awaitable<void>;
}
