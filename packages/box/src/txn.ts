// Transactions: statements applied in memory first, then one WAL entry for all of them.
// Layer: box. As in Tarantool 2.6 without MVCC, a change is visible to reads as soon as it is
// applied and is undone if its WAL write fails.
//
// - Autocommit: every statement outside box.begin()/box.atomic() is its own transaction,
//   submitted to the journal at once; the returned promise resolves when it is durable per
//   wal_mode. Many such transactions in flight share one write (group commit).
// - Multi-statement: box.begin() opens a transaction bound to the current async context
//   (AsyncLocalStorage, the JS counterpart of Tarantool's per-fiber transaction); commit()
//   submits all its rows as one WAL entry, all or nothing.
// - Isolation: memtx in 2.6 aborts a transaction whose fiber yields, so no other fiber ever
//   writes while one is open. In JS every `await` yields, so instead a transaction takes a
//   write lock at its first write and releases it when its rows are submitted to the WAL (not
//   when durable: the next transaction joins the same group commit). Writes from other async
//   contexts wait for the lock; reads never wait (they see uncommitted changes, as in 2.6).
//   Without it, a write applied in memory after an open transaction's change could reach the
//   WAL before it, and replay would diverge from memory.
// - WAL failure: the journal rejects the failed batch and every transaction queued behind it,
//   newest first; each rejection undoes that transaction's statements in reverse order, so
//   undo runs newest to oldest across transactions. A transaction still open at that moment
//   may have read what is undone: it is rolled back and fails with ER_CASCADE_ROLLBACK.
// Invariant: statements of a transaction are undone in reverse order exactly once, or never.
import { AsyncLocalStorage } from 'node:async_hooks';
import { ClientError, ER_CASCADE_ROLLBACK, ErrorCode, type Xrow } from '@tarantype/core';
import type { WalWriter } from '@tarantype/wal';

/** What a storage statement gives back: undo on failure, release on success. */
export interface Undo {
  rollback(): void;
  /** Called once the transaction is durable (memtx frees the replaced tuple). */
  commit?(): void;
}

export type TxnState = 'open' | 'committing' | 'committed' | 'rolled-back' | 'aborted';

export class Txn {
  state: TxnState = 'open';
  readonly undo: Undo[] = [];
  readonly rows: Xrow[] = [];
  /** Why an aborted transaction was aborted (raised by its next statement or commit). */
  abortError: ClientError | undefined;
  /** Set once TxnManager stopped counting it as active. */
  counted = false;

  constructor(readonly autocommit: boolean) {}

  /** Commits every statement, oldest first. */
  commitStatements(): void {
    for (const undo of this.undo) undo.commit?.();
    this.undo.length = 0;
  }

  /** Undoes every statement, newest first. Idempotent. */
  rollbackStatements(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) this.undo[i]!.rollback();
    this.undo.length = 0;
    this.rows.length = 0;
  }
}

type Apply = () => { undo?: Undo | undefined; row?: Xrow | undefined } | undefined;

interface LockWaiter {
  readonly txn: Txn | undefined;
  readonly resume: () => void;
}

export class TxnManager {
  private readonly context = new AsyncLocalStorage<Txn>();
  /** The transaction holding the write lock (open, with at least one write). */
  private holder: Txn | undefined;
  private readonly waiters: LockWaiter[] = [];
  /** Transactions submitted and not yet durable. */
  private inFlight = 0;
  /**
   * Multi-statement transactions begun and not finished. When it drops to 0 the
   * AsyncLocalStorage is disabled: while enabled, Node runs promise hooks on every promise of
   * the process, which costs every request, not only transactional ones.
   */
  private active = 0;

  constructor(private readonly journal: () => WalWriter) {}

  /** The open transaction of the calling async context. */
  current(): Txn | undefined {
    if (this.active === 0) return undefined;
    const txn = this.context.getStore();
    return txn !== undefined && (txn.state === 'open' || txn.state === 'aborted') ? txn : undefined;
  }

  get inFlightCount(): number {
    return this.inFlight;
  }

  /** True while a transaction holds the write lock. */
  get hasOpenTransaction(): boolean {
    return this.holder !== undefined;
  }

  /** box.begin(): opens a transaction for the calling async context. */
  begin(): Txn {
    if (this.current() !== undefined) throw new ClientError(ErrorCode.ER_ACTIVE_TRANSACTION);
    const txn = new Txn(false);
    this.active++;
    this.context.enterWith(txn);
    return txn;
  }

  /** A multi-statement transaction ended (committed, rolled back or failed). */
  private finished(txn: Txn): void {
    if (txn.counted) return;
    txn.counted = true;
    if (--this.active === 0) this.context.disable();
  }

  /** Runs `fn` inside a new transaction bound to its async context, committing after it. */
  async atomic<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.current() !== undefined) throw new ClientError(ErrorCode.ER_ACTIVE_TRANSACTION);
    const txn = new Txn(false);
    this.active++;
    return this.context.run(txn, async () => {
      let result: T;
      try {
        result = await fn();
      } catch (error) {
        this.rollbackTxn(txn);
        throw error;
      }
      await this.commitTxn(txn);
      return result;
    });
  }

  /**
   * Runs one statement: `apply` changes memory and returns its undo (or undefined when nothing
   * changed) and the WAL row to log (undefined for temporary spaces). Waits for the write lock
   * if another context's transaction holds it. Resolves when the statement is durable
   * (autocommit) or at once (inside a transaction).
   */
  async statement(
    apply: () => { undo?: Undo | undefined; row?: Xrow | undefined } | undefined,
  ): Promise<void> {
    const txn = this.current();
    if (txn?.state === 'aborted') throw txn.abortError!;
    while (this.holder !== undefined && this.holder !== txn) await this.waitForLock(txn);
    if (txn !== undefined) {
      // The state may have changed while waiting (a WAL failure aborts open transactions).
      if ((txn.state as TxnState) === 'aborted') throw txn.abortError!;
      this.holder = txn;
      const result = apply();
      if (result?.undo !== undefined) txn.undo.push(result.undo);
      if (result?.row !== undefined) txn.rows.push(result.row);
      return;
    }
    return this.autocommit(apply);
  }

  /**
   * The fast path of a statement inside the caller's open transaction: applies synchronously
   * when the transaction holds the write lock or can take it now. Returns false when the
   * caller must use statement() (no transaction, aborted, or another holds the lock).
   */
  tryInTransaction(
    apply: () => { undo?: Undo | undefined; row?: Xrow | undefined } | undefined,
  ): boolean {
    if (this.active === 0) return false;
    const txn = this.current();
    if (
      txn === undefined ||
      txn.state !== 'open' ||
      (this.holder !== undefined && this.holder !== txn)
    )
      return false;
    this.holder = txn;
    const result = apply();
    if (result?.undo !== undefined) txn.undo.push(result.undo);
    if (result?.row !== undefined) txn.rows.push(result.row);
    return true;
  }

  /**
   * The fast path of an autocommit statement, for the write path, which makes the one promise
   * its caller awaits: when no transaction is open anywhere it applies synchronously (throwing
   * synchronously on error). Returns 'busy' when the caller must use statement(); 'done' when
   * there was nothing to log (`done` is not called); 'submitted' when `done` will be called
   * once, never synchronously, with undefined once durable or with the error once undone.
   * `apply` throwing leaves nothing applied.
   */
  tryAutocommitWith(
    apply: () => { undo?: Undo | undefined; row?: Xrow | undefined } | undefined,
    done: (error: Error | undefined) => void,
  ): 'busy' | 'done' | 'submitted' {
    if (this.active !== 0 || this.holder !== undefined) return 'busy';
    const result = apply();
    if (result?.row === undefined) {
      result?.undo?.commit?.();
      return 'done';
    }
    const auto = new Txn(true);
    if (result.undo !== undefined) auto.undo.push(result.undo);
    auto.rows.push(result.row);
    this.submitWith(auto, done);
    return 'submitted';
  }

  private autocommit(
    apply: () => { undo?: Undo | undefined; row?: Xrow | undefined } | undefined,
  ): Promise<void> | undefined {
    const result = apply();
    if (result?.row === undefined) {
      result?.undo?.commit?.();
      return undefined;
    }
    const auto = new Txn(true);
    if (result.undo !== undefined) auto.undo.push(result.undo);
    auto.rows.push(result.row);
    return this.submit(auto);
  }

  /** Resolves once no transaction holds the write lock (at once when none does). */
  async waitUntilUnlocked(): Promise<void> {
    while (this.holder !== undefined) await this.waitForLock(undefined);
  }

  /**
   * Applies a whole transaction given as synchronous statements, as one WAL entry, outside any
   * async context (replicated transactions), for a caller that saw the write lock free
   * (`hasOpenTransaction` false, or after `waitUntilUnlocked`): applies every statement at once
   * (nothing can interleave), submits, and returns the promise of durability in the same turn.
   * A statement that throws undoes the ones before it, and the error is thrown.
   */
  applyAllNow(statements: ReadonlyArray<Apply>): { durable: Promise<void> } {
    if (this.holder !== undefined)
      throw new Error('applyAllNow called while a transaction holds the write lock');
    const txn = new Txn(true);
    try {
      for (const apply of statements) {
        const result = apply();
        if (result?.undo !== undefined) txn.undo.push(result.undo);
        if (result?.row !== undefined) txn.rows.push(result.row);
      }
    } catch (error) {
      txn.rollbackStatements();
      txn.state = 'rolled-back';
      throw error;
    }
    if (txn.rows.length === 0) {
      txn.state = 'committed';
      txn.commitStatements();
      return { durable: Promise.resolve() };
    }
    return { durable: this.submit(txn) };
  }

  /**
   * Takes the write lock for the calling context's open transaction (waiting like a write
   * does). For read-then-write work (a grant merging privilege bits, a new id from the
   * current maximum) whose reads must see no other transaction's changes land before its
   * writes.
   */
  async lock(): Promise<void> {
    const txn = this.current();
    if (txn === undefined) throw new ClientError(ErrorCode.ER_NO_TRANSACTION);
    while (this.holder !== undefined && this.holder !== txn) await this.waitForLock(txn);
    if ((txn.state as TxnState) === 'aborted') throw txn.abortError!;
    this.holder = txn;
  }

  /** box.commit() for the calling context's transaction (no-op without one, as Tarantool). */
  async commit(): Promise<void> {
    const txn = this.context.getStore();
    if (txn === undefined || (txn.state !== 'open' && txn.state !== 'aborted')) return;
    await this.commitTxn(txn);
  }

  /** box.rollback(): undoes the calling context's transaction (no-op without one). */
  rollback(): void {
    const txn = this.context.getStore();
    if (txn === undefined || (txn.state !== 'open' && txn.state !== 'aborted')) return;
    this.rollbackTxn(txn);
  }

  private waitForLock(txn: Txn | undefined): Promise<void> {
    return new Promise<void>((resume) => this.waiters.push({ txn, resume }));
  }

  /** Releases the lock held by `txn` and lets waiters run, oldest first. */
  private release(txn: Txn): void {
    if (this.holder !== txn) return;
    this.holder = undefined;
    while (this.waiters.length > 0) {
      const waiter = this.waiters.shift()!;
      waiter.resume();
      // A transaction waiter will take the lock when it resumes: later waiters keep waiting.
      if (waiter.txn !== undefined) break;
    }
  }

  private async commitTxn(txn: Txn): Promise<void> {
    this.finished(txn);
    if (txn.state === 'aborted') {
      txn.state = 'rolled-back';
      this.release(txn);
      throw txn.abortError!;
    }
    if (txn.rows.length === 0) {
      txn.state = 'committed';
      txn.commitStatements();
      this.release(txn);
      return;
    }
    const durable = this.submit(txn);
    // Submitted: the rows have their place in the WAL; the next transaction may write.
    this.release(txn);
    await durable;
  }

  private rollbackTxn(txn: Txn): void {
    this.finished(txn);
    if (txn.state !== 'rolled-back') {
      txn.rollbackStatements();
      txn.state = 'rolled-back';
    }
    this.release(txn);
  }

  /** Submits a transaction's rows; undo runs in the rejection handler (newest first). */
  private submit(txn: Txn): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.submitWith(txn, (error) => (error === undefined ? resolve() : reject(error))),
    );
  }

  /** submit() with a callback: `done` once durable (undefined) or failed and undone (the error). */
  private submitWith(txn: Txn, done: (error: Error | undefined) => void): void {
    txn.state = 'committing';
    this.inFlight++;
    this.journal().submitWith(txn.rows, (error) => {
      this.inFlight--;
      if (error === undefined) {
        txn.state = 'committed';
        txn.commitStatements();
        done(undefined);
        return;
      }
      // A transaction open now may have read what is being undone: abort it first.
      const open = this.holder;
      if (open !== undefined && open.state === 'open') {
        open.rollbackStatements();
        open.state = 'aborted';
        open.abortError = new ClientError(ER_CASCADE_ROLLBACK);
        this.release(open);
      }
      txn.rollbackStatements();
      txn.state = 'rolled-back';
      done(error);
    });
  }
}
