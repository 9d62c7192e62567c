// Read views under concurrent writes: views opened at random points must keep yielding exactly
// the tuples of that moment, byte for byte, while the space is written (which also proves the
// memory of tuples deleted under a view is not reused before the view closes), and closing
// every view must hand all parked memory back. Also: pairs() keeps iterating a snapshot.
import { decode } from '@tarantype/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ReadView, Space, TREE_NODE_SIZE_MIN } from '../src/index.js';
import { checkSpace } from '../src/testing.js';
import { hex, seeded } from './helpers.js';

type Step =
  | { kind: 'replace'; id: number; size: number }
  | { kind: 'delete'; id: number }
  | { kind: 'update'; id: number }
  | { kind: 'truncate' }
  | { kind: 'open' }
  | { kind: 'check'; pick: number }
  | { kind: 'close'; pick: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('replace' as const),
      id: fc.nat({ max: 30 }),
      size: fc.nat({ max: 40 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), id: fc.nat({ max: 30 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('update' as const), id: fc.nat({ max: 30 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('open' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('check' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }) },
);

function run(type: 'TREE' | 'HASH', steps: Step[]): void {
  const space = new Space({ id: 600, name: 'viewed' });
  space.createIndex({
    name: 'pk',
    type,
    parts: [{ field: 0, type: 'unsigned' }],
    maxNodeSize: TREE_NODE_SIZE_MIN,
  });
  space.createIndex({
    name: 'sk',
    unique: false,
    parts: [{ field: 1, type: 'string' }],
    maxNodeSize: TREE_NODE_SIZE_MIN,
  });
  const views: { view: ReadView; expected: string[] }[] = [];
  const snapshot = (): string[] => {
    const tuples = space
      .index('pk')!
      .selectRaw([], { iterator: type === 'TREE' ? 'GE' : 'ALL' })
      .map((t) => hex(t)!);
    return type === 'TREE' ? tuples : tuples.sort();
  };
  const verify = (entry: { view: ReadView; expected: string[] }): void => {
    let got = [...entry.view.tuples()].map((t) => hex(t)!);
    if (type === 'HASH') got = got.sort();
    expect(got).toEqual(entry.expected);
    expect(entry.view.len).toBe(entry.expected.length);
  };
  let generation = 0;
  for (const step of steps) {
    generation++;
    switch (step.kind) {
      case 'replace':
        space.replace([step.id, 'x'.repeat(step.size), generation]);
        break;
      case 'delete':
        space.delete([step.id]);
        break;
      case 'update':
        space.update(
          [step.id],
          [
            ['=', 2, generation],
            ['=', 1, `u${generation}`],
          ],
        );
        break;
      case 'truncate':
        space.truncate();
        break;
      case 'open':
        views.push({ view: space.readView(), expected: snapshot() });
        break;
      case 'check':
        if (views.length > 0) verify(views[step.pick % views.length]!);
        break;
      case 'close':
        if (views.length > 0) {
          const [entry] = views.splice(step.pick % views.length, 1);
          verify(entry!);
          entry!.view.close();
        }
        break;
    }
    checkSpace(space);
  }
  for (const entry of views) {
    verify(entry);
    entry.view.close();
  }
  // Every view closed: checkSpace verifies nothing stays parked and the arena holds exactly the live tuples.
  checkSpace(space);
  expect(space.arena.stats().parkedBytes).toBe(0);
}

describe('read views', () => {
  for (const type of ['TREE', 'HASH'] as const) {
    it(`stay stable while a ${type} primary key is written, and release memory when closed`, () => {
      fc.assert(
        fc.property(fc.array(stepArb, { minLength: 1, maxLength: 150, size: 'max' }), (steps) =>
          run(type, steps),
        ),
        seeded(100),
      );
    });
  }

  it('yield zero-copy views valid until close(), in primary key order', () => {
    const space = new Space({ id: 601, name: 'snap' });
    space.createIndex({ name: 'pk', parts: [{ field: 0, type: 'unsigned' }] });
    for (let i = 0; i < 1000; i++) space.insert([i, `value ${i}`]);
    const view = space.readView();
    for (let i = 0; i < 1000; i += 2) space.delete([i]);
    for (let i = 0; i < 1000; i++) space.replace([i + 2000, `other ${i}`]);
    let n = 0;
    for (const tuple of view.tuples()) {
      expect(decode(tuple)).toEqual([n, `value ${n}`]);
      n++;
    }
    expect(n).toBe(1000);
    expect(space.arena.stats().parkedBytes).toBeGreaterThan(0);
    view.close();
    expect(space.arena.stats().parkedBytes).toBe(0);
    expect(view.isOpen).toBe(false);
    expect(() => view.tuples().next()).toThrow(/after close/);
  });

  it('give the same tuples through cursor(), in place in the arena, until close()', () => {
    const space = new Space({ id: 603, name: 'snap' });
    space.createIndex({ name: 'pk', parts: [{ field: 0, type: 'unsigned' }] });
    for (let i = 0; i < 500; i++) space.insert([i, 'x'.repeat(i % 300)]);
    const view = space.readView();
    for (let i = 0; i < 500; i += 3) space.delete([i]);
    const cursor = view.cursor();
    const seen: string[] = [];
    while (cursor.next()) seen.push(hex(cursor.bytes.subarray(cursor.start, cursor.end))!);
    expect(seen).toEqual([...view.tuples()].map((t) => hex(t)));
    expect(seen).toHaveLength(500);
    expect(cursor.next()).toBe(false);
    const again = view.cursor();
    expect(again.next()).toBe(true);
    view.close();
    expect(() => again.next()).toThrow(/closed while iterating/);
    expect(() => view.cursor()).toThrow(/after close/);
  });

  it('survive truncate and drop of the primary key', () => {
    const space = new Space({ id: 602, name: 'snap' });
    space.createIndex({ name: 'pk', parts: [{ field: 0, type: 'unsigned' }] });
    for (let i = 0; i < 100; i++) space.insert([i]);
    const first = space.readView();
    space.truncate();
    space.insert([7]);
    const second = space.readView();
    space.dropIndex('pk');
    expect([...first.tuples()].length).toBe(100);
    expect([...second.tuples()].map((t) => hex(t))).toEqual(['9107']);
    first.close();
    second.close();
  });

  it('pairs() iterates a snapshot while the space changes', () => {
    const space = new Space({ id: 603, name: 'pairs' });
    space.createIndex({
      name: 'pk',
      parts: [{ field: 0, type: 'unsigned' }],
      maxNodeSize: TREE_NODE_SIZE_MIN,
    });
    for (let i = 0; i < 50; i++) space.insert([i, 'a'.repeat(i)]);
    const seen: unknown[] = [];
    for (const tuple of space.index('pk')!.pairs([10], { iterator: 'GE' })) {
      seen.push(tuple[0]);
      space.delete([tuple[0]]);
      space.insert([1000 + (tuple[0] as number), 'b']);
    }
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 10));
    expect(space.arena.openViewCount).toBe(0);
    // Breaking off releases the snapshot too.
    for (const _ of space.index('pk')!.pairs()) break;
    expect(space.arena.openViewCount).toBe(0);
    checkSpace(space);
  });
});
