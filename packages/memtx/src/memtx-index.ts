// Index: the public face of one index of a space, and every read. Layer: memtx.
//
// Reads validate the key and iterator exactly as Tarantool 2.6's key_validate and the memtx
// iterator constructors do (codes and texts in test/fixtures/tarantool-2.6.json), then walk the
// index structure (IndexImpl) and hand tuples back as decoded arrays, as copies of their
// MessagePack bytes (selectRaw), or zero-copy to a callback (forEachRaw, the iproto path).
//
// The structure behind an Index is replaced by truncate(); the Index object stays valid.
import {
  AssertionError,
  ClientError,
  ErrorCode,
  type IteratorName,
  IteratorType,
} from '@tarantype/core';
import {
  type IndexImpl,
  type IndexShape,
  ITER_ALL,
  ITER_EQ,
  ITER_GE,
  ITER_GT,
  ITER_LE,
  ITER_LT,
  ITER_REQ,
  NONE,
  type RefIterator,
} from './index-impl.js';
import { type KeyDef, type SearchKey, toSearchKey } from './key-def.js';
import { TreeIndex } from './tree-index.js';
import {
  CHUNK_OFFSET_BITS,
  CHUNK_OFFSET_MASK,
  dataLength,
  dataOffset,
  type TupleArena,
} from './tuple-arena.js';
import { decodeTuple } from './tuple-decoder.js';

export { decodeTuple };

/** A key: JS values, or MessagePack bytes of an array (as iproto carries it). */
export type KeyInput = readonly unknown[] | Uint8Array;

export interface SelectOptions {
  /** Iterator name ('EQ', 'GE' …) or code (core's IteratorType). Default EQ. */
  readonly iterator?: IteratorName | number;
  /** Tuples to return at most. Default 4294967295 (Tarantool's). */
  readonly limit?: number;
  /** Matching tuples to skip first. */
  readonly offset?: number;
}

/** One key part as the public API shows it (Tarantool's index part shape, 0-based field). */
export interface IndexPart {
  readonly fieldno: number;
  readonly type: string;
  readonly is_nullable: boolean;
}

/** What an Index needs from its space. */
export interface IndexOwner {
  readonly name: string;
  /** The arena holding the tuples of the current index structures. */
  readonly arena: TupleArena;
  /** Open an O(1) snapshot of this index for a lazy iteration; returns the view's generation. */
  beginIteration(): number;
  endIteration(arena: TupleArena, generation: number): void;
  /** Guards a synchronous zero-copy scan against writes from its callback. */
  setScanning(on: boolean): void;
  /** Writes so far: a deferred scan (scanRaw) checks that none came between open and run. */
  readonly writes: number;
}

/** Tarantool's default select limit. */
const LIMIT_DEFAULT = 4294967295;
const EMPTY_KEY: readonly unknown[] = [];
const ITERATOR_CODE_MAX = 11;

const UINT64_LIMIT = 2 ** 64;
const INT64_MIN = -(2 ** 63);

/**
 * Whether a JS value, encoded as toSearchKey would encode it, is a valid key part of a
 * numeric type: the unsigned/integer range of MessagePack integers, any number for `number`
 * and `double` (JS numbers go to `double` parts as MP_DOUBLE).
 */
function fitsNumericPart(type: string, value: unknown): boolean {
  if (typeof value === 'number') {
    switch (type) {
      case 'unsigned':
        return Number.isInteger(value) && value >= 0 && value < UINT64_LIMIT;
      case 'integer':
        return Number.isInteger(value) && value >= INT64_MIN && value < UINT64_LIMIT;
      default:
        return type === 'number' || type === 'double';
    }
  }
  if (typeof value === 'bigint') {
    if (type === 'unsigned') return value >= 0n && value < 18446744073709551616n;
    if (type === 'integer' || type === 'number')
      return value >= -9223372036854775808n && value < 18446744073709551616n;
  }
  return false;
}

/** Decodes the tuple `ref` of `arena`. */
export function decodeRef(arena: TupleArena, ref: number): unknown[] {
  const chunk = arena.chunks[ref >>> CHUNK_OFFSET_BITS]!;
  return decodeTuple(chunk, dataOffset(chunk, ref & CHUNK_OFFSET_MASK));
}

/**
 * The iterator code for an option value (ER_ILLEGAL_PARAMS / ER_ITERATOR_TYPE as Tarantool).
 * Without one: ALL for an empty key, else EQ, as Tarantool's Lua API (iproto always sends one).
 */
export function iteratorCode(
  iterator: IteratorName | number | undefined,
  keyIsEmpty: boolean,
): number {
  if (iterator === undefined) return keyIsEmpty ? ITER_ALL : ITER_EQ;
  if (typeof iterator === 'number') {
    if (!Number.isInteger(iterator) || iterator < 0 || iterator > ITERATOR_CODE_MAX) {
      throw new ClientError(ErrorCode.ER_ILLEGAL_PARAMS, 'Invalid iterator type');
    }
    return iterator;
  }
  const code = (IteratorType as Record<string, number>)[String(iterator).toUpperCase()];
  if (code === undefined) throw new ClientError(ErrorCode.ER_ITERATOR_TYPE, iterator);
  return code;
}

export class Index {
  readonly id: number;
  readonly name: string;
  readonly type: 'TREE' | 'HASH';
  readonly unique: boolean;
  readonly parts: readonly IndexPart[];
  /** @internal */
  readonly keyDef: KeyDef;
  /** @internal */
  readonly shape: IndexShape;
  /** @internal The structure holding the refs (replaced by truncate). */
  impl: IndexImpl;

  /** @internal Created by Space.createIndex. */
  constructor(
    private readonly owner: IndexOwner,
    id: number,
    shape: IndexShape,
    impl: IndexImpl,
  ) {
    this.id = id;
    this.name = shape.name;
    this.type = impl.type;
    this.unique = shape.unique;
    this.keyDef = shape.keyDef;
    this.shape = shape;
    this.impl = impl;
    this.parts = shape.keyDef.parts.map((p) => ({
      fieldno: p.fieldNo,
      type: p.type,
      is_nullable: p.isNullable,
    }));
  }

  // {{{ key validation

  private unsupported(what: string): ClientError {
    return new ClientError(
      ErrorCode.ER_UNSUPPORTED_INDEX_FEATURE,
      this.name,
      this.type,
      this.owner.name,
      'memtx',
      what,
    );
  }

  /** key_validate for iterator `type`, then the iterator support check; returns the type to run. */
  private prepare(type: number, key: SearchKey): number {
    const parts = this.keyDef.partCount;
    const tree = this.type === 'TREE';
    const emptyAllowed = tree || type === ITER_ALL || type === ITER_GT;
    if (key.partCount > 0 || !emptyAllowed) {
      if (key.partCount > parts)
        throw new ClientError(ErrorCode.ER_KEY_PART_COUNT, parts, key.partCount);
      if (!tree && key.partCount < parts)
        throw new ClientError(ErrorCode.ER_PARTIAL_KEY, this.type, parts, key.partCount);
      this.keyDef.validateKeyParts(key.bytes, key.start, key.partCount);
    }
    if (tree) {
      if (type > ITER_GT) throw this.unsupported('requested iterator type');
      if (key.partCount === 0)
        return type === ITER_REQ || type === ITER_LT || type === ITER_LE ? ITER_LE : ITER_GE;
      return type === ITER_ALL ? ITER_GE : type;
    }
    if (type !== ITER_EQ && type !== ITER_ALL && type !== ITER_GT)
      throw this.unsupported('requested iterator type');
    return type;
  }

  /** exact_key_validate on a unique index (get, delete, update). @internal */
  exactKey(key: KeyInput): SearchKey {
    if (!this.unique) throw new ClientError(ErrorCode.ER_MORE_THAN_ONE_TUPLE);
    const searchKey = toSearchKey(key, this.keyDef);
    const parts = this.keyDef.partCount;
    if (searchKey.partCount !== parts)
      throw new ClientError(ErrorCode.ER_EXACT_MATCH, parts, searchKey.partCount);
    this.keyDef.validateKeyParts(searchKey.bytes, searchKey.start, searchKey.partCount);
    return searchKey;
  }

  /**
   * The tuple with this exact key in a unique index, or NONE (get, delete, update). A one-part
   * JS key on a direct TREE index skips encoding the key: the JS value is checked as the
   * encoded one would be, anything unusual takes the general path (and its errors). @internal
   */
  findExact(key: KeyInput): number {
    const impl = this.impl;
    if (
      impl instanceof TreeIndex &&
      impl.direct &&
      !(key instanceof Uint8Array) &&
      key.length === 1
    ) {
      const value = key[0];
      if (fitsNumericPart(this.keyDef.parts[0]!.type, value))
        return impl.findNumber(value as number | bigint);
    }
    return impl.findUnique(this.exactKey(key));
  }

  /** A validated iterator over refs of the current structure. @internal */
  open(
    key: KeyInput,
    iterator: IteratorName | number | undefined,
    impl: IndexImpl = this.impl,
  ): RefIterator {
    const searchKey = toSearchKey(key, this.keyDef);
    const type = iteratorCode(iterator, searchKey.partCount === 0);
    return impl.iterate(this.prepare(type, searchKey), searchKey);
  }

  // }}}
  // {{{ reads

  /** Tuples matching `key` by `options.iterator`, decoded. */
  select(key: KeyInput = EMPTY_KEY, options: SelectOptions = {}): unknown[][] {
    const out: unknown[][] = [];
    this.scan(key, options, (chunk, start) => {
      out.push(decodeTuple(chunk, start));
    });
    return out;
  }

  /** Like select, as copies of each tuple's MessagePack bytes. */
  selectRaw(key: KeyInput = EMPTY_KEY, options: SelectOptions = {}): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.scan(key, options, (_chunk, start, end, plain) => {
      out.push(plain.slice(start, end));
    });
    return out;
  }

  /**
   * Zero-copy select: calls `visit(bytes, start, end)` for each tuple, in order; the bytes are
   * the engine's own memory, valid only during the call (copy what you keep). The callback
   * must not write to the space. Returns the number of tuples visited.
   */
  forEachRaw(
    key: KeyInput,
    options: SelectOptions,
    visit: (bytes: Uint8Array, start: number, end: number) => void,
  ): number {
    this.owner.setScanning(true);
    try {
      return this.scan(key, options, (_chunk, start, end, plain) => visit(plain, start, end));
    } finally {
      this.owner.setScanning(false);
    }
  }

  /**
   * forEachRaw in two steps, for a reply written right after the request returns (the iproto
   * select): checks the key and the iterator now, throwing what select would, and returns the
   * scan, to run once before the space is next written (both checked).
   */
  scanRaw(
    key: KeyInput,
    options: SelectOptions,
  ): (visit: (bytes: Uint8Array, start: number, end: number) => void) => number {
    const it = this.open(key, options.iterator);
    const owner = this.owner;
    const writes = owner.writes;
    let ran = false;
    return (visit) => {
      if (ran) throw new AssertionError('a deferred scan ran twice');
      if (owner.writes !== writes)
        throw new AssertionError(`space '${owner.name}' written between a scan's open and run`);
      ran = true;
      owner.setScanning(true);
      try {
        return this.visitRefs(it, options, (_chunk, start, end, plain) => visit(plain, start, end));
      } finally {
        owner.setScanning(false);
      }
    };
  }

  private scan(
    key: KeyInput,
    options: SelectOptions,
    visit: (chunk: Buffer, start: number, end: number, plain: Uint8Array) => void,
  ): number {
    return this.visitRefs(this.open(key, options.iterator), options, visit);
  }

  private visitRefs(
    it: RefIterator,
    options: SelectOptions,
    visit: (chunk: Buffer, start: number, end: number, plain: Uint8Array) => void,
  ): number {
    const limit = options.limit ?? LIMIT_DEFAULT;
    let offset = options.offset ?? 0;
    const chunks = this.owner.arena.chunks;
    const plainChunks = this.owner.arena.plainChunks;
    let n = 0;
    while (n < limit) {
      const ref = it.next();
      if (ref === NONE) break;
      if (offset > 0) {
        offset--;
        continue;
      }
      const chunk = chunks[ref >>> CHUNK_OFFSET_BITS]!;
      const slot = ref & CHUNK_OFFSET_MASK;
      const start = dataOffset(chunk, slot);
      visit(chunk, start, start + dataLength(chunk, slot), plainChunks[ref >>> CHUNK_OFFSET_BITS]!);
      n++;
    }
    return n;
  }

  /**
   * Lazy iteration (Tarantool's index:pairs) over an O(1) snapshot of the index, so writes may
   * continue while iterating; the snapshot is released when the iteration ends or is broken
   * off (for...of calls return()).
   */
  *pairs(
    key: KeyInput = EMPTY_KEY,
    options: SelectOptions = {},
  ): Generator<unknown[], void, undefined> {
    const arena = this.owner.arena;
    const snapshot = this.impl.clone();
    const generation = this.owner.beginIteration();
    try {
      const it = this.open(key, options.iterator, snapshot);
      const limit = options.limit ?? LIMIT_DEFAULT;
      let offset = options.offset ?? 0;
      let n = 0;
      while (n < limit) {
        const ref = it.next();
        if (ref === NONE) return;
        if (offset > 0) {
          offset--;
          continue;
        }
        n++;
        yield decodeRef(arena, ref);
      }
    } finally {
      this.owner.endIteration(arena, generation);
    }
  }

  /** The tuple with this exact key (unique index), or undefined. */
  get(key: KeyInput): unknown[] | undefined {
    const ref = this.findExact(key);
    return ref === NONE ? undefined : decodeRef(this.owner.arena, ref);
  }

  /** Like get, as a copy of the tuple's MessagePack bytes. */
  getRaw(key: KeyInput): Uint8Array | undefined {
    const ref = this.findExact(key);
    return ref === NONE ? undefined : this.owner.arena.copy(ref);
  }

  /** Number of tuples matching `key` by `options.iterator` (default EQ). */
  count(key: KeyInput = EMPTY_KEY, options: Pick<SelectOptions, 'iterator'> = {}): number {
    const searchKey = toSearchKey(key, this.keyDef);
    const run = this.prepare(iteratorCode(options.iterator, searchKey.partCount === 0), searchKey);
    // An empty key matches every tuple, whatever the (valid) iterator.
    if (searchKey.partCount === 0) return this.impl.size();
    const it = this.impl.iterate(run, searchKey);
    let n = 0;
    while (it.next() !== NONE) n++;
    return n;
  }

  /** First tuple matching `key` (Tarantool 2.6: EQ semantics), or undefined. TREE only. */
  min(key: KeyInput = EMPTY_KEY): unknown[] | undefined {
    if (this.type !== 'TREE') throw this.unsupported('min()');
    const ref = this.open(key, ITER_EQ).next();
    return ref === NONE ? undefined : decodeRef(this.owner.arena, ref);
  }

  /** Last tuple matching `key` (REQ semantics), or undefined. TREE only. */
  max(key: KeyInput = EMPTY_KEY): unknown[] | undefined {
    if (this.type !== 'TREE') throw this.unsupported('max()');
    const ref = this.open(key, ITER_REQ).next();
    return ref === NONE ? undefined : decodeRef(this.owner.arena, ref);
  }

  /** Number of tuples in the index. */
  len(): number {
    return this.impl.size();
  }

  /** Estimated bytes used by the index structure (not the tuples), like index:bsize(). */
  bsize(): number {
    return this.impl.bsize();
  }

  // }}}
}
