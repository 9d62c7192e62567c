// HASH index: unique, full-key lookups, iteration in hash order. Layer: memtx.
//
// Built on the same sorted-btree as TREE, keyed by the 32-bit hash of the key parts, with the
// tuple ref as the value (or a small array of refs when hashes collide). Why not an open
// addressing table: read views need an O(1) consistent snapshot while writes continue, and
// sorted-btree's copy-on-write clone() gives exactly that; Tarantool's own light hash table is
// paged for the same reason. Lookups cost O(log n) integer comparisons instead of O(1), which
// the HASH index's users here (system spaces, small lookup tables) do not notice.
//
// Iteration order is hash order, so GT continues after the key's position like Tarantool's
// HASH GT (the order itself differs from Tarantool's, which uses another hash function).
//
// Invariant: buckets (arrays) are never mutated in place, because read-view clones share them.
import btree from 'sorted-btree';
import {
  checkDuplicate,
  type DupMode,
  EMPTY_ITERATOR,
  type IndexImpl,
  type IndexShape,
  ITER_EQ,
  ITER_GT,
  NONE,
  type RefIterator,
} from './index-impl.js';
import type { SearchKey } from './key-def.js';
import {
  CHUNK_OFFSET_BITS,
  CHUNK_OFFSET_MASK,
  dataOffset,
  type TupleArena,
} from './tuple-arena.js';

const BTree = btree.default;
type Bucket = number | readonly number[];
type Tree = InstanceType<typeof BTree<number, Bucket>>;

const compareHashes = (a: number, b: number): number => a - b;

interface TreeNode {
  keys: unknown[];
  values: unknown[];
  children?: TreeNode[];
}

export class HashIndex implements IndexImpl {
  readonly type = 'HASH';
  private readonly tree: Tree;
  private count: number;
  private readonly chunks: Buffer[];

  constructor(
    private readonly shape: IndexShape,
    private readonly arena: TupleArena,
    private readonly maxNodeSize: number,
    existing?: { tree: Tree; count: number },
  ) {
    this.chunks = arena.chunks;
    this.tree = existing?.tree ?? new BTree<number, Bucket>(undefined, compareHashes, maxNodeSize);
    this.count = existing?.count ?? 0;
  }

  size(): number {
    return this.count;
  }

  private hashOf(ref: number): number {
    const chunk = this.chunks[ref >>> CHUNK_OFFSET_BITS]!;
    return this.shape.keyDef.hashTuple(chunk, dataOffset(chunk, ref & CHUNK_OFFSET_MASK));
  }

  private sameKey(a: number, b: number): boolean {
    const ca = this.chunks[a >>> CHUNK_OFFSET_BITS]!;
    const cb = this.chunks[b >>> CHUNK_OFFSET_BITS]!;
    return (
      this.shape.keyDef.compareTuples(
        ca,
        dataOffset(ca, a & CHUNK_OFFSET_MASK),
        cb,
        dataOffset(cb, b & CHUNK_OFFSET_MASK),
      ) === 0
    );
  }

  private keyMatches(ref: number, key: SearchKey): boolean {
    const chunk = this.chunks[ref >>> CHUNK_OFFSET_BITS]!;
    const p = dataOffset(chunk, ref & CHUNK_OFFSET_MASK);
    return (
      this.shape.keyDef.compareKeyWithTuple(key.bytes, key.start, key.partCount, chunk, p) === 0
    );
  }

  replace(oldRef: number, newRef: number, mode: DupMode): number {
    let dup = NONE;
    if (newRef !== NONE) {
      const h = this.hashOf(newRef);
      const bucket = this.tree.get(h);
      if (bucket !== undefined) {
        if (typeof bucket === 'number') {
          if (this.sameKey(bucket, newRef)) dup = bucket;
        } else {
          for (const ref of bucket) if (this.sameKey(ref, newRef)) dup = ref;
        }
      }
      checkDuplicate(this.shape, oldRef, dup, mode);
      let next: Bucket;
      if (bucket === undefined) next = newRef;
      else if (dup === NONE)
        next = typeof bucket === 'number' ? [bucket, newRef] : [...bucket, newRef];
      else
        next =
          typeof bucket === 'number' ? newRef : bucket.map((ref) => (ref === dup ? newRef : ref));
      this.tree.set(h, next, true);
      if (dup === NONE) this.count++;
    }
    if (dup !== NONE) return dup;
    if (oldRef !== NONE) {
      const h = this.hashOf(oldRef);
      const bucket = this.tree.get(h);
      if (
        bucket === undefined ||
        (typeof bucket === 'number' ? bucket !== oldRef : !bucket.includes(oldRef))
      ) {
        throw new Error(`index '${this.shape.name}' lost a tuple it should hold`);
      }
      if (typeof bucket === 'number') {
        this.tree.delete(h);
      } else {
        const rest = bucket.filter((ref) => ref !== oldRef);
        this.tree.set(h, rest.length === 1 ? rest[0]! : rest, true);
      }
      this.count--;
    }
    return oldRef;
  }

  findUnique(key: SearchKey): number {
    const bucket = this.tree.get(this.shape.keyDef.hashKey(key.bytes, key.start));
    if (bucket === undefined) return NONE;
    if (typeof bucket === 'number') return this.keyMatches(bucket, key) ? bucket : NONE;
    for (const ref of bucket) if (this.keyMatches(ref, key)) return ref;
    return NONE;
  }

  iterate(type: number, key: SearchKey): RefIterator {
    if (type === ITER_EQ) {
      const ref = this.findUnique(key);
      if (ref === NONE) return EMPTY_ITERATOR;
      let done = false;
      return {
        next: () => {
          if (done) return NONE;
          done = true;
          return ref;
        },
      };
    }
    if (type === ITER_GT && key.partCount > 0) {
      // As 2.6 (fixture): GT from a key that is not in the index yields nothing.
      if (this.findUnique(key) === NONE) return EMPTY_ITERATOR;
      const h = this.shape.keyDef.hashKey(key.bytes, key.start);
      const iterator = new BucketIterator(this.tree.entries(h, []));
      iterator.skipThrough(h, (ref) => this.keyMatches(ref, key));
      return iterator;
    }
    // ALL, and GT with an empty key: everything in hash order.
    return new BucketIterator(this.tree.entries(undefined, []));
  }

  clone(): IndexImpl {
    return new HashIndex(this.shape, this.arena, this.maxNodeSize, {
      tree: this.tree.clone(),
      count: this.count,
    });
  }

  bsize(): number {
    let bytes = 0;
    const visit = (node: TreeNode): void => {
      bytes += 64 + node.keys.length * 8;
      if (node.children !== undefined) {
        bytes += node.children.length * 8;
        for (const child of node.children) visit(child);
      } else {
        bytes += node.keys.length * 8;
        for (let i = 0; i < node.keys.length; i++) {
          const value = node.values[i];
          if (typeof value !== 'number') bytes += 32 + (value as number[]).length * 8;
        }
      }
    };
    visit((this.tree as unknown as { _root: TreeNode })._root);
    return bytes;
  }

  checkValid(): void {
    this.tree.checkValid(true);
    let total = 0;
    for (const [h, bucket] of this.tree.entries(undefined, [])) {
      const refs = typeof bucket === 'number' ? [bucket] : bucket;
      if (refs.length === 0) throw new Error('empty hash bucket');
      for (const ref of refs) {
        if (this.hashOf(ref) !== h) throw new Error(`tuple ${ref} filed under the wrong hash`);
        for (const other of refs)
          if (other !== ref && this.sameKey(other, ref))
            throw new Error('duplicate key in a HASH index');
      }
      total += refs.length;
    }
    if (total !== this.count)
      throw new Error(`HASH index holds ${total} tuples but counts ${this.count}`);
  }
}

/** Flattens buckets into refs. */
class BucketIterator implements RefIterator {
  private bucket: readonly number[] | undefined;
  private i = 0;

  constructor(private readonly entries: IterableIterator<[number, Bucket]>) {}

  /** Positions after the ref matching `isKey` in the bucket of hash `h` (GT). */
  skipThrough(h: number, isKey: (ref: number) => boolean): void {
    const step = this.entries.next();
    if (step.done) return;
    const [hash, bucket] = step.value;
    const refs = typeof bucket === 'number' ? [bucket] : bucket;
    if (hash !== h) {
      this.bucket = refs;
      return;
    }
    this.bucket = refs;
    this.i = refs.findIndex(isKey) + 1;
  }

  next(): number {
    for (;;) {
      const bucket = this.bucket;
      if (bucket !== undefined && this.i < bucket.length) return bucket[this.i++]!;
      const step = this.entries.next();
      if (step.done) return NONE;
      const value = step.value[1];
      if (typeof value === 'number') {
        this.bucket = undefined;
        return value;
      }
      this.bucket = value;
      this.i = 0;
    }
  }
}
