// NodeFileSystem's two write paths: small writes on the calling thread, larger ones through
// libuv's thread pool. Both write every byte where asked and report errors by rejecting the
// returned promise, never by throwing.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeFileSystem, SYNC_WRITE_MAX_BYTES_DEFAULT } from '../src/index.js';
import { tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const bytes = (n: number, seed: number) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('NodeFileSystem writes', () => {
  for (const syncWriteMaxBytes of [0, 100, SYNC_WRITE_MAX_BYTES_DEFAULT]) {
    it(`writes small and large data at their positions (syncWriteMaxBytes ${syncWriteMaxBytes})`, async () => {
      const fs = new NodeFileSystem({ syncWriteMaxBytes });
      const path = join(dir, `f${syncWriteMaxBytes}`);
      const file = await fs.open(path, 'create');
      const small = bytes(100, 1);
      const large = bytes(SYNC_WRITE_MAX_BYTES_DEFAULT + 1, 2);
      // One after another: concurrent writes to overlapping ranges were never ordered (the
      // pool runs them on any of its threads), and are not now.
      for (const [data, position] of [
        [small, 0],
        [large, 100],
        [small, 50],
      ] as const) {
        const write = file.write(data, position);
        expect(write).toBeInstanceOf(Promise);
        await write;
      }
      await file.close();
      const expected = new Uint8Array(100 + large.length);
      expected.set(small, 0);
      expected.set(large, 100);
      expected.set(small, 50);
      expect(Buffer.compare(await readFile(path), Buffer.from(expected))).toBe(0);
    });
  }

  it('rejects, never throws, when a write fails on either path', async () => {
    for (const syncWriteMaxBytes of [0, SYNC_WRITE_MAX_BYTES_DEFAULT]) {
      const fs = new NodeFileSystem({ syncWriteMaxBytes });
      const path = join(dir, `ro${syncWriteMaxBytes}`);
      await (await fs.open(path, 'create')).close();
      const file = await fs.open(path, 'read');
      let promise: Promise<void> | undefined;
      expect(() => {
        promise = file.write(bytes(10, 3), 0);
      }).not.toThrow();
      await expect(promise).rejects.toMatchObject({ code: 'EBADF' });
      await file.close();
    }
  });

  it('refuses a negative syncWriteMaxBytes', () => {
    expect(() => new NodeFileSystem({ syncWriteMaxBytes: -1 })).toThrow(RangeError);
  });
});
