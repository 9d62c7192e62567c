// box.space.<name>: the data API of one space, as Tarantool's Lua space object has it, bound
// to a user (admin for the embedded API; the session user for iproto). Layer: box.
// Field numbers are 0-based like JS arrays (Tarantool's Lua API is 1-based): index parts,
// update operations ('=', 1, x sets the second field) and tuple access. Reads are synchronous;
// writes return a Promise that resolves when durable per wal_mode (inside box.atomic/begin,
// at once: the transaction commits as a whole).
import { ClientError, decode, ErrorCode, Privilege, UserId } from '@tarantype/core';
import {
  type BeforeReplaceTrigger,
  type KeyInput,
  type OnReplaceTrigger,
  roundTripCopy,
  type SelectOptions,
  type Statement,
  type TupleInput,
  type UpdateOpsInput,
} from '@tarantype/memtx';
import type { Box } from './box.js';
import { type SpaceEntry, SYSVIEW_BASE } from './catalog.js';
import { type Operation, storageOf } from './executor.js';
import type { FormatField, IndexDef } from './schema-def.js';

export interface IndexSelector {
  /** Index name or id; default the primary index (0). */
  readonly index?: number | string;
}

export interface BoxSelectOptions extends IndexSelector, SelectOptions {}

export interface BoxUpdateOptions extends IndexSelector {
  /** Field numbering of the operations: 0 (default, this API) or 1 (Lua-style callers). */
  readonly indexBase?: number;
}

export interface CreateIndexOptions {
  readonly type?: 'TREE' | 'HASH' | 'tree' | 'hash';
  readonly id?: number;
  readonly unique?: boolean;
  readonly if_not_exists?: boolean;
  /** Parts: [{field, type, is_nullable}] or [[field, type]] or field names; 0-based fields. */
  readonly parts?: ReadonlyArray<
    | { field: number | string; type?: string; is_nullable?: boolean }
    | readonly [number | string, string?]
    | number
    | string
  >;
}

const INDEX_OPTIONS = new Set(['type', 'id', 'unique', 'if_not_exists', 'parts']);

const newTupleOf = (statement: Statement) => statement.newTuple!;
/**
 * What an INSERT or REPLACE stored, as its caller reads it back: when memtx stored the
 * caller's own JS array (no before_replace rewrite) and each of its fields round-trips through
 * MessagePack unchanged, a copy of that array (memtx roundTripCopy: extract runs while the
 * write is applied, before the caller can change its array); otherwise the stored bytes,
 * decoded.
 */
const storedTupleOf = (statement: Statement, op: Operation): unknown[] => {
  if (
    statement.rewrite === undefined &&
    (op.kind === 'insert' || op.kind === 'replace') &&
    Array.isArray(op.tuple)
  ) {
    const copy = roundTripCopy(op.tuple);
    if (copy !== undefined) return copy;
  }
  return statement.newTuple!;
};
const oldTupleOf = (statement: Statement) => statement.oldTuple!;

export class BoxIndex {
  constructor(
    private readonly space: BoxSpace,
    readonly def: IndexDef,
  ) {}

  get id(): number {
    return this.def.id;
  }
  get name(): string {
    return this.def.name;
  }
  get type(): 'TREE' | 'HASH' {
    return this.def.type;
  }
  get unique(): boolean {
    return this.def.unique;
  }
  get parts(): ReadonlyArray<{ fieldno: number; type: string; is_nullable: boolean }> {
    return this.def.parts.map((p) => ({
      fieldno: p.field,
      type: p.type,
      is_nullable: p.is_nullable,
    }));
  }

  /** What a console prints for an index (Tarantool's index object fields, 0-based fieldno). */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      name: this.name,
      type: this.type,
      unique: this.unique,
      space_id: this.space.id,
      parts: this.parts,
    };
  }

  select(key?: KeyInput, options: SelectOptions = {}): unknown[][] {
    return this.space.select(key, { ...options, index: this.def.id });
  }
  get(key: KeyInput): unknown[] | undefined {
    return this.space.get(key, { index: this.def.id });
  }
  /** index:pairs(): lazy, over a snapshot of this index (see BoxSpace.pairs). */
  pairs(key?: KeyInput, options: SelectOptions = {}): Generator<unknown[], void, undefined> {
    return this.space.pairs(key, { ...options, index: this.def.id });
  }
  count(key?: KeyInput, options: Pick<SelectOptions, 'iterator'> = {}): number {
    return this.space.count(key, { ...options, index: this.def.id });
  }
  min(key?: KeyInput): unknown[] | undefined {
    return this.space.min(key, { index: this.def.id });
  }
  max(key?: KeyInput): unknown[] | undefined {
    return this.space.max(key, { index: this.def.id });
  }
  update(
    key: KeyInput,
    ops: UpdateOpsInput,
    options: Omit<BoxUpdateOptions, 'index'> = {},
  ): Promise<unknown[] | undefined> {
    return this.space.update(key, ops, { ...options, index: this.def.id });
  }
  delete(key: KeyInput): Promise<unknown[] | undefined> {
    return this.space.delete(key, { index: this.def.id });
  }
  len(): number {
    return this.space.storage().findIndex(this.def.id).len();
  }
  bsize(): number {
    return this.space.storage().findIndex(this.def.id).bsize();
  }
  /** Drops this index (a delete from _index). */
  drop(): Promise<void> {
    return this.space.box.schema.dropIndex(this.space.id, this.def.id);
  }
}

export class BoxSpace {
  constructor(
    readonly box: Box,
    private readonly entry: SpaceEntry,
    readonly userId: number,
  ) {}

  get id(): number {
    return this.entry.def.id;
  }
  get name(): string {
    return this.entry.def.name;
  }
  get engine(): string {
    return this.entry.def.engine;
  }
  get temporary(): boolean {
    return this.entry.def.temporary;
  }
  get is_local(): boolean {
    return this.entry.def.group_id === 1;
  }
  get field_count(): number {
    return this.entry.def.field_count;
  }
  /** The space format (names, types, is_nullable). */
  get formatFields(): readonly FormatField[] {
    return this.entry.def.format;
  }
  /** Indexes by name and by id (space.index.primary, space.index[0]). */
  get index(): Readonly<Record<string | number, BoxIndex>> {
    const out: Record<string | number, BoxIndex> = {};
    for (const def of this.entry.indexes.values()) {
      const handle = new BoxIndex(this, def);
      out[def.id] = handle;
      out[def.name] = handle;
    }
    return out;
  }

  /** What a console prints for a space (Tarantool's space object fields). */
  toJSON(): Record<string, unknown> {
    const index: Record<string, unknown> = {};
    for (const def of this.entry.indexes.values())
      index[def.name] = new BoxIndex(this, def).toJSON();
    return {
      id: this.id,
      name: this.name,
      engine: this.engine,
      field_count: this.field_count,
      temporary: this.temporary,
      is_local: this.is_local,
      format: this.formatFields,
      index,
    };
  }

  /** @internal The memtx space (refreshed after format changes). */
  storage() {
    return storageOf(this.entry);
  }

  private indexId(index: number | string | undefined): number {
    if (index === undefined) return 0;
    if (typeof index === 'number') {
      if (!this.entry.indexes.has(index))
        throw new ClientError(ErrorCode.ER_NO_SUCH_INDEX_ID, index, this.entry.def.name);
      return index;
    }
    for (const def of this.entry.indexes.values()) if (def.name === index) return def.id;
    throw new ClientError(ErrorCode.ER_NO_SUCH_INDEX_NAME, index, this.entry.def.name);
  }

  // {{{ writes

  insert(tuple: TupleInput): Promise<unknown[]> {
    return this.box.write(
      this.userId,
      this.id,
      { kind: 'insert', tuple },
      'INSERT',
      storedTupleOf,
    ) as Promise<unknown[]>;
  }

  replace(tuple: TupleInput): Promise<unknown[]> {
    return this.box.write(
      this.userId,
      this.id,
      { kind: 'replace', tuple },
      'REPLACE',
      storedTupleOf,
    ) as Promise<unknown[]>;
  }

  /** Tarantool's space:put, the same as replace. */
  put(tuple: TupleInput): Promise<unknown[]> {
    return this.replace(tuple);
  }

  async update(
    key: KeyInput,
    ops: UpdateOpsInput,
    options: BoxUpdateOptions = {},
  ): Promise<unknown[] | undefined> {
    const op = {
      kind: 'update',
      key,
      ops,
      index: this.indexId(options.index),
      indexBase: options.indexBase ?? 0,
    } as const;
    return this.box.write(this.userId, this.id, op, 'UPDATE', newTupleOf);
  }

  /** UPSERT: nothing is returned; failed operations are skipped and logged (Tarantool's rule). */
  async upsert(
    tuple: TupleInput,
    ops: UpdateOpsInput,
    options: Omit<BoxUpdateOptions, 'index'> = {},
  ): Promise<void> {
    const errors = await this.box.write(
      this.userId,
      this.id,
      { kind: 'upsert', tuple, ops, indexBase: options.indexBase ?? 0 },
      'UPSERT',
      (statement) => statement.upsertErrors,
    );
    for (const error of errors ?? [])
      this.box.logger.error(`UPSERT on space '${this.name}': ${error.message}`);
  }

  async delete(key: KeyInput, options: IndexSelector = {}): Promise<unknown[] | undefined> {
    return this.box.write(
      this.userId,
      this.id,
      { kind: 'delete', key, index: this.indexId(options.index) },
      'DELETE',
      oldTupleOf,
    );
  }

  /** Removes every tuple (a write to _truncate, logged and replicated as one row). */
  truncate(): Promise<void> {
    return this.box.schema.truncateSpace(this.id, this.userId);
  }

  // }}}
  // {{{ reads

  private checkRead(): void {
    this.box.checkRead(this.userId, this.entry);
  }

  select(key?: KeyInput, options: BoxSelectOptions = {}): unknown[][] {
    if (SYSVIEW_BASE.has(this.id))
      return this.selectRaw(key ?? [], options).map((tuple) => decode(tuple) as unknown[]);
    this.box.stats.count('SELECT');
    this.checkRead();
    return this.storage().findIndex(this.indexId(options.index)).select(key, options);
  }

  /** Raw MessagePack tuples (views valid until the next write): the iproto select path. */
  selectRaw(key: KeyInput, options: BoxSelectOptions = {}): Uint8Array[] {
    return this.box.selectRaw(
      this.userId,
      this.id,
      this.indexId(options.index),
      key ?? [],
      options,
    );
  }

  get(key: KeyInput, options: IndexSelector = {}): unknown[] | undefined {
    if (SYSVIEW_BASE.has(this.id)) return this.select(key, { ...options, limit: 1 })[0];
    this.box.stats.count('SELECT');
    this.checkRead();
    return this.storage().findIndex(this.indexId(options.index)).get(key);
  }

  count(key?: KeyInput, options: IndexSelector & Pick<SelectOptions, 'iterator'> = {}): number {
    if (SYSVIEW_BASE.has(this.id)) return this.select(key, options).length;
    this.checkRead();
    return this.storage().findIndex(this.indexId(options.index)).count(key, options);
  }

  len(): number {
    this.checkRead();
    return this.storage().len();
  }

  bsize(): number {
    this.checkRead();
    return this.storage().bsize();
  }

  min(key?: KeyInput, options: IndexSelector = {}): unknown[] | undefined {
    this.checkRead();
    return this.storage().findIndex(this.indexId(options.index)).min(key);
  }

  max(key?: KeyInput, options: IndexSelector = {}): unknown[] | undefined {
    this.checkRead();
    return this.storage().findIndex(this.indexId(options.index)).max(key);
  }

  /**
   * Iterates matching tuples lazily over an O(1) snapshot of the index taken at call time
   * (memtx's index pairs): nothing is materialised, so a scan of a million tuples holds one
   * tuple at a time, and writes during the iteration do not disturb it. Access and the SELECT
   * counter are checked and counted when the iteration starts, as select does.
   */
  *pairs(key?: KeyInput, options: BoxSelectOptions = {}): Generator<unknown[], void, undefined> {
    if (SYSVIEW_BASE.has(this.id)) {
      yield* this.select(key, options);
      return;
    }
    this.box.stats.count('SELECT');
    this.checkRead();
    yield* this.storage().findIndex(this.indexId(options.index)).pairs(key, options);
  }

  // }}}
  // {{{ schema

  /** space:create_index(name, options). Parts use 0-based field numbers or format names. */
  async createIndex(name: string, options: CreateIndexOptions = {}): Promise<BoxIndex> {
    for (const key of Object.keys(options))
      if (!INDEX_OPTIONS.has(key))
        throw new ClientError(ErrorCode.ER_ILLEGAL_PARAMS, `unexpected option '${key}'`);
    for (const def of this.entry.indexes.values()) {
      if (def.name !== name) continue;
      if (options.if_not_exists === true) return new BoxIndex(this, def);
      throw new ClientError(ErrorCode.ER_INDEX_EXISTS, name);
    }
    const def = await this.box.schema.createIndex(this.entry, name, options, this.userId);
    return new BoxIndex(this, def);
  }

  /** Changes the space format (existing tuples are checked against it). */
  format(format: ReadonlyArray<FormatField | readonly [string, string]>): Promise<void> {
    return this.box.schema.alterSpace(this.id, { format }, this.userId);
  }

  rename(name: string): Promise<void> {
    return this.box.schema.alterSpace(this.id, { name }, this.userId);
  }

  /** Drops the space: its grants, indexes, truncate record and _space row, in one transaction. */
  drop(): Promise<void> {
    return this.box.schema.dropSpace(this.id, this.userId);
  }

  /** before_replace trigger (see @tarantype/memtx); returns a function removing it. */
  beforeReplace(trigger: BeforeReplaceTrigger): () => void {
    if (this.userId !== UserId.ADMIN)
      this.box.catalog.access.check(
        this.userId,
        Privilege.ALTER,
        'space',
        this.id,
        this.name,
        this.entry.def.owner,
      );
    return this.storage().beforeReplace(trigger);
  }

  onReplace(trigger: OnReplaceTrigger): () => void {
    if (this.userId !== UserId.ADMIN)
      this.box.catalog.access.check(
        this.userId,
        Privilege.ALTER,
        'space',
        this.id,
        this.name,
        this.entry.def.owner,
      );
    return this.storage().onReplace(trigger);
  }

  // }}}
}
