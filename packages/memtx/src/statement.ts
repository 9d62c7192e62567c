// Statement: one applied write, and what undoing it needs. Layer: memtx.
//
// memtx applies a write to every index at once and returns a Statement. The transaction layer
// above (box) later calls commit() once the WAL has the row, or rollback() if it failed:
// statements of one space are committed in the order they were made and rolled back in the
// reverse order (a failed WAL write rolls back many transactions, newest first). Rollback
// restores every index exactly (Tarantool's memtx_engine_rollback_statement). A space made with
// `autocommit: true` (the default, for embedded use) commits each statement before returning it.
//
// Tuple accessors: while pending, oldTuple/newTuple read the engine's memory (both tuples are
// alive: the old one is kept for undo). commit() and rollback() copy them out first, because
// the engine may reuse that memory afterwards, so a Statement stays readable forever.
import { AssertionError, assert, type TarantoolError } from '@tarantype/core';
import { NONE } from './index-impl.js';
import { decodeRef, decodeTuple } from './memtx-index.js';
import type { TupleArena } from './tuple-arena.js';

export type StatementKind = 'insert' | 'replace' | 'delete' | 'update' | 'upsert' | 'truncate';

/**
 * How before_replace triggers changed a statement, i.e. what the WAL must record instead of
 * the request (Tarantool's request_create_from_tuple): a REPLACE of newTuple, a DELETE of
 * oldTuple's primary key, or nothing.
 */
export type StatementRewrite = 'replace' | 'delete' | 'nop';

const PENDING = 0;
const COMMITTED = 1;
const ROLLED_BACK = 2;

/** What a Statement needs from its space (implemented by Space). */
export interface StatementOwner {
  /** @internal */
  commitStatement(statement: Statement): void;
  /** @internal */
  rollbackStatement(statement: Statement): void;
}

export class Statement {
  private state = PENDING;
  /** Committed without keeping its tuples: reading them is a programmer error. */
  private released = false;
  private oldCopy: Uint8Array | undefined;
  private newCopy: Uint8Array | undefined;

  /** @internal Made by Space. */
  constructor(
    /** The space written to. */
    readonly space: StatementOwner,
    readonly kind: StatementKind,
    /** @internal The arena the refs belong to (truncate may replace the space's). */
    readonly arena: TupleArena,
    /** @internal Ref of the replaced or deleted tuple, or NONE. */
    readonly oldRef: number,
    /** @internal Ref of the inserted tuple, or NONE. */
    readonly newRef: number,
    /** @internal The space's truncate epoch when applied. */
    readonly epoch: number,
    /** Set when before_replace triggers rewrote the statement (see StatementRewrite). */
    readonly rewrite: StatementRewrite | undefined,
    /** UPSERT: operations that failed to apply and were skipped (Tarantool logs them). */
    readonly upsertErrors: readonly TarantoolError[],
    /** @internal Truncate: puts the space back as it was. */
    readonly undo?: () => void,
  ) {}

  get isPending(): boolean {
    return this.state === PENDING;
  }

  get isCommitted(): boolean {
    return this.state === COMMITTED;
  }

  get isRolledBack(): boolean {
    return this.state === ROLLED_BACK;
  }

  /** True when nothing changed (e.g. a before_replace trigger returned the old tuple). */
  get isNop(): boolean {
    return this.oldRef === NONE && this.newRef === NONE && this.undo === undefined;
  }

  /** MessagePack of the tuple this statement replaced or deleted. */
  get oldTupleBytes(): Uint8Array | undefined {
    if (this.oldRef === NONE) return undefined;
    assert(!this.released, 'tuples of a statement committed without keeping them');
    return this.oldCopy ?? this.arena.copy(this.oldRef);
  }

  /** MessagePack of the tuple this statement inserted (the result of an update/upsert). */
  get newTupleBytes(): Uint8Array | undefined {
    if (this.newRef === NONE) return undefined;
    assert(!this.released, 'tuples of a statement committed without keeping them');
    return this.newCopy ?? this.arena.copy(this.newRef);
  }

  /**
   * The inserted tuple's MessagePack as a view of engine memory, without copying: valid only
   * until the next write to the space (copy it at once; box builds the WAL row from it).
   */
  get newTupleView(): Uint8Array | undefined {
    if (this.newRef === NONE) return undefined;
    assert(!this.released, 'tuples of a statement committed without keeping them');
    return this.newCopy ?? this.arena.view(this.newRef);
  }

  /**
   * The memory holding the inserted tuple, for a copy made at once without a view (box's WAL
   * row): its bytes are [newTupleStart, newTupleEnd) of it, valid as newTupleView is.
   */
  get newTupleMemory(): Uint8Array {
    assert(this.newRef !== NONE && !this.released, 'no inserted tuple to read');
    return this.newCopy ?? this.arena.chunkOf(this.newRef);
  }

  get newTupleStart(): number {
    return this.newCopy === undefined ? this.arena.start(this.newRef) : 0;
  }

  get newTupleEnd(): number {
    return this.newCopy === undefined
      ? this.arena.start(this.newRef) + this.arena.length(this.newRef)
      : this.newCopy.length;
  }

  /** The replaced or deleted tuple, decoded (straight from engine memory while pending). */
  get oldTuple(): unknown[] | undefined {
    if (this.oldRef === NONE) return undefined;
    assert(!this.released, 'tuples of a statement committed without keeping them');
    return this.oldCopy === undefined
      ? decodeRef(this.arena, this.oldRef)
      : decodeTuple(this.oldCopy, 0);
  }

  /** The inserted tuple, decoded (straight from engine memory while pending). */
  get newTuple(): unknown[] | undefined {
    if (this.newRef === NONE) return undefined;
    assert(!this.released, 'tuples of a statement committed without keeping them');
    return this.newCopy === undefined
      ? decodeRef(this.arena, this.newRef)
      : decodeTuple(this.newCopy, 0);
  }

  /**
   * The WAL has the change: release the old tuple's memory. `keepTuples` false skips copying
   * the tuples out (recovery: nobody reads the statement afterwards; its accessors then throw).
   */
  commit(keepTuples = true): void {
    if (this.state !== PENDING) throw new AssertionError(`commit of a ${this.stateName} statement`);
    if (keepTuples) this.capture();
    else this.released = true;
    this.state = COMMITTED;
    this.space.commitStatement(this);
  }

  /** Undo the change in every index. Statements must be rolled back newest first. */
  rollback(): void {
    if (this.state !== PENDING)
      throw new AssertionError(`rollback of a ${this.stateName} statement`);
    this.capture();
    this.space.rollbackStatement(this);
    this.state = ROLLED_BACK;
  }

  private capture(): void {
    if (this.oldRef !== NONE) this.oldCopy = this.arena.copy(this.oldRef);
    if (this.newRef !== NONE) this.newCopy = this.arena.copy(this.newRef);
  }

  private get stateName(): string {
    return this.state === COMMITTED ? 'committed' : 'rolled back';
  }
}
