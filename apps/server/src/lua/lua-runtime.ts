// The instance's Lua: one Lua 5.4 state (wasmoon, Lua compiled to WebAssembly) shared by the
// interactive console, admin console sessions, EVAL requests and CALLs of functions defined in
// Lua, as Tarantool has one Lua state per instance. Layer: apps/server.
// Why wasmoon: it is the reference Lua (5.4) rather than a reimplementation, installs without a
// compiler, runs a small chunk in ~20 µs, and can suspend a coroutine on a JS promise, which is
// what makes `s:insert{1}` look synchronous to Lua while Node keeps serving other sessions.
// Every run is a new coroutine anchored in the registry (never in a stack slot, so concurrent
// runs cannot remove each other's) and carries the user it acts as: box calls from an EVAL run
// with the session user's privileges, the consoles as admin. Box operations go through
// lua-api.ts (the same names and Lua conventions as iproto CALL); see prelude.ts for the Lua side.
import type { Box } from '@tarantype/box';
import { type FunctionRegistry, resolveLuaFunction } from '@tarantype/box';
import {
  ClientError,
  ErrorCode,
  encode,
  errorTemplate,
  formatMessage,
  TarantoolError,
  UserId,
} from '@tarantype/core';
import type { SessionUser } from '@tarantype/iproto';
import {
  decorateFunction,
  LUA_REGISTRYINDEX,
  type LuaEngine,
  LuaFactory,
  type LuaThread,
} from 'wasmoon';
import type { ServerLogger } from '../logger.js';
import { FLOW_STYLE, formatResults } from '../yaml-output.js';
import { LuaNestingError, LuaValues } from './lua-values.js';
import { vclockInLuajitOrder } from './luajit-order.js';
import { PRELUDE } from './prelude.js';

export const ADMIN_USER: SessionUser = { id: UserId.ADMIN, name: 'admin' };
const GUEST_USER: SessionUser = { id: UserId.GUEST, name: 'guest' };

export interface LuaRuntimeOptions {
  /** The database; undefined until the first box.cfg{} of an unconfigured start. */
  readonly box: () => Box | undefined;
  /** The first box.cfg{} of an unconfigured start (recovery or bootstrap, then the rest). */
  readonly configure?: (options: Record<string, unknown>) => Promise<void>;
  readonly functions: FunctionRegistry;
  readonly logger: ServerLogger;
  /** box.cfg.listen as configured ('3301'); box.info.listen is the bound address. */
  readonly configuredListen?: () => string | undefined;
  /** os.exit(code): stop the instance and exit the process. */
  readonly onExit?: (code: number) => void;
}

/** The outcome of one console statement. */
export type ConsoleOutcome =
  | { readonly kind: 'values'; readonly values: unknown[] }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'incomplete' };

type Record_ = Map<unknown, unknown>;

let factory: LuaFactory | undefined;

export class LuaRuntime {
  private readonly users = new Map<number, SessionUser>();
  /** box.session.id() of each run: the iproto session of an EVAL/CALL, 0 for the consoles. */
  private readonly sessions = new Map<number, number>();
  private readonly fibers = new Map<number, 'running' | 'dead'>();

  private constructor(
    private readonly engine: LuaEngine,
    private readonly options: LuaRuntimeOptions,
  ) {}

  static async create(options: LuaRuntimeOptions): Promise<LuaRuntime> {
    factory ??= new LuaFactory();
    const engine = await factory.createEngine({ injectObjects: false, enableProxy: false });
    const values = new LuaValues(engine.global);
    engine.global.registerTypeExtension(10, values);
    const runtime = new LuaRuntime(engine, options);
    engine.global.set('__tarantype_js', runtime.bindings());
    engine.doStringSync(PRELUDE);
    values.bind(engine.global);
    return runtime;
  }

  /** One console statement, run as admin. */
  async console(code: string): Promise<ConsoleOutcome> {
    try {
      return outcomeOf(await this.run('__tarantype_console', [code], ADMIN_USER));
    } catch (error) {
      // An error outside the statement's protected call (a value that cannot cross into JS).
      return { kind: 'error', error: (error as Error).message };
    }
  }

  /** IPROTO_EVAL: the chunk's return values; a Lua error becomes a TarantoolError. */
  async eval(
    code: string,
    args: readonly unknown[],
    user: SessionUser,
    sessionId = 0,
  ): Promise<unknown[]> {
    return this.values(await this.run('__tarantype_eval', [code, [...args]], user, sessionId));
  }

  /** Whether `name` ('f', 'app.f') is a global Lua function (defined in a console or EVAL). */
  hasFunction(name: string): boolean {
    return this.engine.global.call('__tarantype_lookup', name)[0] === true;
  }

  /** CALL of a global Lua function. */
  async callFunction(
    name: string,
    args: readonly unknown[],
    user: SessionUser,
    sessionId = 0,
  ): Promise<unknown[]> {
    return this.values(await this.run('__tarantype_call', [name, [...args]], user, sessionId));
  }

  close(): void {
    this.engine.global.close();
  }

  private values(record: Record_): unknown[] {
    if (record.get('ok') === true) {
      const values = record.get('values');
      // A result 2.6's msgpack encoder refuses: nested too deep, or a table inside itself.
      if (values instanceof LuaNestingError)
        throw new TarantoolError('LuajitError', ErrorCode.ER_PROC_LUA, values.message);
      return values as unknown[];
    }
    throw toTarantoolError(record.get('error') as Record_);
  }

  /** Runs a prelude entry point in a new coroutine acting as `user`. */
  private async run(
    entry: string,
    args: readonly unknown[],
    user: SessionUser,
    sessionId = 0,
  ): Promise<Record_> {
    const global = this.engine.global;
    const thread = global.newThread();
    const ref = global.lua.luaL_ref(global.address, LUA_REGISTRYINDEX);
    this.users.set(thread.address, user);
    this.sessions.set(thread.address, sessionId);
    try {
      thread.lua.lua_getglobal(thread.address, entry);
      for (const arg of args) thread.pushValue(arg);
      const result = await thread.run(args.length);
      return result[0] as Record_;
    } finally {
      this.users.delete(thread.address);
      this.sessions.delete(thread.address);
      global.lua.luaL_unref(global.address, LUA_REGISTRYINDEX, ref);
    }
  }

  private userOf(thread: LuaThread): SessionUser {
    return this.users.get(thread.address) ?? GUEST_USER;
  }

  /** The JS functions the prelude captures (as `js`). Each returns plain data or a promise. */
  private bindings(): Record<string, unknown> {
    const { logger } = this.options;
    const box = () => this.box();
    const withThread = (fn: (thread: LuaThread, ...args: unknown[]) => unknown) =>
      decorateFunction(fn, { receiveThread: true });
    return {
      call: withThread((thread, name, ...args) =>
        this.callBox(this.userOf(thread), String(name), args),
      ),
      space: (name: unknown) => spaceDescriptor(box(), name),
      space_names: () => Object.keys(box().space).sort(),
      schema_version: () => box().catalog.schemaVersion,
      json_encode: (value: unknown) => jsonEncode(value),
      // Tarantool's json.decode marks tables as seq/map, so they print in flow style.
      json_decode: (text: unknown) => markFlow(JSON.parse(String(text)) as unknown),
      cfg: () => {
        const cfg: Record<string, unknown> = { ...box().cfgValues };
        const listen = this.options.configuredListen?.();
        if (listen !== undefined) cfg.listen = listen;
        return cfg;
      },
      info: () => infoTable(box()),
      info_field: (name: unknown) => infoTable(box())[String(name)] ?? null,
      info_server: () => {
        const info = box().info();
        return { lsn: info.lsn, ro: info.ro, uuid: info.uuid, id: info.id };
      },
      info_memory: () => box().infoMemory(),
      info_gc: () => infoGcTable(box()),
      once: (key: unknown) =>
        settle(
          box()
            .once(String(key), () => true)
            .then((ran) => [ran === true]),
        ),
      error_object: (code: unknown, ...args: unknown[]) => errorObject(code, args),
      error_custom: (table: unknown) => {
        const t = plainMap(table) as Record<string, unknown>;
        return {
          type: typeof t.type === 'string' ? t.type : 'ClientError',
          code: typeof t.code === 'number' ? t.code : 0,
          message: String(t.reason ?? t.message ?? ''),
        };
      },
      error_code: (name: unknown) =>
        (ErrorCode as Record<string, number>)[`ER_${String(name)}`] ?? null,
      session_id: withThread((thread) => this.sessions.get(thread.address) ?? 0),
      session_user: withThread((thread) => this.userOf(thread).name),
      session_uid: withThread((thread) => this.userOf(thread).id),
      sleep: (seconds: number) =>
        new Promise((resolve) =>
          setTimeout(() => resolve({ ok: true, values: [], n: 0 }), Math.max(0, seconds * 1000)),
        ),
      never: () => new Promise(() => {}),
      time: () => Date.now() / 1000,
      clock: () => performance.now() / 1000,
      fiber_start: withThread((thread, fid) =>
        this.startFiber(Number(fid), this.userOf(thread), this.sessions.get(thread.address) ?? 0),
      ),
      fiber_status: (fid: unknown) => this.fibers.get(Number(fid)) ?? 'dead',
      tuple_bsize: (fields: unknown) => encode(fields).length,
      // require('console').eval: the document alone, as Tarantool's (the client adds the blank line).
      format: (record: unknown) => formatOutcome(outcomeOf(record as Record_)).slice(0, -1),
      log: (level: unknown, text: unknown) => {
        const message = String(text);
        if (level === 'warn') logger.warn(message);
        else if (level === 'error' || level === 'crit') logger.error(message);
        else logger.info(message);
      },
      exit: (code: unknown) => {
        const exit = this.options.onExit;
        if (exit === undefined) throw new Error('os.exit is not available here');
        setImmediate(() => exit(Number(code) || 0));
      },
    };
  }

  /** The database, or the error Tarantool gives before the first box.cfg{}. */
  private box(): Box {
    const box = this.options.box();
    if (box === undefined) throw new Error('Please call box.cfg{} first');
    return box;
  }

  /** box.* by its Lua name, through lua-api.ts; sync results stay sync (no coroutine switch). */
  private callBox(user: SessionUser, name: string, args: unknown[]): unknown {
    try {
      const configure = this.options.configure;
      if (name === 'box.cfg' && this.options.box() === undefined && configure !== undefined) {
        const options = plainMap(args[0] ?? {});
        const map = Array.isArray(options) && options.length === 0 ? {} : options;
        if (typeof map !== 'object' || map === null || Array.isArray(map))
          throw new ClientError(ErrorCode.ER_ILLEGAL_PARAMS, 'options should be a table');
        return settle(configure(map as Record<string, unknown>).then(() => []));
      }
      const fn = resolveLuaFunction(name);
      if (fn === undefined) throw new ClientError(ErrorCode.ER_NO_SUCH_PROC, name);
      const result = fn(this.box(), user.id, args.map(plainMap));
      if (result instanceof Promise) return settle(result);
      return { ok: true, values: result, n: result.length };
    } catch (error) {
      return { ok: false, error: errorRecord(error) };
    }
  }

  private startFiber(fid: number, user: SessionUser, sessionId: number): void {
    this.fibers.set(fid, 'running');
    this.run('__tarantype_fiber_run', [fid], user, sessionId).then(
      (record) => {
        this.fibers.set(fid, 'dead');
        if (record !== undefined && record instanceof Map && record.get('ok') === false)
          this.options.logger.error(String((record.get('error') as Record_).get('message')));
      },
      (error: Error) => {
        this.fibers.set(fid, 'dead');
        this.options.logger.error(`fiber ${fid}: ${error.message}`);
      },
    );
  }
}

/**
 * box.info as Tarantool 2.6 prints it: its fields in its order, the vclock in flow style,
 * and the sections tarantype does not fill (sql, vinyl …) present and empty.
 */
function infoTable(box: Box): Record<string, unknown> {
  const info = box.info();
  info.vclock = flowVclock(info.vclock);
  // downstream.vclock too, as 2.6 builds both with lbox_pushvclock.
  for (const member of Object.values((info.replication ?? {}) as Record<string, unknown>)) {
    const downstream = (member as { downstream?: { vclock?: unknown } } | undefined)?.downstream;
    if (downstream?.vclock !== undefined) downstream.vclock = flowVclock(downstream.vclock);
  }
  const ordered: Record<string, unknown> = {};
  const put = (key: string, value: unknown) => {
    if (value !== undefined) ordered[key] = value;
  };
  for (const key of ['version', 'id', 'ro', 'uuid', 'package', 'cluster', 'listen'])
    put(key, info[key]);
  put('replication_anon', { count: 0 });
  for (const key of ['replication', 'signature', 'status', 'vclock', 'uptime', 'lsn'])
    put(key, info[key]);
  for (const key of ['sql', 'gc', 'vinyl', 'memory']) put(key, {});
  for (const [key, value] of Object.entries(info)) if (!(key in ordered)) put(key, value);
  return ordered;
}

function outcomeOf(record: Record_): ConsoleOutcome {
  if (record.get('incomplete') === true) return { kind: 'incomplete' };
  if (record.get('ok') === true)
    return { kind: 'values', values: record.get('values') as unknown[] };
  return { kind: 'error', error: (record.get('error') as Record_).get('message') };
}

/** A console outcome as Tarantool's console prints it. */
export function formatOutcome(outcome: ConsoleOutcome): string {
  if (outcome.kind === 'values') return formatResults(outcome.values, 'lua');
  if (outcome.kind === 'incomplete')
    return formatResults([new Map([['error', 'incomplete statement']])], 'lua');
  return formatResults([new Map([['error', outcome.error]])], 'lua');
}

/**
 * require('json').encode as Tarantool's (lua-cjson): compact, '/' escaped, an empty table is
 * an array, integral numbers without a fraction, map keys as strings.
 */
function jsonEncode(value: unknown): string {
  const plainValue = (v: unknown): unknown => {
    if (v instanceof Map)
      return Object.fromEntries([...v].map(([k, x]) => [String(k), plainValue(x)]));
    if (Array.isArray(v)) return v.map(plainValue);
    if (typeof v === 'bigint') return Number(v);
    return v;
  };
  return (JSON.stringify(plainValue(value)) ?? 'null').replace(/\//g, '\\/');
}

function markFlow(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  FLOW_STYLE.add(value);
  for (const v of Object.values(value)) markFlow(v);
  return value;
}

/** Keys first in `order` (those present), then the rest as they come. */
function ordered(
  value: Record<string, unknown>,
  order: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of order) if (key in value) out[key] = value[key];
  for (const [key, v] of Object.entries(value)) if (!(key in out)) out[key] = v;
  return out;
}

/**
 * A vclock as 2.6 prints it: in flow style, its components in LuaJIT's hash order
 * ({2: 2, 1: 10}, luajit-order.ts).
 */
function flowVclock(vclock: unknown): unknown {
  if (typeof vclock !== 'object' || vclock === null) return vclock;
  const ordered = vclockInLuajitOrder(vclock as Record<string, unknown>);
  FLOW_STYLE.add(ordered);
  return ordered;
}

/** box.info.gc() in Tarantool 2.6's print order, vclocks in flow style. */
function infoGcTable(box: Box): Record<string, unknown> {
  const gc = box.infoGc();
  const flow = flowVclock;
  const checkpoints = Array.isArray(gc.checkpoints)
    ? gc.checkpoints.map((c: Record<string, unknown>) =>
        ordered({ ...c, vclock: flow(c.vclock) }, ['references', 'vclock', 'signature']),
      )
    : gc.checkpoints;
  return ordered({ ...gc, vclock: flow(gc.vclock), checkpoints }, [
    'signature',
    'checkpoint_is_in_progress',
    'checkpoints',
    'vclock',
    'consumers',
  ]);
}

/** A promise of box results as the prelude's `wait` reads them. */
function settle(work: Promise<unknown[]>): Promise<unknown> {
  return work.then(
    (values) => ({ ok: true, values, n: values.length }),
    (error) => ({ ok: false, error: errorRecord(error) }),
  );
}

function errorRecord(error: unknown): Record<string, unknown> {
  if (error instanceof TarantoolError)
    return { type: error.type, code: error.code, message: error.message };
  return {
    type: 'LuajitError',
    code: ErrorCode.ER_PROC_LUA,
    message: (error as Error)?.message ?? String(error),
  };
}

function errorObject(code: unknown, args: readonly unknown[]): Record<string, unknown> {
  const number = typeof code === 'number' ? code : Number(code);
  const template = Number.isInteger(number) ? errorTemplate(number) : undefined;
  if (template === undefined)
    return { type: 'ClientError', code: ErrorCode.ER_UNKNOWN, message: 'Unknown error' };
  return { type: 'ClientError', code: number, message: formatMessage(template, args) };
}

/** A Lua error as iproto sends it: box.error objects keep their type and code. */
function toTarantoolError(error: Record_): TarantoolError {
  const message = error.get('message');
  const text = message === null || message === undefined ? 'nil' : String(message);
  const code = error.get('code');
  if (typeof code === 'number')
    return new TarantoolError(String(error.get('type') ?? 'ClientError'), code, text);
  return new TarantoolError('LuajitError', ErrorCode.ER_PROC_LUA, text);
}

/** Maps whose keys are all strings become plain objects (as msgpack maps decode in core). */
export function plainMap(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plainMap);
  if (value instanceof Map) {
    if ([...value.keys()].every((k) => typeof k === 'string'))
      return Object.fromEntries([...value].map(([k, v]) => [k, plainMap(v)]));
    return new Map([...value].map(([k, v]) => [k, plainMap(v)]));
  }
  return value;
}

/** space:on_replace() / space:before_replace(): tarantype has no space triggers. */
function triggersUnsupported(): never {
  throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'tarantype', 'space triggers');
}

/**
 * A space as Lua sees it, with its fields in the order Tarantool 2.6's console prints a space
 * object (before_replace and on_replace are functions there too; here they refuse).
 */
function spaceDescriptor(box: Box, name: unknown): Record<string, unknown> | null {
  const entry =
    typeof name === 'number'
      ? box.catalog.byId.get(name)
      : [...box.catalog.byId.values()].find((e) => e.def.name === name);
  if (entry === undefined) return null;
  const space = box.space[entry.def.name];
  if (space === undefined) return null;
  const index: Record<string, unknown> = {};
  for (const [k, i] of Object.entries(space.index)) {
    const parts = i.parts.map((p) => ({
      type: p.type,
      is_nullable: p.is_nullable,
      fieldno: p.fieldno + 1,
    }));
    index[k] = {
      unique: i.unique,
      parts,
      id: i.id,
      space_id: space.id,
      type: i.type,
      name: i.name,
    };
  }
  return {
    engine: space.engine,
    before_replace: triggersUnsupported,
    field_count: space.field_count,
    is_sync: false,
    ck_constraint: [],
    on_replace: triggersUnsupported,
    temporary: space.temporary,
    index,
    is_local: space.is_local,
    enabled: space.index[0] !== undefined,
    name: space.name,
    id: space.id,
  };
}
