// The input port of the snapshot writer: what memtx read views give it. Layer: snapshot.
// The writer depends on this interface only, never on @tarantype/memtx: box builds a
// SnapshotSource from memtx read views; tests build one from in-memory fakes (testing.ts).
// Invariant the implementer must keep: everything a source yields is the state at `vclock`,
// however long the writer takes and whatever is written meanwhile (FORMAT.md §6 "Read views").
import { assert, SYSTEM_ID_MAX, SYSTEM_ID_MIN, type Vclock } from '@tarantype/core';

/** One space as of the read view. */
export interface SnapshotSpace {
  /** Space id: 256..511 are system spaces (saved first), any other id is a user space. */
  readonly id: number;
  /** Replication group: 0 default, 1 for is_local spaces (rows written with group_id 1). */
  readonly groupId: number;
  /**
   * The tuples as raw MessagePack arrays, in primary-key order, as of the read view. Called
   * once, when the writer reaches this space (possibly long after the source was created).
   * The writer copies the bytes as they are; it never decodes or re-encodes them.
   */
  tuples(): Iterable<Uint8Array>;
  /**
   * The same tuples through a cursor that allocates nothing per tuple (a read view of a
   * million tuples would otherwise make a view and an iterator result per tuple, garbage that
   * pauses the requests running next to the writer). The writer uses it when present.
   */
  cursor?(): TupleCursor;
  /** Number of tuples, when known: lets progress reports show a total. */
  readonly count?: number;
}

/** A position in a space's tuples: after next() returns true, the tuple is bytes[start, end). */
export interface TupleCursor {
  /** Moves to the next tuple; false once there is none. */
  next(): boolean;
  /** Valid until the next call of next(). */
  readonly bytes: Uint8Array;
  readonly start: number;
  readonly end: number;
}

/** A cursor over an iterable of tuples (sources that have no cursor of their own). */
export function iterableCursor(tuples: Iterable<Uint8Array>): TupleCursor {
  const it = tuples[Symbol.iterator]();
  const cursor: { bytes: Uint8Array; start: number; end: number; next(): boolean } = {
    bytes: new Uint8Array(0),
    start: 0,
    end: 0,
    next(): boolean {
      const step = it.next();
      if (step.done === true) return false;
      cursor.bytes = step.value;
      cursor.start = 0;
      cursor.end = step.value.length;
      return true;
    },
  };
  return cursor;
}

/**
 * Read views of every space to save, taken at one instant. Temporary spaces (and spaces of
 * engines without data: blackhole, sysview, service) must be left out: they are not saved.
 * writeSnapshot() takes ownership: it calls release() exactly once, whatever the outcome.
 */
export interface SnapshotSource {
  /** The vclock of the read view: names the file and goes into its meta header. */
  readonly vclock: Vclock;
  readonly spaces: readonly SnapshotSpace[];
  /** Frees the read views (memtx stops copying index blocks on write for them). */
  release(): void;
}

/** Space id range; ids are uint32 in the row body. */
export const SPACE_ID_MAX = 0xffff_ffff;

export function isSystemSpace(id: number): boolean {
  return id >= SYSTEM_ID_MIN && id <= SYSTEM_ID_MAX;
}

/**
 * Rank of a space id in snapshot order (FORMAT.md S6): system spaces first by id, then every
 * other space by id. Comparing ranks compares positions in the file.
 */
export function spaceOrderRank(id: number): number {
  return isSystemSpace(id) ? id - SYSTEM_ID_MIN : SYSTEM_ID_MAX - SYSTEM_ID_MIN + 1 + id;
}

/** The spaces of `source` in file order, after checking the port's contract (programmer errors). */
export function orderSpaces(spaces: readonly SnapshotSpace[]): SnapshotSpace[] {
  const seen = new Set<number>();
  for (const space of spaces) {
    assert(
      Number.isInteger(space.id) && space.id >= 0 && space.id <= SPACE_ID_MAX,
      `space id ${space.id} out of range`,
    );
    assert(
      space.groupId === 0 || space.groupId === 1,
      `space ${space.id}: group_id ${space.groupId} is not 0 or 1`,
    );
    assert(!seen.has(space.id), `space ${space.id} appears twice in the snapshot source`);
    seen.add(space.id);
  }
  return [...spaces].sort((a, b) => spaceOrderRank(a.id) - spaceOrderRank(b.id));
}
