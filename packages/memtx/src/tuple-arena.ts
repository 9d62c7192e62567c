// TupleArena: where the tuples of one space live, as MessagePack bytes in large Buffers.
// Layer: memtx. See FORMAT.md for the byte layout.
//
// Why an arena and not one JS object per tuple: on this machine a JS array costs ~128 bytes per
// tuple and a Buffer per tuple 153+; packing tuples into shared chunks costs their MessagePack
// size plus a 1-3 byte length header rounded up to 8, and the GC never scans them. A tuple is
// named by its `ref`, a small integer: chunk index << 20 | offset in the chunk (a V8 small
// integer, so indexes holding refs stay compact). Freed slots go to per-size free lists.
//
// Delayed free: a read view (a copy-on-write clone of an index, see read-view.ts) may still
// reach a tuple that the live space has deleted. `free` therefore only releases a slot when no
// open view is older than the free; otherwise it parks the slot until those views close, like
// Tarantool's delayed free mode during a checkpoint.
//
// Invariant: a ref handed out by `store` keeps its bytes unchanged until `free(ref)` and then
// until every view opened before that free has closed. usedBytes = sum of live + parked slots.
import { ClientError, ErrorCode, RangeCopier } from '@tarantype/core';

/** A chunk holds offsets below 2^20; refs are chunkIndex << 20 | offset. */
export const CHUNK_OFFSET_BITS = 20;
export const CHUNK_OFFSET_MASK = (1 << CHUNK_OFFSET_BITS) - 1;
/** Full-size chunk: 1 MiB. Smaller first chunks keep near-empty spaces (system spaces) cheap. */
export const CHUNK_SIZE_MAX_BYTES = 1 << CHUNK_OFFSET_BITS;
const CHUNK_SIZE_MIN_BYTES = 4096;
/** Chunk indexes stay below 2^11 so every ref is below 2^31: a V8 small integer (2 GiB per space). */
export const CHUNK_COUNT_MAX = 2047;
/** Slots up to this size are rounded to 8 bytes and kept in one free list per size. */
const SMALL_SLOT_MAX_BYTES = 512;
/** Slots above this size get a chunk of their own, released when the tuple is. */
const DEDICATED_SLOT_MIN_BYTES = 64 * 1024;

const EMPTY_CHUNK = Buffer.alloc(0);
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));

/** Bytes of the length header for a tuple of `length` bytes (LEB128). */
export function headerBytes(length: number): number {
  return length < 0x80
    ? 1
    : length < 0x4000
      ? 2
      : length < 0x200000
        ? 3
        : length < 0x10000000
          ? 4
          : 5;
}

/** Slot size for `size` bytes: 8-byte steps up to 512, then eighths of the power of two. */
export function slotSizeFor(size: number): number {
  if (size <= SMALL_SLOT_MAX_BYTES) return (size + 7) & ~7;
  if (size >= DEDICATED_SLOT_MIN_BYTES) return (size + 7) & ~7;
  const power = 2 ** Math.floor(Math.log2(size - 1));
  const step = power / 8;
  return Math.ceil(size / step) * step;
}

/** Offset in `chunk` of the MessagePack data of the tuple whose slot starts at `offset`. */
export function dataOffset(chunk: Uint8Array, offset: number): number {
  if (chunk[offset]! < 0x80) return offset + 1;
  let p = offset;
  while (chunk[p]! >= 0x80) p++;
  return p + 1;
}

/** MessagePack length of the tuple whose slot starts at `offset`. */
export function dataLength(chunk: Uint8Array, offset: number): number {
  let b = chunk[offset]!;
  if (b < 0x80) return b;
  let length = 0;
  let shift = 0;
  let p = offset;
  for (;;) {
    b = chunk[p++]!;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return length;
    shift += 7;
  }
}

export interface ArenaStats {
  /** Bytes of all chunks (what the arena holds from the system). */
  readonly chunkBytes: number;
  /** Bytes of slots in use, live tuples and tuples parked for open read views. */
  readonly usedBytes: number;
  /** Bytes of slots parked until older read views close. */
  readonly parkedBytes: number;
  readonly chunkCount: number;
}

export class TupleArena {
  /** chunks[i] backs refs [i << 20, (i << 20) + chunks[i].length). Buffers: fast string decoding. */
  readonly chunks: Buffer[] = [];
  /** The same memory as plain Uint8Arrays: what raw outputs are cut from (public types are Uint8Array). */
  readonly plainChunks: Uint8Array[] = [];
  /** The same memory as DataViews: store() copies tuples through them (RangeCopier). */
  private readonly chunkViews: DataView[] = [];
  private readonly copier = new RangeCopier();
  private top: Buffer = EMPTY_CHUNK;
  private topIndex = -1;
  private topUsed = 0;
  private readonly smallFree: number[][] = [];
  private readonly mediumFree = new Map<number, number[]>();
  private readonly freeChunkIndexes: number[] = [];
  /** Slots on the free lists (smallFree and mediumFree together). */
  private freeSlots = 0;
  private chunkBytes = 0;
  private usedBytes = 0;
  private parkedBytes = 0;
  private nextChunkSize = CHUNK_SIZE_MIN_BYTES;
  // Delayed free: views are numbered by `generation` when opened.
  private generation = 0;
  private readonly openGenerations: number[] = [];
  private readonly parkedRefs: number[] = [];
  private readonly parkedGenerations: number[] = [];

  /** Copies `source[start, end)` (one MessagePack tuple) into a new slot; returns its ref. */
  store(source: Uint8Array, start: number, end: number): number {
    const length = end - start;
    const header = headerBytes(length);
    const ref = this.allocate(slotSizeFor(header + length));
    const index = ref >>> CHUNK_OFFSET_BITS;
    const chunk = this.chunks[index]!;
    let p = ref & CHUNK_OFFSET_MASK;
    let rest = length;
    while (rest >= 0x80) {
      chunk[p++] = (rest & 0x7f) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    chunk[p++] = rest;
    this.copier.copy(source, start, end, chunk, this.chunkViews[index]!, p);
    return ref;
  }

  /** The chunk holding `ref`. */
  chunkOf(ref: number): Buffer {
    return this.chunks[ref >>> CHUNK_OFFSET_BITS]!;
  }

  /** Offset of the tuple's MessagePack data inside chunkOf(ref). */
  start(ref: number): number {
    return dataOffset(this.chunks[ref >>> CHUNK_OFFSET_BITS]!, ref & CHUNK_OFFSET_MASK);
  }

  /** MessagePack length of the tuple. */
  length(ref: number): number {
    return dataLength(this.chunks[ref >>> CHUNK_OFFSET_BITS]!, ref & CHUNK_OFFSET_MASK);
  }

  /** A view of the tuple's bytes (valid while the tuple is, see the file comment). */
  view(ref: number): Uint8Array {
    const chunk = this.plainChunks[ref >>> CHUNK_OFFSET_BITS]!;
    const offset = ref & CHUNK_OFFSET_MASK;
    const start = dataOffset(chunk, offset);
    return chunk.subarray(start, start + dataLength(chunk, offset));
  }

  /** A copy of the tuple's bytes, owned by the caller. */
  copy(ref: number): Uint8Array {
    const chunk = this.plainChunks[ref >>> CHUNK_OFFSET_BITS]!;
    const offset = ref & CHUNK_OFFSET_MASK;
    const start = dataOffset(chunk, offset);
    return chunk.slice(start, start + dataLength(chunk, offset));
  }

  /** Frees the tuple's slot now, or when the read views that may still see it have closed. */
  free(ref: number): void {
    if (this.openGenerations.length === 0) {
      this.release(ref);
      return;
    }
    this.parkedRefs.push(ref);
    this.parkedGenerations.push(this.generation);
    this.parkedBytes += this.slotBytes(ref);
  }

  /** Frees a slot no read view can have seen (a tuple that never became visible). */
  freeNow(ref: number): void {
    this.release(ref);
  }

  /** Registers a read view; tuples freed from now on are parked until closeView(generation). */
  openView(): number {
    this.generation++;
    this.openGenerations.push(this.generation);
    return this.generation;
  }

  closeView(generation: number): void {
    const i = this.openGenerations.indexOf(generation);
    if (i < 0) return;
    this.openGenerations.splice(i, 1);
    let oldest = Infinity;
    for (const g of this.openGenerations) if (g < oldest) oldest = g;
    // A slot parked at generation u may be seen by views numbered <= u.
    let n = 0;
    while (n < this.parkedRefs.length && this.parkedGenerations[n]! < oldest) {
      const ref = this.parkedRefs[n]!;
      this.parkedBytes -= this.slotBytes(ref);
      this.release(ref);
      n++;
    }
    if (n > 0) {
      this.parkedRefs.splice(0, n);
      this.parkedGenerations.splice(0, n);
    }
  }

  get openViewCount(): number {
    return this.openGenerations.length;
  }

  stats(): ArenaStats {
    return {
      chunkBytes: this.chunkBytes,
      usedBytes: this.usedBytes,
      parkedBytes: this.parkedBytes,
      chunkCount: this.chunks.length - this.freeChunkIndexes.length,
    };
  }

  private slotBytes(ref: number): number {
    const chunk = this.chunks[ref >>> CHUNK_OFFSET_BITS]!;
    const length = dataLength(chunk, ref & CHUNK_OFFSET_MASK);
    return slotSizeFor(headerBytes(length) + length);
  }

  private allocate(slot: number): number {
    this.usedBytes += slot;
    if (slot >= DEDICATED_SLOT_MIN_BYTES) return this.newChunk(slot, true) << CHUNK_OFFSET_BITS;
    // Loading fills an arena with no free slot at all: then no free list is looked at.
    if (this.freeSlots > 0) {
      const list =
        slot <= SMALL_SLOT_MAX_BYTES ? this.smallFree[slot >>> 3] : this.mediumFree.get(slot);
      if (list !== undefined && list.length > 0) {
        this.freeSlots--;
        return list.pop()!;
      }
    }
    if (this.topUsed + slot > this.top.length) this.newChunk(slot, false);
    const ref = (this.topIndex << CHUNK_OFFSET_BITS) + this.topUsed;
    this.topUsed += slot;
    return ref;
  }

  private release(ref: number): void {
    const slot = this.slotBytes(ref);
    this.usedBytes -= slot;
    if (slot >= DEDICATED_SLOT_MIN_BYTES) {
      const index = ref >>> CHUNK_OFFSET_BITS;
      this.chunkBytes -= this.chunks[index]!.length;
      this.chunks[index] = EMPTY_CHUNK;
      this.plainChunks[index] = EMPTY_CHUNK;
      this.chunkViews[index] = EMPTY_VIEW;
      this.freeChunkIndexes.push(index);
      return;
    }
    if (slot <= SMALL_SLOT_MAX_BYTES) {
      const i = slot >>> 3;
      let list = this.smallFree[i];
      if (list === undefined) {
        list = [];
        // Fill holes so the array stays packed (holey arrays are slower to index).
        while (this.smallFree.length < i) this.smallFree.push([]);
        this.smallFree[i] = list;
      }
      list.push(ref);
      this.freeSlots++;
      return;
    }
    let list = this.mediumFree.get(slot);
    if (list === undefined) {
      list = [];
      this.mediumFree.set(slot, list);
    }
    list.push(ref);
    this.freeSlots++;
  }

  /** Adds a chunk (the new top unless dedicated); returns its index. */
  private newChunk(slot: number, dedicated: boolean): number {
    let size: number;
    if (dedicated) {
      size = slot;
    } else {
      size = this.nextChunkSize;
      while (size < slot) size *= 4;
      size = Math.min(size, CHUNK_SIZE_MAX_BYTES);
      this.nextChunkSize = Math.min(size * 4, CHUNK_SIZE_MAX_BYTES);
    }
    let index: number;
    if (this.freeChunkIndexes.length > 0) {
      index = this.freeChunkIndexes.pop()!;
    } else {
      if (this.chunks.length >= CHUNK_COUNT_MAX) {
        this.usedBytes -= slot;
        throw new ClientError(ErrorCode.ER_MEMORY_ISSUE, slot, 'memtx arena', 'tuple');
      }
      index = this.chunks.length;
      this.chunks.push(EMPTY_CHUNK);
      this.plainChunks.push(EMPTY_CHUNK);
      this.chunkViews.push(EMPTY_VIEW);
    }
    // Buffer.alloc never takes memory from Node's shared pool: each chunk owns its ArrayBuffer.
    const chunk = Buffer.alloc(size);
    this.chunks[index] = chunk;
    this.plainChunks[index] = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    this.chunkViews[index] = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
    this.chunkBytes += size;
    if (!dedicated) {
      this.top = chunk;
      this.topIndex = index;
      this.topUsed = 0;
    }
    return index;
  }
}
