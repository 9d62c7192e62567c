// The order in which Tarantool 2.6 prints a vclock ({2: 2, 1: 10}): 2.6 builds it in C
// (lbox_pushvclock: lua_createtable(L, 0, n), then t[id] = lsn in ascending id order) and the
// console walks it with LuaJIT's next(), so the order is that of LuaJIT's hash part. This
// replays LuaJIT 2.1's number hash (hashrot over the double's words, lj_tab.h) and its
// insertion with collisions (lj_tab_newkey: the main position, else the free slot searched
// down from the top, moving a node that is not in its own main position). Checked against a
// real tarantool (luajit-order.test.ts). Layer: apps/server (console printing).

const rol = (x: number, n: number): number => ((x << n) | (x >>> (32 - n))) >>> 0;

/** LuaJIT's hashrot with HASH_ROT1..3 = 14, 5, 13 (the x86/x64 variant). */
function hashrot(lo: number, hi: number): number {
  let l = (lo ^ hi) >>> 0;
  let h = rol(hi, 14);
  l = (l - h) >>> 0;
  h = rol(h, 5);
  h = (h ^ l) >>> 0;
  h = (h - rol(l, 13)) >>> 0;
  return h;
}

const words = new DataView(new ArrayBuffer(8));

/** hashnum: the key as a double, its low word and its high word shifted left by one. */
function hashNumber(key: number): number {
  words.setFloat64(0, key, true);
  return hashrot(words.getUint32(0, true), (words.getUint32(4, true) << 1) >>> 0);
}

/**
 * The keys in the order LuaJIT's next() returns them from a table made by
 * lua_createtable(L, 0, keys.length) and filled in the given order (all keys in the hash
 * part: no array part was asked for and the hash part is big enough for them).
 */
export function luajitHashOrder(keys: readonly number[]): number[] {
  let size = 1;
  while (size < keys.length) size *= 2;
  const mask = size - 1;
  const nodes: Array<number | undefined> = new Array(size).fill(undefined);
  const next: Array<number | undefined> = new Array(size).fill(undefined);
  let freeTop = size;
  const mainPosition = (key: number) => hashNumber(key) & mask;
  for (const key of keys) {
    let position = mainPosition(key);
    const occupant = nodes[position];
    if (occupant !== undefined) {
      do freeTop--;
      while (nodes[freeTop] !== undefined);
      const free = freeTop;
      let collide = mainPosition(occupant);
      if (collide !== position) {
        // The occupant is not in its main position: move it to the free node.
        while (next[collide] !== position) collide = next[collide]!;
        next[collide] = free;
        nodes[free] = occupant;
        next[free] = next[position];
        next[position] = undefined;
      } else {
        next[free] = next[position];
        next[position] = free;
        position = free;
      }
    }
    nodes[position] = key;
  }
  return nodes.filter((key): key is number => key !== undefined);
}

/** A vclock ({id: lsn}) as a Map in 2.6's print order. */
export function vclockInLuajitOrder(
  vclock: Readonly<Record<string, unknown>>,
): Map<number, unknown> {
  const ids = Object.keys(vclock)
    .map(Number)
    .sort((a, b) => a - b);
  return new Map(luajitHashOrder(ids).map((id) => [id, vclock[String(id)]]));
}
