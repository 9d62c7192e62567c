// How values cross between Lua (wasmoon) and JavaScript, with Tarantool's Lua conventions.
// Layer: apps/server (the Lua console and EVAL). A wasmoon type extension that takes over
// tables and nulls from wasmoon's defaults:
// - Lua → JS: a table is an array when its keys are 1..n with at most Tarantool's sparse
//   allowance of holes (max key ≤ 10, or ≤ 2 × count), holes and box.NULL are null, an empty
//   table is an empty array (as Tarantool's msgpack encodes it); otherwise a Map keyed by
//   numbers, strings and booleans, in the order the keys were set from JS, then Lua's order.
//   `__serialize` in a metatable ('seq'/'array'/'map' flow, 'sequence'/'mapping' block) and
//   tuples (metatable __name 'tuple') choose the YAML style. Functions and userdata in tables
//   become 'function: 0x…' strings, as Tarantool's console shows them.
// - JS → Lua: arrays become 1-based sequences (null → box.NULL so holes keep their place),
//   objects and Maps become tables (integer-like keys become integer keys, as box.info's
//   replication[1]), FLOW_STYLE values get a `__serialize` metatable, bigint becomes an
//   integer.
// It does not convert class instances: the bindings hand Lua plain data only.
import {
  LUA_REGISTRYINDEX,
  type LuaEngine,
  type LuaThread,
  LuaType,
  LuaTypeExtension,
} from 'wasmoon';
import { FLOW_STYLE } from '../yaml-output.js';

/**
 * Tarantool 2.6's msgpack encode_max_depth: an EVAL or CALL result nests at most this many
 * tables; a deeper one (or a table that contains itself) fails the request with "Too high
 * nest level - 129" (ER_PROC_LUA). Elsewhere (the consoles, arguments of the JS bindings) a
 * table this deep converts to '<too deep>'.
 */
const DEPTH_MAX = 128;
/**
 * Bounds the depth of a JS value pushed into Lua: EVAL and CALL arguments decode to at most
 * 512 levels (core's MSGPACK_DEPTH_MAX); each level takes Lua stack slots, reserved with
 * lua_checkstack before they are used (without, a deep argument wrote past the stack into the
 * wasm heap: found by the fuzz campaign, every later request hung).
 */
const PUSH_DEPTH_MAX = 1024;
/** Lua stack slots one level of write() uses: the table, a key, a value, the order bookkeeping. */
const PUSH_SLOTS = 6;
/**
 * Bounds the values one conversion expands to when tables are shared: `t = {t, t}` 64 times
 * is 64 tables but 2^64 values once expanded (found by the fuzz campaign: it held the event
 * loop). A table met again is the same JS value; past this many expanded values it is
 * '<too large>'. A result without shared tables is never cut.
 */
const EXPANDED_VALUES_MAX = 1_000_000;
/** Tarantool's encode_sparse_safe and encode_sparse_ratio. */
const SPARSE_SAFE = 10;
const SPARSE_RATIO = 2;

type Global = LuaEngine['global'];

/**
 * What the values list of an EVAL or CALL result (a table with the prelude's
 * 'tarantype.results' metatable) converts to when one of its values nests deeper than 2.6's
 * msgpack encoder allows: the runtime answers the request with this error.
 */
export class LuaNestingError {
  readonly message = `Too high nest level - ${DEPTH_MAX + 1}`;
}

/** A table met again while it is being converted: it contains itself. */
const CONVERTING = Symbol('converting');

export class LuaValues extends LuaTypeExtension<unknown> {
  private nullRef = -1;
  private orderRef = -1;
  private flowSeqRef = -1;
  private flowMapRef = -1;
  private blockMapRef = -1;
  /**
   * Per conversion (getValue): tables converted so far by address (their value, the values
   * they expanded to, their height in tables), and values expanded.
   */
  private seen = new Map<
    number,
    { value: unknown; size: number; height: number } | typeof CONVERTING
  >();
  private expanded = 0;
  /** The height in tables of the value read() returned last (0 for a scalar). */
  private height = 0;
  /** Inside a results list (EVAL/CALL): a value past DEPTH_MAX fails the list. */
  private inResults = false;
  private nestingExceeded = false;

  constructor(global: Global) {
    super(global, 'tarantype_values');
  }

  /** Called once the prelude has defined box.NULL and the helper tables. */
  bind(thread: LuaThread): void {
    const lua = thread.lua;
    const ref = (name: string) => {
      lua.lua_getglobal(thread.address, name);
      return lua.luaL_ref(thread.address, LUA_REGISTRYINDEX);
    };
    this.nullRef = ref('__tarantype_null');
    this.orderRef = ref('__tarantype_order');
    this.flowSeqRef = ref('__tarantype_flow_seq');
    this.flowMapRef = ref('__tarantype_flow_map');
    this.blockMapRef = ref('__tarantype_block_map');
  }

  close(): void {}

  override isType(_thread: LuaThread, _index: number, type: LuaType): boolean {
    return type === LuaType.Table;
  }

  override getValue(thread: LuaThread, index: number): unknown {
    this.seen = new Map();
    this.expanded = 0;
    this.inResults = false;
    this.nestingExceeded = false;
    try {
      return this.read(thread, thread.lua.lua_absindex(thread.address, index), 0);
    } finally {
      this.seen = new Map();
    }
  }

  private read(thread: LuaThread, index: number, depth: number): unknown {
    const lua = thread.lua;
    const L = thread.address;
    index = lua.lua_absindex(L, index);
    const type = lua.lua_type(L, index);
    this.expanded++;
    this.height = 0;
    switch (type) {
      case LuaType.Nil:
      case LuaType.None:
        return null;
      case LuaType.Boolean:
        return lua.lua_toboolean(L, index) !== 0;
      case LuaType.Number:
        if (lua.lua_isinteger(L, index)) {
          const n = lua.lua_tointegerx(L, index, null);
          return n >= -(2n ** 53n) && n <= 2n ** 53n ? Number(n) : n;
        }
        return lua.lua_tonumberx(L, index, null);
      case LuaType.String:
        return lua.lua_tolstring(L, index, null);
      case LuaType.Table: {
        const address = lua.lua_topointer(L, index);
        const again = this.seen.get(address);
        // A table that contains itself: met again inside its own conversion, it is as deep as
        // the bound allows (Tarantool's encoder fails on the depth in the same case), at once.
        if (again === CONVERTING) return this.tooDeep();
        if (again !== undefined) {
          // Shared: the same JS value, as deep below here as it was where it was converted.
          if (depth + again.height > DEPTH_MAX) return this.tooDeep();
          if (this.expanded + again.size > EXPANDED_VALUES_MAX) return '<too large>';
          this.expanded += again.size;
          this.height = again.height;
          return again.value;
        }
        // box.NULL is a table here but not in 2.6 (cdata): it takes no level.
        if (depth >= DEPTH_MAX && !this.isNull(thread, index)) return this.tooDeep();
        const before = this.expanded;
        this.seen.set(address, CONVERTING);
        const value = this.readTable(thread, index, depth);
        this.seen.set(address, { value, size: this.expanded - before, height: this.height });
        return value;
      }
      case LuaType.Function:
        return `function: 0x${lua.lua_topointer(L, index).toString(16).padStart(8, '0')}`;
      default: {
        // A userdata or thread as the value converted (not inside a table): wasmoon's own.
        if (depth === 0 && !this.inResults) return thread.getValue(index, type);
        return `${lua.lua_typename(L, type)}: 0x${lua.lua_topointer(L, index).toString(16).padStart(8, '0')}`;
      }
    }
  }

  private isNull(thread: LuaThread, index: number): boolean {
    if (this.nullRef < 0) return false;
    const lua = thread.lua;
    lua.lua_rawgeti(thread.address, LUA_REGISTRYINDEX, BigInt(this.nullRef));
    const same = lua.lua_rawequal(thread.address, index, -1) !== 0;
    lua.lua_settop(thread.address, -2);
    return same;
  }

  /** A table past DEPTH_MAX: it fails a results list, elsewhere it is cut. */
  private tooDeep(): string {
    if (this.inResults) this.nestingExceeded = true;
    this.height = 0;
    return '<too deep>';
  }

  private readTable(thread: LuaThread, index: number, depth: number): unknown {
    const lua = thread.lua;
    const L = thread.address;
    // Each level holds a key and a value on the Lua stack (and styleOf a metatable): without
    // room the C stack overflows into the wasm heap (LUA_MINSTACK is 20 slots).
    if (lua.lua_checkstack(L, 8) === 0) return this.tooDeep();
    const style = this.styleOf(thread, index);
    if (style === 'null') return null;
    if (style === 'results') return this.readResults(thread, index);
    let height = 0;
    const read = (at: number) => {
      const value = this.read(thread, at, depth + 1);
      if (this.height > height) height = this.height;
      return value;
    };
    const keys: unknown[] = [];
    lua.lua_pushnil(L);
    while (lua.lua_next(L, index) !== 0) {
      keys.push(read(-2));
      lua.lua_settop(L, -2);
    }
    const asArray =
      style === 'seq' || style === 'sequence' || style === 'tuple'
        ? true
        : style === 'map' || style === 'mapping'
          ? false
          : isArrayKeys(keys);
    let result: unknown[] | Map<unknown, unknown>;
    if (asArray) {
      // A sequence by its keys: up to the largest (holes are few, isArrayKeys). A sequence by
      // its metatable: its border (#t, lua_objlen as Tarantool), never a loop up to a huge key.
      let length = 0;
      if (style === undefined) {
        for (const k of keys)
          if (typeof k === 'number' && Number.isInteger(k) && k > length) length = k;
      } else length = Number(lua.lua_rawlen(L, index));
      const array: unknown[] = [];
      for (let i = 1; i <= length; i++) {
        lua.lua_rawgeti(L, index, BigInt(i));
        array.push(read(lua.lua_gettop(L)));
        lua.lua_settop(L, -2);
      }
      result = array;
    } else {
      const map = new Map<unknown, unknown>();
      for (const k of this.orderedKeys(thread, index, keys)) {
        pushKey(thread, k);
        lua.lua_rawget(L, index);
        map.set(k, read(lua.lua_gettop(L)));
        lua.lua_settop(L, -2);
      }
      result = map;
    }
    if (style === 'seq' || style === 'map' || style === 'tuple') FLOW_STYLE.add(result);
    this.height = height + 1;
    return result;
  }

  /**
   * The values list of an EVAL or CALL result (1..#t): each value at depth 0, as 2.6's msgpack
   * encoder counts; one nested past DEPTH_MAX makes the list a LuaNestingError.
   */
  private readResults(thread: LuaThread, index: number): unknown[] | LuaNestingError {
    const lua = thread.lua;
    const L = thread.address;
    const outer = this.inResults;
    this.inResults = true;
    try {
      const length = Number(lua.lua_rawlen(L, index));
      const values: unknown[] = [];
      for (let i = 1; i <= length && !this.nestingExceeded; i++) {
        lua.lua_rawgeti(L, index, BigInt(i));
        values.push(this.read(thread, lua.lua_gettop(L), 0));
        lua.lua_settop(L, -2);
      }
      if (this.nestingExceeded) return new LuaNestingError();
      return values;
    } finally {
      this.inResults = outer;
      this.nestingExceeded = false;
      this.height = 1;
    }
  }

  /** The metatable's __serialize (or 'tuple', or 'null' for box.NULL), if any. */
  private styleOf(thread: LuaThread, index: number): string | undefined {
    const lua = thread.lua;
    const L = thread.address;
    if (!lua.lua_getmetatable(L, index)) return undefined;
    let style: string | undefined;
    lua.lua_getfield(L, -1, '__name');
    const name =
      lua.lua_type(L, -1) === LuaType.String ? lua.lua_tolstring(L, -1, null) : undefined;
    lua.lua_settop(L, -2);
    if (name === 'tuple') style = 'tuple';
    else if (name === 'box.NULL') style = 'null';
    else if (name === 'tarantype.results') style = 'results';
    else {
      lua.lua_getfield(L, -1, '__serialize');
      if (lua.lua_type(L, -1) === LuaType.String) style = lua.lua_tolstring(L, -1, null);
      if (style === 'array') style = 'seq';
      lua.lua_settop(L, -2);
    }
    lua.lua_settop(L, -2);
    return style;
  }

  /** Keys in the order JS set them (recorded at push), then the rest in Lua's order. */
  private orderedKeys(thread: LuaThread, index: number, keys: unknown[]): unknown[] {
    const lua = thread.lua;
    const L = thread.address;
    if (this.orderRef < 0) return keys;
    lua.lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.orderRef));
    lua.lua_pushvalue(L, index);
    lua.lua_rawget(L, -2);
    const first: unknown[] = [];
    if (lua.lua_type(L, -1) === LuaType.Table) {
      const n = lua.lua_rawlen(L, -1);
      for (let i = 1; i <= n; i++) {
        lua.lua_rawgeti(L, -1, BigInt(i));
        first.push(lua.lua_tolstring(L, -1, null));
        lua.lua_settop(L, -2);
      }
    }
    lua.lua_settop(L, -3);
    if (first.length === 0) return keys;
    const present = new Set(keys.map((k) => (typeof k === 'number' ? String(k) : k)));
    const ordered = first
      .filter((k) => present.has(k as string))
      .map((k) => keyFromString(k as string, keys));
    const seen = new Set(ordered);
    return [...ordered, ...keys.filter((k) => !seen.has(k))];
  }

  override pushValue(thread: LuaThread, decoration: { target: unknown }): boolean {
    const target = decoration.target;
    if (target === null) {
      if (this.nullRef < 0) thread.lua.lua_pushnil(thread.address);
      else thread.lua.lua_rawgeti(thread.address, LUA_REGISTRYINDEX, BigInt(this.nullRef));
      return true;
    }
    if (typeof target === 'bigint') {
      thread.lua.lua_pushinteger(thread.address, BigInt.asIntN(64, target));
      return true;
    }
    if (target instanceof Uint8Array) {
      thread.lua.lua_pushstring(thread.address, Buffer.from(target).toString('latin1'));
      return true;
    }
    if (typeof target !== 'object') return false;
    if (!Array.isArray(target) && !(target instanceof Map) && !isPlainObject(target)) return false;
    this.write(thread, target, 0);
    return true;
  }

  private write(thread: LuaThread, value: unknown, depth: number): void {
    const lua = thread.lua;
    const L = thread.address;
    if (depth > PUSH_DEPTH_MAX)
      throw new Error(`a value nested deeper than ${PUSH_DEPTH_MAX} cannot be passed to Lua`);
    if (lua.lua_checkstack(L, PUSH_SLOTS) === 0)
      throw new Error('the Lua stack has no room for a value nested this deep');
    if (
      value === null ||
      typeof value !== 'object' ||
      value instanceof Uint8Array ||
      !(Array.isArray(value) || value instanceof Map || isPlainObject(value))
    ) {
      thread.pushValue(value);
      return;
    }
    if (Array.isArray(value)) {
      lua.lua_createtable(L, value.length, 0);
      const table = lua.lua_gettop(L);
      for (let i = 0; i < value.length; i++) {
        const v = value[i];
        this.write(thread, v === undefined ? null : v, depth + 1);
        lua.lua_rawseti(L, table, BigInt(i + 1));
      }
      if (FLOW_STYLE.has(value)) this.setStyle(thread, table, this.flowSeqRef);
      return;
    }
    const items: Array<[unknown, unknown]> =
      value instanceof Map ? [...value] : Object.entries(value as Record<string, unknown>);
    lua.lua_createtable(L, 0, items.length);
    const table = lua.lua_gettop(L);
    const order: string[] = [];
    for (const [k, v] of items) {
      if (v === undefined) continue;
      if (typeof k === 'string' && /^(?:0|[1-9]\d{0,14})$/.test(k))
        lua.lua_pushinteger(L, BigInt(k));
      else thread.pushValue(k);
      this.write(thread, v, depth + 1);
      lua.lua_rawset(L, table);
      order.push(String(k));
    }
    if (order.length > 1 && this.orderRef >= 0) {
      lua.lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.orderRef));
      lua.lua_pushvalue(L, table);
      lua.lua_createtable(L, order.length, 0);
      for (let i = 0; i < order.length; i++) {
        lua.lua_pushstring(L, order[i]!);
        lua.lua_rawseti(L, -2, BigInt(i + 1));
      }
      lua.lua_rawset(L, -3);
      lua.lua_settop(L, -2);
    }
    if (FLOW_STYLE.has(value)) this.setStyle(thread, table, this.flowMapRef);
    // {1: …} from JS is a map (box.info.replication), not the sequence Lua would take it for.
    else if (order.length > 0 && !(value instanceof Map) && order.every((k) => /^\d+$/.test(k)))
      this.setStyle(thread, table, this.blockMapRef);
  }

  private setStyle(thread: LuaThread, table: number, metatableRef: number): void {
    if (metatableRef < 0) return;
    thread.lua.lua_rawgeti(thread.address, LUA_REGISTRYINDEX, BigInt(metatableRef));
    thread.lua.lua_setmetatable(thread.address, table);
  }
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Tarantool's rule: positive integer keys, and not too sparse. */
function isArrayKeys(keys: readonly unknown[]): boolean {
  if (keys.length === 0) return true;
  let max = 0;
  for (const k of keys) {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) return false;
    if (k > max) max = k;
  }
  return max <= SPARSE_SAFE || max <= SPARSE_RATIO * keys.length;
}

function pushKey(thread: LuaThread, key: unknown): void {
  if (typeof key === 'number' && Number.isInteger(key))
    thread.lua.lua_pushinteger(thread.address, BigInt(key));
  else if (typeof key === 'bigint') thread.lua.lua_pushinteger(thread.address, key);
  else thread.pushValue(key);
}

function keyFromString(text: string, keys: readonly unknown[]): unknown {
  return keys.find((k) => (typeof k === 'number' ? String(k) : k) === text) ?? text;
}
