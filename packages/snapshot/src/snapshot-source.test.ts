import { AssertionError } from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import {
  isSystemSpace,
  orderSpaces,
  type SnapshotSpace,
  spaceOrderRank,
} from './snapshot-source.js';

const space = (id: number, groupId = 0): SnapshotSpace => ({ id, groupId, tuples: () => [] });

describe('snapshot order (FORMAT.md S6)', () => {
  it('puts system spaces (256..511) first by id, then every other space by id', () => {
    const ids = [512, 7, 511, 256, 1000, 280, 0, 255, 513].map((id) => space(id));
    expect(orderSpaces(ids).map((s) => s.id)).toEqual([256, 280, 511, 0, 7, 255, 512, 513, 1000]);
    expect(isSystemSpace(255)).toBe(false);
    expect(isSystemSpace(256)).toBe(true);
    expect(isSystemSpace(511)).toBe(true);
    expect(isSystemSpace(512)).toBe(false);
    expect(spaceOrderRank(511)).toBeLessThan(spaceOrderRank(0));
    expect(spaceOrderRank(2 ** 32 - 1)).toBeGreaterThan(spaceOrderRank(512));
  });

  it('refuses a broken port contract (programmer errors)', () => {
    expect(() => orderSpaces([space(512), space(512)])).toThrow(AssertionError);
    expect(() => orderSpaces([space(512, 2)])).toThrow(AssertionError);
    expect(() => orderSpaces([space(-1)])).toThrow(AssertionError);
    expect(() => orderSpaces([space(2 ** 32)])).toThrow(AssertionError);
  });
});
