// The snapshot directory: listing, the newest snapshot, leftovers, damaged headers, and GC
// keeping checkpoint_count snapshots (FORMAT.md §8).

import { readdir, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AssertionError, loadHasher, Vclock, XlogError } from '@tarantype/core';
import { NodeFileSystem, RecordingLogger } from '@tarantype/wal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotDir } from '../src/index.js';
import { smallDatabase, snapshotOf, tempDir } from './helpers.js';

const hasher = await loadHasher();
const fs = new NodeFileSystem();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

/** Snapshots at vclocks {1: 10}, {1: 20} … (and an xlog-named file that must be ignored). */
async function snapshots(count: number): Promise<string[]> {
  const spaces = smallDatabase(2);
  const paths: string[] = [];
  for (let i = 1; i <= count; i++)
    paths.push((await snapshotOf(dir, hasher, spaces, new Vclock([[1, i * 10]]))).path);
  await writeFile(join(dir, '00000000000000000015.xlog'), 'not a snapshot');
  await writeFile(join(dir, 'notes.txt'), 'neither');
  return paths;
}

describe('SnapshotDir', () => {
  it('lists snapshots oldest first, the latest, and leftovers apart', async () => {
    const paths = await snapshots(3);
    await writeFile(join(dir, '00000000000000000040.snap.inprogress'), 'crashed');
    const scanned = await SnapshotDir.scan(fs, dir, hasher);
    expect(scanned.files.map((f) => f.path)).toEqual(paths);
    expect(scanned.files.map((f) => f.signature)).toEqual([10, 20, 30]);
    expect(scanned.files.map((f) => f.meta?.vclock.toString())).toEqual([
      '{1: 10}',
      '{1: 20}',
      '{1: 30}',
    ]);
    expect(scanned.latest()?.path).toBe(paths[2]);
    expect(scanned.inprogress).toEqual([join(dir, '00000000000000000040.snap.inprogress')]);
  });

  it('is empty for an empty directory', async () => {
    const scanned = await SnapshotDir.scan(fs, dir, hasher);
    expect(scanned.latest()).toBeUndefined();
    expect(await scanned.collectGarbage(2)).toEqual({
      removed: [],
      kept: [],
      oldestKeptVclock: undefined,
    });
  });

  it('records damaged headers instead of skipping the file or failing the scan', async () => {
    const paths = await snapshots(2);
    await truncate(paths[1]!, 30);
    await writeFile(join(dir, '00000000000000000099.snap'), 'SNAP\ntarantype-1\nVClock: {}\n\n');
    const scanned = await SnapshotDir.scan(fs, dir, hasher);
    expect(scanned.files.map((f) => f.signature)).toEqual([10, 20, 99]);
    const [, truncated, garbage] = scanned.files;
    expect(truncated!.meta).toBeUndefined();
    expect(truncated!.error).toBeInstanceOf(XlogError);
    expect(truncated!.error!.message).toMatch(/incomplete meta header/);
    expect(garbage!.error?.message).toMatch(/invalid meta header/);
    // The newest is the newest, damaged or not: box decides, nothing falls back silently.
    expect(scanned.latest()?.signature).toBe(99);
  });

  it('records a name that does not match the VClock', async () => {
    const [path] = await snapshots(1);
    await rename(path!, join(dir, '00000000000000000011.snap'));
    const scanned = await SnapshotDir.scan(fs, dir, hasher);
    expect(scanned.files[0]!.error?.message).toBe(
      `${join(dir, '00000000000000000011.snap')}: Invalid xlog name: expected 10 got 11`,
    );
  });

  it('GC keeps the newest checkpoint_count snapshots and returns the oldest kept vclock', async () => {
    const paths = await snapshots(4);
    const logger = new RecordingLogger();
    const scanned = await SnapshotDir.scan(fs, dir, hasher);
    const result = await scanned.collectGarbage(2, logger);
    expect(result.removed).toEqual(paths.slice(0, 2));
    expect(result.kept).toEqual(paths.slice(2));
    expect(result.oldestKeptVclock?.toString()).toBe('{1: 30}');
    expect(logger.messages('info')).toEqual(paths.slice(0, 2).map((p) => `removed ${p}`));
    expect(scanned.files.map((f) => f.path)).toEqual(paths.slice(2));
    expect((await readdir(dir)).filter((n) => n.endsWith('.snap'))).toEqual([
      '00000000000000000030.snap',
      '00000000000000000040.snap',
    ]);
    // Nothing more to remove; checkpoint_count 1 keeps only the newest.
    expect((await scanned.collectGarbage(2)).removed).toEqual([]);
    expect(await scanned.collectGarbage(1)).toMatchObject({
      removed: [paths[2]],
      kept: [paths[3]],
    });
    await expect(scanned.collectGarbage(0)).rejects.toThrow(AssertionError);
  });

  it('GC gives no vclock when the oldest kept snapshot is damaged (the WAL must not be trimmed)', async () => {
    const paths = await snapshots(3);
    await truncate(paths[1]!, 10);
    const result = await (await SnapshotDir.scan(fs, dir, hasher)).collectGarbage(2);
    expect(result.removed).toEqual([paths[0]]);
    expect(result.oldestKeptVclock).toBeUndefined();
  });

  it('removes leftover .inprogress files, and only those', async () => {
    await snapshots(1);
    await writeFile(join(dir, '00000000000000000050.snap.inprogress'), 'crashed');
    await writeFile(join(dir, '00000000000000000050.xlog.inprogress'), 'not ours');
    const scanned = await SnapshotDir.scan(fs, dir, hasher);
    expect(await scanned.removeInprogress()).toBe(1);
    expect(scanned.inprogress).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual([
      '00000000000000000010.snap',
      '00000000000000000015.xlog',
      '00000000000000000050.xlog.inprogress',
      'notes.txt',
    ]);
  });
});
