// checkWalDir: a healthy directory has no violations; each broken invariant is named.
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadHasher, Vclock } from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkWalDir, encodeMeta, NodeFileSystem, xlogFileName } from '../src/index.js';
import { INSTANCE_UUID, insertRow, openJournal, tempDir } from './helpers.js';

const hasher = await loadHasher();
const fs = new NodeFileSystem();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir('tarantype-check-')));
afterEach(async () => cleanup());

/** Three xlogs of 4 rows each (signatures 0, 4, 8), all closed. */
async function threeFiles(): Promise<string[]> {
  const journal = await openJournal(fs, dir, hasher);
  for (let f = 0; f < 3; f++) {
    for (let i = 0; i < 4; i++) await journal.submit([insertRow(f * 4 + i)]);
    await journal.rotate();
  }
  await journal.close();
  return [0, 4, 8].map((s) => join(dir, xlogFileName(s, 'XLOG')));
}

describe('checkWalDir', () => {
  it('finds nothing wrong in what the journal wrote', async () => {
    await threeFiles();
    const report = await checkWalDir(dir, { fs, hasher });
    expect(report.violations).toEqual([]);
    expect(report.xlogs.map((f) => f.endVclock?.toString())).toEqual([
      '{1: 4}',
      '{1: 8}',
      '{1: 12}',
    ]);
  });

  it('names a missing middle xlog: the PrevVClock chain and the rows between files', async () => {
    const paths = await threeFiles();
    await unlink(paths[1]!);
    const { violations } = await checkWalDir(dir, { fs, hasher });
    expect(violations.some((v) => v.includes('PrevVClock {1: 4} differs from the VClock {}'))).toBe(
      true,
    );
    expect(violations.some((v) => v.includes('rows missing between them'))).toBe(true);
  });

  it('names an xlog whose name is not its signature, and a vclock that went back', async () => {
    await threeFiles();
    // A file named 12 whose header says {1: 2}, after a file that ends at {1: 12}.
    const meta = encodeMeta(
      {
        type: 'XLOG',
        instanceUuid: INSTANCE_UUID,
        vclock: new Vclock({ 1: 2 }),
        prevVclock: new Vclock({ 1: 8 }),
      },
      hasher,
    );
    await writeFile(join(dir, xlogFileName(12, 'XLOG')), meta);
    const { violations } = await checkWalDir(dir, { fs, hasher });
    expect(violations.some((v) => v.includes('the name says signature 12'))).toBe(true);
    expect(violations.some((v) => v.includes('went back from {1: 8}'))).toBe(true);
  });

  it('names a GC consumer whose rows were removed', async () => {
    const paths = await threeFiles();
    await unlink(paths[0]!);
    const needed = [{ name: 'replica r1', vclock: new Vclock({ 1: 2 }) }];
    const { violations } = await checkWalDir(dir, { fs, hasher, needed });
    expect(violations).toContain(
      `replica r1 needs the rows after {1: 2}, but the oldest xlog ${paths[1]} starts at {1: 4}`,
    );
    // A consumer that has everything needs no file.
    const upToDate = [{ name: 'replica r2', vclock: new Vclock({ 1: 12 }) }];
    expect((await checkWalDir(dir, { fs, hasher, needed: upToDate })).violations).toEqual([]);
  });

  it('names an older xlog with a torn tail; one without its EOF marker is a crash leftover', async () => {
    const journal = await openJournal(fs, dir, hasher);
    await journal.submit([insertRow(1)]);
    await journal.rotate();
    await journal.submit([insertRow(2)]);
    await journal.close();
    const first = join(dir, xlogFileName(0, 'XLOG'));
    const bytes = await (await import('node:fs/promises')).readFile(first);
    await writeFile(first, bytes.subarray(0, bytes.length - 2));
    const { violations } = await checkWalDir(dir, { fs, hasher });
    expect(violations).toEqual([`${first}: not the newest xlog, yet it ends in a torn tail`]);
    expect((await checkWalDir(dir, { fs, hasher, allowTorn: true })).violations).toEqual([]);
    await writeFile(first, bytes.subarray(0, bytes.length - 4));
    expect((await checkWalDir(dir, { fs, hasher })).violations).toEqual([]);
  });
});
