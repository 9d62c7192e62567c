import { unlink } from 'node:fs/promises';
import { loadHasher, Vclock, XlogGapError, type Xrow } from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { followWal, NodeFileSystem, XlogDir } from '../src/index.js';
import { insertRow, openJournal, rowKey, tempDir } from './helpers.js';

const hasher = await loadHasher();
const fs = new NodeFileSystem();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

async function collect(stream: AsyncGenerator<Xrow[]>, count: number): Promise<number[]> {
  const keys: number[] = [];
  for await (const rows of stream) {
    keys.push(...rows.map(rowKey));
    if (keys.length >= count) break;
  }
  return keys;
}

describe('followWal', () => {
  it('reads the files after a vclock and stops at the end without a journal', async () => {
    const journal = await openJournal(fs, dir, hasher, { maxSizeBytes: 600 });
    for (let i = 0; i < 30; i++) await journal.submit([insertRow(i)]);
    await journal.close();
    const keys = await collect(followWal({ fs, dir, hasher, from: new Vclock([[1, 12]]) }), 1000);
    expect(keys).toEqual(Array.from({ length: 18 }, (_, i) => i + 12));
  });

  it('follows a file while the journal appends to it, across rotations', async () => {
    const journal = await openJournal(fs, dir, hasher, { maxSizeBytes: 2000 });
    await journal.submit([insertRow(0)]);
    const controller = new AbortController();
    const reading = collect(
      followWal({
        fs,
        dir,
        hasher,
        from: new Vclock(),
        journal,
        signal: controller.signal,
        yieldEveryRows: 7,
      }),
      200,
    );
    for (let i = 1; i < 200; i++) {
      await journal.submit([insertRow(i)]);
      if (i % 50 === 0) await journal.rotate();
    }
    const keys = await reading;
    expect(keys).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect((await XlogDir.scan(fs, dir, 'XLOG', hasher)).files.length).toBeGreaterThan(3);
    controller.abort();
    await journal.close();
  });

  it('never ships a transaction the journal later rolled back', async () => {
    const { FaultyFileSystem } = await import('../src/testing.js');
    const faulty = new FaultyFileSystem(fs);
    const journal = await openJournal(faulty, dir, hasher);
    await journal.submit([insertRow(0)]);
    const reading = collect(followWal({ fs, dir, hasher, from: new Vclock(), journal }), 3);
    faulty.tearNextWrite(20);
    await expect(journal.submit([insertRow(666)])).rejects.toThrow();
    await journal.submit([insertRow(1)]);
    await journal.submit([insertRow(2)]);
    expect(await reading).toEqual([0, 1, 2]);
    await journal.close();
  });

  it('raises XlogGapError when the rows after the vclock were removed', async () => {
    const journal = await openJournal(fs, dir, hasher);
    for (let i = 0; i < 10; i++) {
      await journal.submit([insertRow(i)]);
      if (i === 4) await journal.rotate();
    }
    await journal.close();
    const files = (await XlogDir.scan(fs, dir, 'XLOG', hasher)).files;
    await unlink(files[0]!.path);
    await expect(
      collect(followWal({ fs, dir, hasher, from: new Vclock([[1, 2]]) }), 100),
    ).rejects.toThrow(XlogGapError);
  });
});
