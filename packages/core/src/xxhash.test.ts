import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadHasher, xxh32 } from './xxhash.js';

describe('xxh32 in plain JS', () => {
  it('has the reference values of xxHash', () => {
    const ascii = (s: string) => new TextEncoder().encode(s);
    expect(xxh32(new Uint8Array(0), 0, 0)).toBe(0x02cc5d05);
    const abc = ascii('abc');
    expect(xxh32(abc, 0, abc.length)).toBe(0x32d153ff);
    const fox = ascii('The quick brown fox jumps over the lazy dog');
    expect(xxh32(fox, 0, fox.length)).toBe(0xe85ea4de);
  });

  it('equals the WebAssembly hasher on every range of random bytes', async () => {
    const hasher = await loadHasher();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = start + (b % (bytes.length - start + 1));
        expect(xxh32(bytes, start, end)).toBe(hasher.h32(bytes.subarray(start, end)));
      }),
      { numRuns: 3000 },
    );
  });
});
