// The ports of replication: the only ways the relay and the applier reach the database.
// Layer: replication. box fills each port in (packages/box); tests fill them in memory.
// Nothing here knows of spaces, the WAL's files or the catalog: rows are Xrows whose body
// stays raw MessagePack from the socket to the WAL (no decode → re-encode on the way).
// Invariant shared by all ports: a vclock a port hands out is a copy the caller may keep.
import type { Vclock, Xrow } from '@tarantype/core';

/**
 * Where an applier puts what it receives (box's write path). One call = one transaction of one
 * origin, applied as one WAL entry keeping each row's replica_id, lsn and body bytes.
 */
export interface TransactionSink {
  /** The instance's vclock: everything applied (durable) so far, local rows included. */
  vclock(): Vclock;
  /**
   * Applies `rows` (all with the same non-zero replica_id, lsns increasing, the last one
   * is_commit) as one transaction. Rows with lsn ≤ the vclock's (or in flight) component are
   * skipped; if all are covered it resolves at once with `'skipped'`. Resolves once the WAL
   * made it durable, with `'applied'`. Rejects with the typed error of the failing row (for
   * instance ClientError ER_TUPLE_FOUND for a duplicate key), leaving nothing of it applied.
   */
  applyTransaction(rows: readonly Xrow[]): Promise<'applied' | 'skipped'>;
}

/**
 * A consistent read view for the initial data of a JOIN, at `vclock`. Its rows are INSERT
 * xrows (replica_id 0, lsn 0, body {SPACE_ID, TUPLE}) of every space but temporary and
 * is_local ones, system spaces first, each space in primary-key order. While the view is open
 * the WAL files and checkpoint after `vclock` are kept (a GC reference); release() drops it.
 */
export interface JoinView {
  readonly vclock: Vclock;
  /** Batches of rows; the iterator yields to the event loop between batches. */
  rows(): AsyncIterable<readonly Xrow[]>;
  release(): void;
}

export interface JoinSource {
  /** `replicaUuid`: the instance the view is for (progress reports name it). */
  openJoinView(replicaUuid?: string): Promise<JoinView>;
}

/** Transactions from the local WAL after a vclock: files first, then live writes. */
export interface RowSource {
  /**
   * Every transaction with a row beyond `from`, in WAL order, rows at or below `from`
   * filtered out. Ends when `signal` aborts. Throws XlogGapError when the files needed are gone.
   */
  follow(from: Vclock, signal: AbortSignal): AsyncIterable<readonly Xrow[]>;
}

/** The replica set's membership as recorded in `_cluster` and `_schema`. */
export interface Membership {
  readonly instanceUuid: string;
  /** The id of this instance in `_cluster` (0 before it joined a set). */
  instanceId(): number;
  replicasetUuid(): string;
  /** Id of `uuid` in `_cluster`, or undefined. */
  idOf(uuid: string): number | undefined;
  /** Adds `uuid` to `_cluster` with the lowest free id (1–31) and returns it (a logged write). */
  register(uuid: string): Promise<number>;
  /** Whether `user` may replicate (the `replication` role's rights, directly or through a role). */
  checkReplicationAccess(userId: number): void;
}

/**
 * Keeps the WAL a replica still needs. One consumer per replica uuid, persisted by box so it
 * survives a restart of this instance; dropped when the replica leaves `_cluster`.
 */
export interface GcConsumers {
  /** Creates or moves the consumer of `replicaUuid` to `vclock` (the replica's acked vclock). */
  advance(replicaUuid: string, vclock: Vclock): void;
  /** Removes it: the files it held may be collected. */
  drop(replicaUuid: string): void;
}

/**
 * The empty instance a JOIN fills in (the replica side of a JOIN). box gives one out only
 * while it has no data of its own.
 */
export interface BootstrapTarget {
  /** Loads one batch of the initial data (INSERT rows of the master's read view). */
  loadInitial(rows: readonly Xrow[]): void;
  /** The initial data is complete, at the master's read-view `vclock`: build indexes. */
  initialLoaded(vclock: Vclock): Promise<void>;
  /** Applies one transaction of the final data (rows logged on the master during the join). */
  applyFinal(rows: readonly Xrow[]): Promise<void>;
  /** The join ended at `vclock`: write the instance's first snapshot and open its WAL. */
  finish(vclock: Vclock): Promise<void>;
}

// --- Added with the relay and applier (additive; see PROTOCOL.md §7) -------------------------

/**
 * The master-side state checks of JOIN and SUBSCRIBE that are not membership (box.cc's order:
 * loading, self, access, registration rights, wal_mode). box fills it in.
 */
export interface MasterStatus {
  /** True until the instance finished its bootstrap or recovery: JOIN/SUBSCRIBE get ER_LOADING. */
  isLoading(): boolean;
  /** box.cfg.wal_mode; 'none' refuses replication ("Replication does not support wal_mode = 'none'"). */
  walMode(): 'none' | 'write' | 'fsync';
  /**
   * Throws unless `userId` may have a new replica registered in `_cluster`: ER_READONLY when
   * this instance is read-only (or orphan), AccessDeniedError without Write on `_cluster`.
   * Called before the initial data of a JOIN of an unregistered uuid, as 2.6 does.
   */
  checkRegistration(userId: number): void;
  /** The instance vclock (replicaset.vclock in 2.6): every durable row, local ones included. */
  vclock(): Vclock;
}

/**
 * Optional on BootstrapTarget: forget a partly loaded JOIN. The applier calls it when a JOIN
 * fails part way, before retrying the JOIN. A target without it makes the applier stop
 * (status 'stopped') after a failed JOIN instead of loading the data twice.
 */
export interface DiscardableBootstrapTarget extends BootstrapTarget {
  discard(): void | Promise<void>;
}

/**
 * Optional on the error TransactionSink.applyTransaction rejects with: the row that failed.
 * With it the applier logs 2.6's "error applying row: {type: 'INSERT', replica_id: 2, lsn: 1,
 * space_id: 512, index_id: 0, tuple: [1, "x"]}" (error level) before "can't read row".
 */
export interface FailedRowError extends Error {
  readonly failedRow: Xrow;
}
