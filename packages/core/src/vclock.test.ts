import { describe, expect, it } from 'vitest';
import { AssertionError } from './assert.js';
import { Vclock } from './vclock.js';

describe('Vclock', () => {
  it('keeps the signature as the sum of components', () => {
    const v = new Vclock([
      [1, 10],
      [2, 5],
    ]);
    expect(v.signature()).toBe(15);
    v.follow(1, 12);
    v.set(0, 3);
    expect(v.signature()).toBe(20);
    expect(v.inc(2)).toBe(6);
    expect(v.signature()).toBe(21);
  });

  it("prints and parses Tarantool's text form", () => {
    expect(new Vclock().toString()).toBe('{}');
    expect(
      new Vclock([
        [1, 59],
        [0, 1],
        [4, 1],
      ]).toString(),
    ).toBe('{0: 1, 1: 59, 4: 1}');
    expect(Vclock.parse('{0: 1, 1: 59, 4: 1}').toString()).toBe('{0: 1, 1: 59, 4: 1}');
    expect(() => Vclock.parse('{1: x}')).toThrow(SyntaxError);
    expect(() => Vclock.parse('{32: 1}')).toThrow(SyntaxError);
  });

  it('compares as a partial order', () => {
    const a = new Vclock([[1, 5]]);
    const b = new Vclock([[1, 6]]);
    const c = new Vclock([
      [1, 4],
      [2, 1],
    ]);
    expect(a.compare(a.copy())).toBe(0);
    expect(a.compare(b)).toBe(-1);
    expect(b.compare(a)).toBe(1);
    expect(a.compare(c)).toBeUndefined();
    expect(
      new Vclock([
        [0, 9],
        [1, 5],
      ]).compare(a, true),
    ).toBe(0);
    expect(a.isLessOrEqual(b)).toBe(true);
  });

  it('refuses to go backwards or out of range', () => {
    const v = new Vclock([[1, 5]]);
    expect(() => v.follow(1, 5)).toThrow(AssertionError);
    expect(() => v.set(32, 1)).toThrow(AssertionError);
  });

  it('omits id 0 on the wire', () => {
    expect([
      ...new Vclock([
        [0, 3],
        [1, 4],
      ]).toWireMap(),
    ]).toEqual([[1, 4]]);
  });
});
