// Space: a memtx space — its format, its indexes, every write, triggers, truncate, read views.
// Layer: memtx (knows nothing of the WAL, transactions or replication).
//
// Writes follow Tarantool 2.6's memtx_space_execute_*: the tuple is validated against the
// format (field types, missing fields, max tuple size), stored in the space's arena, then
// linked into the primary index and every secondary index (memtx_space_replace_all_keys). If
// any index refuses (a duplicate in a unique index), the ones already changed are restored and
// the tuple is freed: a statement changes every index or none. Each write returns a Statement
// that the transaction layer commits or rolls back (statement.ts).
//
// before_replace triggers run before the engine, on decoded old/new tuples, and may change the
// statement into a REPLACE, a DELETE or nothing, as in Tarantool's space_before_replace;
// on_replace triggers run after it (a throwing trigger rolls the statement back).
//
// Invariant: every index holds exactly the same set of tuples, and bsize is the sum of their
// MessagePack sizes.
import {
  AssertionError,
  assert,
  ClientError,
  ErrorCode,
  MEMTX_MAX_TUPLE_SIZE_DEFAULT,
  MsgpackWriter,
  type TarantoolError,
} from '@tarantype/core';
import { compareNumberValues } from './compare.js';
import { type FieldType, isFieldType, isIndexableType } from './field-type.js';
import { HashIndex } from './hash-index.js';
import {
  DUP_INSERT,
  DUP_REPLACE,
  DUP_REPLACE_OR_INSERT,
  type DupMode,
  type IndexImpl,
  type IndexShape,
  NONE,
} from './index-impl.js';
import { encodeValue, KeyDef, type KeyPart, toSearchKey } from './key-def.js';
import {
  decodeRef,
  decodeTuple,
  Index,
  type IndexOwner,
  type KeyInput,
  type SelectOptions,
} from './memtx-index.js';
import { MP_ARRAY, mpTypeOf, validateMsgpack } from './mp.js';
import { ReadView } from './read-view.js';
import {
  Statement,
  type StatementKind,
  type StatementOwner,
  type StatementRewrite,
} from './statement.js';
import { TREE_NODE_SIZE_DEFAULT, TreeIndex } from './tree-index.js';
import {
  type ArenaStats,
  CHUNK_OFFSET_BITS,
  CHUNK_OFFSET_MASK,
  dataOffset,
  headerBytes,
  TupleArena,
} from './tuple-arena.js';
import {
  type FormatField,
  type FormatFieldInput,
  normalizeFormat,
  TupleFormat,
} from './tuple-format.js';
import {
  applyUpdate,
  applyUpsert,
  decodeUpdateOps,
  opsToBytes,
  type UpdateOpsInput,
} from './update.js';

/** A tuple: JS values, or the MessagePack bytes of an array (as iproto and the WAL carry it). */
export type TupleInput = readonly unknown[] | Uint8Array;

export interface SpaceOptions {
  readonly id: number;
  readonly name: string;
  /** Field names, types and nullability ({name, type, is_nullable}), as box.schema.space.create. */
  readonly format?: readonly FormatFieldInput[];
  /** Not persisted (box decides; memtx only records it). */
  readonly temporary?: boolean;
  /** Not replicated, group_id 1 (box decides; memtx only records it). */
  readonly isLocal?: boolean;
  /** Exact number of fields every tuple must have (Tarantool's field_count); 0 = any. */
  readonly fieldCount?: number;
  /** memtx_max_tuple_size: largest tuple in bytes including its header. Default 1 MiB. */
  readonly maxTupleSizeBytes?: number;
  /**
   * Commit each statement before returning it (default true: embedded use). The transaction
   * layer passes false and calls statement.commit()/rollback() itself.
   */
  readonly autocommit?: boolean;
}

export interface IndexPartInput {
  /** 0-based field number, or a field name from the space format. */
  readonly field: number | string;
  /** Defaults to the format's type of the field, else 'unsigned' (as Tarantool's Lua API). */
  readonly type?: FieldType | string;
  readonly is_nullable?: boolean;
}

export interface IndexOptions {
  /** Default: one more than the largest index id (0 for the first index). */
  readonly id?: number;
  readonly name: string;
  /** 'TREE' (default) or 'HASH', any case. */
  readonly type?: string;
  /** Default true. */
  readonly unique?: boolean;
  readonly parts: readonly (IndexPartInput | number | string)[];
  /** B-tree branching factor, 4..256 (tests use 4 so splits and merges happen). */
  readonly maxNodeSize?: number;
}

export interface WriteOptions {
  /** Index id or name to find the tuple by (default 0, the primary key). */
  readonly index?: number | string;
}

export interface UpdateOptions extends WriteOptions {
  /** Field numbering base of the ops: 0 for iproto (default), 1 for Lua-style callers. */
  readonly indexBase?: number;
}

export type BeforeReplaceTrigger = (
  oldTuple: unknown[] | null,
  newTuple: unknown[] | null,
  space: Space,
) => TupleInput | null | undefined;
export type OnReplaceTrigger = (
  oldTuple: unknown[] | null,
  newTuple: unknown[] | null,
  space: Space,
) => void;

export interface IndexMemory {
  readonly id: number;
  readonly name: string;
  readonly type: 'TREE' | 'HASH';
  readonly len: number;
  readonly bsize: number;
}

export interface SpaceMemory {
  /** MessagePack bytes of all tuples (space:bsize()). */
  readonly tupleBytes: number;
  readonly arena: ArenaStats;
  readonly indexes: readonly IndexMemory[];
  /** Arena chunks plus index structures. */
  readonly totalBytes: number;
}

/** BOX_INDEX_MAX: index ids are below 128. */
const INDEX_ID_MAX = 127;
const NO_ERRORS: readonly TarantoolError[] = [];

/** Bytes per index entry assumed by memoryEstimate() (measured: 17–20 B for a TREE entry). */
const INDEX_ENTRY_BYTES_ESTIMATE = 24;

export class Space implements IndexOwner, StatementOwner {
  readonly id: number;
  readonly name: string;
  readonly temporary: boolean;
  readonly isLocal: boolean;
  readonly format: readonly FormatField[];
  readonly fieldCount: number;
  readonly maxTupleSizeBytes: number;
  readonly autocommit: boolean;
  /** Tarantool's space_run_triggers: false during recovery so triggers do not fire. */
  runTriggers = true;
  /** @internal Where the tuples live (replaced by truncate). */
  arena = new TupleArena();

  private indexList: Index[] = [];
  private tupleFormat: TupleFormat;
  private readonly fieldNames: Map<string, number>;
  private bsizeBytes = 0;
  private epoch = 0;
  private pendingCount = 0;
  private scanning = false;
  /** Writes so far (every assertWritable): a deferred scan checks none came in between. */
  private writeCount = 0;
  private inBeforeReplace = false;
  /** Refs stored by load() since beginBulkLoad(), indexed at endBulkLoad(); else undefined. */
  private bulkRefs: number[] | undefined;
  /**
   * While bulk loading into a primary keyed by one number (IndexImpl.numericKeyOf) with
   * loadAscending() only: the key of each of bulkRefs, read while its tuple was at hand.
   */
  private bulkKeys: (number | bigint)[] | undefined;
  private readonly beforeReplaceTriggers: BeforeReplaceTrigger[] = [];
  private readonly onReplaceTriggers: OnReplaceTrigger[] = [];
  private readonly writer = new MsgpackWriter(4096);
  private readonly keyWriter = new MsgpackWriter(256);
  // The tuple being written, set by prepare().
  private inBytes: Uint8Array = new Uint8Array(0);
  private inStart = 0;
  private inEnd = 0;

  constructor(options: SpaceOptions) {
    assert(
      Number.isInteger(options.id) && options.id >= 0,
      'space id must be a non-negative integer',
    );
    assert(
      typeof options.name === 'string' && options.name.length > 0,
      'space name must be a non-empty string',
    );
    this.id = options.id;
    this.name = options.name;
    this.temporary = options.temporary === true;
    this.isLocal = options.isLocal === true;
    this.fieldCount = options.fieldCount ?? 0;
    this.maxTupleSizeBytes = options.maxTupleSizeBytes ?? MEMTX_MAX_TUPLE_SIZE_DEFAULT;
    this.autocommit = options.autocommit ?? true;
    this.format = normalizeFormat(this.name, options.format ?? []);
    this.fieldNames = new Map(this.format.map((f, i) => [f.name, i]));
    this.tupleFormat = new TupleFormat(this.format, this.fieldCount, []);
  }

  // {{{ indexes

  /** Indexes in id order (the primary key first). */
  get indexes(): readonly Index[] {
    return this.indexList;
  }

  /** The index with this id or name, or undefined. */
  index(idOrName: number | string): Index | undefined {
    return typeof idOrName === 'number'
      ? this.indexList.find((i) => i.id === idOrName)
      : this.indexList.find((i) => i.name === idOrName);
  }

  /** Like index(), but a missing index is Tarantool's error. @internal */
  findIndex(idOrName: number | string = 0): Index {
    const index = this.index(idOrName);
    if (index !== undefined) return index;
    if (typeof idOrName === 'number')
      throw new ClientError(ErrorCode.ER_NO_SUCH_INDEX_ID, idOrName, this.name);
    throw new ClientError(ErrorCode.ER_NO_SUCH_INDEX_NAME, idOrName, this.name);
  }

  private primary(): Index {
    const pk = this.indexList[0];
    if (pk === undefined || pk.id !== 0)
      throw new ClientError(ErrorCode.ER_NO_SUCH_INDEX_ID, 0, this.name);
    return pk;
  }

  /** Creates an index and builds it from the tuples already in the space. */
  createIndex(options: IndexOptions): Index {
    this.assertWritable();
    const name = options.name;
    assert(typeof name === 'string' && name.length > 0, 'index name must be a non-empty string');
    const id =
      options.id ??
      (this.indexList.length === 0 ? 0 : this.indexList[this.indexList.length - 1]!.id + 1);
    if (this.indexList.some((i) => i.name === name || i.id === id))
      throw new ClientError(ErrorCode.ER_INDEX_EXISTS, name);
    const modify = (reason: string) =>
      new ClientError(ErrorCode.ER_MODIFY_INDEX, name, this.name, reason);
    if (!Number.isInteger(id) || id < 0 || id > INDEX_ID_MAX) throw modify('index id too big');
    if (id !== 0 && this.indexList.length === 0) {
      throw new ClientError(
        ErrorCode.ER_ALTER_SPACE,
        this.name,
        'can not add a secondary key before primary',
      );
    }
    const type = (options.type ?? 'TREE').toUpperCase();
    if (type !== 'TREE' && type !== 'HASH')
      throw new ClientError(ErrorCode.ER_INDEX_TYPE, name, this.name);
    const unique = options.unique ?? true;
    const parts = this.resolveParts(options.parts, modify);
    if (type === 'HASH' && !unique) throw modify('HASH index must be unique');
    if (type === 'HASH' && parts.some((p) => p.isNullable))
      throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'HASH', 'nullable parts');
    if (id === 0 && parts.some((p) => p.isNullable))
      throw new ClientError(ErrorCode.ER_NULLABLE_PRIMARY, this.name);
    const keyDef = new KeyDef(parts);
    const format = new TupleFormat(this.format, this.fieldCount, [
      ...this.indexList.map((i) => i.keyDef),
      keyDef,
    ]);
    const pk = this.indexList[0];
    const extension = id === 0 || pk === undefined ? undefined : extensionOf(keyDef, pk.keyDef);
    const shape: IndexShape = { name, spaceName: this.name, unique, keyDef, extension };
    const maxNodeSize = options.maxNodeSize ?? TREE_NODE_SIZE_DEFAULT;
    const impl = makeImpl(type, shape, this.arena, maxNodeSize);
    if (pk !== undefined) this.build(impl, pk.impl, format);
    const index = new Index(this, id, shape, impl);
    implOptions.set(index, { type, maxNodeSize });
    this.indexList = [...this.indexList, index].sort((a, b) => a.id - b.id);
    this.tupleFormat = format;
    return index;
  }

  private resolveParts(
    parts: IndexOptions['parts'],
    modify: (reason: string) => ClientError,
  ): KeyPart[] {
    if (!Array.isArray(parts) || parts.length === 0) throw modify('part count must be positive');
    return parts.map((input, i) => {
      const part: IndexPartInput = typeof input === 'object' ? input : { field: input };
      let fieldNo: number;
      if (typeof part.field === 'string') {
        const named = this.fieldNames.get(part.field);
        if (named === undefined) {
          throw new ClientError(
            ErrorCode.ER_ILLEGAL_PARAMS,
            `options.parts[${i + 1}]: field was not found by name '${part.field}'`,
          );
        }
        fieldNo = named;
      } else {
        fieldNo = part.field;
        if (!Number.isInteger(fieldNo) || fieldNo < 0)
          throw modify(`field ${fieldNo} is not a valid field number`);
      }
      const formatField = this.format[fieldNo];
      const type = (
        part.type ??
        (formatField !== undefined && formatField.type !== 'any' ? formatField.type : 'unsigned')
      ).toLowerCase();
      if (!isFieldType(type)) throw modify(`field type '${type}' is unknown`);
      if (!isIndexableType(type)) throw modify(`field type '${type}' is not supported`);
      const isNullable = part.is_nullable ?? formatField?.is_nullable ?? false;
      return { fieldNo, type, isNullable };
    });
  }

  /** Fills a new index from the primary key; validates each tuple against the new format. */
  private build(impl: IndexImpl, source: IndexImpl, format: TupleFormat): void {
    const it = source.iterate(source.type === 'TREE' ? 5 : 2, {
      bytes: EMPTY_ARRAY,
      start: 1,
      partCount: 0,
    });
    const chunks = this.arena.chunks;
    for (let ref = it.next(); ref !== NONE; ref = it.next()) {
      const chunk = chunks[ref >>> CHUNK_OFFSET_BITS]!;
      format.validate(chunk, dataOffset(chunk, ref & CHUNK_OFFSET_MASK));
      impl.replace(NONE, ref, DUP_INSERT);
    }
  }

  /** Drops an index. The primary key goes only when it is the last one, and takes the data. */
  /**
   * Adds this space's before_replace and on_replace triggers to `target` (a space rebuilt
   * with a new name or format keeps its triggers, as a Tarantool space does across alter).
   */
  copyTriggersTo(target: Space): void {
    target.beforeReplaceTriggers.push(...this.beforeReplaceTriggers);
    target.onReplaceTriggers.push(...this.onReplaceTriggers);
  }

  dropIndex(idOrName: number | string): void {
    this.assertWritable();
    const index = this.findIndex(idOrName);
    if (index.id === 0 && this.indexList.length > 1)
      throw new ClientError(ErrorCode.ER_DROP_PRIMARY_KEY, this.name);
    this.indexList = this.indexList.filter((i) => i !== index);
    this.tupleFormat = new TupleFormat(
      this.format,
      this.fieldCount,
      this.indexList.map((i) => i.keyDef),
    );
    if (index.id === 0) {
      // Read views keep the old arena alive for as long as they need it.
      this.arena = new TupleArena();
      this.bsizeBytes = 0;
    }
  }

  // }}}
  // {{{ reads (delegated to an index; see memtx-index.ts)

  select(key?: KeyInput, options: SelectOptions & WriteOptions = {}): unknown[][] {
    return this.findIndex(options.index).select(key, options);
  }

  get(key: KeyInput, options: WriteOptions = {}): unknown[] | undefined {
    return this.findIndex(options.index).get(key);
  }

  count(key?: KeyInput, options: Pick<SelectOptions, 'iterator'> & WriteOptions = {}): number {
    return this.findIndex(options.index).count(key, options);
  }

  min(key?: KeyInput, options: WriteOptions = {}): unknown[] | undefined {
    return this.findIndex(options.index).min(key);
  }

  max(key?: KeyInput, options: WriteOptions = {}): unknown[] | undefined {
    return this.findIndex(options.index).max(key);
  }

  /** Number of tuples. */
  len(): number {
    return this.primary().len();
  }

  /** MessagePack bytes of all tuples (space:bsize()). */
  bsize(): number {
    return this.bsizeBytes;
  }

  // }}}
  // {{{ writes

  /** INSERT: ER_TUPLE_FOUND if any unique index already has the key. */
  insert(tuple: TupleInput): Statement {
    return this.executeReplace(tuple, DUP_INSERT, 'insert');
  }

  /**
   * Recovery fast path (snapshot rows, replayed INSERT/REPLACE rows, bootstrap): REPLACE (or
   * INSERT, failing with ER_TUPLE_FOUND) `tuple` without a Statement, undo copies or triggers;
   * a displaced tuple is freed at once (delayed if a read view is open). For loading at
   * startup only, when no transaction can need an undo and no trigger may run.
   */
  load(tuple: TupleInput, mode: 'insert' | 'replace' = 'replace'): void {
    if (this.bulkRefs === undefined) this.assertWritable();
    this.primary();
    this.prepare(tuple);
    this.loadPrepared(mode);
  }

  /**
   * load() of the tuple at `bytes[start, end)`, which the caller has already found to be one
   * well-formed MessagePack value (a decoder skipped it: a snapshot or xlog row's body), so it
   * is not walked again for that; it is still checked to be an array and against the format.
   */
  loadAt(bytes: Uint8Array, start: number, end: number, mode: 'insert' | 'replace'): void {
    if (this.bulkRefs === undefined) this.assertWritable();
    this.primary();
    this.prepareWellFormed(bytes, start, end);
    this.loadPrepared(mode);
  }

  private loadPrepared(mode: 'insert' | 'replace'): void {
    const bulk = this.bulkRefs;
    const newRef = this.store();
    if (bulk !== undefined) {
      bulk.push(newRef);
      // Keys are gathered by loadAscending() only (where they spare a comparison of tuples);
      // after a load() they no longer match the refs, and the index reads them itself.
      this.bulkKeys = undefined;
      this.bsizeBytes += this.inEnd - this.inStart;
      return;
    }
    let oldRef: number;
    try {
      oldRef = this.replaceAllKeys(
        NONE,
        newRef,
        mode === 'insert' ? DUP_INSERT : DUP_REPLACE_OR_INSERT,
      );
    } catch (error) {
      this.arena.freeNow(newRef);
      throw error;
    }
    this.bsizeBytes += this.arena.length(newRef);
    if (oldRef !== NONE) {
      this.bsizeBytes -= this.arena.length(oldRef);
      this.arena.free(oldRef);
    }
  }

  /**
   * Starts a bulk load (a snapshot at startup, the snapshot part of a join), as Tarantool's
   * memtx builds its indexes after reading the snapshot: load() then only stores each tuple
   * (validated against the format), and endBulkLoad() builds every index in one pass from the
   * sorted refs instead of one B+ tree insertion per tuple and index. The space must be empty;
   * until endBulkLoad() its indexes are empty (reads see no tuples) and writes other than
   * load() fail.
   */
  beginBulkLoad(): void {
    this.assertWritable();
    this.primary();
    assert(this.len() === 0, `space '${this.name}' must be empty to bulk load`);
    this.bulkRefs = [];
    this.bulkKeys = this.primary().impl.numericKeyOf !== undefined ? [] : undefined;
  }

  /**
   * Whether loadAscending() can work: the primary index is ordered (TREE). Recovery bulk loads
   * such a space while the replayed inserts come in primary-key order.
   */
  get loadsAscending(): boolean {
    return this.primary().impl.compareTuples !== undefined;
  }

  /**
   * In a bulk load: load() of a tuple whose primary key sorts after every tuple loaded so far,
   * which can be neither a duplicate nor a replacement. Returns false, having stored nothing,
   * when the key does not (or the primary is not ordered): the caller then ends the bulk load
   * and loads the tuple one at a time. Recovery replays an xlog's inserts into a space that
   * was empty this way, so the indexes are built once at the end (as for a snapshot).
   */
  loadAscending(tuple: TupleInput): boolean {
    assert(this.bulkRefs !== undefined, `space '${this.name}' is not bulk loading`);
    if (this.primary().impl.compareTuples === undefined) return false;
    this.prepare(tuple);
    return this.loadAscendingPrepared();
  }

  /** loadAscending() of a well-formed tuple at `bytes[start, end)`, as loadAt() takes it. */
  loadAscendingAt(bytes: Uint8Array, start: number, end: number): boolean {
    assert(this.bulkRefs !== undefined, `space '${this.name}' is not bulk loading`);
    if (this.primary().impl.compareTuples === undefined) return false;
    this.prepareWellFormed(bytes, start, end);
    return this.loadAscendingPrepared();
  }

  private loadAscendingPrepared(): boolean {
    const bulk = this.bulkRefs!;
    const impl = this.primary().impl;
    const keys = this.bulkKeys;
    if (keys !== undefined) {
      // A numeric key: compared before anything is stored, with the last one kept.
      const key = impl.numericKeyOf!(this.inBytes, this.inStart);
      if (keys.length > 0 && compareNumberValues(keys[keys.length - 1]!, key) >= 0) return false;
      bulk.push(this.store());
      keys.push(key);
      this.bsizeBytes += this.inEnd - this.inStart;
      return true;
    }
    const newRef = this.store();
    const last = bulk.length === 0 ? NONE : bulk[bulk.length - 1]!;
    if (last !== NONE && impl.compareTuples!(last, newRef) >= 0) {
      this.arena.freeNow(newRef);
      return false;
    }
    bulk.push(newRef);
    this.bsizeBytes += this.inEnd - this.inStart;
    return true;
  }

  /** Whether a bulk load is in progress (beginBulkLoad() without endBulkLoad() yet). */
  get bulkLoading(): boolean {
    return this.bulkRefs !== undefined;
  }

  /**
   * Builds every index from the tuples loaded since beginBulkLoad(). Input in primary-key order
   * (a snapshot's) is not sorted again. A duplicate key in a unique index throws ER_TUPLE_FOUND,
   * as an insert would: the one-at-a-time build that reports it then runs for that index.
   */
  endBulkLoad(): void {
    const refs = this.bulkRefs;
    assert(refs !== undefined, `space '${this.name}' is not bulk loading`);
    const keys = this.bulkKeys;
    this.bulkRefs = undefined;
    this.bulkKeys = undefined;
    for (const index of this.indexList) {
      const primaryKeys = index === this.indexList[0] ? keys : undefined;
      if (index.impl.bulkLoad?.(refs, primaryKeys) === true) continue;
      for (const ref of refs) index.impl.replace(NONE, ref, DUP_INSERT);
    }
  }

  /** REPLACE by primary key (insert if absent); a duplicate in a secondary unique index fails. */
  replace(tuple: TupleInput): Statement {
    return this.executeReplace(tuple, DUP_REPLACE_OR_INSERT, 'replace');
  }

  /** DELETE by an exact key of a unique index; undefined when no tuple has it. */
  delete(key: KeyInput, options: WriteOptions = {}): Statement | undefined {
    this.assertWritable();
    const index = this.findIndex(options.index);
    this.primary();
    const oldRef = index.findExact(key);
    if (oldRef === NONE) return undefined;
    if (this.hasBeforeReplace())
      return this.withBeforeReplace('delete', DUP_REPLACE_OR_INSERT, oldRef, false);
    this.replaceAllKeys(oldRef, NONE, DUP_REPLACE_OR_INSERT);
    return this.finish('delete', oldRef, NONE, undefined, NO_ERRORS);
  }

  /**
   * UPDATE the tuple with this exact key (unique index) by `ops` (section 4.8 of the spec).
   * undefined when no tuple has the key (the ops are then not even checked, as in 2.6).
   */
  update(key: KeyInput, ops: UpdateOpsInput, options: UpdateOptions = {}): Statement | undefined {
    this.assertWritable();
    const index = this.findIndex(options.index);
    this.primary();
    const oldRef = index.findExact(key);
    if (oldRef === NONE) return undefined;
    const decoded = decodeUpdateOps(opsToBytes(ops), options.indexBase ?? 0, this.fieldNames);
    const chunk = this.arena.chunkOf(oldRef);
    this.writer.reset();
    applyUpdate(chunk, this.arena.start(oldRef), decoded, this.writer);
    this.prepareWritten();
    if (this.hasBeforeReplace()) return this.withBeforeReplace('update', DUP_REPLACE, oldRef, true);
    const newRef = this.store();
    try {
      this.replaceAllKeys(oldRef, newRef, DUP_REPLACE);
    } catch (error) {
      this.arena.freeNow(newRef);
      throw error;
    }
    return this.finish('update', oldRef, newRef, undefined, NO_ERRORS);
  }

  /**
   * UPSERT: insert `tuple` if its primary key is absent (the ops are only checked), else apply
   * the ops to the existing tuple, skipping ops that fail (reported in upsertErrors). A result
   * that would change the primary key leaves the tuple unchanged (a no-op statement).
   */
  upsert(
    tuple: TupleInput,
    ops: UpdateOpsInput,
    options: Omit<UpdateOptions, 'index'> = {},
  ): Statement {
    this.assertWritable();
    const pk = this.primary();
    this.prepare(tuple);
    const decoded = decodeUpdateOps(opsToBytes(ops), options.indexBase ?? 0, this.fieldNames);
    const oldRef = this.findByPrimaryKey(pk);
    if (oldRef === NONE) {
      if (this.hasBeforeReplace())
        return this.withBeforeReplace('upsert', DUP_REPLACE_OR_INSERT, NONE, true);
      return this.storeAndLink('upsert', DUP_REPLACE_OR_INSERT);
    }
    const chunk = this.arena.chunkOf(oldRef);
    const oldStart = this.arena.start(oldRef);
    this.writer.reset();
    const errors = applyUpsert(chunk, oldStart, decoded, this.writer);
    this.prepareWritten();
    if (pk.keyDef.compareTuples(chunk, oldStart, this.inBytes, this.inStart) !== 0) {
      errors.push(new ClientError(ErrorCode.ER_CANT_UPDATE_PRIMARY_KEY, pk.name, this.name));
      return this.finish('upsert', NONE, NONE, undefined, errors);
    }
    if (this.hasBeforeReplace())
      return this.withBeforeReplace('upsert', DUP_REPLACE_OR_INSERT, oldRef, true, errors);
    const newRef = this.store();
    try {
      this.replaceAllKeys(oldRef, newRef, DUP_REPLACE_OR_INSERT);
    } catch (error) {
      this.arena.freeNow(newRef);
      throw error;
    }
    return this.finish('upsert', oldRef, newRef, undefined, errors);
  }

  /** Removes every tuple at once (a new arena and empty indexes; read views keep the old). */
  truncate(): Statement {
    this.assertWritable();
    const saved = {
      arena: this.arena,
      impls: this.indexList.map((i) => i.impl),
      bsize: this.bsizeBytes,
      epoch: this.epoch,
    };
    const arena = new TupleArena();
    for (const index of this.indexList) {
      const { type, maxNodeSize } = implOptions.get(index)!;
      index.impl = makeImpl(type, index.shape, arena, maxNodeSize);
    }
    this.arena = arena;
    this.bsizeBytes = 0;
    this.epoch++;
    const undo = () => {
      this.arena = saved.arena;
      this.indexList.forEach((index, i) => {
        const impl = saved.impls[i];
        assert(impl !== undefined, 'indexes changed between truncate and its rollback');
        index.impl = impl;
      });
      this.bsizeBytes = saved.bsize;
      this.epoch = saved.epoch;
    };
    this.pendingCount++;
    const statement = new Statement(
      this,
      'truncate',
      saved.arena,
      NONE,
      NONE,
      this.epoch,
      undefined,
      NO_ERRORS,
      undo,
    );
    if (this.autocommit) statement.commit();
    return statement;
  }

  private executeReplace(tuple: TupleInput, mode: DupMode, kind: StatementKind): Statement {
    this.assertWritable();
    this.primary();
    this.prepare(tuple);
    if (this.hasBeforeReplace()) {
      return this.withBeforeReplace(kind, mode, this.findByPrimaryKey(this.primary()), true);
    }
    return this.storeAndLink(kind, mode);
  }

  private storeAndLink(kind: StatementKind, mode: DupMode): Statement {
    const newRef = this.store();
    let oldRef: number;
    try {
      oldRef = this.replaceAllKeys(NONE, newRef, mode);
    } catch (error) {
      this.arena.freeNow(newRef);
      throw error;
    }
    return this.finish(kind, oldRef, newRef, undefined, NO_ERRORS);
  }

  /** Validates a tuple given by the caller; it becomes the "in" tuple. */
  private prepare(tuple: TupleInput): void {
    if (tuple instanceof Uint8Array) {
      if (tuple.length === 0 || mpTypeOf(tuple, 0) !== MP_ARRAY)
        throw new ClientError(ErrorCode.ER_TUPLE_NOT_ARRAY);
      if (!validateMsgpack(tuple, 0, tuple.length))
        throw new ClientError(ErrorCode.ER_INVALID_MSGPACK, 'tuple');
      this.inBytes = tuple;
      this.inStart = 0;
      this.inEnd = tuple.length;
    } else {
      assert(Array.isArray(tuple), 'a tuple is an array of values or MessagePack bytes');
      const writer = this.writer.reset();
      const doubles = this.tupleFormat.doubleFields;
      writer.arrayHeader(tuple.length);
      for (let i = 0; i < tuple.length; i++) {
        const value = tuple[i];
        if (typeof value === 'number') {
          if (doubles[i] === true) writer.double(value);
          else writer.number(value);
        } else if (typeof value === 'string') {
          writeString(writer, value);
        } else {
          encodeValue(writer, value);
        }
      }
      this.inBytes = writer.bytes;
      this.inStart = 0;
      this.inEnd = writer.length;
    }
    this.checkIn();
  }

  /** prepare() of bytes known to be one well-formed MessagePack value (loadAt()). */
  private prepareWellFormed(bytes: Uint8Array, start: number, end: number): void {
    if (end <= start || mpTypeOf(bytes, start) !== MP_ARRAY)
      throw new ClientError(ErrorCode.ER_TUPLE_NOT_ARRAY);
    this.inBytes = bytes;
    this.inStart = start;
    this.inEnd = end;
    this.checkIn();
  }

  /** The tuple just written into this.writer becomes the "in" tuple. */
  private prepareWritten(): void {
    this.inBytes = this.writer.bytes;
    this.inStart = 0;
    this.inEnd = this.writer.length;
    this.checkIn();
  }

  private checkIn(): void {
    this.tupleFormat.validate(this.inBytes, this.inStart);
    const length = this.inEnd - this.inStart;
    const size = headerBytes(length) + length;
    if (size > this.maxTupleSizeBytes)
      throw new ClientError(ErrorCode.ER_MEMTX_MAX_TUPLE_SIZE, size);
  }

  private store(): number {
    return this.arena.store(this.inBytes, this.inStart, this.inEnd);
  }

  /** The tuple the primary key holds under the key of tuple `ref`, or NONE. */
  private primaryHolder(ref: number): number {
    const pk = this.primary();
    const writer = this.keyWriter.reset();
    pk.keyDef.extractKey(this.arena.chunkOf(ref), this.arena.start(ref), writer);
    return pk.impl.findUnique(toSearchKey(writer.view0(), pk.keyDef));
  }

  /** The tuple with the primary key of the "in" tuple, or NONE. */
  private findByPrimaryKey(pk: Index): number {
    const writer = this.keyWriter.reset();
    pk.keyDef.extractKey(this.inBytes, this.inStart, writer);
    return pk.impl.findUnique(toSearchKey(writer.view0(), pk.keyDef));
  }

  /**
   * memtx_space_replace_all_keys: primary first (which finds the displaced tuple), then every
   * secondary with DUP_INSERT; on a failure restores the indexes already changed and rethrows.
   * Returns the displaced (old) tuple.
   */
  private replaceAllKeys(oldRef: number, newRef: number, mode: DupMode): number {
    const indexes = this.indexList;
    const displaced = indexes[0]!.impl.replace(oldRef, newRef, mode);
    let i = 1;
    try {
      for (; i < indexes.length; i++) indexes[i]!.impl.replace(displaced, newRef, DUP_INSERT);
    } catch (error) {
      for (let j = i - 1; j >= 0; j--) indexes[j]!.impl.replace(newRef, displaced, DUP_INSERT);
      throw error;
    }
    return displaced;
  }

  private finish(
    kind: StatementKind,
    oldRef: number,
    newRef: number,
    rewrite: StatementRewrite | undefined,
    errors: readonly TarantoolError[],
  ): Statement {
    const arena = this.arena;
    if (oldRef !== NONE) this.bsizeBytes -= arena.length(oldRef);
    if (newRef !== NONE) this.bsizeBytes += arena.length(newRef);
    this.pendingCount++;
    const statement = new Statement(this, kind, arena, oldRef, newRef, this.epoch, rewrite, errors);
    if (this.onReplaceTriggers.length > 0 && this.runTriggers && !statement.isNop) {
      const oldTuple = oldRef === NONE ? null : decodeRef(arena, oldRef);
      const newTuple = newRef === NONE ? null : decodeRef(arena, newRef);
      try {
        for (const trigger of [...this.onReplaceTriggers]) trigger(oldTuple, newTuple, this);
      } catch (error) {
        statement.rollback();
        throw error;
      }
    }
    if (this.autocommit) statement.commit();
    return statement;
  }

  // }}}
  // {{{ before_replace (space_before_replace)

  private hasBeforeReplace(): boolean {
    return this.beforeReplaceTriggers.length > 0 && this.runTriggers;
  }

  /**
   * Runs before_replace triggers on the statement about to happen: `oldRef` is the tuple it
   * replaces (NONE if none), the "in" tuple is the new one when `hasNew`. Then performs the
   * statement as is, or as the triggers rewrote it.
   */
  private withBeforeReplace(
    kind: StatementKind,
    mode: DupMode,
    oldRef: number,
    hasNew: boolean,
    errors: readonly TarantoolError[] = NO_ERRORS,
  ): Statement {
    const oldTuple = oldRef === NONE ? null : decodeRef(this.arena, oldRef);
    const original = hasNew ? decodeTuple(this.inBytes, this.inStart) : null;
    let current: unknown[] | null = original;
    this.inBeforeReplace = true;
    try {
      for (const trigger of [...this.beforeReplaceTriggers]) {
        const result: unknown = trigger(oldTuple, current, this);
        if (result === undefined) continue;
        if (result === null) current = null;
        else if (Array.isArray(result)) current = result;
        else if (result instanceof Uint8Array) current = decodeTuple(result, 0);
        else throw new ClientError(ErrorCode.ER_BEFORE_REPLACE_RET, typeof result);
      }
    } finally {
      this.inBeforeReplace = false;
    }
    if (current === original) {
      // Unchanged: the request goes on as it was.
      if (!hasNew) {
        this.replaceAllKeys(oldRef, NONE, DUP_REPLACE_OR_INSERT);
        return this.finish(kind, oldRef, NONE, undefined, errors);
      }
      const newRef = this.store();
      // INSERT and REPLACE looked the old tuple up only for the triggers: the request itself
      // names no old tuple (so a duplicate INSERT still fails).
      const requestOld = kind === 'insert' || kind === 'replace' ? NONE : oldRef;
      let displaced: number;
      try {
        displaced = this.replaceAllKeys(requestOld, newRef, mode);
      } catch (error) {
        this.arena.freeNow(newRef);
        throw error;
      }
      return this.finish(kind, displaced, newRef, undefined, errors);
    }
    if (current === oldTuple) return this.finish(kind, NONE, NONE, 'nop', errors);
    if (current === null) {
      if (oldRef === NONE) return this.finish(kind, NONE, NONE, 'nop', errors);
      this.replaceAllKeys(oldRef, NONE, DUP_REPLACE_OR_INSERT);
      return this.finish(kind, oldRef, NONE, 'delete', errors);
    }
    this.prepare(current);
    const pk = this.primary();
    if (oldRef !== NONE) {
      const chunk = this.arena.chunkOf(oldRef);
      if (
        pk.keyDef.compareTuples(chunk, this.arena.start(oldRef), this.inBytes, this.inStart) !== 0
      ) {
        throw new ClientError(ErrorCode.ER_CANT_UPDATE_PRIMARY_KEY, pk.name, this.name);
      }
    }
    const newRef = this.store();
    let displaced: number;
    try {
      displaced = this.replaceAllKeys(NONE, newRef, DUP_REPLACE_OR_INSERT);
    } catch (error) {
      this.arena.freeNow(newRef);
      throw error;
    }
    return this.finish(kind, displaced, newRef, 'replace', errors);
  }

  // }}}
  // {{{ statements (called by Statement)

  /** @internal */
  commitStatement(statement: Statement): void {
    this.pendingCount--;
    if (statement.oldRef !== NONE) statement.arena.free(statement.oldRef);
  }

  /** @internal */
  rollbackStatement(statement: Statement): void {
    this.pendingCount--;
    if (statement.undo !== undefined) {
      assert(statement.epoch === this.epoch, 'truncate rolled back out of order');
      statement.undo();
      return;
    }
    if (statement.isNop) return;
    assert(
      statement.epoch === this.epoch && statement.arena === this.arena,
      'statement rolled back after a later truncate',
    );
    const { oldRef, newRef } = statement;
    // Out-of-order rollback would unlink a newer statement's tuple that has the same key.
    const holder = this.primaryHolder(newRef !== NONE ? newRef : oldRef);
    assert(
      holder === newRef,
      'rollback out of order: the primary key no longer holds what this statement wrote',
    );
    try {
      for (const index of this.indexList) index.impl.replace(newRef, oldRef, DUP_INSERT);
    } catch (error) {
      // Rollback cannot fail unless statements are rolled back out of order.
      assert(false, `rollback failed (statements rolled back out of order?): ${String(error)}`);
    }
    if (newRef !== NONE) {
      this.bsizeBytes -= this.arena.length(newRef);
      this.arena.free(newRef);
    }
    if (oldRef !== NONE) this.bsizeBytes += this.arena.length(oldRef);
  }

  // }}}
  // {{{ triggers

  /**
   * Adds a before_replace trigger: (old, new) => new tuple, null (make it a delete), old (make
   * it a no-op) or undefined (leave it). Returns a function that removes the trigger.
   */
  beforeReplace(trigger: BeforeReplaceTrigger): () => void {
    this.beforeReplaceTriggers.push(trigger);
    return () => removeFrom(this.beforeReplaceTriggers, trigger);
  }

  /** Adds an on_replace trigger, run after each change (throwing rolls it back). */
  onReplace(trigger: OnReplaceTrigger): () => void {
    this.onReplaceTriggers.push(trigger);
    return () => removeFrom(this.onReplaceTriggers, trigger);
  }

  // }}}
  // {{{ read views, memory, internal hooks

  /** An O(1) consistent snapshot of the primary index; close() it when done. */
  readView(): ReadView {
    const pk = this.primary();
    const generation = this.arena.openView();
    return new ReadView(
      this.id,
      this.name,
      this.arena,
      pk.impl.clone(),
      generation,
      pk.impl.size(),
      this.bsizeBytes,
    );
  }

  /**
   * An O(1) estimate of the bytes this space holds (arena chunks, plus 24 bytes per index
   * entry: the B+ tree key and child slots). For limits checked on the write path
   * (memtx_memory); memory() walks every index for exact figures.
   */
  memoryEstimate(): number {
    let entries = 0;
    for (const index of this.indexList) entries += index.len();
    return this.arena.stats().chunkBytes + entries * INDEX_ENTRY_BYTES_ESTIMATE;
  }

  memory(): SpaceMemory {
    const arena = this.arena.stats();
    const indexes = this.indexList.map((i) => ({
      id: i.id,
      name: i.name,
      type: i.type,
      len: i.len(),
      bsize: i.bsize(),
    }));
    const totalBytes = arena.chunkBytes + indexes.reduce((sum, i) => sum + i.bsize, 0);
    return { tupleBytes: this.bsizeBytes, arena, indexes, totalBytes };
  }

  /** Statements applied but neither committed nor rolled back. */
  get pendingStatements(): number {
    return this.pendingCount;
  }

  /** @internal */
  beginIteration(): number {
    return this.arena.openView();
  }

  /** @internal */
  endIteration(arena: TupleArena, generation: number): void {
    arena.closeView(generation);
  }

  /** @internal */
  setScanning(on: boolean): void {
    this.scanning = on;
  }

  /** @internal Writes so far: MemtxIndex.scanRaw checks that none came between open and run. */
  get writes(): number {
    return this.writeCount;
  }

  private assertWritable(): void {
    this.writeCount++;
    if (this.bulkRefs !== undefined)
      throw new AssertionError(`space '${this.name}' written while bulk loading`);
    if (this.scanning)
      throw new AssertionError(
        `space '${this.name}' written from inside its own forEachRaw callback`,
      );
    if (this.inBeforeReplace)
      throw new AssertionError(
        `space '${this.name}' written from inside its own before_replace trigger`,
      );
  }

  // }}}
}

const EMPTY_ARRAY = new Uint8Array([0x90]);

/** How each index's structure is made, to remake it on truncate. */
const implOptions = new WeakMap<Index, { type: 'TREE' | 'HASH'; maxNodeSize: number }>();

function makeImpl(
  type: 'TREE' | 'HASH',
  shape: IndexShape,
  arena: TupleArena,
  maxNodeSize: number,
): IndexImpl {
  return type === 'TREE'
    ? new TreeIndex(shape, arena, maxNodeSize)
    : new HashIndex(shape, arena, maxNodeSize);
}

/** Primary key parts that are not parts of `keyDef` (Tarantool's key_def_merge). */
function extensionOf(keyDef: KeyDef, pk: KeyDef): KeyDef | undefined {
  const parts = pk.parts.filter((p) => !keyDef.parts.some((k) => k.fieldNo === p.fieldNo));
  return parts.length === 0 ? undefined : new KeyDef(parts);
}

/**
 * core's MsgpackWriter.str with a one-pass fast path for ASCII strings up to 255 characters
 * (core's stops at 31; tuple fields such as names and base64 ids are often longer). Same
 * canonical bytes: fixstr below 32 bytes, else str8.
 */
function writeString(writer: MsgpackWriter, value: string): void {
  const n = value.length;
  if (n > 255) {
    writer.str(value);
    return;
  }
  writer.ensure(2 + n);
  const bytes = writer.bytes;
  const start = writer.length;
  let p = start + (n < 32 ? 1 : 2);
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80) {
      writer.str(value);
      return;
    }
    bytes[p++] = c;
  }
  if (n < 32) {
    bytes[start] = 0xa0 | n;
  } else {
    bytes[start] = 0xd9;
    bytes[start + 1] = n;
  }
  writer.length = p;
}

function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
