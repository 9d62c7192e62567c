// Test doubles for the iproto port (exported as '@tarantype/iproto/testing'). Not for production.
//
// MemoryHandler implements IprotoHandler over plain maps: users with chap-sha1 passwords,
// spaces with a unique primary index (and linear-scan secondary indexes), the update
// operations = + - & | ^ : ! #, registered JS functions for CALL, a few EVAL expressions, and
// the system views net.box and tarantool-driver read on connect (_vspace 281, _vindex 289,
// _vcollation 277) in the formats of spec §6. It favours clarity over speed (selects other
// than a full-key EQ on the primary index sort the space) and is only as faithful to box as
// the protocol tests need; box has its own tests.
import {
  AccessDeniedError,
  ClientError,
  decode,
  ErrorCode,
  encode,
  IprotoType,
  IteratorType,
  newUuid,
  SystemSpace,
  UserId,
  Vclock,
} from '@tarantype/core';
import { authenticateChapSha1, type ChapSha1User, chapSha1Hash2 } from './chap-sha1.js';
import type {
  Awaitable,
  Ballot,
  IprotoHandler,
  PrepareResult,
  Session,
  SessionUser,
  SqlResult,
  TupleData,
} from './port.js';
import type {
  AuthRequest,
  CallRequest,
  DeleteRequest,
  EvalRequest,
  ExecuteRequest,
  InsertRequest,
  PrepareRequest,
  SelectRequest,
  UpdateRequest,
  UpsertRequest,
} from './request.js';
import { decodeArray } from './request.js';

export interface MemoryUser extends SessionUser, ChapSha1User {}

export interface MemoryIndexDefinition {
  /** Index id; defaults to the position in the list. */
  readonly id?: number;
  readonly name: string;
  /** Key parts: 0-based field numbers and Tarantool type names. */
  readonly parts: ReadonlyArray<{ readonly field: number; readonly type: string }>;
  /** Default true for index 0, false otherwise. */
  readonly unique?: boolean;
}

export interface MemorySpaceDefinition {
  readonly id?: number;
  readonly name: string;
  /** Default: one TREE index 'primary' on field 0, unsigned. */
  readonly indexes?: readonly MemoryIndexDefinition[];
  /** Space format entries ({name, type}) as _vspace shows them. */
  readonly format?: ReadonlyArray<{ readonly name: string; readonly type: string }>;
  /** When false, the guest user gets "Read access to space … is denied". Default true. */
  readonly guestAccess?: boolean;
}

/** A stored function: receives decoded args, returns its multiple return values. */
export type MemoryFunction = (
  args: unknown[],
  session: Session<MemoryUser>,
) => Awaitable<readonly unknown[]>;

interface MemoryIndex {
  readonly id: number;
  readonly name: string;
  readonly parts: ReadonlyArray<{ readonly field: number; readonly type: string }>;
  readonly unique: boolean;
}

interface StoredTuple {
  readonly raw: Uint8Array;
  readonly fields: unknown[];
}

/** One space: tuples keyed by their primary key. */
export class MemorySpace {
  readonly tuples = new Map<string, StoredTuple>();
  constructor(
    readonly id: number,
    readonly name: string,
    readonly indexes: readonly MemoryIndex[],
    readonly format: ReadonlyArray<{ readonly name: string; readonly type: string }>,
    readonly guestAccess: boolean,
    readonly isView: boolean,
  ) {}

  get primary(): MemoryIndex {
    return this.indexes[0]!;
  }

  index(id: number): MemoryIndex {
    const index = this.indexes.find((i) => i.id === id);
    if (index === undefined) throw new ClientError(ErrorCode.ER_NO_SUCH_INDEX_ID, id, this.name);
    return index;
  }

  /** All tuples in primary-key order. */
  sorted(): StoredTuple[] {
    const all = [...this.tuples.values()];
    const pk = this.primary;
    return all.sort((a, b) => compareKeys(keyOf(a.fields, pk), keyOf(b.fields, pk)));
  }

  put(fields: unknown[]): StoredTuple {
    const stored = { raw: encode(fields), fields };
    this.tuples.set(keyString(keyOf(fields, this.primary)), stored);
    return stored;
  }
}

function keyOf(fields: readonly unknown[], index: MemoryIndex): unknown[] {
  return index.parts.map((part) => fields[part.field]);
}

function keyString(key: readonly unknown[]): string {
  return key.map((v) => `${typeof v}:${String(v)}`).join('\u0000');
}

function typeRank(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'boolean') return 1;
  if (typeof value === 'number' || typeof value === 'bigint') return 2;
  if (typeof value === 'string') return 3;
  return 4;
}

function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 2) return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
  if (ra === 3 || ra === 1)
    return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
  return 0;
}

/** Compares a tuple key with a (possibly partial) search key over the search key's parts. */
function compareKeys(key: readonly unknown[], search: readonly unknown[]): number {
  for (let i = 0; i < search.length && i < key.length; i++) {
    const c = compareValues(key[i], search[i]);
    if (c !== 0) return c;
  }
  return 0;
}

const partTypeMatches = (type: string, value: unknown): boolean => {
  switch (type) {
    case 'unsigned':
      return (
        (typeof value === 'number' && Number.isInteger(value) && value >= 0) ||
        typeof value === 'bigint'
      );
    case 'integer':
      return (typeof value === 'number' && Number.isInteger(value)) || typeof value === 'bigint';
    case 'number':
      return typeof value === 'number' || typeof value === 'bigint';
    case 'string':
      return typeof value === 'string';
    default:
      return true;
  }
};

/** Update operations (spec §4.8), enough for protocol tests. */
function applyOps(fields: unknown[], ops: unknown[], indexBase: number): unknown[] {
  const result = fields.slice();
  ops.forEach((op, n) => {
    if (!Array.isArray(op) || op.length < 2 || typeof op[0] !== 'string') {
      throw new ClientError(
        ErrorCode.ER_ILLEGAL_PARAMS,
        'update operation must be an array {op,..}',
      );
    }
    const [name, fieldArg] = op as [string, unknown];
    if (typeof fieldArg !== 'number')
      throw new ClientError(ErrorCode.ER_ILLEGAL_PARAMS, 'field id must be a number or a string');
    let field = fieldArg >= 0 ? fieldArg - indexBase : result.length + fieldArg;
    const fieldNo = field + 1;
    const arg = op[2];
    switch (name) {
      case '=':
        if (field > result.length || field < 0)
          throw new ClientError(ErrorCode.ER_NO_SUCH_FIELD_NO, fieldArg);
        result[field] = arg;
        return;
      case '+':
      case '-': {
        const current = result[field];
        if (typeof current !== 'number' || typeof arg !== 'number') {
          throw new ClientError(
            ErrorCode.ER_UPDATE_ARG_TYPE,
            name.charCodeAt(0),
            fieldNo,
            'a number',
          );
        }
        result[field] = name === '+' ? current + arg : current - arg;
        return;
      }
      case '&':
      case '|':
      case '^': {
        const current = result[field];
        if (typeof current !== 'number' || typeof arg !== 'number') {
          throw new ClientError(
            ErrorCode.ER_UPDATE_ARG_TYPE,
            name.charCodeAt(0),
            fieldNo,
            'a positive integer',
          );
        }
        result[field] = name === '&' ? current & arg : name === '|' ? current | arg : current ^ arg;
        return;
      }
      case ':': {
        const current = result[field];
        const [offset, cut, text] = [op[2], op[3], op[4]] as [number, number, string];
        if (typeof current !== 'string')
          throw new ClientError(ErrorCode.ER_UPDATE_ARG_TYPE, 58, fieldNo, 'a string');
        const start = Math.min(offset >= 0 ? offset : current.length + offset + 1, current.length);
        result[field] =
          current.slice(0, start) + text + current.slice(Math.min(current.length, start + cut));
        return;
      }
      case '!':
        if (fieldArg === -1) field = result.length;
        result.splice(field, 0, arg);
        return;
      case '#':
        result.splice(field, typeof arg === 'number' ? arg : 1);
        return;
      default:
        throw new ClientError(ErrorCode.ER_UNKNOWN_UPDATE_OP, n + 1, `"${name}"`);
    }
  });
  return result;
}

const DEFAULT_INDEXES: readonly MemoryIndexDefinition[] = [
  { name: 'primary', parts: [{ field: 0, type: 'unsigned' }], unique: true },
];

/** The in-memory handler. */
export class MemoryHandler implements IprotoHandler<MemoryUser> {
  readonly uuid = newUuid();
  readonly users = new Map<string, MemoryUser>();
  readonly spaces = new Map<number, MemorySpace>();
  readonly functions = new Map<string, MemoryFunction>();
  readonly sql = new Map<string, (bind: unknown[]) => SqlResult>();
  /** Every request type the handler served, in order (tests inspect it). */
  readonly served: number[] = [];
  vclock = new Vclock([[1, 0]]);
  /** Hooks tests may set (box.session.on_connect / on_disconnect). */
  onConnect?: (session: Session<MemoryUser>) => Awaitable<void>;
  onDisconnect?: (session: Session<MemoryUser>) => void;
  readOnly = false;
  private version = 1;
  private nextSpaceId = 512;

  constructor() {
    this.users.set('guest', { id: UserId.GUEST, name: 'guest', hash2: chapSha1Hash2('') });
    this.users.set('admin', { id: UserId.ADMIN, name: 'admin', hash2: undefined });
    this.createSystemViews();
  }

  instanceUuid(): string {
    return this.uuid;
  }

  schemaVersion(): number {
    return this.version;
  }

  guestUser(): MemoryUser {
    return this.users.get('guest')!;
  }

  /** Adds a user; without a password it can never authenticate (auth = {}). */
  createUser(name: string, password?: string): MemoryUser {
    const user = {
      id: 32 + this.users.size,
      name,
      hash2: password === undefined ? undefined : chapSha1Hash2(password),
    };
    this.users.set(name, user);
    return user;
  }

  /** Adds a space (bumps the schema version, like DDL). */
  createSpace(definition: MemorySpaceDefinition): MemorySpace {
    const id = definition.id ?? this.nextSpaceId++;
    const indexes = (definition.indexes ?? DEFAULT_INDEXES).map((index, position) => ({
      id: index.id ?? position,
      name: index.name,
      parts: index.parts,
      unique: index.unique ?? position === 0,
    }));
    const space = new MemorySpace(
      id,
      definition.name,
      indexes,
      definition.format ?? [],
      definition.guestAccess ?? true,
      false,
    );
    this.spaces.set(id, space);
    this.version++;
    this.rebuildViews();
    return space;
  }

  /** Registers a function for CALL / CALL_16. */
  defineFunction(name: string, fn: MemoryFunction): void {
    this.functions.set(name, fn);
  }

  space(id: number): MemorySpace {
    const space = this.spaces.get(id);
    if (space === undefined) throw new ClientError(ErrorCode.ER_NO_SUCH_SPACE, id);
    return space;
  }

  spaceByName(name: string): MemorySpace | undefined {
    for (const space of this.spaces.values()) if (space.name === name) return space;
    return undefined;
  }

  authenticate(session: Session<MemoryUser>, request: AuthRequest): MemoryUser {
    this.served.push(request.type);
    const user = this.users.get(request.userName);
    authenticateChapSha1(request.tuple, session.salt, user);
    return user!;
  }

  private checkRead(session: Session<MemoryUser>, space: MemorySpace): void {
    if (!space.guestAccess && session.user.id === UserId.GUEST) {
      throw new AccessDeniedError('Read', 'space', space.name, session.user.name);
    }
  }

  private checkWrite(session: Session<MemoryUser>, space: MemorySpace): void {
    if (space.isView)
      throw new ClientError(ErrorCode.ER_UNSUPPORTED, `View '${space.name}'`, 'DML');
    if (!space.guestAccess && session.user.id === UserId.GUEST) {
      throw new AccessDeniedError('Write', 'space', space.name, session.user.name);
    }
    if (this.readOnly) throw new ClientError(ErrorCode.ER_READONLY);
  }

  select(session: Session<MemoryUser>, request: SelectRequest): Iterable<TupleData> {
    this.served.push(request.type);
    const space = this.space(request.spaceId);
    this.checkRead(session, space);
    const index = space.index(request.indexId);
    const key = decodeArray(request.key);
    if (key.length > index.parts.length)
      throw new ClientError(ErrorCode.ER_KEY_PART_COUNT, index.parts.length, key.length);
    key.forEach((part, i) => {
      if (!partTypeMatches(index.parts[i]!.type, part)) {
        throw new ClientError(ErrorCode.ER_KEY_PART_TYPE, i, index.parts[i]!.type);
      }
    });
    if (request.limit === 0) return [];
    // Fast path: full-key EQ on the primary index.
    if (
      index.id === 0 &&
      request.iterator === IteratorType.EQ &&
      key.length === index.parts.length
    ) {
      const found = space.tuples.get(keyString(key));
      return found === undefined || request.offset > 0 ? [] : [found.raw];
    }
    return this.scan(space, index, key, request);
  }

  private scan(
    space: MemorySpace,
    index: MemoryIndex,
    key: unknown[],
    request: SelectRequest,
  ): Uint8Array[] {
    let iterator = request.iterator;
    if (iterator === IteratorType.ALL && key.length > 0) iterator = IteratorType.GE;
    if (iterator > IteratorType.GT) {
      throw new ClientError(
        ErrorCode.ER_UNSUPPORTED_INDEX_FEATURE,
        index.name,
        'TREE',
        space.name,
        'memtx',
        'requested iterator type',
      );
    }
    const reverse =
      iterator === IteratorType.REQ || iterator === IteratorType.LT || iterator === IteratorType.LE;
    const ordered = space
      .sorted()
      .map((t) => ({ t, k: keyOf(t.fields, index) }))
      .sort((a, b) => compareKeys(a.k, b.k));
    if (reverse) ordered.reverse();
    const matches = ordered.filter(({ k }) => {
      if (key.length === 0) return true;
      const c = compareKeys(k, key);
      switch (iterator) {
        case IteratorType.EQ:
        case IteratorType.REQ:
          return c === 0;
        case IteratorType.LT:
          return c < 0;
        case IteratorType.LE:
          return c <= 0;
        case IteratorType.GE:
          return c >= 0;
        case IteratorType.GT:
          return c > 0;
        default:
          return true;
      }
    });
    return matches.slice(request.offset, request.offset + request.limit).map(({ t }) => t.raw);
  }

  private find(space: MemorySpace, indexId: number, rawKey: Uint8Array): StoredTuple | undefined {
    const index = space.index(indexId);
    const key = decodeArray(rawKey);
    if (!index.unique) throw new ClientError(ErrorCode.ER_MORE_THAN_ONE_TUPLE);
    if (key.length !== index.parts.length)
      throw new ClientError(ErrorCode.ER_EXACT_MATCH, index.parts.length, key.length);
    if (index.id === 0) return space.tuples.get(keyString(key));
    for (const t of space.tuples.values())
      if (compareKeys(keyOf(t.fields, index), key) === 0) return t;
    return undefined;
  }

  private store(space: MemorySpace, fields: unknown[], mode: 'insert' | 'replace'): StoredTuple {
    for (const index of space.indexes) {
      const value = fields[index.parts[0]!.field];
      if (value === undefined)
        throw new ClientError(ErrorCode.ER_FIELD_MISSING, index.parts[0]!.field + 1);
      const part = index.parts[0]!;
      if (!partTypeMatches(part.type, value))
        throw new ClientError(ErrorCode.ER_FIELD_TYPE, part.field + 1, part.type);
    }
    const pk = keyString(keyOf(fields, space.primary));
    for (const index of space.indexes) {
      if (!index.unique) continue;
      const key = keyOf(fields, index);
      for (const [storedPk, t] of space.tuples) {
        if (compareKeys(keyOf(t.fields, index), key) !== 0) continue;
        if (mode === 'replace' && storedPk === pk) continue;
        throw new ClientError(ErrorCode.ER_TUPLE_FOUND, index.name, space.name);
      }
      if (index.id === 0 && mode === 'insert' && space.tuples.has(pk)) {
        throw new ClientError(ErrorCode.ER_TUPLE_FOUND, index.name, space.name);
      }
    }
    return space.put(fields);
  }

  insert(session: Session<MemoryUser>, request: InsertRequest): TupleData {
    this.served.push(request.type);
    const space = this.space(request.spaceId);
    this.checkWrite(session, space);
    return this.store(space, decodeArray(request.tuple), 'insert').raw;
  }

  replace(session: Session<MemoryUser>, request: InsertRequest): TupleData {
    this.served.push(request.type);
    const space = this.space(request.spaceId);
    this.checkWrite(session, space);
    return this.store(space, decodeArray(request.tuple), 'replace').raw;
  }

  update(session: Session<MemoryUser>, request: UpdateRequest): TupleData | undefined {
    this.served.push(request.type);
    const space = this.space(request.spaceId);
    this.checkWrite(session, space);
    const found = this.find(space, request.indexId, request.key);
    if (found === undefined) return undefined;
    const updated = applyOps(found.fields, decodeArray(request.ops), request.indexBase);
    if (compareKeys(keyOf(updated, space.primary), keyOf(found.fields, space.primary)) !== 0) {
      throw new ClientError(ErrorCode.ER_CANT_UPDATE_PRIMARY_KEY, space.primary.name, space.name);
    }
    return space.put(updated).raw;
  }

  delete(session: Session<MemoryUser>, request: DeleteRequest): TupleData | undefined {
    this.served.push(request.type);
    const space = this.space(request.spaceId);
    this.checkWrite(session, space);
    const found = this.find(space, request.indexId, request.key);
    if (found === undefined) return undefined;
    space.tuples.delete(keyString(keyOf(found.fields, space.primary)));
    return found.raw;
  }

  upsert(session: Session<MemoryUser>, request: UpsertRequest): void {
    this.served.push(request.type);
    const space = this.space(request.spaceId);
    this.checkWrite(session, space);
    const tuple = decodeArray(request.tuple);
    const ops = decodeArray(request.ops);
    const existing = space.tuples.get(keyString(keyOf(tuple, space.primary)));
    if (existing === undefined) {
      this.store(space, tuple, 'insert');
      return;
    }
    try {
      const updated = applyOps(existing.fields, ops, request.indexBase);
      if (compareKeys(keyOf(updated, space.primary), keyOf(existing.fields, space.primary)) === 0)
        space.put(updated);
    } catch {
      // UPSERT swallows errors of applying operations (spec §4.7).
    }
  }

  call(session: Session<MemoryUser>, request: CallRequest): Awaitable<readonly unknown[]> {
    this.served.push(request.type);
    const fn = this.functions.get(request.functionName);
    if (fn === undefined) throw new ClientError(ErrorCode.ER_NO_SUCH_PROC, request.functionName);
    return fn(decodeArray(request.args), session);
  }

  eval(session: Session<MemoryUser>, request: EvalRequest): readonly unknown[] {
    this.served.push(request.type);
    if (session.user.id === UserId.GUEST && !this.guestCanEval) {
      throw new AccessDeniedError('Execute', 'universe', '', 'guest');
    }
    const expr = request.expr.trim();
    if (expr === 'return ...') return decodeArray(request.args);
    const literal = /^return (-?\d+)$/.exec(expr);
    if (literal !== null) return [Number(literal[1])];
    throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'MemoryHandler', `eval of '${expr}'`);
  }

  /** Lets guest use EVAL (Tarantool denies it by default). */
  guestCanEval = true;

  execute(_session: Session<MemoryUser>, request: ExecuteRequest): SqlResult {
    this.served.push(request.type);
    const statement = request.sqlText === undefined ? undefined : this.sql.get(request.sqlText);
    if (statement === undefined)
      throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'MemoryHandler', 'this SQL');
    return statement(decodeArray(request.bind));
  }

  prepare(_session: Session<MemoryUser>, request: PrepareRequest): PrepareResult | undefined {
    this.served.push(request.type);
    if (request.stmtId !== undefined) return undefined;
    return {
      stmtId: 1,
      bindCount: 0,
      bindMetadata: [],
      metadata: [{ name: 'COLUMN_1', type: 'integer' }],
    };
  }

  ping(): void {
    this.served.push(IprotoType.PING);
  }

  ballot(): Ballot {
    this.served.push(IprotoType.VOTE);
    return {
      is_ro: this.readOnly,
      is_loading: false,
      vclock: this.vclock,
      gc_vclock: new Vclock(),
    };
  }

  private createSystemViews(): void {
    const view = (id: number, name: string, indexes: MemoryIndex[]) => {
      this.spaces.set(id, new MemorySpace(id, name, indexes, [], true, true));
    };
    view(SystemSpace.VSPACE, '_vspace', [
      { id: 0, name: 'primary', parts: [{ field: 0, type: 'unsigned' }], unique: true },
      { id: 1, name: 'owner', parts: [{ field: 1, type: 'unsigned' }], unique: false },
      { id: 2, name: 'name', parts: [{ field: 2, type: 'string' }], unique: true },
    ]);
    view(SystemSpace.VINDEX, '_vindex', [
      {
        id: 0,
        name: 'primary',
        parts: [
          { field: 0, type: 'unsigned' },
          { field: 1, type: 'unsigned' },
        ],
        unique: true,
      },
      {
        id: 2,
        name: 'name',
        parts: [
          { field: 0, type: 'unsigned' },
          { field: 2, type: 'string' },
        ],
        unique: true,
      },
    ]);
    view(SystemSpace.VCOLLATION, '_vcollation', [
      { id: 0, name: 'primary', parts: [{ field: 0, type: 'unsigned' }], unique: true },
      { id: 1, name: 'name', parts: [{ field: 1, type: 'string' }], unique: true },
    ]);
    this.rebuildViews();
  }

  /** Regenerates _vspace and _vindex rows from the spaces (formats of spec §6.2). */
  private rebuildViews(): void {
    const vspace = this.spaces.get(SystemSpace.VSPACE);
    const vindex = this.spaces.get(SystemSpace.VINDEX);
    if (vspace === undefined || vindex === undefined) return;
    vspace.tuples.clear();
    vindex.tuples.clear();
    for (const space of this.spaces.values()) {
      const format = space.format.map((f) => ({ name: f.name, type: f.type }));
      vspace.put([
        space.id,
        UserId.ADMIN,
        space.name,
        space.isView ? 'sysview' : 'memtx',
        0,
        {},
        format,
      ]);
      for (const index of space.indexes) {
        const parts = index.parts.map((p) => [p.field, p.type]);
        vindex.put([space.id, index.id, index.name, 'tree', { unique: index.unique }, parts]);
      }
    }
  }
}

/** Decodes a raw tuple returned by MemoryHandler methods (tests). */
export function decodeTuple(tuple: TupleData | undefined): unknown {
  if (tuple === undefined) return undefined;
  return tuple instanceof Uint8Array ? decode(tuple) : tuple;
}
