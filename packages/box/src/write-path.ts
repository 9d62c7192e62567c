// The write path: every change to the database goes through here, whether it comes from a
// local request (box.space.x:insert, a CALL, the console) or from another instance (the
// applier, through the TransactionSink port). Layer: box.
//
// Local writes: access check, read-only check, memtx_memory, the checkpoint barrier, then the
// transaction manager (txn.ts) applies them in memory (visible at once, as in 2.6 without MVCC)
// and they resolve when durable per wal_mode.
// Foreign transactions (applyTransaction): rows of one origin applied as one WAL entry that
// keeps each row's replica_id, lsn and body bytes (no decode → re-encode), skipping rows the
// vclock, or a transaction of the same origin still in flight, already covers. They bypass
// read_only and privileges (a replica applies what its master did, as in Tarantool) but not
// the barrier or the write lock. A row that fails is named on the error (`failedRow`, the
// applier logs 2.6's "error applying row"); a duplicate key also carries a description of
// the conflict (`conflict`: origin, lsn, space, index, key, local and remote tuples). With
// replication_skip_conflict, and only for ER_TUPLE_FOUND as in 2.6, the row is written as a
// NOP keeping its origin's replica_id and lsn instead, so the vclock advances and the skip
// survives a restart (reference §4d–4i).
// Invariant: per origin, transactions reach the WAL in the order they were given, and a
// transaction is applied only after every earlier one of its origin was applied; when one
// fails, the later ones already waiting fail too (nothing is applied past a hole).
import {
  ClientError,
  type DmlBody,
  decode,
  decodeRowBody,
  EMPTY_BODY,
  ER_CASCADE_ROLLBACK,
  ErrorCode,
  encode,
  IprotoType,
  Privilege,
  SystemError,
  UserId,
  VCLOCK_MAX,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import type { Statement } from '@tarantype/memtx';
import type { WalWriter } from '@tarantype/wal';
import type { Catalog, SpaceEntry } from './catalog.js';
import type { BoxConfig } from './cfg.js';
import { applyOperation, type Operation } from './executor.js';
import { refusedIn } from './schema-def.js';
import type { BoxStat, StatName } from './stat.js';
import type { TxnManager } from './txn.js';

/** Writes between two recomputations of memory use for memtx_memory (a sum over spaces). */
const MEMORY_CHECK_INTERVAL = 128;

/** What the write path reads of the instance it belongs to. */
export interface WritePathHost {
  readonly catalog: Catalog;
  readonly txns: TxnManager;
  readonly stats: BoxStat;
  readonly config: () => Readonly<BoxConfig>;
  /** True while closing or closed: every write fails. */
  readonly stopping: () => boolean;
  /** box.info.ro: read_only, orphan, or not running. */
  readonly readOnly: () => boolean;
  readonly journal: () => WalWriter;
}

type Apply = Parameters<TxnManager['statement']>[0];

/** A replicated row that hit a duplicate key: what box.info upstream.conflict shows. */
export interface ReplicationConflict {
  /** The row's origin (replica_id) and lsn. */
  readonly replica_id: number;
  readonly lsn: number;
  /** Request type name ('INSERT', 'REPLACE', …). */
  readonly type: string;
  readonly space: string;
  readonly space_id: number;
  /** The unique index the key collided in (undefined when no local tuple was found). */
  readonly index: string | undefined;
  readonly key: unknown[] | undefined;
  /** The tuple this instance has under that key. */
  readonly local: unknown[] | undefined;
  /** The tuple the row carries (INSERT/REPLACE), or the key/operations of other requests. */
  readonly remote: unknown[] | undefined;
  /** Tarantool's message of the error. */
  readonly message: string;
  /** True when replication_skip_conflict wrote a NOP instead (the data stays diverged). */
  readonly skipped: boolean;
  /** Unix time (seconds) the conflict was met. */
  readonly time: number;
}

/** Optional per-call hooks of applyTransaction (the applier's side of a conflict). */
export interface ApplyObserver {
  /** replication_skip_conflict replaced the row by a NOP; `conflict` says what collided. */
  skipped?(row: Xrow, conflict: ReplicationConflict): void;
}

/** What a rejection of applyTransaction may carry (see FailedRowError in replication). */
export interface ApplyError extends Error {
  failedRow?: Xrow;
  conflict?: ReplicationConflict;
}

export class WritePath {
  private barrier: Promise<void> | undefined;
  private releaseBarrier: () => void = () => {};
  private holders = 0;
  private writesSinceMemoryCheck = 0;
  private memoryFull = false;
  /** Per origin: highest lsn accepted by applyTransaction and not yet durable or failed. */
  private readonly accepted = new Vclock();
  /** Per origin: the last foreign transaction's turn (resolves once it is submitted or failed). */
  private readonly tails = new Map<number, Promise<unknown>>();

  constructor(private readonly host: WritePathHost) {}

  /** memtx_memory changed: re-check at the next write. */
  memoryLimitChanged(): void {
    this.memoryFull = false;
  }

  /**
   * Runs `fn` at a moment when no transaction is open or in flight, holding new ones (not
   * those already open) at a barrier until `fn` settles. What `fn` reads synchronously at its
   * start is exactly what the WAL has: the checkpoint and JOIN take their read views there.
   * Several callers may hold the barrier at once.
   */
  async atQuietMoment<T>(fn: () => Promise<T>): Promise<T> {
    if (this.holders++ === 0)
      this.barrier = new Promise<void>((resolve) => (this.releaseBarrier = resolve));
    try {
      const { txns } = this.host;
      while (txns.hasOpenTransaction || txns.inFlightCount > 0) {
        await this.host.journal().drain();
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      return await fn();
    } finally {
      if (--this.holders === 0) {
        this.barrier = undefined;
        this.releaseBarrier();
      }
    }
  }

  /**
   * Runs a data-changing operation as `userId`; resolves when durable with what `extract`
   * took from the statement while it was applied (undefined when nothing matched).
   * Byte views in `op` (tuples, keys, ops straight from a packet) are consumed synchronously on
   * the fast paths, or copied before waiting, so callers need not copy them.
   */
  write<T>(
    userId: number,
    spaceId: number,
    op: Operation,
    stat: StatName,
    extract?: (statement: Statement, op: Operation) => T,
  ): Promise<T | undefined> {
    const { catalog, txns, stats } = this.host;
    stats.count(stat);
    let result: T | undefined;
    const apply = () => {
      const applied = applyOperation(catalog, catalog.spaceOrThrow(spaceId), op, true);
      if (extract !== undefined && applied.statement !== undefined)
        result = extract(applied.statement, op);
      return applied;
    };
    try {
      this.checkWrite(userId, catalog.spaceOrThrow(spaceId));
      this.checkMemory(op);
      // Fast paths (no async layers): inside the caller's transaction holding the lock, or
      // autocommit with no transaction anywhere and no checkpoint barrier, settling the one
      // promise the caller awaits from the journal's callback.
      if (txns.tryInTransaction(apply)) return Promise.resolve(result);
      if (this.barrier === undefined) {
        let outcome: 'busy' | 'done' | 'submitted' = 'busy';
        const written = new Promise<T | undefined>((resolve, reject) => {
          try {
            outcome = txns.tryAutocommitWith(apply, (error) => {
              if (error === undefined) return resolve(result);
              stats.count('ERROR');
              reject(error);
            });
            if (outcome === 'done') resolve(result);
          } catch (error) {
            outcome = 'done';
            stats.count('ERROR');
            reject(error);
          }
        });
        // 'busy' (a transaction is open elsewhere): that promise is dropped unsettled.
        if (outcome !== 'busy') return written;
      }
    } catch (error) {
      stats.count('ERROR');
      return Promise.reject(error);
    }
    // Waiting: copy the caller's byte views first. iproto does not reuse its packet buffers
    // today, but its port contract allows it; the copy is only paid on this slow path.
    op = ownOperation(op);
    return this.writeSlow(apply).then(() => result, this.countError);
  }

  private readonly countError = (error: unknown): never => {
    this.host.stats.count('ERROR');
    throw error;
  };

  /** The general path: waits for the checkpoint barrier and the transaction lock. */
  private async writeSlow(apply: Apply): Promise<void> {
    if (this.barrier !== undefined && this.host.txns.current() === undefined) await this.barrier;
    await this.host.txns.statement(apply);
  }

  // {{{ foreign transactions (the TransactionSink)

  /** The vclock: what the WAL made durable, local rows included. */
  vclock(): Vclock {
    return this.host.journal().vclock.copy();
  }

  /**
   * Applies one transaction of another instance. See the file comment and
   * @tarantype/replication's TransactionSink.
   */
  applyTransaction(
    rows: readonly Xrow[],
    observer?: ApplyObserver,
  ): Promise<'applied' | 'skipped'> {
    const origin = rows[0]?.replica_id ?? 0;
    try {
      for (const row of rows) checkForeignRow(row, origin);
    } catch (error) {
      return Promise.reject(error);
    }
    const previous = this.tails.get(origin);
    if (
      previous === undefined &&
      this.barrier === undefined &&
      !this.host.txns.hasOpenTransaction
    ) {
      // Nothing of this origin is waiting for its turn and nothing holds the write path: the
      // turn is now, and the transaction is submitted before this returns, so the next one of
      // the origin (given right after, from the same packet batch) finds no turn to wait for.
      try {
        return this.applyNow(origin, rows, observer);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const turn = this.applyInTurn(origin, rows, previous, observer);
    // The next transaction of this origin waits for this one's turn to end, whatever the end.
    const tail = turn.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(origin, tail);
    void tail.then(() => {
      if (this.tails.get(origin) === tail) this.tails.delete(origin);
    });
    return turn.then((outcome) => outcome.durable);
  }

  /**
   * Resolves once the transaction is submitted (its place in the WAL is taken) with the
   * promise of its durability, so the next one of the origin can go while this one is written.
   */
  private async applyInTurn(
    origin: number,
    rows: readonly Xrow[],
    previous: Promise<unknown> | undefined,
    observer: ApplyObserver | undefined,
  ): Promise<{ durable: Promise<'applied' | 'skipped'> }> {
    const failedBefore = this.failed.get(origin);
    if (previous !== undefined) await previous;
    // An earlier transaction of this origin failed after this one was given: a hole; refuse.
    if (this.failed.get(origin) !== failedBefore) throw new ClientError(ER_CASCADE_ROLLBACK);
    if (this.barrier !== undefined) await this.barrier;
    await this.host.txns.waitUntilUnlocked();
    return { durable: this.applyNow(origin, rows, observer) };
  }

  /**
   * The transaction's turn, in one go: the rows the vclock (or a transaction of the origin in
   * flight) does not cover are applied and submitted; returns the promise of durability.
   * Called only with no checkpoint barrier and the write lock free. Throws what refuses it.
   */
  private applyNow(
    origin: number,
    rows: readonly Xrow[],
    observer: ApplyObserver | undefined,
  ): Promise<'applied' | 'skipped'> {
    if (this.host.stopping()) throw new SystemError('the instance is shutting down');
    const covered = Math.max(this.host.journal().vclock.get(origin), this.accepted.get(origin));
    const fresh = rows.filter((row) => row.lsn > covered);
    if (fresh.length === 0) return Promise.resolve('skipped');
    // After a failure of this origin, a transaction given once the failure was already
    // recorded passes the check above; it must still not apply past the failed row (that
    // would move the vclock over it, and the row would never be asked for again): only the
    // transaction that continues right after what is covered (the resend) clears the hole.
    if (this.holes.has(origin)) {
      if (fresh[0]!.lsn !== covered + 1) throw new ClientError(ER_CASCADE_ROLLBACK);
      this.holes.delete(origin);
    }
    const last = fresh[fresh.length - 1]!;
    this.accepted.set(origin, last.lsn);
    const { catalog, txns } = this.host;
    let submitted: { durable: Promise<void> };
    try {
      submitted = txns.applyAllNow(
        fresh.map((row) => () => {
          if (row.type === IprotoType.NOP) return { row: ownRow(row) };
          const body = decodeRowBody(row.type, row.body);
          // A missing space fails before the request runs: 2.6 logs no "error applying row"
          // for it (reference §4f), so it is not named on the error.
          const entry = catalog.spaceOrThrow(body.spaceId);
          let applied: ReturnType<typeof applyOperation>;
          try {
            applied = applyOperation(catalog, entry, operationOf(row.type, body), false);
          } catch (error) {
            if (!isDuplicateKey(error)) throw named(error, row);
            const skip = this.host.config().replication_skip_conflict;
            const conflict = describeConflict(entry, row, body, error, skip);
            if (!skip) throw named(error, row, conflict);
            observer?.skipped?.(row, conflict);
            return { row: nopOf(row) };
          }
          // Temporary spaces are never logged; a row for one would not come from a relay.
          return { undo: applied.undo, row: entry.def.temporary ? undefined : ownRow(row) };
        }),
      );
    } catch (error) {
      this.fail(origin);
      throw error;
    }
    return submitted.durable.then(
      () => 'applied' as const,
      (error: unknown) => {
        this.fail(origin);
        throw error;
      },
    );
  }

  /** Per origin: how many of its transactions failed (a later one given earlier checks it). */
  private readonly failed = new Map<number, number>();

  /** Origins with a failed transaction not yet followed by the one right after what is covered. */
  private readonly holes = new Set<number>();

  private fail(origin: number): void {
    this.failed.set(origin, (this.failed.get(origin) ?? 0) + 1);
    this.holes.add(origin);
    // Rows not made durable are not covered any more: the upstream re-sends them.
    this.accepted.set(origin, this.host.journal().vclock.get(origin));
  }

  // }}}
  // {{{ checks

  /** Bytes of tuples and indexes in every memtx space, estimated in O(1) per space (what memtx_memory bounds). */
  memoryUsedBytes(): number {
    let total = 0;
    for (const entry of this.host.catalog.byId.values())
      if (entry.memtx !== undefined) total += entry.memtx.memoryEstimate();
    return total;
  }

  /**
   * memtx_memory: once tuples and indexes reach it, inserts, replaces, updates and upserts
   * fail with Tarantool's ER_MEMORY_ISSUE text (deletes still work and free memory). The sum
   * is recomputed every MEMORY_CHECK_INTERVAL writes, and on every write while full.
   */
  private checkMemory(op: Operation): void {
    if (op.kind === 'delete') return;
    if (!this.memoryFull && ++this.writesSinceMemoryCheck < MEMORY_CHECK_INTERVAL) return;
    this.writesSinceMemoryCheck = 0;
    this.memoryFull = this.memoryUsedBytes() >= this.host.config().memtx_memory;
    if (this.memoryFull) {
      const tuple = 'tuple' in op ? op.tuple : undefined;
      const size =
        tuple === undefined ? 0 : tuple instanceof Uint8Array ? tuple.length : encode(tuple).length;
      throw new ClientError(ErrorCode.ER_MEMORY_ISSUE, size, 'slab allocator', 'memtx_tuple');
    }
  }

  checkWrite(userId: number, entry: SpaceEntry): void {
    if (this.host.stopping()) throw new SystemError('the instance is shutting down');
    if (userId !== UserId.ADMIN)
      this.host.catalog.access.check(
        userId,
        Privilege.WRITE,
        'space',
        entry.def.id,
        entry.def.name,
        entry.def.owner,
      );
    if (this.host.readOnly() && !entry.def.temporary && entry.def.group_id !== 1)
      throw new ClientError(ErrorCode.ER_READONLY);
  }

  // }}}
}

/**
 * A row from the network, bounded before anything indexes a vclock with it: every row of a
 * transaction has the same origin in 1..31, lsn ≥ 1.
 */
function checkForeignRow(row: Xrow, origin: number): void {
  if (
    !Number.isInteger(row.replica_id) ||
    row.replica_id < 1 ||
    row.replica_id >= VCLOCK_MAX ||
    row.replica_id !== origin
  )
    throw new ClientError(
      ErrorCode.ER_PROTOCOL,
      `a replicated transaction's rows must all have one replica_id in 1..${VCLOCK_MAX - 1}, got ${row.replica_id}`,
    );
  if (!Number.isSafeInteger(row.lsn) || row.lsn < 1)
    throw new ClientError(ErrorCode.ER_PROTOCOL, `bad lsn ${row.lsn} in a replicated row`);
}

function isDuplicateKey(error: unknown): error is ClientError {
  return error instanceof ClientError && error.code === ErrorCode.ER_TUPLE_FOUND;
}

/** `error` with the row that failed (and the conflict) attached, for the applier. */
function named(error: unknown, row: Xrow, conflict?: ReplicationConflict): unknown {
  if (error === null || typeof error !== 'object') return error;
  const target = error as ApplyError;
  // A refusal of something tarantype does not model names the row it came in.
  refusedIn(error, `a row from replica ${row.replica_id} lsn ${row.lsn}`);
  target.failedRow = row;
  if (conflict !== undefined) target.conflict = conflict;
  return error;
}

/** The row as a NOP with its origin's replica_id and lsn (what a skipped conflict logs). */
function nopOf(row: Xrow): Xrow {
  return { ...row, type: IprotoType.NOP, body: EMPTY_BODY, sync: 0 };
}

const REQUEST_NAMES: Readonly<Record<number, string>> = {
  [IprotoType.INSERT]: 'INSERT',
  [IprotoType.REPLACE]: 'REPLACE',
  [IprotoType.UPDATE]: 'UPDATE',
  [IprotoType.DELETE]: 'DELETE',
  [IprotoType.UPSERT]: 'UPSERT',
};

/** Highest index id looked at when finding the local tuple of a conflict (Tarantool's 128 indexes). */
const INDEX_ID_MAX = 127;

/**
 * What collided: the first unique index (in id order) where this instance holds a tuple under
 * the remote tuple's key. Runs only on a conflict, so the scan of index ids costs nothing
 * on the hot path.
 */
function describeConflict(
  entry: SpaceEntry,
  row: Xrow,
  body: DmlBody,
  error: ClientError,
  skipped: boolean,
): ReplicationConflict {
  const remote =
    body.tuple === undefined ? undefined : (decode(body.tuple) as unknown[] | undefined);
  let index: string | undefined;
  let key: unknown[] | undefined;
  let local: unknown[] | undefined;
  const space = entry.memtx;
  const isTuple = row.type === IprotoType.INSERT || row.type === IprotoType.REPLACE;
  if (space !== undefined && isTuple && Array.isArray(remote)) {
    for (let id = 0; id <= INDEX_ID_MAX && local === undefined; id++) {
      const candidate = space.index(id);
      if (candidate === undefined || !candidate.unique) continue;
      const parts = candidate.keyDef.parts.map((part) => remote[part.fieldNo]);
      const found = candidate.get(parts);
      if (found !== undefined) {
        index = candidate.name;
        key = parts;
        local = found;
      }
    }
  }
  return {
    replica_id: row.replica_id,
    lsn: row.lsn,
    type: REQUEST_NAMES[row.type] ?? String(row.type),
    space: entry.def.name,
    space_id: entry.def.id,
    index,
    key,
    local,
    remote,
    message: error.message,
    skipped,
    time: Date.now() / 1000,
  };
}

/**
 * The row as the local WAL keeps it: the origin's header fields and body bytes, on an object
 * of its own (the journal sets tsn and flags on the objects it is given).
 */
function ownRow(row: Xrow): Xrow {
  return { ...row, sync: 0 };
}

/** `op` with its byte views copied (for operations that wait before applying). */
export function ownOperation(op: Operation): Operation {
  const own = <T>(value: T): T => (value instanceof Uint8Array ? (value.slice() as T) : value);
  switch (op.kind) {
    case 'insert':
    case 'replace':
      return { kind: op.kind, tuple: own(op.tuple) };
    case 'delete':
      return { kind: 'delete', key: own(op.key), index: op.index };
    case 'update':
      return {
        kind: 'update',
        key: own(op.key),
        ops: own(op.ops),
        index: op.index,
        indexBase: op.indexBase,
      };
    case 'upsert':
      return { kind: 'upsert', tuple: own(op.tuple), ops: own(op.ops), indexBase: op.indexBase };
  }
}

/**
 * The operation a logged request row describes (recovery, the applier). `body` is what
 * decodeRowBody returned for a row of this type: its mandatory arrays are present.
 */
export function operationOf(type: number, body: DmlBody): Operation {
  switch (type) {
    case IprotoType.INSERT:
    case IprotoType.REPLACE:
      return { kind: type === IprotoType.INSERT ? 'insert' : 'replace', tuple: body.tuple! };
    case IprotoType.DELETE:
      return { kind: 'delete', key: body.key!, index: body.indexId };
    case IprotoType.UPDATE:
      return {
        kind: 'update',
        key: body.key!,
        ops: body.tuple!,
        index: body.indexId,
        indexBase: body.indexBase,
      };
    case IprotoType.UPSERT:
      return { kind: 'upsert', tuple: body.tuple!, ops: body.ops!, indexBase: body.indexBase };
    default:
      throw new ClientError(ErrorCode.ER_UNKNOWN_REQUEST_TYPE, type);
  }
}
