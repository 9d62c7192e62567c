// box.schema: DDL and users as writes to the system spaces, each call one transaction (or part
// of the caller's), with Tarantool 2.6's option checks and error texts. Layer: box.
// The alter logic in catalog.ts turns the rows into memtx objects; nothing here touches memtx
// directly, so a WAL failure, recovery and replication all see the same thing.
// Privileges: the embedded API acts as admin; a session user needs Create/Drop/Alter on
// universe (or owning the object) as in Tarantool; the system rows are then written as admin.
import {
  AccessDeniedError,
  ClientError,
  ErrorCode,
  Privilege,
  SystemSpace,
  UserId,
} from '@tarantype/core';
import { parsePrivileges, privilegeText } from './access.js';
import type { Box } from './box.js';
import { BoxSpace, type CreateIndexOptions } from './box-space.js';
import type { SpaceEntry } from './catalog.js';
import { storageOf } from './executor.js';
import { chapSha1Hash2 } from './password.js';
import {
  checkIdentifier,
  encodeIndexTuple,
  encodeSpaceTuple,
  type FieldTypeName,
  type FormatField,
  fieldTypeName,
  type IndexDef,
} from './schema-def.js';

export interface CreateSpaceOptions {
  readonly engine?: 'memtx';
  readonly field_count?: number;
  readonly format?: ReadonlyArray<FormatField | readonly [string, string]>;
  readonly id?: number;
  readonly if_not_exists?: boolean;
  readonly is_local?: boolean;
  readonly temporary?: boolean;
  readonly user?: string;
  readonly is_sync?: boolean;
}

const SPACE_OPTIONS = new Set([
  'engine',
  'field_count',
  'format',
  'id',
  'if_not_exists',
  'is_local',
  'temporary',
  'user',
  'is_sync',
]);
const ADMIN = UserId.ADMIN;

function illegal(message: string): ClientError {
  return new ClientError(ErrorCode.ER_ILLEGAL_PARAMS, message);
}

function normalizeFormat(format: CreateSpaceOptions['format']): FormatField[] {
  if (format === undefined) return [];
  if (!Array.isArray(format)) throw illegal('format must be an array');
  return format.map((field, i) => {
    const entry = Array.isArray(field)
      ? { name: field[0], type: field[1] ?? 'any' }
      : (field as FormatField);
    if (typeof entry.name !== 'string')
      throw illegal(`format[${i + 1}]: name (string) is expected`);
    const type = fieldTypeName(entry.type ?? 'any');
    if (type === undefined)
      throw new ClientError(
        ErrorCode.ER_CREATE_SPACE,
        '?',
        `field ${i + 1} has unknown field type`,
      );
    return (entry as FormatField).is_nullable === true
      ? { name: entry.name, type, is_nullable: true }
      : { name: entry.name, type };
  });
}

export class SchemaApi {
  readonly space = {
    create: (name: string, options?: CreateSpaceOptions) =>
      this.createSpace(name, options ?? {}, ADMIN),
  };
  readonly user = {
    create: (name: string, options?: { password?: string; if_not_exists?: boolean }) =>
      this.createUser(name, 'user', options ?? {}),
    drop: (name: string, options?: { if_exists?: boolean }) =>
      this.dropUser(name, 'user', options ?? {}),
    exists: (name: string) => this.box.catalog.access.userByName(name)?.type === 'user',
    passwd: (name: string, password?: string) =>
      password === undefined ? this.passwd('admin', name) : this.passwd(name, password),
    grant: (
      name: string,
      privileges: string,
      objectType?: string,
      objectName?: string | number,
      options?: { if_not_exists?: boolean; grantor?: string },
    ) => this.grant(name, privileges, objectType, objectName, options ?? {}),
    revoke: (
      name: string,
      privileges: string,
      objectType?: string,
      objectName?: string | number,
      options?: { if_exists?: boolean },
    ) => this.revoke(name, privileges, objectType, objectName, options ?? {}),
  };
  readonly role = {
    create: (name: string, options?: { if_not_exists?: boolean }) =>
      this.createUser(name, 'role', options ?? {}),
    drop: (name: string, options?: { if_exists?: boolean }) =>
      this.dropUser(name, 'role', options ?? {}),
    exists: (name: string) => this.box.catalog.access.userByName(name)?.type === 'role',
    grant: (
      name: string,
      privileges: string,
      objectType?: string,
      objectName?: string | number,
      options?: { if_not_exists?: boolean },
    ) => this.grant(name, privileges, objectType, objectName, options ?? {}),
    revoke: (
      name: string,
      privileges: string,
      objectType?: string,
      objectName?: string | number,
      options?: { if_exists?: boolean },
    ) => this.revoke(name, privileges, objectType, objectName, options ?? {}),
  };
  readonly func = {
    create: (
      name: string,
      options?: { if_not_exists?: boolean; setuid?: boolean; language?: string },
    ) => this.createFunc(name, options ?? {}),
    drop: (name: string, options?: { if_exists?: boolean }) => this.dropFunc(name, options ?? {}),
    exists: (name: string) => this.box.catalog.funcs.has(name),
  };

  constructor(private readonly box: Box) {}

  /**
   * Runs `fn` in the caller's transaction (or a new one) holding the write lock, so what it
   * reads (current bits, maximum ids, definitions) cannot change before it writes.
   */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.inTxn(async () => {
      await this.box.txns.lock();
      return fn();
    });
  }

  /** Runs `fn` in the caller's transaction, or in a new one. */
  private inTxn<T>(fn: () => Promise<T>): Promise<T> {
    return this.box.txns.current() !== undefined ? fn() : this.box.atomic(fn);
  }

  /**
   * Who may grant or revoke (2.6's _priv trigger): the owner of the object, or a user holding
   * every privilege on universe (admin, the super role); universe grants only the latter.
   */
  private checkGrantor(
    userId: number,
    action: 'Grant' | 'Revoke',
    type: string,
    id: number,
    label: string,
  ): void {
    if (userId === ADMIN) return;
    const access = this.box.catalog.access;
    if (access.granted(userId, 'universe', 0) === Privilege.ALL) return;
    let owner: number | undefined;
    if (type === 'space') owner = this.box.catalog.space(id)?.def.owner;
    else if (type === 'function')
      owner = [...this.box.catalog.funcs.values()].find((f) => f.id === id)?.owner;
    else if (type === 'user' || type === 'role') owner = access.users.get(id)?.owner;
    if (owner === userId) return;
    throw new AccessDeniedError(action, type, label, access.userName(userId));
  }

  private requireUniverse(userId: number, bits: number): void {
    if (userId !== ADMIN) this.box.catalog.access.check(userId, bits, 'universe', 0, '');
  }

  private rows(spaceId: number): unknown[][] {
    return storageOf(this.box.catalog.spaceOrThrow(spaceId)).select([], { iterator: 'ALL' });
  }

  private sys(
    spaceId: number,
    op: Parameters<Box['write']>[2],
    stat: Parameters<Box['write']>[3] = 'REPLACE',
  ) {
    return this.box.write(ADMIN, spaceId, op, stat);
  }

  // {{{ spaces

  async createSpace(name: string, options: CreateSpaceOptions, userId: number): Promise<BoxSpace> {
    return this.locked(async () => {
      for (const key of Object.keys(options))
        if (!SPACE_OPTIONS.has(key)) throw illegal(`unexpected option '${key}'`);
      checkIdentifier(name);
      const existing = this.box.catalog.byName.get(name);
      if (existing !== undefined) {
        if (options.if_not_exists === true) return new BoxSpace(this.box, existing, userId);
        throw new ClientError(ErrorCode.ER_SPACE_EXISTS, name);
      }
      if (options.engine !== undefined && options.engine !== 'memtx')
        throw new ClientError(ErrorCode.ER_NO_SUCH_ENGINE, String(options.engine));
      this.requireUniverse(userId, Privilege.CREATE);
      const format = normalizeFormat(options.format);
      const owner = options.user === undefined ? userId : this.userOrThrow(options.user).id;
      // Only admin (or a user holding everything on universe) may create on behalf of another.
      if (
        owner !== userId &&
        userId !== ADMIN &&
        this.box.catalog.access.granted(userId, 'universe', 0) !== Privilege.ALL
      ) {
        throw new AccessDeniedError(
          'Create',
          'user',
          options.user ?? '',
          this.box.catalog.access.userName(userId),
        );
      }
      await this.inTxn(async () => {
        const maxRow = storageOf(this.box.catalog.spaceOrThrow(SystemSpace.SCHEMA)).get(['max_id']);
        let id = options.id;
        if (id === undefined) {
          id = Math.max((maxRow?.[1] as number | undefined) ?? 511, 511) + 1;
          while (this.box.catalog.byId.has(id)) id++;
          await this.sys(SystemSpace.SCHEMA, { kind: 'replace', tuple: ['max_id', id] });
        }
        const def = {
          id,
          owner,
          name,
          engine: 'memtx' as const,
          field_count: options.field_count ?? 0,
          temporary: options.temporary === true,
          group_id: options.is_local === true ? 1 : 0,
          format,
        };
        await this.sys(
          SystemSpace.SPACE,
          { kind: 'insert', tuple: encodeSpaceTuple(def) },
          'INSERT',
        );
      });
      return new BoxSpace(this.box, this.box.catalog.byName.get(name)!, userId);
    });
  }

  async alterSpace(
    spaceId: number,
    change: { name?: string; format?: CreateSpaceOptions['format'] },
    userId: number,
  ): Promise<void> {
    return this.locked(async () => {
      const entry = this.box.catalog.spaceOrThrow(spaceId);
      if (userId !== ADMIN)
        this.box.catalog.access.check(
          userId,
          Privilege.ALTER,
          'space',
          entry.def.id,
          entry.def.name,
          entry.def.owner,
        );
      const def = {
        ...entry.def,
        ...(change.name === undefined ? {} : { name: checkIdentifier(change.name) }),
        ...(change.format === undefined ? {} : { format: normalizeFormat(change.format) }),
      };
      await this.sys(SystemSpace.SPACE, { kind: 'replace', tuple: encodeSpaceTuple(def) });
    });
  }

  async dropSpace(spaceId: number, userId: number): Promise<void> {
    return this.locked(async () => {
      const entry = this.box.catalog.spaceOrThrow(spaceId);
      if (userId !== ADMIN)
        this.box.catalog.access.check(
          userId,
          Privilege.DROP,
          'space',
          entry.def.id,
          entry.def.name,
          entry.def.owner,
        );
      await this.inTxn(async () => {
        for (const row of this.rows(SystemSpace.PRIV)) {
          if (row[2] === 'space' && row[3] === spaceId)
            await this.sys(
              SystemSpace.PRIV,
              { kind: 'delete', key: [row[1], row[2], row[3]], index: 0 },
              'DELETE',
            );
        }
        for (const iid of [...entry.indexes.keys()].sort((a, b) => b - a)) {
          await this.sys(
            SystemSpace.INDEX,
            { kind: 'delete', key: [spaceId, iid], index: 0 },
            'DELETE',
          );
        }
        await this.sys(
          SystemSpace.TRUNCATE,
          { kind: 'delete', key: [spaceId], index: 0 },
          'DELETE',
        );
        await this.sys(SystemSpace.SPACE, { kind: 'delete', key: [spaceId], index: 0 }, 'DELETE');
      });
    });
  }

  async truncateSpace(spaceId: number, userId: number): Promise<void> {
    return this.locked(async () => {
      const entry = this.box.catalog.spaceOrThrow(spaceId);
      if (userId !== ADMIN)
        this.box.catalog.access.check(
          userId,
          Privilege.WRITE,
          'space',
          entry.def.id,
          entry.def.name,
          entry.def.owner,
        );
      if (entry.def.temporary) {
        // Temporary spaces are never logged: truncate in memory as a statement of this
        // transaction, so it waits for the write lock and is undone if the transaction is.
        await this.box.txns.statement(() => {
          const statement = storageOf(entry).truncate();
          return {
            undo: { rollback: () => statement.rollback(), commit: () => statement.commit() },
          };
        });
        return;
      }
      // Persistent spaces, is_local ones included: a _truncate row, logged and durable.
      const row = storageOf(this.box.catalog.spaceOrThrow(SystemSpace.TRUNCATE)).get([spaceId]);
      const count = ((row?.[1] as number | undefined) ?? 0) + 1;
      await this.sys(SystemSpace.TRUNCATE, { kind: 'replace', tuple: [spaceId, count] });
    });
  }

  async createIndex(
    entry: SpaceEntry,
    name: string,
    options: CreateIndexOptions,
    userId: number,
  ): Promise<IndexDef> {
    return this.locked(async () => {
      if (userId !== ADMIN)
        this.box.catalog.access.check(
          userId,
          Privilege.CREATE,
          'space',
          entry.def.id,
          entry.def.name,
          entry.def.owner,
        );
      checkIdentifier(name);
      const iid =
        options.id ?? (entry.indexes.size === 0 ? 0 : Math.max(...entry.indexes.keys()) + 1);
      const type = (options.type ?? 'TREE').toUpperCase();
      const parts = (options.parts ?? [{ field: 0, type: 'unsigned' }]).map((part, i) =>
        this.indexPart(entry, part, i),
      );
      const unique = options.unique ?? true;
      const def: IndexDef = {
        space_id: entry.def.id,
        id: iid,
        name,
        type: type as IndexDef['type'],
        unique,
        parts,
      };
      if (type !== 'TREE' && type !== 'HASH')
        throw new ClientError(ErrorCode.ER_INDEX_TYPE, name, entry.def.name);
      await this.sys(SystemSpace.INDEX, { kind: 'insert', tuple: encodeIndexTuple(def) }, 'INSERT');
      return entry.indexes.get(iid)!;
    });
  }

  private indexPart(
    entry: SpaceEntry,
    part: NonNullable<CreateIndexOptions['parts']>[number],
    i: number,
  ) {
    let field: number | string;
    let type: string | undefined;
    let isNullable = false;
    if (typeof part === 'number' || typeof part === 'string') field = part;
    else if (Array.isArray(part)) [field, type] = part as [number | string, string?];
    else
      ({
        field,
        type,
        is_nullable: isNullable = false,
      } = part as { field: number | string; type?: string; is_nullable?: boolean });
    if (typeof field === 'string') {
      const position = entry.def.format.findIndex((f) => f.name === field);
      if (position < 0)
        throw illegal(`options.parts[${i + 1}]: field was not found by name '${field}'`);
      type ??= entry.def.format[position]!.type;
      field = position;
    }
    if (!Number.isInteger(field) || field < 0)
      throw illegal('invalid index parts: field_no must be zero-based and non-negative');
    type ??= entry.def.format[field]?.type ?? 'unsigned';
    if (type === 'any') type = 'scalar';
    return { field, type: type as FieldTypeName, is_nullable: isNullable };
  }

  async dropIndex(spaceId: number, iid: number): Promise<void> {
    await this.sys(SystemSpace.INDEX, { kind: 'delete', key: [spaceId, iid], index: 0 }, 'DELETE');
  }

  // }}}
  // {{{ users and roles

  private userOrThrow(name: string, type?: 'user' | 'role') {
    const user = this.box.catalog.access.userByName(name);
    if (user === undefined || (type !== undefined && user.type !== type)) {
      throw new ClientError(
        type === 'role' ? ErrorCode.ER_NO_SUCH_ROLE : ErrorCode.ER_NO_SUCH_USER,
        name,
      );
    }
    return user;
  }

  async createUser(
    name: string,
    type: 'user' | 'role',
    options: { password?: string; if_not_exists?: boolean },
    userId: number = ADMIN,
  ): Promise<void> {
    return this.locked(async () => {
      this.requireUniverse(userId, Privilege.CREATE);
      checkIdentifier(name);
      const existing = this.box.catalog.access.userByName(name);
      if (existing !== undefined) {
        if (options.if_not_exists === true) return;
        throw new ClientError(
          type === 'role' ? ErrorCode.ER_ROLE_EXISTS : ErrorCode.ER_USER_EXISTS,
          name,
        );
      }
      const id = Math.max(...this.box.catalog.access.users.keys(), 31) + 1;
      const auth =
        type === 'user' && options.password !== undefined
          ? { 'chap-sha1': chapSha1Hash2(options.password) }
          : {};
      await this.inTxn(async () => {
        await this.sys(
          SystemSpace.USER,
          { kind: 'insert', tuple: [id, ADMIN, name, type, auth] },
          'INSERT',
        );
        if (type === 'user') {
          // What a new user gets in 2.6: role public, Session+Usage on universe, Alter on itself.
          await this.sys(
            SystemSpace.PRIV,
            { kind: 'insert', tuple: [ADMIN, id, 'role', UserId.PUBLIC, Privilege.EXECUTE] },
            'INSERT',
          );
          await this.sys(
            SystemSpace.PRIV,
            {
              kind: 'insert',
              tuple: [ADMIN, id, 'universe', 0, Privilege.SESSION | Privilege.USAGE],
            },
            'INSERT',
          );
          await this.sys(
            SystemSpace.PRIV,
            { kind: 'insert', tuple: [ADMIN, id, 'user', id, Privilege.ALTER] },
            'INSERT',
          );
        }
      });
    });
  }

  async dropUser(
    name: string,
    type: 'user' | 'role',
    options: { if_exists?: boolean },
    userId: number = ADMIN,
  ): Promise<void> {
    return this.locked(async () => {
      this.requireUniverse(userId, Privilege.DROP);
      const user = this.box.catalog.access.userByName(name);
      if (user === undefined || user.type !== type) {
        if (options.if_exists === true) return;
        throw new ClientError(
          type === 'role' ? ErrorCode.ER_NO_SUCH_ROLE : ErrorCode.ER_NO_SUCH_USER,
          name,
        );
      }
      await this.inTxn(async () => {
        for (const row of this.rows(SystemSpace.PRIV)) {
          const objectIsUser = (row[2] === 'role' || row[2] === 'user') && row[3] === user.id;
          if (row[1] === user.id || objectIsUser)
            await this.sys(
              SystemSpace.PRIV,
              { kind: 'delete', key: [row[1], row[2], row[3]], index: 0 },
              'DELETE',
            );
        }
        await this.sys(SystemSpace.USER, { kind: 'delete', key: [user.id], index: 0 }, 'DELETE');
      });
    });
  }

  async passwd(name: string, password: string, userId: number = ADMIN): Promise<void> {
    return this.locked(async () => {
      // Another user's password needs Alter on that user (its owner, or a super user).
      const target = this.box.catalog.access.userByName(name);
      if (userId !== ADMIN && target !== undefined && target.id !== userId) {
        this.box.catalog.access.check(
          userId,
          Privilege.ALTER,
          'user',
          target.id,
          target.name,
          target.owner,
        );
      }
      const user = this.userOrThrow(name, 'user');
      if (user.id === UserId.GUEST) throw new ClientError(ErrorCode.ER_GUEST_USER_PASSWORD);
      const row = storageOf(this.box.catalog.spaceOrThrow(SystemSpace.USER)).get([user.id])!;
      await this.sys(SystemSpace.USER, {
        kind: 'replace',
        tuple: [row[0], row[1], row[2], row[3], { 'chap-sha1': chapSha1Hash2(password) }],
      });
    });
  }

  /** Resolves a grant's object: [object_type, object_id, name for messages]. */
  private grantObject(
    objectType: string,
    objectName: string | number | undefined,
  ): [string, number, string] {
    switch (objectType) {
      case 'universe':
        return ['universe', 0, ''];
      case 'space': {
        const entry = this.box.catalog.spaceOrThrow(objectName ?? '');
        return ['space', entry.def.id, entry.def.name];
      }
      case 'function': {
        const func = this.box.catalog.funcs.get(String(objectName));
        if (func === undefined)
          throw new ClientError(ErrorCode.ER_NO_SUCH_FUNCTION, String(objectName));
        return ['function', func.id, func.name];
      }
      case 'role':
      case 'user': {
        const user = this.userOrThrow(String(objectName), objectType);
        return [objectType, user.id, user.name];
      }
      default:
        throw new ClientError(ErrorCode.ER_UNKNOWN_SCHEMA_OBJECT, objectType);
    }
  }

  /**
   * What a grant or revoke is about: grant(user, role) means the role's Execute; otherwise the
   * privileges on an object ('universe', 'space', 'function', 'role', 'user').
   */
  private grantTarget(
    name: string,
    privileges: string,
    objectType: string | undefined,
    objectName: string | number | undefined,
  ) {
    const grantee = this.userOrThrow(name);
    if (objectType === undefined) {
      const role = this.userOrThrow(privileges, 'role');
      return {
        grantee,
        type: 'role',
        id: role.id,
        label: role.name,
        bits: Privilege.EXECUTE as number,
        roleGrant: true,
      };
    }
    const [type, id, label] = this.grantObject(objectType, objectName);
    return { grantee, type, id, label, bits: parsePrivileges(privileges), roleGrant: false };
  }

  async grant(
    name: string,
    privileges: string,
    objectType: string | undefined,
    objectName: string | number | undefined,
    options: { if_not_exists?: boolean },
    userId: number = ADMIN,
  ): Promise<void> {
    return this.locked(async () => {
      const { grantee, type, id, label, bits, roleGrant } = this.grantTarget(
        name,
        privileges,
        objectType,
        objectName,
      );
      this.checkGrantor(userId, 'Grant', type, id, label);
      const existing = this.box.catalog.access.privRow(grantee.id, type, id);
      const had = existing?.privilege ?? 0;
      if (existing !== undefined && (had & bits) >>> 0 === bits >>> 0) {
        if (options.if_not_exists === true) return;
        if (roleGrant) throw new ClientError(ErrorCode.ER_ROLE_GRANTED, grantee.name, label);
        throw new ClientError(
          ErrorCode.ER_PRIV_GRANTED,
          grantee.name,
          privilegeText(bits),
          type,
          type === 'universe' ? '' : ` '${label}'`,
        );
      }
      await this.sys(SystemSpace.PRIV, {
        kind: 'replace',
        tuple: [ADMIN, grantee.id, type, id, (had | bits) >>> 0],
      });
    });
  }

  async revoke(
    name: string,
    privileges: string,
    objectType: string | undefined,
    objectName: string | number | undefined,
    options: { if_exists?: boolean },
    userId: number = ADMIN,
  ): Promise<void> {
    return this.locked(async () => {
      const { grantee, type, id, label, bits, roleGrant } = this.grantTarget(
        name,
        privileges,
        objectType,
        objectName,
      );
      this.checkGrantor(userId, 'Revoke', type, id, label);
      const existing = this.box.catalog.access.privRow(grantee.id, type, id);
      if (existing === undefined || (existing.privilege & bits) === 0) {
        if (options.if_exists === true) return;
        if (roleGrant) throw new ClientError(ErrorCode.ER_ROLE_NOT_GRANTED, grantee.name, label);
        throw new ClientError(
          ErrorCode.ER_PRIV_NOT_GRANTED,
          grantee.name,
          privilegeText(bits),
          type,
          label,
        );
      }
      const left = (existing.privilege & ~bits) >>> 0;
      if (left === 0)
        await this.sys(
          SystemSpace.PRIV,
          { kind: 'delete', key: [grantee.id, type, id], index: 0 },
          'DELETE',
        );
      else
        await this.sys(SystemSpace.PRIV, {
          kind: 'replace',
          tuple: [existing.grantor, grantee.id, type, id, left],
        });
    });
  }

  // }}}
  // {{{ functions

  async createFunc(
    name: string,
    options: { if_not_exists?: boolean; setuid?: boolean; language?: string },
    userId: number = ADMIN,
  ): Promise<void> {
    return this.locked(async () => {
      this.requireUniverse(userId, Privilege.CREATE);
      checkIdentifier(name);
      if (this.box.catalog.funcs.has(name)) {
        if (options.if_not_exists === true) return;
        throw new ClientError(ErrorCode.ER_FUNCTION_EXISTS, name);
      }
      const id = Math.max(...[...this.box.catalog.funcs.values()].map((f) => f.id), 67) + 1;
      const now = new Date().toISOString().replace('T', ' ').slice(0, 19);
      const language = (options.language ?? 'LUA').toUpperCase();
      const row = [
        id,
        ADMIN,
        name,
        options.setuid === true ? 1 : 0,
        language,
        '',
        'function',
        [],
        'any',
        'none',
        'none',
        false,
        false,
        true,
        [language],
        {},
        '',
        now,
        now,
      ];
      await this.sys(SystemSpace.FUNC, { kind: 'insert', tuple: row }, 'INSERT');
    });
  }

  async dropFunc(
    name: string,
    options: { if_exists?: boolean },
    userId: number = ADMIN,
  ): Promise<void> {
    return this.locked(async () => {
      this.requireUniverse(userId, Privilege.DROP);
      const func = this.box.catalog.funcs.get(name);
      if (func === undefined) {
        if (options.if_exists === true) return;
        throw new ClientError(ErrorCode.ER_NO_SUCH_FUNCTION, name);
      }
      await this.inTxn(async () => {
        for (const row of this.rows(SystemSpace.PRIV)) {
          if (row[2] === 'function' && row[3] === func.id)
            await this.sys(
              SystemSpace.PRIV,
              { kind: 'delete', key: [row[1], row[2], row[3]], index: 0 },
              'DELETE',
            );
        }
        await this.sys(SystemSpace.FUNC, { kind: 'delete', key: [func.id], index: 0 }, 'DELETE');
      });
    });
  }

  // }}}
}
