// The journal on a full disk (RELIABILITY.md #5), on FaultyFileSystem.limitSpace: a write that
// does not fit leaves the prefix that fits and fails with ENOSPC, as a short write() then an
// ENOSPC write() does. The journal truncates back to the last whole transaction, asks its
// onNoSpace hook to free space once, retries, and otherwise rejects the batch with ER_WAL_IO
// and the queue behind it with ER_CASCADE_ROLLBACK, then writes again once there is room.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ER_CASCADE_ROLLBACK, ErrorCode, loadHasher } from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkWalDir, NodeFileSystem, XlogDir } from '../src/index.js';
import { FaultyFileSystem, RecordingLogger } from '../src/testing.js';
import { insertRow, openJournal, readAllKeys, tempDir } from './helpers.js';

const hasher = await loadHasher();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

async function xlogBytes(fs: NodeFileSystem): Promise<number> {
  const xlogs = await XlogDir.scan(fs, dir, 'XLOG', hasher);
  let total = 0;
  for (const file of xlogs.files) total += (await fs.size(file.path)) ?? 0;
  return total;
}

describe('FaultyFileSystem.limitSpace', () => {
  it('writes the prefix that fits, then ENOSPC; unlink and truncate give space back', async () => {
    const fs = new FaultyFileSystem(new NodeFileSystem());
    await writeFile(join(dir, 'filler'), new Uint8Array(100));
    await fs.limitSpace(150, [dir]);
    expect(fs.usedBytes).toBe(100);
    const handle = await fs.open(join(dir, 'data'), 'create');
    await expect(handle.write(new Uint8Array(80), 0)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await handle.size()).toBe(50);
    expect(fs.freeBytes).toBe(0);
    // Overwriting bytes already there needs no space.
    await handle.write(new Uint8Array(50).fill(7), 0);
    await handle.truncate(20);
    expect(fs.freeBytes).toBe(30);
    await fs.unlink(join(dir, 'filler'));
    expect(fs.freeBytes).toBe(130);
    await handle.write(new Uint8Array(100), 20);
    expect(await handle.size()).toBe(120);
    await handle.close();
    expect(fs.counts.noSpace).toBe(1);
  });
});

describe('Journal on a full disk', () => {
  it('truncates a write torn by ENOSPC, retries after onNoSpace freed space, else fails and cascades', async () => {
    const real = new NodeFileSystem();
    const fs = new FaultyFileSystem(real);
    const logger = new RecordingLogger();
    const filler = join(dir, 'filler');
    let freed = false;
    const journal = await openJournal(fs, dir, hasher, {
      logger,
      onNoSpace: async () => {
        if (freed) return false;
        freed = true;
        await fs.unlink(filler);
        return true;
      },
    });
    await journal.submit([insertRow(1)]);
    await writeFile(filler, new Uint8Array(4096));
    // Room for a few hundred bytes more: the next batch (16 rows of ~60 bytes) does not fit.
    await fs.limitSpace((await xlogBytes(real)) + 4096 + 300, [dir]);
    const batch = Array.from({ length: 16 }, (_, i) => journal.submit([insertRow(10 + i)]));
    await Promise.all(batch);
    expect(freed).toBe(true);
    expect(logger.messages().join('\n')).toContain('retrying after freeing space');
    // Now nothing can be freed: the batch fails with ER_WAL_IO, what was queued behind it
    // cascades, and the file holds only whole transactions.
    await fs.limitSpace(fs.usedBytes + 100);
    const first = Array.from({ length: 8 }, (_, i) => journal.submit([insertRow(100 + i)]));
    await Promise.resolve();
    const queued = Array.from({ length: 4 }, (_, i) => journal.submit([insertRow(200 + i)]));
    const codes = (await Promise.allSettled([...first, ...queued])).map((r) =>
      r.status === 'rejected' ? (r.reason as { code: number }).code : 0,
    );
    // Which of them share the failing batch depends on when the writer picked them up: each
    // is refused, the first with ER_WAL_IO, the rest with it or the cascade.
    expect(codes[0]).toBe(ErrorCode.ER_WAL_IO);
    expect(codes.every((c) => c === ErrorCode.ER_WAL_IO || c === ER_CASCADE_ROLLBACK)).toBe(true);
    expect(journal.stats.failedBatches).toBeGreaterThanOrEqual(1);
    // Space comes back: writing resumes right after the last whole transaction.
    await fs.limitSpace(undefined);
    await journal.submit([insertRow(300)]);
    await journal.close();
    expect((await readAllKeys(dir, hasher)).flat()).toEqual([
      1,
      ...Array.from({ length: 16 }, (_, i) => 10 + i),
      300,
    ]);
    // One refused write per phase: the retry after freeing fitted, the second phase has none.
    expect(fs.counts.noSpace).toBe(2);
  });

  it('asks onNoSpace when the next xlog cannot be created (a rotation on a full disk)', async () => {
    const real = new NodeFileSystem();
    const fs = new FaultyFileSystem(real);
    const filler = join(dir, 'filler');
    let asked = 0;
    const logger = new RecordingLogger();
    const journal = await openJournal(fs, dir, hasher, {
      logger,
      maxSizeBytes: 400,
      onNoSpace: async () => {
        asked++;
        if ((await real.size(filler)) === undefined) return false;
        await fs.unlink(filler);
        return true;
      },
    });
    await journal.submit([insertRow(1)]);
    await journal.submit([insertRow(2)]);
    await writeFile(filler, new Uint8Array(4096));
    // No room for a new file's header: the batch that rotates needs the hook.
    await fs.limitSpace(0, [dir]);
    await fs.limitSpace(fs.usedBytes + 40);
    for (let i = 3; journal.stats.rotations === 0; i++) {
      expect(i).toBeLessThan(20);
      await journal.submit([insertRow(i)]);
    }
    expect(asked).toBe(1);
    expect(logger.messages().join('\n')).toContain('ENOSPC creating the next xlog');
    // Full again and nothing to free: a batch fails, the journal writes on later.
    await fs.limitSpace(fs.usedBytes + 40);
    let refused = 0;
    for (let i = 100; refused === 0; i++) {
      expect(i).toBeLessThan(120);
      await journal.submit([insertRow(i)]).catch((error: { code: number }) => {
        expect(error.code).toBe(ErrorCode.ER_WAL_IO);
        refused++;
      });
    }
    expect(asked).toBe(2);
    await fs.limitSpace(undefined);
    await journal.submit([insertRow(200)]);
    await journal.close();
    expect((await readAllKeys(dir, hasher)).flat()).toContain(200);
  });

  it('cuts off an EOF marker torn by a full disk, so only the newest xlog may end torn', async () => {
    const fs = new FaultyFileSystem(new NodeFileSystem());
    const logger = new RecordingLogger();
    const journal = await openJournal(fs, dir, hasher, { logger });
    await journal.submit([insertRow(1)]);
    // Two bytes free: the 4-byte EOF marker of the closing file is written in part.
    await fs.limitSpace(0, [dir]);
    await fs.limitSpace(fs.usedBytes + 2);
    await journal.rotate();
    expect(logger.messages().join('\n')).toContain('cleanly');
    await fs.limitSpace(undefined);
    await journal.submit([insertRow(2)]);
    await journal.close();
    expect((await checkWalDir(dir, { hasher })).violations).toEqual([]);
    expect((await readAllKeys(dir, hasher)).flat()).toEqual([1, 2]);
  });
});
