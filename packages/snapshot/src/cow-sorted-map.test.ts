import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CowSortedMap } from './cow-sorted-map.js';

const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
const params = { seed, numRuns: 150 };

type Operation =
  | { kind: 'set'; key: number; value: number }
  | { kind: 'delete'; key: number }
  | { kind: 'view' };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      key: fc.integer({ min: 0, max: 60 }),
      value: fc.integer(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      key: fc.integer({ min: 0, max: 60 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('view' as const) }) },
);

const sorted = (model: Map<number, number>) => [...model.entries()].sort((a, b) => a[0] - b[0]);

describe('CowSortedMap', () => {
  it(`behaves as a sorted Map and read views never change (smallest leaves; seed ${seed})`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(operation, { maxLength: 200 }),
        (leafSize, operations) => {
          const map = new CowSortedMap<number>(leafSize);
          const model = new Map<number, number>();
          const views: Array<{
            view: ReturnType<CowSortedMap<number>['readView']>;
            frozen: Array<[number, number]>;
          }> = [];
          for (const op of operations) {
            if (op.kind === 'set') {
              expect(map.set(op.key, op.value)).toBe(!model.has(op.key));
              model.set(op.key, op.value);
            } else if (op.kind === 'delete') expect(map.delete(op.key)).toBe(model.delete(op.key));
            else views.push({ view: map.readView(), frozen: sorted(model) });
            map.checkValid();
            expect(map.size).toBe(model.size);
          }
          expect([...map.entries()]).toEqual(sorted(model));
          for (const key of [0, 30, 60, 61]) expect(map.get(key)).toBe(model.get(key));
          for (const { view, frozen } of views) {
            expect([...view.entries()]).toEqual(frozen);
            expect([...view.values()]).toEqual(frozen.map(([, value]) => value));
            expect(view.size).toBe(frozen.length);
          }
        },
      ),
      params,
    );
  });

  it('appends in key order (bulk load) without touching leaves a read view shares', () => {
    const map = new CowSortedMap<number>(3);
    for (let i = 0; i < 5; i++) map.append(i * 2, i);
    const view = map.readView();
    for (let i = 5; i < 10; i++) map.append(i * 2, i);
    map.checkValid();
    expect([...map.entries()].map(([key]) => key)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    expect([...view.values()]).toEqual([0, 1, 2, 3, 4]);
    map.set(5, 99);
    map.checkValid();
    expect(map.get(5)).toBe(99);
    expect(() => map.append(18, 0)).toThrow(/out of order/);
  });

  it('copies a shared leaf once per read view, not per write', () => {
    const map = new CowSortedMap<string>(4);
    for (let i = 0; i < 8; i++) map.set(i, `v${i}`);
    const view = map.readView();
    map.set(1, 'changed');
    map.set(2, 'changed too');
    map.delete(3);
    expect([...view.values()]).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7']);
    expect(map.get(1)).toBe('changed');
    expect(map.get(3)).toBeUndefined();
  });
});
