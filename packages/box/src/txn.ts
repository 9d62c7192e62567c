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
// - Interleaving: memtx in 2.6 aborts a transaction whose fiber yields
//   (ER_TRANSACTION_YIELD). Here, if another async context writes while a transaction is open,
//   the open transaction is rolled back at once and its next statement or commit fails with
//   ER_TRANSACTION_YIELD: another context must never build on changes that may vanish.
// - WAL failure: the journal rejects the failed batch and every transaction queued behind it,
//   newest first; each rejection undoes that transaction's statements in reverse order, so
//   undo runs newest to oldest across transactions. Any open transaction is aborted first.
// Invariant: statements of a transaction are undone in reverse order exactly once, or never.
import { AsyncLocalStorage } from 'node:async_hooks';
import { ClientError, ErrorCode, type Xrow } from '@tarantype/core';
import type { Journal } from '@tarantype/wal';

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
  /** Hooks run after a successful commit (e.g. the on_commit work of system-space triggers). */
  readonly onCommit: Array<() => void> = [];
  readonly onRollback: Array<() => void> = [];
  /** Why an aborted transaction was aborted (raised by its next statement or commit). */
  abortError: ClientError | undefined;

  constructor(readonly autocommit: boolean) {}

  /** Commits every statement, oldest first, then runs the commit hooks. */
  commitStatements(): void {
    for (const undo of this.undo) undo.commit?.();
    this.undo.length = 0;
    for (const hook of this.onCommit) hook();
    this.onCommit.length = 0;
    this.onRollback.length = 0;
  }

  /** Undoes every statement, newest first. Idempotent. */
  rollbackStatements(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) this.undo[i]!.rollback();
    this.undo.length = 0;
    this.rows.length = 0;
    for (const hook of this.onRollback) hook();
    this.onRollback.length = 0;
    this.onCommit.length = 0;
  }
}

export class TxnManager {
  private readonly context = new AsyncLocalStorage<Txn>();
  /** The multi-statement transaction currently open, if any (at most one: see file comment). */
  private open: Txn | undefined;
  /** Transactions submitted and not yet durable (for abort-on-failure bookkeeping). */
  private inFlight = 0;

  constructor(private readonly journal: () => Journal) {}

  /** The open transaction of the calling async context. */
  current(): Txn | undefined {
    const txn = this.context.getStore();
    return txn !== undefined && (txn.state === 'open' || txn.state === 'aborted') ? txn : undefined;
  }

  get inFlightCount(): number {
    return this.inFlight;
  }

  /** True while a multi-statement transaction is open anywhere. */
  get hasOpenTransaction(): boolean {
    return this.open !== undefined && this.open.state === 'open';
  }

  /** box.begin(): opens a transaction for the calling async context. */
  begin(): Txn {
    if (this.current() !== undefined) throw new ClientError(ErrorCode.ER_ACTIVE_TRANSACTION);
    this.interleave(undefined);
    const txn = new Txn(false);
    this.open = txn;
    this.context.enterWith(txn);
    return txn;
  }

  /** Runs `fn` inside a new transaction bound to its async context, committing after it. */
  async atomic<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.current() !== undefined) throw new ClientError(ErrorCode.ER_ACTIVE_TRANSACTION);
    this.interleave(undefined);
    const txn = new Txn(false);
    this.open = txn;
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
   * changed) and the WAL row to log (undefined for temporary spaces). Returns a promise that
   * resolves when the statement is durable (autocommit) or at once (inside a transaction).
   */
  statement(apply: () => { undo?: Undo; row?: Xrow } | undefined): Promise<void> {
    const txn = this.current();
    this.interleave(txn);
    if (txn !== undefined) {
      if (txn.state === 'aborted') throw txn.abortError!;
      const result = apply();
      if (result?.undo !== undefined) txn.undo.push(result.undo);
      if (result?.row !== undefined) txn.rows.push(result.row);
      return Promise.resolve();
    }
    const result = apply();
    if (result?.row === undefined) {
      result?.undo?.commit?.();
      return Promise.resolve();
    }
    const auto = new Txn(true);
    if (result.undo !== undefined) auto.undo.push(result.undo);
    auto.rows.push(result.row);
    return this.submit(auto);
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

  /** Adds hooks to the current transaction (or runs them now / never in autocommit). */
  onCommit(hook: () => void): void {
    const txn = this.current();
    if (txn === undefined) hook();
    else txn.onCommit.push(hook);
  }

  private async commitTxn(txn: Txn): Promise<void> {
    if (this.open === txn) this.open = undefined;
    if (txn.state === 'aborted') {
      txn.state = 'rolled-back';
      throw txn.abortError!;
    }
    if (txn.rows.length === 0) {
      txn.state = 'committed';
      txn.commitStatements();
      return;
    }
    await this.submit(txn);
  }

  private rollbackTxn(txn: Txn): void {
    if (this.open === txn) this.open = undefined;
    if (txn.state === 'rolled-back') return;
    txn.rollbackStatements();
    txn.state = 'rolled-back';
  }

  /** Submits a transaction's rows; undo runs in the rejection handler (newest first). */
  private submit(txn: Txn): Promise<void> {
    txn.state = 'committing';
    this.inFlight++;
    return this.journal()
      .submit(txn.rows)
      .then(
        () => {
          this.inFlight--;
          txn.state = 'committed';
          txn.commitStatements();
        },
        (error: unknown) => {
          this.inFlight--;
          // Anything open may have built on what is being undone: abort it first.
          if (this.open !== undefined) this.abort(this.open);
          txn.rollbackStatements();
          txn.state = 'rolled-back';
          throw error;
        },
      );
  }

  /** A write from `txn` (or an autocommit statement) while another transaction is open. */
  private interleave(txn: Txn | undefined): void {
    const open = this.open;
    if (open === undefined || open === txn || open.state !== 'open') return;
    this.abort(open);
  }

  private abort(txn: Txn): void {
    if (txn.state !== 'open') return;
    txn.rollbackStatements();
    txn.state = 'aborted';
    txn.abortError = new ClientError(ErrorCode.ER_TRANSACTION_YIELD);
    if (this.open === txn) this.open = undefined;
  }
}
