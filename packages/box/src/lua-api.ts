// The box API by its Lua names, for iproto CALL (conn:call('box.info'),
// conn:call('box.space.tester:insert', {{1, 'a'}}), conn:call('box.schema.space.create', …)).
// Lua conventions: field numbers are 1-based (update operations run with
// index base 1, index parts are converted to 0-based), options are Lua tables (maps), and
// results are return values (one tuple, a list of tuples, nothing). Calls run as the session
// user, so space privileges apply exactly as for plain requests.
// Layer: box, the Lua-named surface of the box API, shared by iproto CALL and the server's Lua
// console (one implementation of Lua's conventions).

import { ClientError, ErrorCode, IteratorType } from '@tarantype/core';
import type { UpdateOpsInput } from '@tarantype/memtx';
import type { Box } from './box.js';
import { boxInfoGcWal } from './box-info.js';
import type { BoxSpace, CreateIndexOptions } from './box-space.js';

type Args = readonly unknown[];

/** A call with no return values (Lua functions returning nothing). */
async function nothing(work: Promise<unknown>): Promise<unknown[]> {
  await work;
  return [];
}
type LuaFunction = (box: Box, userId: number, args: Args) => Promise<unknown[]> | unknown[];

/**
 * An options argument. Lua cannot tell an empty table from an empty array, so net.box sends
 * `s:create_index('primary', {})` with an empty MessagePack array where the map goes: as in
 * Tarantool, an empty array is an empty map.
 */
function table(value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (Array.isArray(value) && value.length === 0) return {};
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), v]));
  if (typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  throw new ClientError(ErrorCode.ER_ILLEGAL_PARAMS, 'options should be a table');
}

function key(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function selectOptions(options: Record<string, unknown>) {
  const iterator = options.iterator;
  let code: number | undefined;
  if (typeof iterator === 'string') {
    code = (IteratorType as Record<string, number>)[iterator.toUpperCase()];
    if (code === undefined) throw new ClientError(ErrorCode.ER_ITERATOR_TYPE, iterator);
  } else if (typeof iterator === 'number') code = iterator;
  return {
    ...(code === undefined ? {} : { iterator: code }),
    ...(typeof options.limit === 'number' ? { limit: options.limit } : {}),
    ...(typeof options.offset === 'number' ? { offset: options.offset } : {}),
  };
}

/** Lua index parts ({1, 'unsigned'} / {{1, 'unsigned'}, …} / {{field = 1, type = …}} / names) → 0-based. */
export function luaIndexParts(parts: unknown): CreateIndexOptions['parts'] {
  if (parts === undefined) return undefined;
  if (!Array.isArray(parts))
    throw new ClientError(ErrorCode.ER_ILLEGAL_PARAMS, 'options.parts must be a table');
  const one = (part: unknown): NonNullable<CreateIndexOptions['parts']>[number] => {
    if (typeof part === 'number') return { field: toZeroBased(part) };
    if (typeof part === 'string') return part;
    if (Array.isArray(part)) {
      const [field, type] = part as [unknown, string | undefined];
      return typeof field === 'number'
        ? { field: toZeroBased(field), ...(type === undefined ? {} : { type }) }
        : { field: String(field), ...(type === undefined ? {} : { type }) };
    }
    const map = table(part);
    const field = map.field;
    const base = {
      ...(typeof map.type === 'string' ? { type: map.type } : {}),
      ...(map.is_nullable === true ? { is_nullable: true } : {}),
    };
    return typeof field === 'number'
      ? { field: toZeroBased(field), ...base }
      : { field: String(field), ...base };
  };
  // {1, 'unsigned', 2, 'string'} (flat pairs) or {1, 'unsigned'}: a flat list of scalars.
  if (
    parts.every((p) => typeof p === 'number' || typeof p === 'string') &&
    parts.length % 2 === 0 &&
    typeof parts[1] === 'string' &&
    typeof parts[0] === 'number'
  ) {
    const out = [];
    for (let i = 0; i < parts.length; i += 2)
      out.push({ field: toZeroBased(parts[i] as number), type: parts[i + 1] as string });
    return out;
  }
  return parts.map(one);
}

function toZeroBased(field: number): number {
  if (!Number.isInteger(field) || field < 1)
    throw new ClientError(
      ErrorCode.ER_ILLEGAL_PARAMS,
      'invalid index parts: field_no must be one-based',
    );
  return field - 1;
}

/** What a space object looks like to a Lua caller (a subset of Tarantool's fields). */
export function spaceObject(space: BoxSpace): Record<string, unknown> {
  const index: Record<string, unknown> = {};
  for (const [k, i] of Object.entries(space.index))
    if (!/^\d+$/.test(k)) index[k] = indexObject(space, i.id);
  return {
    id: space.id,
    name: space.name,
    engine: space.engine,
    field_count: space.field_count,
    temporary: space.temporary,
    is_local: space.is_local,
    enabled: space.index[0] !== undefined,
    index,
  };
}

function indexObject(space: BoxSpace, id: number): Record<string, unknown> {
  const i = space.index[id]!;
  // Keys in the order Tarantool 2.6's console prints an index object (its Lua table order).
  return {
    unique: i.unique,
    parts: i.parts.map((p) => ({
      type: p.type,
      is_nullable: p.is_nullable,
      fieldno: p.fieldno + 1,
    })),
    id: i.id,
    space_id: space.id,
    type: i.type,
    name: i.name,
  };
}

const SPACE_METHODS: Record<
  string,
  (space: BoxSpace, args: Args) => Promise<unknown[]> | unknown[]
> = {
  insert: async (s, [tuple]) => [await s.insert(tuple as unknown[])],
  replace: async (s, [tuple]) => [await s.replace(tuple as unknown[])],
  put: async (s, [tuple]) => [await s.replace(tuple as unknown[])],
  update: async (s, [k, ops]) => [
    (await s.update(key(k), ops as UpdateOpsInput, { indexBase: 1 })) ?? null,
  ],
  upsert: async (s, [tuple, ops]) =>
    nothing(s.upsert(tuple as unknown[], ops as UpdateOpsInput, { indexBase: 1 })),
  delete: async (s, [k]) => [(await s.delete(key(k))) ?? null],
  get: (s, [k]) => [s.get(key(k)) ?? null],
  select: (s, [k, options]) => [s.select(key(k), selectOptions(table(options)))],
  count: (s, [k, options]) => [s.count(key(k), selectOptions(table(options)))],
  len: (s) => [s.len()],
  bsize: (s) => [s.bsize()],
  min: (s, [k]) => [s.min(key(k)) ?? null],
  max: (s, [k]) => [s.max(key(k)) ?? null],
  truncate: async (s) => {
    await s.truncate();
    return [];
  },
  drop: async (s) => {
    await s.drop();
    return [];
  },
  create_index: async (s, [name, options]) => {
    const o = table(options);
    const parts = luaIndexParts(o.parts);
    const created = await s.createIndex(String(name), {
      ...(typeof o.type === 'string' ? { type: o.type as 'TREE' } : {}),
      ...(typeof o.id === 'number' ? { id: o.id } : {}),
      ...(typeof o.unique === 'boolean' ? { unique: o.unique } : {}),
      ...(o.if_not_exists === true ? { if_not_exists: true } : {}),
      ...(parts === undefined ? {} : { parts }),
    });
    return [indexObject(s, created.id)];
  },
};

type CfgHook = (options: Record<string, unknown>) => Promise<void>;
const cfgHooks = new WeakMap<Box, CfgHook>();

/**
 * Routes box.cfg{…} calls for `box` through the server (which binds the listen port live)
 * instead of straight to Box.cfg.
 */
export function setCfgHook(box: Box, hook: CfgHook): void {
  cfgHooks.set(box, hook);
}

const FUNCTIONS: Record<string, LuaFunction> = {
  'box.info': (box) => [box.info()],
  'box.info.memory': (box) => [box.infoMemory()],
  'box.info.gc': (box) => [box.infoGc()],
  // Beyond Tarantool: box.info.gc()'s consumers with the bytes of xlog each holds (box-info.ts).
  'box.info.gc_wal': async (box) => [await boxInfoGcWal(box)],
  // Beyond Tarantool: forget box.info.replication[id].upstream.conflict of member `id` (every
  // member without an id); returns how many were cleared.
  'box.ctl.clear_conflict': (box, _user, [id]) => {
    if (id === undefined || id === null) return [box.replicaSet.clearConflicts()];
    const uuid = box.catalog.cluster.get(Number(id));
    return [uuid === undefined ? 0 : box.replicaSet.clearConflicts([uuid])];
  },
  'box.stat': (box) => [box.stat()],
  'box.cfg': async (box, _user, [options]) => {
    if (options === undefined) return [box.cfgValues];
    const hook = cfgHooks.get(box);
    await (hook === undefined ? box.cfg(table(options)) : hook(table(options)));
    return [];
  },
  'box.snapshot': async (box) => {
    await box.snapshot();
    return ['ok'];
  },
  'box.schema.space.create': async (box, userId, [name, options]) => [
    spaceObject(await box.schema.createSpace(String(name), table(options) as never, userId)),
  ],
  'box.schema.user.create': async (box, userId, [name, options]) =>
    nothing(box.schema.createUser(String(name), 'user', table(options) as never, userId)),
  'box.schema.user.drop': async (box, userId, [name, options]) =>
    nothing(box.schema.dropUser(String(name), 'user', table(options) as never, userId)),
  'box.schema.user.passwd': async (box, userId, [name, password]) =>
    nothing(
      // One argument: the calling user's own password (Tarantool's box.schema.user.passwd(pw)).
      password === undefined
        ? box.schema.passwd(box.catalog.access.userName(userId), String(name), userId)
        : box.schema.passwd(String(name), String(password), userId),
    ),
  'box.schema.user.exists': (box, _user, [name]) => [box.schema.user.exists(String(name))],
  'box.schema.user.grant': async (box, userId, [name, privileges, type, object, options]) =>
    nothing(
      box.schema.grant(
        String(name),
        String(privileges),
        type === undefined || type === null ? undefined : String(type),
        object as string,
        table(options),
        userId,
      ),
    ),
  'box.schema.user.revoke': async (box, userId, [name, privileges, type, object, options]) =>
    nothing(
      box.schema.revoke(
        String(name),
        String(privileges),
        type === undefined || type === null ? undefined : String(type),
        object as string,
        table(options),
        userId,
      ),
    ),
  'box.schema.role.create': async (box, userId, [name, options]) =>
    nothing(box.schema.createUser(String(name), 'role', table(options) as never, userId)),
  'box.schema.role.drop': async (box, userId, [name, options]) =>
    nothing(box.schema.dropUser(String(name), 'role', table(options) as never, userId)),
  'box.schema.role.exists': (box, _user, [name]) => [box.schema.role.exists(String(name))],
  'box.schema.func.create': async (box, userId, [name, options]) =>
    nothing(box.schema.createFunc(String(name), table(options) as never, userId)),
  'box.schema.func.drop': async (box, userId, [name, options]) =>
    nothing(box.schema.dropFunc(String(name), table(options) as never, userId)),
  'box.schema.func.exists': (box, _user, [name]) => [box.schema.func.exists(String(name))],
};

/** Resolves a Lua path to a callable, or undefined when the name is not part of the box API. */
export function resolveLuaFunction(name: string): LuaFunction | undefined {
  const direct = FUNCTIONS[name];
  if (direct !== undefined) return direct;
  // box.space.<name>:<method> and box.space.<name>.index.<index>:<method>
  const match = /^box\.space\.([^.:]+)(?:\.index\.([^.:]+))?:([a-z_]+)$/.exec(name);
  if (match === null) return undefined;
  const [, spaceName, indexName, method] = match as unknown as [
    string,
    string,
    string | undefined,
    string,
  ];
  const impl = SPACE_METHODS[method];
  if (impl === undefined) return undefined;
  return (box, userId, args) => {
    const space = box.spaceAs(userId, /^\d+$/.test(spaceName) ? Number(spaceName) : spaceName);
    if (indexName === undefined) return impl(space, args);
    const index = space.index[indexName];
    if (index === undefined)
      throw new ClientError(ErrorCode.ER_NO_SUCH_INDEX_NAME, indexName, space.name);
    return indexMethod(space, index.id, method, args);
  };
}

function indexMethod(
  space: BoxSpace,
  index: number,
  method: string,
  [k, options]: Args,
): Promise<unknown[]> | unknown[] {
  switch (method) {
    case 'select':
      return [space.select(key(k), { ...selectOptions(table(options)), index })];
    case 'get':
      return [space.get(key(k), { index }) ?? null];
    case 'count':
      return [space.count(key(k), { ...selectOptions(table(options)), index })];
    case 'min':
      return [space.min(key(k), { index }) ?? null];
    case 'max':
      return [space.max(key(k), { index }) ?? null];
    case 'delete':
      return space.delete(key(k), { index }).then((t) => [t ?? null]);
    case 'update':
      return space
        .update(key(k), options as UpdateOpsInput, { index, indexBase: 1 })
        .then((t) => [t ?? null]);
    default:
      throw new ClientError(ErrorCode.ER_NO_SUCH_PROC, `box.space.${space.name}.index:${method}`);
  }
}
