// RangeCopier: every length around the four-byte steps and the short/long boundary, sources
// that are Buffers, plain views at odd offsets and shared memory, into odd target offsets.
import { describe, expect, it } from 'vitest';
import { RangeCopier } from '../src/index.js';

describe('RangeCopier', () => {
  it('copies any range exactly, whatever the source buffer, and touches nothing else', () => {
    const copier = new RangeCopier();
    const backing = new Uint8Array(4096);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 7 + 3) & 0xff;
    const sources = [
      Buffer.from(backing),
      new Uint8Array(backing.buffer, 3, 2000),
      new Uint8Array(new SharedArrayBuffer(1024)).fill(0x5a),
    ];
    for (const source of sources)
      for (const length of [0, 1, 3, 4, 5, 7, 8, 63, 64, 255, 256, 257, 300, 1000]) {
        if (length + 9 > source.length) continue;
        const target = new Uint8Array(1100).fill(0xee);
        const view = new DataView(target.buffer);
        copier.copy(source, 9, 9 + length, target, view, 5);
        expect([...target.subarray(5, 5 + length)]).toEqual([...source.subarray(9, 9 + length)]);
        expect(target.subarray(0, 5).every((b) => b === 0xee)).toBe(true);
        expect(target.subarray(5 + length).every((b) => b === 0xee)).toBe(true);
      }
  });
});
