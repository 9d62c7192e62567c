// @tarantype/memtx/testing: checks for other packages' tests (box, snapshot). Not for
// production code: checkSpace walks every tuple of every index.
import { assert } from '@tarantype/core';
import type { Space } from './space.js';
import { headerBytes, slotSizeFor } from './tuple-arena.js';

/**
 * Checks a space's invariants: every index is a valid structure holding the same tuples as the
 * primary key, and bsize is the sum of the tuples' sizes. Throws AssertionError otherwise.
 */
export function checkSpace(space: Space): void {
  const [pk, ...secondaries] = space.indexes;
  if (pk === undefined) return;
  for (const index of space.indexes) index.impl.checkValid();
  const tuples = pk.selectRaw([], { iterator: pk.type === 'TREE' ? 'GE' : 'ALL' });
  const keys = new Set(tuples.map((t) => Buffer.from(t).toString('hex')));
  assert(keys.size === tuples.length, `space '${space.name}': the primary key holds a tuple twice`);
  let bytes = 0;
  for (const t of tuples) bytes += t.length;
  assert(
    bytes === space.bsize(),
    `space '${space.name}': bsize ${space.bsize()} but tuples sum to ${bytes}`,
  );
  const arena = space.arena.stats();
  if (space.pendingStatements === 0 && space.arena.openViewCount === 0) {
    // Nothing held for undo or for a read view: the arena holds exactly the live tuples.
    let slots = 0;
    for (const t of tuples) slots += slotSizeFor(headerBytes(t.length) + t.length);
    assert(
      arena.usedBytes === slots,
      `space '${space.name}': arena uses ${arena.usedBytes} bytes for ${slots} bytes of slots`,
    );
    assert(
      arena.parkedBytes === 0,
      `space '${space.name}': ${arena.parkedBytes} bytes parked with no read view open`,
    );
  }
  for (const index of secondaries) {
    assert(
      index.len() === tuples.length,
      `index '${index.name}' holds ${index.len()} tuples, the primary key ${tuples.length}`,
    );
    const held = index.selectRaw([], { iterator: index.type === 'TREE' ? 'GE' : 'ALL' });
    for (const t of held) {
      assert(
        keys.has(Buffer.from(t).toString('hex')),
        `index '${index.name}' holds a tuple the primary key does not`,
      );
    }
  }
}
