// TupleArena: slot sizes, header widths, dedicated chunks, and delayed free against a model
// (bytes a reader can reach never change; closing every view releases every parked slot).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seeded } from '../test/helpers.js';
import { CHUNK_OFFSET_BITS, headerBytes, slotSizeFor, TupleArena } from './tuple-arena.js';

function bytesOf(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill & 0xff);
}

describe('TupleArena', () => {
  it('rounds slots to 8 bytes, then to eighths of a power of two', () => {
    for (let size = 1; size < 200_000; size += size < 2000 ? 1 : 997) {
      const slot = slotSizeFor(size);
      expect(slot).toBeGreaterThanOrEqual(size);
      if (size <= 512) expect(slot % 8).toBe(0);
      expect(slot - size).toBeLessThanOrEqual(Math.max(7, size / 8));
    }
  });

  it('stores and reads tuples of every header width', () => {
    const arena = new TupleArena();
    for (const length of [1, 127, 128, 16383, 16384, 70_000, 2_097_152]) {
      const ref = arena.store(bytesOf(length, length), 0, length);
      expect(arena.length(ref)).toBe(length);
      expect(Buffer.compare(arena.view(ref), bytesOf(length, length))).toBe(0);
      expect(arena.chunkOf(ref)[arena.start(ref) - headerBytes(length)]).toBeDefined();
    }
  });

  it('gives big tuples chunks of their own and releases them', () => {
    const arena = new TupleArena();
    const ref = arena.store(bytesOf(100_000, 1), 0, 100_000);
    expect(ref & ((1 << CHUNK_OFFSET_BITS) - 1)).toBe(0);
    const before = arena.stats();
    arena.free(ref);
    expect(arena.stats().chunkBytes).toBeLessThan(before.chunkBytes);
    expect(arena.stats().usedBytes).toBe(0);
    const again = arena.store(bytesOf(100_000, 2), 0, 100_000);
    expect(again).toBe(ref);
  });

  it('never changes the bytes of a tuple a view may see; releases them when views close', () => {
    type Op =
      | { kind: 'store'; length: number }
      | { kind: 'free'; pick: number }
      | { kind: 'open' }
      | { kind: 'close'; pick: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant('store' as const),
        length: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 3000 })),
      }),
      fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('open' as const) }),
      fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200, size: 'max' }), (ops) => {
        const arena = new TupleArena();
        const live = new Map<number, Uint8Array>();
        // Per open view: the tuples it may see (live when it opened).
        const views: { generation: number; sees: Map<number, Uint8Array> }[] = [];
        let fill = 0;
        for (const op of ops) {
          if (op.kind === 'store') {
            const bytes = bytesOf(op.length, ++fill);
            const ref = arena.store(bytes, 0, bytes.length);
            expect(live.has(ref)).toBe(false);
            live.set(ref, bytes);
          } else if (op.kind === 'free' && live.size > 0) {
            const ref = [...live.keys()][op.pick % live.size]!;
            live.delete(ref);
            arena.free(ref);
          } else if (op.kind === 'open') {
            views.push({ generation: arena.openView(), sees: new Map(live) });
          } else if (op.kind === 'close' && views.length > 0) {
            const [view] = views.splice(op.pick % views.length, 1);
            arena.closeView(view!.generation);
          }
          const check = (ref: number, bytes: Uint8Array) => {
            if (Buffer.compare(arena.view(ref), bytes) !== 0)
              throw new Error(`tuple ${ref} changed under a reader`);
          };
          for (const [ref, bytes] of live) check(ref, bytes);
          for (const view of views) for (const [ref, bytes] of view.sees) check(ref, bytes);
        }
        for (const view of views) arena.closeView(view.generation);
        let slots = 0;
        for (const bytes of live.values())
          slots += slotSizeFor(headerBytes(bytes.length) + bytes.length);
        expect(arena.stats().usedBytes).toBe(slots);
        expect(arena.stats().parkedBytes).toBe(0);
      }),
      seeded(100),
    );
  });
});
