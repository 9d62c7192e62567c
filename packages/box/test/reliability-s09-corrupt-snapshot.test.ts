// RELIABILITY.md #9, a corrupt snapshot, through Box.cfg on real files: damage in the first
// block (the system spaces) refuses the start even with force_recovery; damage in the last
// user block refuses it without force_recovery and, with it, loses only that block's rows
// with a warning (2.6: gh_7974). packages/snapshot/test/corruption.test.ts checks the reader
// block by block; this checks that recovery uses it that way.
import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { XlogError } from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { open, tempDir, tester } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const ROWS = 3000;

/** A snapshot of ROWS user rows and no xlog after it; returns the .snap's path. */
async function snapshotOnly(): Promise<string> {
  const { box } = await open(dir);
  const space = await tester(box);
  await box.atomic(async () => {
    for (let i = 0; i < ROWS; i++) await space.insert([i, `row ${i} ${'x'.repeat(60)}`]);
  });
  await box.snapshot();
  await box.close();
  const files = await readdir(dir);
  for (const f of files.filter((name) => name.endsWith('.xlog'))) await unlink(join(dir, f));
  const snaps = files.filter((f) => f.endsWith('.snap')).sort();
  return join(dir, snaps.at(-1)!);
}

/** The offset of the first row block: after the meta header's blank line. */
function firstBlock(bytes: Buffer): number {
  return bytes.indexOf('\n\n') + 2;
}

describe('RELIABILITY.md #9: a corrupt snapshot', () => {
  it('#9: damage in the system spaces refuses the start, even with force_recovery', async () => {
    const snap = await snapshotOnly();
    const bytes = await readFile(snap);
    bytes[firstBlock(bytes) + 40]! ^= 0x40;
    await writeFile(snap, bytes);
    await expect(open(dir)).rejects.toBeInstanceOf(XlogError);
    await expect(open(dir, { force_recovery: true })).rejects.toThrow(
      /checksum mismatch in .*\.snap/,
    );
  });

  it('#9: damage in the last user block: refused, and with force_recovery only that block is lost', async () => {
    const snap = await snapshotOnly();
    const bytes = await readFile(snap);
    bytes[bytes.length - 40]! ^= 0x40; // inside the last block (the EOF marker is 4 bytes)
    await writeFile(snap, bytes);
    await expect(open(dir)).rejects.toThrow(/checksum mismatch in .*\.snap/);
    const { box, logger } = await open(dir, { force_recovery: true });
    try {
      const kept = box.space.tester!.len();
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThan(ROWS);
      // What is lost is the tail of the space, the rows of the damaged last block.
      expect(box.space.tester!.select().map((t) => t[0])).toEqual(
        Array.from({ length: kept }, (_, i) => i),
      );
      expect(logger.messages('warn').some((m) => /checksum mismatch.*force_recovery/.test(m))).toBe(
        true,
      );
    } finally {
      await box.close();
    }
  });
});
