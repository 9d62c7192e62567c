// CowSortedMap: a sorted map of number keys with O(leaves) read views, the in-memory stand-in
// for a memtx primary index in this package's tests and benchmark. Layer: snapshot, test
// support (exported from '@tarantype/snapshot/testing' only).
//
// Why not sorted-btree: it is a dependency of @tarantype/memtx, not of this package, and this
// package must not depend on memtx. This structure has the property the snapshot writer relies
// on and that memtx read views provide: readView() is cheap, later writes never show through
// it, and writes pay only for copying what they touch (one leaf) after a read view was taken.
//
// Layout: a directory (array) of leaves, each with sorted keys and their values and the epoch
// it was created in. readView() copies the directory and starts a new epoch; a write to a leaf
// of an older epoch first replaces it by a copy (copy-on-write), so leaves a read view can see
// are never modified. Invariant (checkValid): keys strictly ascending across leaves, no empty
// leaf, no leaf above 2 × leafSize entries, size = sum of leaf lengths.
import { AssertionError, assert } from '@tarantype/core';

interface Leaf<V> {
  readonly keys: number[];
  readonly values: V[];
  /** The map's epoch when this leaf was created; older leaves may be shared with read views. */
  readonly epoch: number;
}

/** A frozen view of the map at the moment readView() was called. */
export interface CowReadView<V> {
  readonly size: number;
  entries(): IterableIterator<[number, V]>;
  values(): IterableIterator<V>;
}

export const COW_LEAF_SIZE_DEFAULT = 256;

export class CowSortedMap<V> {
  private leaves: Leaf<V>[] = [];
  private epoch = 0;
  private count = 0;

  constructor(private readonly leafSize: number = COW_LEAF_SIZE_DEFAULT) {
    assert(Number.isInteger(leafSize) && leafSize >= 1, `leaf size ${leafSize}`);
  }

  get size(): number {
    return this.count;
  }

  /** O(log n). */
  get(key: number): V | undefined {
    const leaf = this.leaves[this.findLeaf(key)];
    if (leaf === undefined) return undefined;
    const index = lowerBound(leaf.keys, key);
    return leaf.keys[index] === key ? leaf.values[index] : undefined;
  }

  /** Inserts or replaces; returns true when the key is new. O(log n + leafSize). */
  set(key: number, value: V): boolean {
    if (this.leaves.length === 0) {
      this.leaves.push({ keys: [key], values: [value], epoch: this.epoch });
      this.count = 1;
      return true;
    }
    const leafIndex = this.findLeaf(key);
    const leaf = this.writable(leafIndex);
    const index = lowerBound(leaf.keys, key);
    if (leaf.keys[index] === key) {
      leaf.values[index] = value;
      return false;
    }
    leaf.keys.splice(index, 0, key);
    leaf.values.splice(index, 0, value);
    this.count++;
    if (leaf.keys.length > 2 * this.leafSize) this.split(leafIndex);
    return true;
  }

  /**
   * Adds an entry whose key is greater than every key in the map: a sorted bulk load, as memtx
   * builds its indexes from a snapshot's rows (which come in primary-key order). O(1) amortized.
   */
  append(key: number, value: V): void {
    const last = this.leaves[this.leaves.length - 1];
    if (last !== undefined)
      if (!(key > last.keys[last.keys.length - 1]!))
        throw new AssertionError(`append of key ${key} out of order`);
    if (last === undefined || last.keys.length >= this.leafSize || last.epoch !== this.epoch) {
      this.leaves.push({ keys: [key], values: [value], epoch: this.epoch });
    } else {
      last.keys.push(key);
      last.values.push(value);
    }
    this.count++;
  }

  /** Removes `key`; returns true if it was there. O(log n + leafSize). */
  delete(key: number): boolean {
    const leafIndex = this.findLeaf(key);
    const current = this.leaves[leafIndex];
    if (current === undefined) return false;
    const index = lowerBound(current.keys, key);
    if (current.keys[index] !== key) return false;
    const leaf = this.writable(leafIndex);
    leaf.keys.splice(index, 1);
    leaf.values.splice(index, 1);
    this.count--;
    if (leaf.keys.length === 0) this.leaves.splice(leafIndex, 1);
    return true;
  }

  /** A read view: O(number of leaves) now, copy-on-write for later writes. */
  readView(): CowReadView<V> {
    const leaves = this.leaves.slice();
    const size = this.count;
    this.epoch++;
    return {
      size,
      entries: () => iterateEntries(leaves),
      values: () => iterateValues(leaves),
    };
  }

  /** Live iteration (must not be interleaved with writes; use a read view for that). */
  entries(): IterableIterator<[number, V]> {
    return iterateEntries(this.leaves);
  }

  /** Asserts the structure's invariants (tests call it after each step). */
  checkValid(): void {
    let total = 0;
    let previous = Number.NEGATIVE_INFINITY;
    for (const leaf of this.leaves) {
      assert(leaf.keys.length > 0, 'empty leaf');
      assert(leaf.keys.length <= 2 * this.leafSize, 'oversized leaf');
      assert(leaf.keys.length === leaf.values.length, 'keys and values differ in length');
      for (const key of leaf.keys) {
        if (!(key > previous))
          throw new AssertionError(`keys out of order: ${key} after ${previous}`);
        previous = key;
      }
      total += leaf.keys.length;
    }
    assert(total === this.count, `size ${this.count} but ${total} entries`);
  }

  /** Index of the leaf that holds or would hold `key`: the last leaf whose first key ≤ key. */
  private findLeaf(key: number): number {
    let low = 0;
    let high = this.leaves.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.leaves[middle]!.keys[0]! <= key) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** The leaf at `index`, copied first if a read view may share it. */
  private writable(index: number): Leaf<V> {
    const leaf = this.leaves[index]!;
    if (leaf.epoch === this.epoch) return leaf;
    const copy = { keys: leaf.keys.slice(), values: leaf.values.slice(), epoch: this.epoch };
    this.leaves[index] = copy;
    return copy;
  }

  private split(index: number): void {
    const leaf = this.leaves[index]!;
    const half = leaf.keys.length >>> 1;
    const right = {
      keys: leaf.keys.splice(half),
      values: leaf.values.splice(half),
      epoch: this.epoch,
    };
    this.leaves.splice(index + 1, 0, right);
  }
}

function* iterateEntries<V>(leaves: readonly Leaf<V>[]): IterableIterator<[number, V]> {
  for (const leaf of leaves) {
    const n = leaf.keys.length;
    for (let i = 0; i < n; i++) yield [leaf.keys[i]!, leaf.values[i]!];
  }
}

function* iterateValues<V>(leaves: readonly Leaf<V>[]): IterableIterator<V> {
  for (const leaf of leaves) yield* leaf.values;
}

/** First index whose key is ≥ `key`. */
function lowerBound(keys: readonly number[], key: number): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (keys[middle]! < key) low = middle + 1;
    else high = middle;
  }
  return low;
}
