// box.info.gc_wal (a CALL of the box API, beyond Tarantool): the bytes of xlog in wal_dir and
// the bytes each GC consumer holds, whole files from the one with its first row not passed.
import { stat } from 'node:fs/promises';
import { Vclock } from '@tarantype/core';
import { XlogDir } from '@tarantype/wal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Box, resolveLuaFunction } from '../src/index.js';
import { open, tempDir, tester } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let box: Box | undefined;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  await box?.close();
  box = undefined;
  await cleanup();
});

interface GcWal {
  wal_bytes: number;
  consumers: Array<{ name: string; vclock: Record<number, number>; wal_bytes: number }>;
}

async function gcWal(of: Box): Promise<GcWal> {
  const call = resolveLuaFunction('box.info.gc_wal');
  expect(call).toBeDefined();
  const [result] = await call!(of, 1, []);
  return result as GcWal;
}

async function xlogSizes(of: Box): Promise<number[]> {
  const xlogs = await XlogDir.scan(of.fs, of.walDir, 'XLOG', of.hasher);
  return Promise.all(xlogs.files.map(async (f) => (await stat(f.path)).size));
}

describe('box.info.gc_wal', () => {
  it('counts the xlogs a consumer still needs, whole files, until it catches up', async () => {
    ({ box } = await open(dir, { checkpoint_count: 1 }));
    const space = await tester(box);
    await space.insert([0, 'before the consumer']);
    box.gcConsumers.register('replica behind', new Vclock(box.journal.vclock.entries()));
    // Three more files, each started by a checkpoint; the consumer keeps them all.
    for (let round = 1; round <= 3; round++) {
      await space.insert([round, 'x'.repeat(200)]);
      await box.snapshot();
    }
    await space.insert([4, 'in the newest file']);
    const sizes = await xlogSizes(box);
    expect(sizes.length).toBeGreaterThanOrEqual(4);
    const total = sizes.reduce((a, b) => a + b, 0);
    let gc = await gcWal(box);
    expect(gc.wal_bytes).toBe(total);
    expect(gc.consumers).toEqual([
      expect.objectContaining({ name: 'replica behind', wal_bytes: total }),
    ]);
    // Caught up: only the newest file (being written) is held for it.
    box.gcConsumers.advance('replica behind', box.journal.vclock);
    gc = await gcWal(box);
    expect(gc.consumers[0]!.wal_bytes).toBe(sizes.at(-1));
    expect(gc.consumers[0]!.vclock).toEqual(box.journal.vclock.toObject());
    // After GC removes what nobody needs, the totals follow the directory.
    await box.collectWalGarbageNow();
    const left = await xlogSizes(box);
    expect(left.length).toBeLessThan(sizes.length);
    gc = await gcWal(box);
    expect(gc.wal_bytes).toBe(left.reduce((a, b) => a + b, 0));
    box.gcConsumers.unregister('replica behind');
    expect((await gcWal(box)).consumers).toEqual([]);
  });
});
