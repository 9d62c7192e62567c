// The contract between a space and its index structures (TREE, HASH). Layer: memtx.
//
// Indexes hold tuple refs (see tuple-arena.ts) and nothing else; they never own tuple memory.
// `replace` is Tarantool's index_replace(old, new, mode): it links `newRef`, unlinks `oldRef`
// and returns the tuple that left the index (the duplicate `newRef` displaced, else `oldRef`),
// checking duplicates first so that a failed call changes nothing. A displaced duplicate is
// always `oldRef` itself unless `oldRef` is NONE (checkDuplicate), so nothing else is unlinked.
import { ClientError, ErrorCode } from '@tarantype/core';
import type { KeyDef, SearchKey } from './key-def.js';

/** "No tuple" in ref positions. Refs are >= 0. */
export const NONE = -1;

/** Tarantool's dup_replace_mode. */
export const DUP_INSERT = 0;
export const DUP_REPLACE = 1;
export const DUP_REPLACE_OR_INSERT = 2;
export type DupMode = typeof DUP_INSERT | typeof DUP_REPLACE | typeof DUP_REPLACE_OR_INSERT;

/** Iterator codes this engine implements (core's IteratorType values). */
export const ITER_EQ = 0;
export const ITER_REQ = 1;
export const ITER_ALL = 2;
export const ITER_LT = 3;
export const ITER_LE = 4;
export const ITER_GE = 5;
export const ITER_GT = 6;

/** Forward iteration over refs without allocating result objects: NONE at the end. */
export interface RefIterator {
  next(): number;
}

export const EMPTY_ITERATOR: RefIterator = { next: () => NONE };

/** What an index needs to know about itself to build errors and comparators. */
export interface IndexShape {
  readonly name: string;
  readonly spaceName: string;
  readonly unique: boolean;
  readonly keyDef: KeyDef;
  /** Primary key parts that are not key parts: orders duplicates of a non-unique key. */
  readonly extension: KeyDef | undefined;
}

export interface IndexImpl {
  readonly type: 'TREE' | 'HASH';
  size(): number;
  /** index_replace: see the file comment. Throws ER_TUPLE_FOUND (nothing changed then). */
  replace(oldRef: number, newRef: number, mode: DupMode): number;
  /** The tuple with exactly this full key in a unique index, or NONE. */
  findUnique(key: SearchKey): number;
  /** Refs in iterator order. `type` is validated; an empty key was normalised by the caller. */
  iterate(type: number, key: SearchKey): RefIterator;
  /** An O(1) copy-on-write snapshot over the same arena (read views). */
  clone(): IndexImpl;
  /** Estimated bytes of the index structure itself (not the tuples). */
  bsize(): number;
  /** Checks structural invariants (tests); throws on a broken one. */
  checkValid(): void;
  /**
   * Optional: fills an EMPTY index from `refs` (any order) in one pass. Returns false, having
   * changed nothing, when it cannot (not empty, or two refs with an equal key in a unique
   * index): the caller then inserts one at a time, which reports the duplicate.
   */
  bulkLoad?(refs: readonly number[], keys?: readonly (number | bigint)[]): boolean;
  /**
   * Optional, for an index keyed by one number (a TREE's direct layout): the key of the tuple
   * at `bytes[p]` (a MessagePack array already checked against the format). A bulk load
   * gathers these while each tuple is at hand and passes them to bulkLoad() as `keys[i]` of
   * `refs[i]`, instead of the index reading every tuple back from the arena.
   */
  readonly numericKeyOf?: ((bytes: Uint8Array, p: number) => number | bigint) | undefined;
  /**
   * Optional, ordered indexes only: <0, 0 or >0 as the tuple `a` sorts before, with or after
   * `b` in this index (refs of this index's space).
   */
  compareTuples?(a: number, b: number): number;
}

/** Tarantool's replace_check_dup: may `newRef` displace `dup` when replacing `oldRef`? */
export function checkDuplicate(
  shape: IndexShape,
  oldRef: number,
  dup: number,
  mode: DupMode,
): void {
  if (dup === NONE) {
    if (mode === DUP_REPLACE) {
      if (oldRef !== NONE)
        throw new ClientError(ErrorCode.ER_CANT_UPDATE_PRIMARY_KEY, shape.name, shape.spaceName);
      throw new ClientError(ErrorCode.ER_TUPLE_NOT_FOUND, shape.name, shape.spaceName);
    }
    return;
  }
  if (dup !== oldRef && (oldRef !== NONE || mode === DUP_INSERT)) {
    throw new ClientError(ErrorCode.ER_TUPLE_FOUND, shape.name, shape.spaceName);
  }
}
