// TREE index: a sorted-btree B+ tree of tuple refs, unique or not. Layer: memtx.
//
// Two layouts, chosen by measurement (README, "Design"):
// - direct: a unique, non-nullable, single-part index of a numeric type keeps the key itself
//   (a JS number, or a bigint beyond ±2^53) as the B-tree key and the ref as its value. Lookups
//   compare plain numbers: ~2.5x faster than the other layout, ~18-27 bytes per entry.
// - by ref: every other index stores only refs (sorted-btree's "set" mode, ~6-11 bytes per
//   entry) and its comparator reads both tuples' key parts from the arena in place. A search
//   key is passed to the B-tree as the sentinel PROBE, with the key bytes and a bias held by
//   the index, so one comparator serves tuples and keys.
//
// Partial keys: a probe with bias -1 sorts before every tuple with that key prefix, bias +1
// after them, so GE/EQ/LT start at bias -1 and GT/LE/REQ at bias +1.
//
// Read views clone the tree (sorted-btree's copy-on-write clone(), O(1)); the clone shares the
// comparator and the arena, which keeps the bytes of tuples a view can see (delayed free).
import btree from 'sorted-btree';
import { bulkLoad as bulkLoadTree } from 'sorted-btree/extended/bulkLoad.js';
import { compareNumberValues } from './compare.js';
import {
  checkDuplicate,
  DUP_INSERT,
  DUP_REPLACE,
  type DupMode,
  EMPTY_ITERATOR,
  type IndexImpl,
  type IndexShape,
  ITER_EQ,
  ITER_GE,
  ITER_GT,
  ITER_LE,
  ITER_LT,
  ITER_REQ,
  NONE,
  type RefIterator,
} from './index-impl.js';
import type { KeyDef, SearchKey } from './key-def.js';
import { mpReadNumber } from './mp.js';
import {
  CHUNK_OFFSET_BITS,
  CHUNK_OFFSET_MASK,
  dataOffset,
  type TupleArena,
} from './tuple-arena.js';

// sorted-btree is CommonJS: under Node ESM the class is the default export's `.default`.
const BTree = btree.default;
type Tree = InstanceType<typeof BTree>;

/** The search key stands in the tree as this ref (refs are >= 0). */
const PROBE = -1;
const EMPTY_BYTES = new Uint8Array(0);

/** A search key and its bias (-1: before tuples with this prefix, +1: after them). */
interface Probe {
  bytes: Uint8Array;
  start: number;
  partCount: number;
  bias: number;
}

/** sorted-btree's node shape (stable in 2.1.0), read only to estimate memory. */
interface TreeNode {
  keys: unknown[];
  values: unknown[];
  children?: TreeNode[];
}

/** Smallest branching factor sorted-btree accepts; tests use it so splits and merges happen. */
export const TREE_NODE_SIZE_MIN = 4;
/**
 * Default branching factor. Measured at 1M tuples (README, "Design"): against sorted-btree's
 * own default of 32, 64 gives ~11% more point gets, ~14% more random inserts and ~7 fewer bytes
 * per tuple; 128 gets faster still but inserts randomly slower and uses more memory.
 */
export const TREE_NODE_SIZE_DEFAULT = 64;

export class TreeIndex implements IndexImpl {
  readonly type = 'TREE';
  /** Key layout, see the file comment. */
  readonly direct: boolean;
  private tree: Tree;
  private readonly chunks: Buffer[];
  private readonly keyDef: KeyDef;
  /**
   * The current search key while a B-tree call runs (by-ref layout). Shared with clones, which
   * keep this index's comparator: B-tree calls are synchronous, so they never interleave.
   */
  private readonly probe: Probe;
  private readonly pair: unknown[] = [];
  /** IndexImpl.numericKeyOf: present for the direct layout only. */
  readonly numericKeyOf: ((bytes: Uint8Array, p: number) => number | bigint) | undefined;

  constructor(
    private readonly shape: IndexShape,
    private readonly arena: TupleArena,
    maxNodeSize: number,
    existing?: { tree: Tree; probe: Probe },
  ) {
    const keyDef = shape.keyDef;
    this.keyDef = keyDef;
    this.chunks = arena.chunks;
    this.probe = existing?.probe ?? { bytes: EMPTY_BYTES, start: 0, partCount: 0, bias: -1 };
    const part = keyDef.parts[0]!;
    this.direct =
      shape.unique &&
      keyDef.partCount === 1 &&
      !part.isNullable &&
      (part.type === 'unsigned' ||
        part.type === 'integer' ||
        part.type === 'number' ||
        part.type === 'double');
    this.numericKeyOf = this.direct
      ? (bytes, p) => mpReadNumber(bytes, keyDef.fieldPosition(bytes, p, 0))
      : undefined;
    this.tree =
      existing?.tree ??
      new BTree<unknown, unknown>(
        undefined,
        (this.direct ? compareNumberValues : this.compareRefs) as (
          a: unknown,
          b: unknown,
        ) => number,
        maxNodeSize,
      );
  }

  size(): number {
    return this.tree.size;
  }

  /** The numeric key of a tuple (direct layout). */
  private keyOf(ref: number): number | bigint {
    const chunk = this.chunks[ref >>> CHUNK_OFFSET_BITS]!;
    const p = dataOffset(chunk, ref & CHUNK_OFFSET_MASK);
    return mpReadNumber(chunk, this.keyDef.fieldPosition(chunk, p, 0));
  }

  /** IndexImpl.compareTuples: the two tuples' order in this index. */
  compareTuples(a: number, b: number): number {
    return this.direct ? compareNumberValues(this.keyOf(a), this.keyOf(b)) : this.compareRefs(a, b);
  }

  /** Comparator of the by-ref layout: tuples by cmp_def, or a tuple against the probe. */
  private readonly compareRefs = (a: number, b: number): number => {
    if (a === b) return 0;
    if (b === PROBE) return this.compareWithProbe(a);
    if (a === PROBE) return -this.compareWithProbe(b);
    const chunks = this.chunks;
    const ca = chunks[a >>> CHUNK_OFFSET_BITS]!;
    const cb = chunks[b >>> CHUNK_OFFSET_BITS]!;
    const pa = dataOffset(ca, a & CHUNK_OFFSET_MASK);
    const pb = dataOffset(cb, b & CHUNK_OFFSET_MASK);
    const keyDef = this.keyDef;
    const c = keyDef.compareTuples(ca, pa, cb, pb);
    if (c !== 0) return c;
    const extension = this.shape.extension;
    if (extension !== undefined && (!this.shape.unique || keyDef.sawNil)) {
      return extension.compareTuples(ca, pa, cb, pb);
    }
    return 0;
  };

  /** Tuple `ref` against the probe: positive when the tuple sorts after it. */
  private compareWithProbe(ref: number): number {
    const chunk = this.chunks[ref >>> CHUNK_OFFSET_BITS]!;
    const p = dataOffset(chunk, ref & CHUNK_OFFSET_MASK);
    const probe = this.probe;
    const c = this.keyDef.compareKeyWithTuple(probe.bytes, probe.start, probe.partCount, chunk, p);
    return c !== 0 ? -c : -probe.bias;
  }

  private setProbe(key: SearchKey, bias: number): void {
    const probe = this.probe;
    probe.bytes = key.bytes;
    probe.start = key.start;
    probe.partCount = key.partCount;
    probe.bias = bias;
  }

  /** Does the tuple's key start with the search key? (EQ/REQ stop condition.) */
  private matches(ref: number, key: SearchKey): boolean {
    const chunk = this.chunks[ref >>> CHUNK_OFFSET_BITS]!;
    const p = dataOffset(chunk, ref & CHUNK_OFFSET_MASK);
    return this.keyDef.compareKeyWithTuple(key.bytes, key.start, key.partCount, chunk, p) === 0;
  }

  replace(oldRef: number, newRef: number, mode: DupMode): number {
    let dup = NONE;
    if (newRef !== NONE) {
      dup = this.direct
        ? this.linkDirect(oldRef, newRef, mode)
        : this.linkByRef(oldRef, newRef, mode);
    }
    if (dup !== NONE) return dup;
    if (oldRef !== NONE) {
      const deleted = this.tree.delete(this.direct ? this.keyOf(oldRef) : oldRef);
      if (!deleted) throw new Error(`index '${this.shape.name}' lost a tuple it should hold`);
    }
    return oldRef;
  }

  private linkDirect(oldRef: number, newRef: number, mode: DupMode): number {
    const key = this.keyOf(newRef);
    // An update that kept this index's key: oldRef is the tuple the tree holds under it.
    if (mode === DUP_REPLACE && oldRef !== NONE && key === this.keyOf(oldRef)) {
      this.tree.set(key, newRef, true);
      return oldRef;
    }
    // An insert usually finds no key: trying it first takes one descent.
    if (mode === DUP_INSERT && this.tree.set(key, newRef, false)) return NONE;
    // A replace or an update usually finds its key: look it up, then overwrite (two descents).
    const dup = (this.tree.get(key) as number | undefined) ?? NONE;
    checkDuplicate(this.shape, oldRef, dup, mode);
    this.tree.set(key, newRef, true);
    return dup;
  }

  private linkByRef(oldRef: number, newRef: number, mode: DupMode): number {
    if (mode !== DUP_REPLACE && this.tree.set(newRef, undefined, false)) return NONE;
    const dup = this.findEqual(newRef);
    checkDuplicate(this.shape, oldRef, dup, mode);
    // Not set(newRef, _, true): overwriting an equal key with another ref leaves the old ref
    // as a cached max key in internal nodes (sorted-btree returns before refreshing them),
    // where it would outlive the tuple. Delete the displaced entry, then insert.
    if (dup !== NONE) this.tree.delete(dup);
    this.tree.set(newRef, undefined, false);
    return dup;
  }

  /** The stored ref comparing equal to `ref`, or NONE. */
  private findEqual(ref: number): number {
    const pair = this.tree.getPairOrNextHigher(ref, this.pair as [unknown, unknown]);
    if (pair === undefined) return NONE;
    const found = pair[0] as number;
    return this.compareRefs(found, ref) === 0 ? found : NONE;
  }

  /** findUnique for the direct layout with the key's number already in hand. */
  findNumber(value: number | bigint): number {
    return (this.tree.get(value) as number | undefined) ?? NONE;
  }

  findUnique(key: SearchKey): number {
    if (this.direct) {
      const ref = this.tree.get(mpReadNumber(key.bytes, key.start)) as number | undefined;
      return ref ?? NONE;
    }
    // The first tuple at or after the key's lowest position, if its key matches.
    this.setProbe(key, -1);
    const pair = this.tree.getPairOrNextHigher(PROBE, this.pair as [unknown, unknown]);
    if (pair === undefined) return NONE;
    const ref = pair[0] as number;
    return this.matches(ref, key) ? ref : NONE;
  }

  iterate(type: number, key: SearchKey): RefIterator {
    const reverse = type === ITER_REQ || type === ITER_LT || type === ITER_LE;
    const refSlot = this.direct ? 1 : 0;
    if (key.partCount === 0) {
      const entries = reverse
        ? this.tree.entriesReversed(undefined, [])
        : this.tree.entries(undefined, []);
      return new TreeRefIterator(entries, refSlot, undefined, undefined);
    }
    if (this.direct) return this.iterateDirect(type, key, reverse);
    // GE/EQ/LT position before the key's prefix, GT/LE/REQ after it.
    const bias = type === ITER_GE || type === ITER_EQ || type === ITER_LT ? -1 : 1;
    this.setProbe(key, bias);
    const entries = reverse ? this.tree.entriesReversed(PROBE, []) : this.tree.entries(PROBE, []);
    const stopUnlessMatch = type === ITER_EQ || type === ITER_REQ ? key : undefined;
    return new TreeRefIterator(entries, 0, stopUnlessMatch, this);
  }

  private iterateDirect(type: number, key: SearchKey, reverse: boolean): RefIterator {
    const value = mpReadNumber(key.bytes, key.start);
    if (type === ITER_EQ || type === ITER_REQ) {
      const ref = this.tree.get(value) as number | undefined;
      if (ref === undefined) return EMPTY_ITERATOR;
      let done = false;
      return {
        next: () => {
          if (done) return NONE;
          done = true;
          return ref;
        },
      };
    }
    if (reverse) {
      // LE: start at the key itself if present; LT: skip it.
      const entries = this.tree.entriesReversed(value, [], type === ITER_LT);
      return new TreeRefIterator(entries, 1, undefined, undefined);
    }
    const entries = this.tree.entries(value, []);
    const iterator = new TreeRefIterator(entries, 1, undefined, undefined);
    if (type === ITER_GT) iterator.skipEqual(value);
    return iterator;
  }

  /**
   * One-pass build from refs (IndexImpl.bulkLoad): sorts them by this index's order unless they
   * already are (a snapshot's primary key), then lets sorted-btree build full nodes bottom-up,
   * O(n) after the sort, instead of n insertions that each walk and split the tree. The input
   * arrays are only read (sorted-btree copies them into its leaves).
   */
  bulkLoad(refs: readonly number[], given?: readonly (number | bigint)[]): boolean {
    if (this.tree.size !== 0) return false;
    const maxNodeSize = this.tree.maxNodeSize;
    if (this.direct) {
      const n = refs.length;
      // The keys the loader gathered (numericKeyOf), or read back from the arena here.
      let keys: (number | bigint)[];
      if (given !== undefined && given.length === n) {
        keys = given as (number | bigint)[];
      } else {
        keys = new Array(n);
        for (let i = 0; i < n; i++) keys[i] = this.keyOf(refs[i]!);
      }
      let values: number[] = refs as number[];
      let sorted = true;
      for (let i = 1; i < n; i++) {
        if (compareNumberValues(keys[i - 1]!, keys[i]!) >= 0) {
          sorted = false;
          break;
        }
      }
      if (!sorted) {
        const order = Array.from({ length: n }, (_, i) => i);
        const unsortedKeys = keys;
        order.sort((a, b) => compareNumberValues(unsortedKeys[a]!, unsortedKeys[b]!));
        keys = order.map((i) => unsortedKeys[i]!);
        values = order.map((i) => refs[i]!);
        for (let i = 1; i < n; i++)
          if (compareNumberValues(keys[i - 1]!, keys[i]!) === 0) return false;
      }
      this.tree = bulkLoadTree<unknown, unknown>(
        keys,
        values,
        maxNodeSize,
        compareNumberValues as (a: unknown, b: unknown) => number,
      );
      return true;
    }
    const compare = this.compareRefs;
    let keys = refs as number[];
    for (let i = 1; i < keys.length; i++) {
      if (compare(keys[i - 1]!, keys[i]!) < 0) continue;
      keys = refs.slice().sort(compare);
      for (let j = 1; j < keys.length; j++) if (compare(keys[j - 1]!, keys[j]!) === 0) return false;
      break;
    }
    this.tree = bulkLoadTree<unknown, unknown>(
      keys,
      new Array<undefined>(keys.length).fill(undefined),
      maxNodeSize,
      compare as (a: unknown, b: unknown) => number,
    );
    return true;
  }

  clone(): IndexImpl {
    return new TreeIndex(this.shape, this.arena, this.tree.maxNodeSize, {
      tree: this.tree.clone(),
      probe: this.probe,
    });
  }

  /** Estimate: 8 bytes per key, value and child slot plus ~64 bytes per node (object, arrays). */
  bsize(): number {
    let bytes = 0;
    const visit = (node: TreeNode): void => {
      bytes += 64 + node.keys.length * 8;
      if (node.children !== undefined) {
        bytes += node.children.length * 8;
        for (const child of node.children) visit(child);
      } else if (this.direct) {
        // Count by keys: an empty leaf shares sorted-btree's preallocated array of undefineds.
        bytes += node.keys.length * 8;
      }
    };
    visit((this.tree as unknown as { _root: TreeNode })._root);
    return bytes;
  }

  checkValid(): void {
    this.tree.checkValid(true);
  }

  /** Called by TreeRefIterator for EQ/REQ. */
  prefixMatches(ref: number, key: SearchKey): boolean {
    return this.matches(ref, key);
  }
}

class TreeRefIterator implements RefIterator {
  private done = false;
  private pending = NONE;

  constructor(
    private readonly entries: IterableIterator<[unknown, unknown]>,
    private readonly refSlot: 0 | 1,
    private readonly stopUnlessMatch: SearchKey | undefined,
    private readonly index: TreeIndex | undefined,
  ) {}

  /** GT in the direct layout: drop a first entry equal to `value`. */
  skipEqual(value: number | bigint): void {
    const first = this.entries.next();
    if (first.done) {
      this.done = true;
      return;
    }
    if (compareNumberValues(first.value[0] as number | bigint, value) !== 0) {
      this.pending = first.value[this.refSlot] as number;
    }
  }

  next(): number {
    if (this.pending !== NONE) {
      const ref = this.pending;
      this.pending = NONE;
      return ref;
    }
    if (this.done) return NONE;
    const step = this.entries.next();
    if (step.done) {
      this.done = true;
      return NONE;
    }
    const ref = step.value[this.refSlot] as number;
    if (
      this.stopUnlessMatch !== undefined &&
      !this.index!.prefixMatches(ref, this.stopUnlessMatch)
    ) {
      this.done = true;
      return NONE;
    }
    return ref;
  }
}
