// The catalog: every space and index of the instance, built from the system spaces. Layer: box.
// DDL is a write to _space/_index (and users to _user/_priv …); after each such statement,
// onSystemReplace() changes the in-memory objects to match and returns an Undo that reverses
// the change, so a failed WAL write or a rollback restores the schema exactly. Recovery and
// (later) the applier go through the same function, so a restarted instance or a replica
// rebuilds the same schema from the same rows.
// System spaces themselves are created from the built-in definitions (bootstrap-data.ts)
// before anything is read: their own _space/_index rows only refresh the definitions.
import {
  ClientError,
  ErrorCode,
  SYSTEM_ID_MAX,
  SystemSpace,
  UserId,
  VCLOCK_MAX,
} from '@tarantype/core';
import { Space } from '@tarantype/memtx';
import { AccessControl, type PrivRow, type UserDef } from './access.js';
import { SYSTEM_INDEX_ROWS, SYSTEM_SPACE_ROWS } from './bootstrap-data.js';
import {
  decodeIndexTuple,
  decodeSpaceTuple,
  type IndexDef,
  type SpaceDef,
  unsupported,
} from './schema-def.js';
import type { Undo } from './txn.js';

export interface SpaceEntry {
  def: SpaceDef;
  /** The storage; undefined for sysview, blackhole and service spaces. */
  memtx: Space | undefined;
  /** Index definitions by index id. */
  indexes: Map<number, IndexDef>;
}

/** _func rows this instance knows (name → definition). */
export interface FuncDef {
  readonly id: number;
  readonly owner: number;
  readonly name: string;
  readonly setuid: boolean;
  readonly language: string;
}

/** Sysview spaces read their base space: _vspace → _space … */
export const SYSVIEW_BASE: ReadonlyMap<number, number> = new Map([
  [SystemSpace.VCOLLATION, SystemSpace.COLLATION],
  [SystemSpace.VSPACE, SystemSpace.SPACE],
  [SystemSpace.VSEQUENCE, SystemSpace.SEQUENCE],
  [SystemSpace.VINDEX, SystemSpace.INDEX],
  [SystemSpace.VFUNC, SystemSpace.FUNC],
  [SystemSpace.VUSER, SystemSpace.USER],
  [SystemSpace.VPRIV, SystemSpace.PRIV],
]);

const NOOP_UNDO: Undo = { rollback() {} };

export class Catalog {
  readonly byId = new Map<number, SpaceEntry>();
  readonly byName = new Map<string, SpaceEntry>();
  readonly access = new AccessControl();
  readonly funcs = new Map<string, FuncDef>();
  /** _cluster: replica id → instance UUID. */
  readonly cluster = new Map<number, string>();
  replicasetUuid: string | undefined;
  /** Bumped by every schema change; sent in every iproto reply header. */
  schemaVersion = 1;
  /** Called when a space is created or dropped (box keeps box.space in sync). */
  onSpacesChanged: () => void = () => {};
  /** A member left `_cluster` (its row deleted or its uuid changed), once committed. */
  onClusterMemberRemoved: ((uuid: string) => void) | undefined;
  /** A member joined `_cluster` (2.6 logs "assigned id N to replica <uuid>"), once committed. */
  onClusterMemberAdded: ((id: number, uuid: string) => void) | undefined;

  constructor(private readonly maxTupleSizeBytes: () => number) {
    for (const row of SYSTEM_SPACE_ROWS) {
      const def = decodeSpaceTuple(row);
      this.add({
        def,
        memtx: def.engine === 'memtx' ? this.newSpace(def) : undefined,
        indexes: new Map(),
      });
    }
    for (const row of SYSTEM_INDEX_ROWS) {
      const entry = this.byId.get(row[0] as number)!;
      const index = decodeIndexTuple(row, entry.def);
      entry.indexes.set(index.id, index);
      entry.memtx?.createIndex(memtxIndexOptions(index));
    }
  }

  space(id: number): SpaceEntry | undefined {
    return this.byId.get(id);
  }

  /** The entry or ER_NO_SUCH_SPACE naming it as given. */
  spaceOrThrow(idOrName: number | string): SpaceEntry {
    const entry =
      typeof idOrName === 'number' ? this.byId.get(idOrName) : this.byName.get(idOrName);
    if (entry === undefined) throw new ClientError(ErrorCode.ER_NO_SUCH_SPACE, String(idOrName));
    return entry;
  }

  private add(entry: SpaceEntry): void {
    this.byId.set(entry.def.id, entry);
    this.byName.set(entry.def.name, entry);
  }

  private remove(entry: SpaceEntry): void {
    this.byId.delete(entry.def.id);
    if (this.byName.get(entry.def.name) === entry) this.byName.delete(entry.def.name);
  }

  private newSpace(def: SpaceDef): Space {
    return new Space({
      id: def.id,
      name: def.name,
      format: def.format,
      temporary: def.temporary,
      isLocal: def.group_id === 1,
      fieldCount: def.field_count,
      maxTupleSizeBytes: this.maxTupleSizeBytes(),
      autocommit: false,
    });
  }

  /**
   * Brings the catalog in line with a statement on system space `spaceId` (old → new tuple,
   * either may be absent). Throws the Tarantool error of an invalid change (the caller then
   * rolls the statement back). Returns the undo of the catalog change.
   */
  onSystemReplace(
    spaceId: number,
    oldTuple: unknown[] | undefined,
    newTuple: unknown[] | undefined,
  ): Undo {
    switch (spaceId) {
      case SystemSpace.SPACE:
        return this.bump(this.alterSpace(oldTuple, newTuple));
      case SystemSpace.INDEX:
        return this.bump(this.alterIndex(oldTuple, newTuple));
      case SystemSpace.USER:
        return this.bump(this.alterUser(oldTuple, newTuple));
      case SystemSpace.PRIV:
        return this.bump(this.alterPriv(oldTuple, newTuple));
      case SystemSpace.FUNC:
        return this.bump(this.alterFunc(oldTuple, newTuple));
      case SystemSpace.CLUSTER:
        return this.alterCluster(oldTuple, newTuple);
      case SystemSpace.SCHEMA:
        return this.alterSchema(oldTuple, newTuple);
      case SystemSpace.TRUNCATE:
        return this.truncate(newTuple);
      case SystemSpace.SEQUENCE:
      case SystemSpace.SEQUENCE_DATA:
      case SystemSpace.SPACE_SEQUENCE:
      case SystemSpace.TRIGGER:
      case SystemSpace.FK_CONSTRAINT:
      case SystemSpace.CK_CONSTRAINT:
      case SystemSpace.FUNC_INDEX:
        // Objects tarantype does not model: refused by name (a delete of one is of nothing).
        if (newTuple !== undefined) throw unsupported(this.unmodelled(spaceId, newTuple));
        return NOOP_UNDO;
      default:
        return NOOP_UNDO;
    }
  }

  /** What a row of an unmodelled system space defines, for the refusal's text. */
  private unmodelled(spaceId: number, t: unknown[]): string {
    const space = (id: unknown) => {
      const entry = this.byId.get(Number(id));
      return `space '${entry?.def.name ?? '?'}', id ${String(id)}`;
    };
    switch (spaceId) {
      case SystemSpace.SEQUENCE:
        return `sequences (sequence '${String(t[2])}', id ${String(t[0])})`;
      case SystemSpace.SEQUENCE_DATA:
        return `sequences (sequence id ${String(t[0])})`;
      case SystemSpace.SPACE_SEQUENCE:
        return `auto-increment indexes (${space(t[0])}, sequence id ${String(t[1])})`;
      case SystemSpace.TRIGGER:
        return `SQL triggers (trigger '${String(t[0])}', ${space(t[1])})`;
      case SystemSpace.FK_CONSTRAINT:
        return `foreign keys (constraint '${String(t[0])}', ${space(t[1])})`;
      case SystemSpace.CK_CONSTRAINT:
        return `CHECK constraints (constraint '${String(t[1])}', ${space(t[0])})`;
      default:
        return `functional indexes (index id ${String(t[1])}, ${space(t[0])})`;
    }
  }

  private bump(undo: Undo): Undo {
    this.schemaVersion++;
    return undo;
  }

  private alterSpace(oldTuple: unknown[] | undefined, newTuple: unknown[] | undefined): Undo {
    if (oldTuple === undefined && newTuple !== undefined)
      return this.createSpace(decodeSpaceTuple(newTuple));
    if (oldTuple !== undefined && newTuple === undefined)
      return this.dropSpace(oldTuple[0] as number);
    if (oldTuple !== undefined && newTuple !== undefined)
      return this.changeSpace(oldTuple[0] as number, decodeSpaceTuple(newTuple));
    return NOOP_UNDO;
  }

  private createSpace(def: SpaceDef): Undo {
    const existing = this.byId.get(def.id);
    if (existing !== undefined && def.id <= SYSTEM_ID_MAX) {
      // A system space's own row (bootstrap, recovery): refresh the definition only.
      const previous = existing.def;
      existing.def = def;
      return { rollback: () => void (existing.def = previous) };
    }
    if (this.byName.has(def.name)) throw new ClientError(ErrorCode.ER_SPACE_EXISTS, def.name);
    const entry: SpaceEntry = {
      def,
      memtx: def.engine === 'memtx' ? this.newSpace(def) : undefined,
      indexes: new Map(),
    };
    this.add(entry);
    this.onSpacesChanged();
    return {
      rollback: () => {
        this.remove(entry);
        this.onSpacesChanged();
      },
    };
  }

  private dropSpace(id: number): Undo {
    const entry = this.byId.get(id);
    if (entry === undefined) return NOOP_UNDO;
    if (id <= SYSTEM_ID_MAX)
      throw new ClientError(ErrorCode.ER_DROP_SPACE, entry.def.name, 'the space is a system space');
    if (entry.indexes.size > 0)
      throw new ClientError(ErrorCode.ER_DROP_SPACE, entry.def.name, 'the space has indexes');
    this.remove(entry);
    this.onSpacesChanged();
    return {
      rollback: () => {
        this.add(entry);
        this.onSpacesChanged();
      },
    };
  }

  private changeSpace(id: number, def: SpaceDef): Undo {
    const entry = this.byId.get(id);
    if (entry === undefined) throw new ClientError(ErrorCode.ER_NO_SUCH_SPACE, String(id));
    const previous = { def: entry.def, memtx: entry.memtx };
    if (def.name !== entry.def.name && this.byName.has(def.name))
      throw new ClientError(ErrorCode.ER_SPACE_EXISTS, def.name);
    const formatChanged =
      JSON.stringify(def.format) !== JSON.stringify(entry.def.format) ||
      def.field_count !== entry.def.field_count;
    const renamed = def.name !== entry.def.name;
    if (
      (formatChanged ||
        renamed ||
        def.temporary !== entry.def.temporary ||
        def.group_id !== entry.def.group_id) &&
      entry.memtx !== undefined
    ) {
      entry.memtx = this.rebuild(entry, def);
    }
    if (this.byName.get(previous.def.name) === entry) this.byName.delete(previous.def.name);
    entry.def = def;
    this.add(entry);
    this.onSpacesChanged();
    return {
      rollback: () => {
        this.remove(entry);
        entry.def = previous.def;
        entry.memtx = previous.memtx;
        this.add(entry);
        this.onSpacesChanged();
      },
    };
  }

  /**
   * A new memtx space with `def`'s format holding the same tuples and indexes: validates every
   * tuple against the new format (the first failure is the error, as in Tarantool).
   */
  private rebuild(entry: SpaceEntry, def: SpaceDef): Space {
    const space = this.newSpace(def);
    for (const index of [...entry.indexes.values()].sort((a, b) => a.id - b.id))
      space.createIndex(memtxIndexOptions(index));
    if (entry.memtx !== undefined && entry.memtx.index(0) !== undefined) {
      for (const tuple of entry.memtx.findIndex(0).selectRaw([], { iterator: 'ALL' }))
        space.insert(tuple).commit();
    }
    entry.memtx?.copyTriggersTo(space);
    return space;
  }

  /**
   * Altering the primary key (an _index replace of iid 0): a new space with the new key and
   * the same tuples (each checked against it), swapped in; the undo swaps the old one back.
   */
  private alterPrimary(entry: SpaceEntry, def: IndexDef): Undo {
    const previous = { memtx: entry.memtx, indexes: entry.indexes };
    const indexes = new Map(entry.indexes);
    indexes.set(0, def);
    if (entry.memtx !== undefined) {
      const space = this.newSpace(entry.def);
      for (const index of [...indexes.values()].sort((a, b) => a.id - b.id))
        space.createIndex(memtxIndexOptions(index));
      for (const tuple of entry.memtx.findIndex(0).selectRaw([], { iterator: 'ALL' }))
        space.insert(tuple).commit();
      entry.memtx.copyTriggersTo(space);
      entry.memtx = space;
    }
    entry.indexes = indexes;
    return {
      rollback: () => {
        entry.memtx = previous.memtx;
        entry.indexes = previous.indexes;
      },
    };
  }

  private alterIndex(oldTuple: unknown[] | undefined, newTuple: unknown[] | undefined): Undo {
    const tuple = newTuple ?? oldTuple!;
    const entry = this.byId.get(tuple[0] as number);
    if (entry === undefined) throw new ClientError(ErrorCode.ER_NO_SUCH_SPACE, String(tuple[0]));
    const iid = tuple[1] as number;
    if (entry.def.id <= SYSTEM_ID_MAX && entry.indexes.has(iid) && newTuple !== undefined) {
      const previous = entry.indexes.get(iid)!;
      entry.indexes.set(iid, decodeIndexTuple(newTuple, entry.def));
      return { rollback: () => void entry.indexes.set(iid, previous) };
    }
    if (iid === 0 && oldTuple !== undefined && newTuple !== undefined) {
      return this.alterPrimary(entry, decodeIndexTuple(newTuple, entry.def));
    }
    const undos: Undo[] = [];
    if (oldTuple !== undefined) undos.push(this.dropIndex(entry, oldTuple[1] as number));
    try {
      if (newTuple !== undefined)
        undos.push(this.createIndex(entry, decodeIndexTuple(newTuple, entry.def)));
    } catch (error) {
      for (const undo of undos.reverse()) undo.rollback();
      throw error;
    }
    return {
      rollback: () => {
        for (const undo of undos.reverse()) undo.rollback();
      },
    };
  }

  private createIndex(entry: SpaceEntry, def: IndexDef): Undo {
    if (def.id !== 0 && !entry.indexes.has(0))
      throw new ClientError(
        ErrorCode.ER_MODIFY_INDEX,
        def.name,
        entry.def.name,
        'can not add a secondary key before primary',
      );
    for (const other of entry.indexes.values())
      if (other.name === def.name && other.id !== def.id)
        throw new ClientError(ErrorCode.ER_INDEX_EXISTS, def.name);
    entry.memtx?.createIndex(memtxIndexOptions(def));
    entry.indexes.set(def.id, def);
    return {
      rollback: () => {
        entry.indexes.delete(def.id);
        entry.memtx?.dropIndex(def.id);
      },
    };
  }

  private dropIndex(entry: SpaceEntry, iid: number): Undo {
    const def = entry.indexes.get(iid);
    if (def === undefined) return NOOP_UNDO;
    if (iid === 0 && entry.indexes.size > 1)
      throw new ClientError(ErrorCode.ER_DROP_PRIMARY_KEY, entry.def.name);
    if (iid === 0) {
      // The data goes with the primary key: swap in an empty space and keep the old one for
      // the undo. Statements still in flight on the old space roll back against it intact.
      const previous = entry.memtx;
      if (previous !== undefined) {
        const fresh = this.newSpace(entry.def);
        previous.copyTriggersTo(fresh);
        entry.memtx = fresh;
      }
      entry.indexes.delete(0);
      return {
        rollback: () => {
          entry.memtx = previous;
          entry.indexes.set(0, def);
        },
      };
    }
    entry.memtx?.dropIndex(iid);
    entry.indexes.delete(iid);
    return {
      rollback: () => {
        entry.indexes.set(iid, def);
        entry.memtx?.createIndex(memtxIndexOptions(def));
      },
    };
  }

  private alterUser(oldTuple: unknown[] | undefined, newTuple: unknown[] | undefined): Undo {
    const oldUser = oldTuple === undefined ? undefined : userFromTuple(oldTuple);
    const newUser = newTuple === undefined ? undefined : userFromTuple(newTuple);
    if (newUser !== undefined && oldUser === undefined) {
      const clash = this.access.userByName(newUser.name);
      if (clash !== undefined)
        throw new ClientError(
          newUser.type === 'role' ? ErrorCode.ER_ROLE_EXISTS : ErrorCode.ER_USER_EXISTS,
          newUser.name,
        );
    }
    if (
      oldUser !== undefined &&
      newUser === undefined &&
      oldUser.id <= UserId.SUPER &&
      [0, 1, 2, 3, 31].includes(oldUser.id)
    ) {
      throw new ClientError(
        ErrorCode.ER_DROP_USER,
        oldUser.name,
        'the user or the role is a system',
      );
    }
    this.access.replaceUser(oldUser, newUser);
    return { rollback: () => this.access.replaceUser(newUser, oldUser) };
  }

  private alterPriv(oldTuple: unknown[] | undefined, newTuple: unknown[] | undefined): Undo {
    const oldRow = oldTuple === undefined ? undefined : privFromTuple(oldTuple);
    const newRow = newTuple === undefined ? undefined : privFromTuple(newTuple);
    this.access.replacePriv(oldRow, newRow);
    return { rollback: () => this.access.replacePriv(newRow, oldRow) };
  }

  private alterFunc(oldTuple: unknown[] | undefined, newTuple: unknown[] | undefined): Undo {
    const oldFunc = oldTuple === undefined ? undefined : funcFromTuple(oldTuple);
    const newFunc = newTuple === undefined ? undefined : funcFromTuple(newTuple);
    if (oldFunc !== undefined) this.funcs.delete(oldFunc.name);
    if (newFunc !== undefined) this.funcs.set(newFunc.name, newFunc);
    return {
      rollback: () => {
        if (newFunc !== undefined) this.funcs.delete(newFunc.name);
        if (oldFunc !== undefined) this.funcs.set(oldFunc.name, oldFunc);
      },
    };
  }

  private alterCluster(oldTuple: unknown[] | undefined, newTuple: unknown[] | undefined): Undo {
    // 2.6 (replica_check_id): ids are vclock components, 1..VCLOCK_MAX - 1.
    if (newTuple !== undefined && (newTuple[0] as number) >= VCLOCK_MAX)
      throw new ClientError(ErrorCode.ER_REPLICA_MAX, newTuple[0] as number);
    if (oldTuple !== undefined) this.cluster.delete(oldTuple[0] as number);
    if (newTuple !== undefined) this.cluster.set(newTuple[0] as number, newTuple[1] as string);
    const removed =
      oldTuple !== undefined && oldTuple[1] !== newTuple?.[1] ? (oldTuple[1] as string) : undefined;
    const added =
      newTuple !== undefined && newTuple[1] !== oldTuple?.[1]
        ? { id: newTuple[0] as number, uuid: newTuple[1] as string }
        : undefined;
    return {
      commit: () => {
        if (removed !== undefined) this.onClusterMemberRemoved?.(removed);
        if (added !== undefined) this.onClusterMemberAdded?.(added.id, added.uuid);
      },
      rollback: () => {
        if (newTuple !== undefined) this.cluster.delete(newTuple[0] as number);
        if (oldTuple !== undefined) this.cluster.set(oldTuple[0] as number, oldTuple[1] as string);
      },
    };
  }

  private alterSchema(oldTuple: unknown[] | undefined, newTuple: unknown[] | undefined): Undo {
    const key = (newTuple ?? oldTuple)?.[0];
    if (key !== 'cluster') return NOOP_UNDO;
    const previous = this.replicasetUuid;
    this.replicasetUuid = newTuple?.[1] as string | undefined;
    return { rollback: () => void (this.replicasetUuid = previous) };
  }

  /** A _truncate row for space X truncates X (Tarantool's space:truncate() mechanism). */
  private truncate(newTuple: unknown[] | undefined): Undo {
    if (newTuple === undefined) return NOOP_UNDO;
    const entry = this.byId.get(newTuple[0] as number);
    if (entry?.memtx === undefined || entry.memtx.index(0) === undefined) return NOOP_UNDO;
    const statement = entry.memtx.truncate();
    return { rollback: () => statement.rollback(), commit: () => statement.commit() };
  }
}

/** memtx index options from a definition (0-based fields). */
export function memtxIndexOptions(def: IndexDef) {
  return {
    id: def.id,
    name: def.name,
    type: def.type,
    unique: def.unique,
    parts: def.parts.map((p) => ({ field: p.field, type: p.type, is_nullable: p.is_nullable })),
  };
}

function asRecord(value: unknown): Record<string, unknown> {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), v]));
  return (value ?? {}) as Record<string, unknown>;
}

export function userFromTuple(tuple: readonly unknown[]): UserDef {
  const auth = asRecord(tuple[4]);
  const hash = auth['chap-sha1'];
  const base = {
    id: tuple[0] as number,
    owner: tuple[1] as number,
    name: tuple[2] as string,
    type: tuple[3] === 'role' ? 'role' : 'user',
  } as const;
  return typeof hash === 'string' ? { ...base, chapSha1: hash } : base;
}

export function privFromTuple(tuple: readonly unknown[]): PrivRow {
  return {
    grantor: tuple[0] as number,
    grantee: tuple[1] as number,
    objectType: tuple[2] as string,
    objectId: tuple[3] as number | string,
    privilege: tuple[4] as number,
  };
}

function funcFromTuple(tuple: readonly unknown[]): FuncDef {
  return {
    id: tuple[0] as number,
    owner: tuple[1] as number,
    name: tuple[2] as string,
    setuid: tuple[3] === 1,
    language: String(tuple[4]),
  };
}
