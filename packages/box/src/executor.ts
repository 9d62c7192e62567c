// The executor: one data statement on one space — memtx change, catalog change for system
// spaces, undo, and the WAL row — shared by the API, recovery and (later) the applier, so all
// three change the database the same way. Layer: box. No access or read-only checks here
// (callers make them); no transactions (txn.ts wraps the result).
import {
  ClientError,
  ErrorCode,
  encode,
  encodeDeleteBody,
  encodeTupleBody,
  encodeTupleBodyAt,
  encodeUpdateBody,
  encodeUpsertBody,
  GroupId,
  IprotoType,
  makeXrow,
  SYSTEM_ID_MAX,
  type Xrow,
} from '@tarantype/core';
import type { KeyInput, Statement, TupleInput, UpdateOpsInput } from '@tarantype/memtx';
import type { Catalog, SpaceEntry } from './catalog.js';
import type { Undo } from './txn.js';

export type Operation =
  | { readonly kind: 'insert' | 'replace'; readonly tuple: TupleInput }
  | { readonly kind: 'delete'; readonly key: KeyInput; readonly index: number }
  | {
      readonly kind: 'update';
      readonly key: KeyInput;
      readonly ops: UpdateOpsInput;
      readonly index: number;
      readonly indexBase: number;
    }
  | {
      readonly kind: 'upsert';
      readonly tuple: TupleInput;
      readonly ops: UpdateOpsInput;
      readonly indexBase: number;
    };

export interface Applied {
  readonly statement: Statement | undefined;
  /** Undo/commit of the statement; release() commits without keeping the tuples (recovery). */
  readonly undo: (Undo & { release(): void }) | undefined;
  /** The row to log; undefined for temporary spaces, no-ops and when not logging. */
  readonly row: Xrow | undefined;
}

function bytesOf(value: TupleInput | KeyInput | UpdateOpsInput): Uint8Array {
  return value instanceof Uint8Array ? value : encode(value);
}

export function storageOf(entry: SpaceEntry): NonNullable<SpaceEntry['memtx']> {
  if (entry.memtx === undefined) {
    throw new ClientError(
      ErrorCode.ER_UNSUPPORTED,
      entry.def.engine === 'sysview' ? 'sysview' : entry.def.engine,
      'data modification',
    );
  }
  return entry.memtx;
}

/** Applies `op` to `entry`; with `log`, also builds the WAL row of the request. */
export function applyOperation(
  catalog: Catalog,
  entry: SpaceEntry,
  op: Operation,
  log: boolean,
): Applied {
  const space = storageOf(entry);
  let statement: Statement | undefined;
  switch (op.kind) {
    case 'insert':
      statement = space.insert(op.tuple);
      break;
    case 'replace':
      statement = space.replace(op.tuple);
      break;
    case 'delete':
      statement = space.delete(op.key, { index: op.index });
      break;
    case 'update':
      statement = space.update(op.key, op.ops, { index: op.index, indexBase: op.indexBase });
      break;
    case 'upsert':
      statement = space.upsert(op.tuple, op.ops, { indexBase: op.indexBase });
      break;
  }
  if (statement === undefined) return NOTHING_APPLIED;
  let catalogUndo: Undo | undefined;
  if (entry.def.id <= SYSTEM_ID_MAX && !statement.isNop) {
    try {
      catalogUndo = catalog.onSystemReplace(entry.def.id, statement.oldTuple, statement.newTuple);
    } catch (error) {
      statement.rollback();
      throw error;
    }
  }
  const row = log && !entry.def.temporary ? rowFor(entry, op, statement) : undefined;
  return new AppliedStatement(statement, catalogUndo, row);
}

const NOTHING_APPLIED: Applied = { statement: undefined, undo: undefined, row: undefined };

/** An applied statement and its own undo: one object per statement, no closures. */
class AppliedStatement implements Applied, Undo {
  readonly undo: this;

  constructor(
    readonly statement: Statement,
    private readonly catalogUndo: Undo | undefined,
    readonly row: Xrow | undefined,
  ) {
    this.undo = this;
  }

  rollback(): void {
    this.catalogUndo?.rollback();
    this.statement.rollback();
  }

  /** Callers took what they need when the statement was applied (Box.write's extract). */
  commit(): void {
    this.catalogUndo?.commit?.();
    this.statement.commit(false);
  }

  /** Commits without keeping the tuples (recovery). */
  release(): void {
    this.commit();
  }
}

function rowFor(entry: SpaceEntry, op: Operation, statement: Statement): Xrow | undefined {
  const id = entry.def.id;
  let row: Xrow;
  if (statement.rewrite !== undefined || statement.isNop) {
    // before_replace triggers changed the statement: log what happened, not the request.
    if (statement.isNop || statement.rewrite === 'nop') return undefined;
    if (statement.rewrite === 'replace')
      row = makeXrow(IprotoType.REPLACE, encodeTupleBody(id, statement.newTupleView!));
    else
      row = makeXrow(
        IprotoType.DELETE,
        encodeDeleteBody(id, 0, primaryKeyOf(entry, statement.oldTuple!)),
      );
  } else {
    switch (op.kind) {
      case 'insert':
      case 'replace':
        row = makeXrow(
          op.kind === 'insert' ? IprotoType.INSERT : IprotoType.REPLACE,
          encodeTupleBodyAt(
            id,
            statement.newTupleMemory,
            statement.newTupleStart,
            statement.newTupleEnd,
          ),
        );
        break;
      // A DELETE or UPDATE through a secondary index is logged by its primary key (index 0),
      // as 2.6's request_rebind_to_primary_key does: a 2.6 replica that receives index_id ≠ 0
      // re-logs the row as its own (a vclock component of its own, never acked by the master).
      case 'delete':
        row = makeXrow(
          IprotoType.DELETE,
          op.index === 0
            ? encodeDeleteBody(id, 0, bytesOf(op.key))
            : encodeDeleteBody(id, 0, primaryKeyOf(entry, statement.oldTuple!)),
        );
        break;
      case 'update':
        row = makeXrow(
          IprotoType.UPDATE,
          encodeUpdateBody(
            id,
            0,
            op.indexBase,
            op.index === 0 ? bytesOf(op.key) : primaryKeyOf(entry, statement.oldTuple!),
            bytesOf(op.ops),
          ),
        );
        break;
      case 'upsert':
        row = makeXrow(
          IprotoType.UPSERT,
          encodeUpsertBody(id, op.indexBase, bytesOf(op.tuple), bytesOf(op.ops)),
        );
        break;
    }
  }
  if (entry.def.group_id === GroupId.LOCAL) row.group_id = GroupId.LOCAL;
  return row;
}

/** The primary key of a decoded tuple, encoded. */
export function primaryKeyOf(entry: SpaceEntry, tuple: readonly unknown[]): Uint8Array {
  const pk = entry.indexes.get(0);
  if (pk === undefined) throw new ClientError(ErrorCode.ER_NO_SUCH_INDEX_ID, 0, entry.def.name);
  return encode(pk.parts.map((part) => tuple[part.field]));
}
