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

/** Bounds the depth of converted values (a table that contains itself, deep user data). */
const DEPTH_MAX = 64;
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

export class LuaValues extends LuaTypeExtension<unknown> {
  private nullRef = -1;
  private orderRef = -1;
  private flowSeqRef = -1;
  private flowMapRef = -1;
  private blockMapRef = -1;
  /** Per conversion (getValue): tables converted so far by address, and values expanded. */
  private seen = new Map<number, { value: unknown; size: number }>();
  private expanded = 0;

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
        if (depth >= DEPTH_MAX) return '<too deep>';
        const address = lua.lua_topointer(L, index);
        const again = this.seen.get(address);
        if (again !== undefined) {
          if (this.expanded + again.size > EXPANDED_VALUES_MAX) return '<too large>';
          this.expanded += again.size;
          return again.value;
        }
        const before = this.expanded;
        // A table that contains itself: met again inside its own conversion, it is as deep
        // as the bound allows (Tarantool's encoder fails on the depth too), at once.
        this.seen.set(address, { value: '<too deep>', size: 1 });
        const value = this.readTable(thread, index, depth);
        this.seen.set(address, { value, size: this.expanded - before });
        return value;
      }
      case LuaType.Function:
        return `function: 0x${lua.lua_topointer(L, index).toString(16).padStart(8, '0')}`;
      default: {
        if (depth === 0) return thread.getValue(index, type);
        return `${lua.lua_typename(L, type)}: 0x${lua.lua_topointer(L, index).toString(16).padStart(8, '0')}`;
      }
    }
  }

  private readTable(thread: LuaThread, index: number, depth: number): unknown {
    const lua = thread.lua;
    const L = thread.address;
    // Each level holds a key and a value on the Lua stack (and styleOf a metatable): without
    // room the C stack overflows into the wasm heap (LUA_MINSTACK is 20 slots).
    if (lua.lua_checkstack(L, 8) === 0) return '<too deep>';
    const style = this.styleOf(thread, index);
    if (style === 'null') return null;
    const keys: unknown[] = [];
    lua.lua_pushnil(L);
    while (lua.lua_next(L, index) !== 0) {
      keys.push(this.read(thread, -2, depth + 1));
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
        array.push(this.read(thread, lua.lua_gettop(L), depth + 1));
        lua.lua_settop(L, -2);
      }
      result = array;
    } else {
      const map = new Map<unknown, unknown>();
      for (const k of this.orderedKeys(thread, index, keys)) {
        pushKey(thread, k);
        lua.lua_rawget(L, index);
        map.set(k, this.read(thread, lua.lua_gettop(L), depth + 1));
        lua.lua_settop(L, -2);
      }
      result = map;
    }
    if (style === 'seq' || style === 'map' || style === 'tuple') FLOW_STYLE.add(result);
    return result;
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
    if (depth > DEPTH_MAX) {
      lua.lua_pushnil(L);
      return;
    }
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
