// Failures while writing a snapshot, injected through the FileSystem port: ENOSPC and EIO on
// every write, torn writes, failed syncs (background and final), rename, directory sync, a
// crash mid-snapshot. Each must leave the previous snapshot intact and the newest, no
// `.inprogress` behind (except after a crash, where recovery ignores and removes it), and a
// SystemError naming the file.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadHasher, SystemError, Vclock, XlogError } from '@tarantype/core';
import { NodeFileSystem } from '@tarantype/wal';
import { type FaultOperation, FaultyFileSystem, RecordingLogger } from '@tarantype/wal/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SnapshotDir,
  SnapshotReader,
  type SnapshotWriterOptions,
  writeSnapshot,
} from '../src/index.js';
import { readViewSource } from '../src/testing.js';
import {
  buildSpaces,
  expectedRows,
  INSTANCE_UUID,
  readAll,
  rowTriples,
  seededRandom,
  snapshotOf,
  tempDir,
  testSeed,
} from './helpers.js';

const hasher = await loadHasher();
const real = new NodeFileSystem();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const PREVIOUS = '00000000000000000005.snap';
const NEXT = '00000000000000000009.snap';
/** Small blocks and syncs so one snapshot makes many writes and several background syncs. */
const SMALL: Partial<SnapshotWriterOptions> = { blockSizeBytes: 1024, syncIntervalBytes: 4096 };

const database = () =>
  buildSpaces([
    { id: 280, keys: Array.from({ length: 40 }, (_, i) => i) },
    { id: 512, keys: Array.from({ length: 300 }, (_, i) => i) },
  ]);

/** The previous snapshot, written without faults; returns its bytes and rows. */
async function previousSnapshot() {
  const spaces = database();
  await snapshotOf(dir, hasher, spaces, new Vclock([[1, 5]]), SMALL);
  return { bytes: await readFile(join(dir, PREVIOUS)), rows: expectedRows(spaces) };
}

/** Tries the next snapshot on `fs`; returns the error and whether the source was released once. */
async function attempt(fs: FaultyFileSystem, options: Partial<SnapshotWriterOptions> = {}) {
  const spaces = database();
  spaces[1]!.data.set(1000, new Uint8Array([0x91, 0x01]));
  const source = readViewSource(new Vclock([[1, 9]]), spaces);
  const logger = new RecordingLogger();
  try {
    const result = await writeSnapshot({
      fs,
      dir,
      hasher,
      instanceUuid: INSTANCE_UUID,
      source,
      logger,
      ...SMALL,
      ...options,
    });
    return { result, error: undefined, released: source.releaseCount, logger };
  } catch (error) {
    return { result: undefined, error: error as Error, released: source.releaseCount, logger };
  }
}

/** The invariant after any failed snapshot: the directory is as it was before. */
async function expectPreviousIntact(
  previous: { bytes: Buffer; rows: Array<[number, number, string]> },
  context: string,
) {
  expect(await readdir(dir), context).toEqual([PREVIOUS]);
  expect(await readFile(join(dir, PREVIOUS)), context).toEqual(previous.bytes);
  const scanned = await SnapshotDir.scan(real, dir, hasher);
  expect(scanned.latest()?.path, context).toBe(join(dir, PREVIOUS));
  const { rows, reader } = await readAll(join(dir, PREVIOUS), hasher);
  expect(rowTriples(rows), context).toEqual(previous.rows);
  expect(reader.stats.complete).toBe(true);
}

/** Counts of each operation in a snapshot that succeeds (then removes it again). */
async function dryRunCounts() {
  const fs = new FaultyFileSystem(real);
  const { result } = await attempt(fs);
  expect(result?.status).toBe('written');
  await real.unlink(join(dir, NEXT));
  return fs.counts;
}

describe('write failures leave the previous snapshot intact', () => {
  it('ENOSPC and EIO on every single write', async () => {
    const previous = await previousSnapshot();
    const counts = await dryRunCounts();
    expect(counts.write).toBeGreaterThan(10);
    for (const code of ['ENOSPC', 'EIO'] as const) {
      for (let skip = 0; skip < counts.write; skip++) {
        const fs = new FaultyFileSystem(real);
        fs.failNext('write', code, { skip, pathIncludes: '.inprogress' });
        const { error, released } = await attempt(fs);
        const context = `${code} on write #${skip}`;
        expect(error, context).toBeInstanceOf(SystemError);
        expect(error!.message, context).toBe(
          `write '${join(dir, NEXT)}.inprogress' failed: ${code}`,
        );
        expect((error as SystemError).errno).toBe(code === 'EIO' ? 5 : 28);
        expect(released, context).toBe(1);
        await expectPreviousIntact(previous, context);
      }
    }
  });

  it('a torn write at every write (seeded prefix lengths)', async () => {
    const previous = await previousSnapshot();
    const counts = await dryRunCounts();
    const seed = testSeed();
    const random = seededRandom(seed);
    for (let skip = 0; skip < counts.write; skip++) {
      const fs = new FaultyFileSystem(real);
      fs.tearNextWrite(Math.floor(random() * 1024), { skip, pathIncludes: '.inprogress' });
      const { error } = await attempt(fs);
      expect(error, `seed ${seed} torn write #${skip}`).toBeInstanceOf(SystemError);
      await expectPreviousIntact(previous, `seed ${seed} torn write #${skip}`);
    }
  });

  it.each<[FaultOperation, string]>([
    ['open', 'create'],
    ['datasync', 'fdatasync'],
    ['rename', 'rename'],
    ['syncDir', 'fsync directory'],
  ])('a failed %s at every occurrence', async (operation, name) => {
    const previous = await previousSnapshot();
    const counts = await dryRunCounts();
    // Opens include the scan's reads of the previous snapshot's header: fail only the create.
    const occurrences = operation === 'open' ? 1 : counts[operation];
    expect(occurrences).toBeGreaterThan(0);
    if (operation === 'datasync') expect(counts.datasync).toBeGreaterThan(2);
    for (let skip = 0; skip < occurrences; skip++) {
      const fs = new FaultyFileSystem(real);
      fs.failNext(
        operation,
        'EIO',
        operation === 'syncDir' ? { skip } : { skip, pathIncludes: '.inprogress' },
      );
      const { error, released } = await attempt(fs);
      const context = `${operation} #${skip}`;
      expect(error, context).toBeInstanceOf(SystemError);
      const path = operation === 'syncDir' ? dir : `${join(dir, NEXT)}.inprogress`;
      expect(error!.message, context).toBe(`${name} '${path}' failed: EIO`);
      expect(released, context).toBe(1);
      await expectPreviousIntact(previous, context);
    }
  });

  it('random write and sync failures (seeded): every run either succeeds whole or leaves things as they were', async () => {
    const previous = await previousSnapshot();
    const seed = testSeed();
    let failures = 0;
    for (let run = 0; run < 40; run++) {
      const fs = new FaultyFileSystem(real);
      fs.setRandomFaults({
        seed: seed + run,
        writeFailureRate: 0.02,
        syncFailureRate: 0.05,
        shortReads: true,
      });
      const { result, error } = await attempt(fs);
      if (error !== undefined) {
        failures++;
        expect(error, `seed ${seed + run}`).toBeInstanceOf(SystemError);
        await expectPreviousIntact(previous, `seed ${seed + run}`);
        continue;
      }
      expect(result?.status).toBe('written');
      const { rows } = await readAll(join(dir, NEXT), hasher, {}, fs);
      expect(rows.length).toBe(341);
      await real.unlink(join(dir, NEXT));
    }
    expect(failures).toBeGreaterThan(0);
  });
});

describe('a crash mid-snapshot', () => {
  it('leaves an .inprogress that recovery ignores and removes; the previous snapshot loads', async () => {
    const previous = await previousSnapshot();
    const fs = new FaultyFileSystem(real);
    let crashed = false;
    const { error, logger } = await attempt(fs, {
      progressIntervalMs: 0,
      onProgress: (progress) => {
        if (!crashed && progress.rows > 150) {
          crashed = true;
          fs.crash();
        }
      },
    });
    expect(crashed).toBe(true);
    expect(error).toBeInstanceOf(SystemError);
    // The dead process could not clean up.
    expect(logger.messages('error')[0]).toMatch(
      /can't remove .*\.inprogress' after a failed snapshot/,
    );
    expect((await readdir(dir)).sort()).toEqual([PREVIOUS, `${NEXT}.inprogress`]);

    // Restart: a fresh file system over the same directory.
    const scanned = await SnapshotDir.scan(real, dir, hasher);
    expect(scanned.files.map((file) => file.path)).toEqual([join(dir, PREVIOUS)]);
    expect(scanned.inprogress).toEqual([`${join(dir, NEXT)}.inprogress`]);
    expect(scanned.latest()?.meta?.vclock.toString()).toBe('{1: 5}');
    const recovery = new RecordingLogger();
    expect(await scanned.removeInprogress(recovery)).toBe(1);
    expect(recovery.messages('info')).toEqual([`removed ${join(dir, NEXT)}.inprogress`]);
    await expectPreviousIntact(previous, 'after the crash');
  });

  it('an .inprogress is never read as a snapshot, even a complete-looking one', async () => {
    await previousSnapshot();
    const fs = new FaultyFileSystem(real);
    // Fail the rename: the .inprogress was complete and synced, but it is not a snapshot.
    fs.failNext('rename', 'EIO');
    fs.failNext('unlink', 'EIO');
    const { error } = await attempt(fs);
    expect(error).toBeInstanceOf(SystemError);
    expect((await readdir(dir)).sort()).toEqual([PREVIOUS, `${NEXT}.inprogress`]);
    const scanned = await SnapshotDir.scan(real, dir, hasher);
    expect(scanned.latest()?.path).toBe(join(dir, PREVIOUS));
    // The next attempt at the same vclock removes the leftover and succeeds.
    const { result } = await attempt(new FaultyFileSystem(real));
    expect(result?.status).toBe('written');
    expect((await readdir(dir)).sort()).toEqual([PREVIOUS, NEXT]);
  });

  it('a reader refuses an .inprogress cut short by a crash', async () => {
    await previousSnapshot();
    const fs = new FaultyFileSystem(real);
    fs.tearNextWrite(100, { skip: 5, pathIncludes: '.inprogress' });
    fs.failNext('unlink', 'EIO');
    await attempt(fs);
    const reader = await SnapshotReader.open(real, `${join(dir, NEXT)}.inprogress`, hasher);
    await expect(async () => {
      for await (const _batch of reader) {
        // drain
      }
    }).rejects.toThrow(XlogError);
  });
});
