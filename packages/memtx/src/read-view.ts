// ReadView: a consistent, O(1) snapshot of a space's primary index, for the snapshot writer
// and replica JOIN, while writes to the space continue. Layer: memtx.
//
// Opening clones the primary index (sorted-btree's copy-on-write clone) and registers the view
// with the space's arena, which then parks the memory of tuples freed while the view is open
// (delayed free). The tuples a view yields are zero-copy views of that memory: valid until
// close(). Always close a view; until then deleted tuples' memory is not reused.
import { assert } from '@tarantype/core';
import { type IndexImpl, ITER_ALL, ITER_GE, NONE } from './index-impl.js';
import type { SearchKey } from './key-def.js';
import {
  CHUNK_OFFSET_BITS,
  CHUNK_OFFSET_MASK,
  dataLength,
  dataOffset,
  type TupleArena,
} from './tuple-arena.js';

const ALL_KEY: SearchKey = { bytes: new Uint8Array([0x90]), start: 1, partCount: 0 };

export class ReadView {
  private open = true;

  /** @internal Made by Space.readView(). */
  constructor(
    readonly spaceId: number,
    readonly spaceName: string,
    private readonly arena: TupleArena,
    private readonly primary: IndexImpl,
    private readonly generation: number,
    /** Tuples in the view. */
    readonly len: number,
    /** Bytes of MessagePack of those tuples (Tarantool's space:bsize()). */
    readonly bsize: number,
  ) {}

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * The tuples in primary key order (hash order for a HASH primary key), as MessagePack views
   * valid until close(). An iterator, so a writer can yield between tuples.
   */
  *tuples(): Generator<Uint8Array, void, undefined> {
    assert(this.open, 'read view used after close()');
    const it = this.primary.iterate(this.primary.type === 'TREE' ? ITER_GE : ITER_ALL, ALL_KEY);
    for (let ref = it.next(); ref !== NONE; ref = it.next()) {
      assert(this.open, 'read view closed while iterating');
      yield this.arena.view(ref);
    }
  }

  /**
   * The same tuples through a cursor that allocates nothing per tuple: after next() returns
   * true, the tuple is bytes[start, end), valid until the next call (and until close()).
   */
  cursor(): ReadViewCursor {
    assert(this.open, 'read view used after close()');
    return new ReadViewCursor(
      this,
      this.arena,
      this.primary.iterate(this.primary.type === 'TREE' ? ITER_GE : ITER_ALL, ALL_KEY),
    );
  }

  /** Releases the snapshot; tuple memory parked for it can be reused. Idempotent. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.arena.closeView(this.generation);
  }
}

/** ReadView.cursor(): the view's tuples in place in the arena, one position at a time. */
export class ReadViewCursor {
  bytes: Uint8Array = new Uint8Array(0);
  start = 0;
  end = 0;

  /** @internal */
  constructor(
    private readonly view: ReadView,
    private readonly arena: TupleArena,
    private readonly it: ReturnType<IndexImpl['iterate']>,
  ) {}

  next(): boolean {
    assert(this.view.isOpen, 'read view closed while iterating');
    const ref = this.it.next();
    if (ref === NONE) return false;
    const chunk = this.arena.plainChunks[ref >>> CHUNK_OFFSET_BITS]!;
    const offset = ref & CHUNK_OFFSET_MASK;
    this.bytes = chunk;
    this.start = dataOffset(chunk, offset);
    this.end = this.start + dataLength(chunk, offset);
    return true;
  }
}
