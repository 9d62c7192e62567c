// @tarantype/snapshot/testing: test doubles other packages may use — an in-memory sorted map
// with read views (the stand-in for memtx) and a SnapshotSource built from such maps.
import { assert, type Vclock } from '@tarantype/core';
import { COW_LEAF_SIZE_DEFAULT, type CowReadView, CowSortedMap } from './cow-sorted-map.js';
import type { SnapshotSource, SnapshotSpace } from './snapshot-source.js';

export { COW_LEAF_SIZE_DEFAULT, type CowReadView, CowSortedMap };

export interface MemorySpace {
  readonly id: number;
  /** Default 0. */
  readonly groupId?: number;
  /** Primary key → tuple (a MessagePack array). */
  readonly data: CowSortedMap<Uint8Array>;
}

/** A SnapshotSource that also tells whether (and how often) it was released. */
export interface MemorySnapshotSource extends SnapshotSource {
  readonly releaseCount: number;
}

/**
 * Takes a read view of every space *now* (as box will take memtx read views under the
 * checkpoint's vclock) and returns them as a SnapshotSource. Later writes to the maps do not
 * show through it.
 */
export function readViewSource(
  vclock: Vclock,
  spaces: readonly MemorySpace[],
): MemorySnapshotSource {
  const frozen = vclock.copy();
  const views: SnapshotSpace[] = spaces.map((space) => {
    const view: CowReadView<Uint8Array> = space.data.readView();
    return {
      id: space.id,
      groupId: space.groupId ?? 0,
      count: view.size,
      tuples: () => view.values(),
    };
  });
  let releaseCount = 0;
  return {
    vclock: frozen,
    spaces: views,
    release() {
      releaseCount++;
      assert(releaseCount === 1, 'snapshot source released twice');
    },
    get releaseCount() {
      return releaseCount;
    },
  };
}
