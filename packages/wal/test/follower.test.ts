import { unlink } from 'node:fs/promises';
import { loadHasher, Vclock, XlogGapError, type Xrow } from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type FileSystem,
  followWal,
  NodeFileSystem,
  SKIP_POINT_EVERY_BYTES,
  XlogCursor,
  XlogDir,
} from '../src/index.js';
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

function foreign(key: number, replicaId: number, lsn: number): Xrow {
  const row = insertRow(key);
  row.replica_id = replicaId;
  row.lsn = lsn;
  return row;
}

describe('XlogTransaction.allAtOrBelow', () => {
  it('reads each row header of a block against a vclock, per replica id, without decoding rows', async () => {
    const journal = await openJournal(fs, dir, hasher, { vclock: new Vclock([[2, 4]]) });
    await journal.submit([insertRow(1)]); // {1: 1}
    await journal.submit([foreign(2, 2, 5), foreign(3, 2, 6)]); // {2: 5..6}
    await journal.submit([insertRow(4), foreign(5, 2, 7)]); // {1: 2, 2: 7}
    await journal.close();
    const [file] = (await XlogDir.scan(fs, dir, 'XLOG', hasher)).files;
    const blocks: Array<(v: Vclock) => boolean> = [];
    const cursor = (await XlogCursor.open(fs, file!.path, 'XLOG', hasher))!;
    for (let tx = await cursor.next(); tx !== undefined; tx = await cursor.next())
      blocks.push((v) => tx.allAtOrBelow(v));
    await cursor.close();
    const at = (pairs: Array<[number, number]>) => blocks.map((below) => below(new Vclock(pairs)));
    expect(at([])).toEqual([false, false, false]);
    expect(at([[1, 1]])).toEqual([true, false, false]);
    expect(at([[2, 6]])).toEqual([false, true, false]);
    expect(at([[2, 5]])).toEqual([false, false, false]);
    expect(
      at([
        [1, 2],
        [2, 6],
      ]),
    ).toEqual([true, true, false]);
    expect(
      at([
        [1, 2],
        [2, 7],
      ]),
    ).toEqual([true, true, true]);
  });
});

describe('followWal', () => {
  it('skips the rows a reader already has in a long file and still lets the event loop run', async () => {
    const journal = await openJournal(fs, dir, hasher);
    for (let i = 0; i < 3000; i++) await journal.submit([insertRow(i)]);
    await journal.close();
    // The follower lets the event loop run with setImmediate every yieldEveryRows rows, skipped
    // rows included (a file the replica already has can be long).
    const pauses = vi.spyOn(globalThis, 'setImmediate');
    try {
      const stream = followWal({
        fs,
        dir,
        hasher,
        from: new Vclock([[1, 2990]]),
        yieldEveryRows: 100,
      });
      expect(await collect(stream, 1000)).toEqual(Array.from({ length: 10 }, (_, i) => i + 2990));
      expect(pauses.mock.calls.length).toBeGreaterThanOrEqual(29);
    } finally {
      pauses.mockRestore();
    }
  });

  it("starts in a long file at the journal's last skip point at or below its vclock", async () => {
    const journal = await openJournal(fs, dir, hasher);
    const big = 'y'.repeat(200);
    for (let i = 0; i < 16_000; i++) await journal.submit([insertRow(i, big)]); // ~3.5 MiB
    // Reads through this file system are counted: a follower that skips reads little.
    let bytesRead = 0;
    const counting: FileSystem = Object.create(fs);
    counting.open = async (path, mode) => {
      const handle = await fs.open(path, mode);
      const read = handle.read.bind(handle);
      handle.read = async (into, offset, length, position) => {
        const n = await read(into, offset, length, position);
        bytesRead += n;
        return n;
      };
      return handle;
    };
    const [file] = (await XlogDir.scan(fs, dir, 'XLOG', hasher)).files;
    const size = (await fs.size(file!.path))!;
    expect(size).toBeGreaterThan(3 * SKIP_POINT_EVERY_BYTES);
    const follow = async (lsn: number, count: number) => {
      const controller = new AbortController();
      const stream = followWal({
        fs: counting,
        dir,
        hasher,
        from: new Vclock([[1, lsn]]),
        journal,
        signal: controller.signal,
      });
      const keys = await collect(stream, count);
      controller.abort();
      return keys;
    };
    bytesRead = 0;
    expect(await follow(15_990, 10)).toEqual(Array.from({ length: 10 }, (_, i) => i + 15_990));
    expect(bytesRead).toBeLessThan(size - 2 * SKIP_POINT_EVERY_BYTES);
    // From before the first point: the whole file, every row after the vclock.
    bytesRead = 0;
    expect(await follow(5, 16_000 - 5)).toEqual(
      Array.from({ length: 16_000 - 5 }, (_, i) => i + 5),
    );
    expect(bytesRead).toBeGreaterThanOrEqual(size - 4096);
    // A vclock with another component ahead of every point's: no point is at or below it.
    expect(journal.skipPoint(file!.path, new Vclock([[2, 1]]))).toBeUndefined();
    expect(
      journal.skipPoint(
        file!.path,
        new Vclock([
          [1, 15_990],
          [2, 1],
        ]),
      ),
    ).toBeGreaterThan(2 * SKIP_POINT_EVERY_BYTES);
    await journal.close();
  });

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

  it('serves live rows from memory, falls back to the files when its feed overflows, and loses nothing', async () => {
    // Seeded: a slow consumer and bursts of concurrent writes; the feed holds ~20 rows, so the
    // follower keeps switching between memory and files. Every row must arrive once, in order.
    const seed = Number(process.env.SEED ?? 42);
    let state = seed;
    const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    const journal = await openJournal(fs, dir, hasher, { maxSizeBytes: 4000 });
    const controller = new AbortController();
    const total = 600;
    const keys: number[] = [];
    const reading = (async () => {
      for await (const rows of followWal({
        fs,
        dir,
        hasher,
        from: new Vclock(),
        journal,
        signal: controller.signal,
        liveFeedBytesMax: 20 * 80,
      })) {
        keys.push(...rows.map(rowKey));
        if (random() < 0.1) await new Promise((resolve) => setTimeout(resolve, 2));
        if (keys.length >= total) break;
      }
    })();
    let key = 0;
    while (key < total) {
      const burst = Math.min(total - key, 1 + Math.floor(random() * 40));
      await Promise.all(Array.from({ length: burst }, () => journal.submit([insertRow(key++)])));
      if (random() < 0.05) await journal.rotate();
      if (random() < 0.3) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await reading;
    expect(keys, `seed ${seed}`).toEqual(Array.from({ length: total }, (_, i) => i));
    controller.abort();
    await journal.close();
  });

  it('reads a live journal from memory: no file read per commit once caught up', async () => {
    const { FaultyFileSystem } = await import('../src/testing.js');
    const counting = new FaultyFileSystem(fs);
    const journal = await openJournal(counting, dir, hasher, {});
    await journal.submit([insertRow(0)]);
    const controller = new AbortController();
    const stream = followWal({
      fs: counting,
      dir,
      hasher,
      from: new Vclock(),
      journal,
      signal: controller.signal,
    });
    const first = await stream.next();
    expect((first.value as Xrow[]).map(rowKey)).toEqual([0]);
    // Let the follower find it is caught up (one more look at the file), then count reads.
    const pending = stream.next();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const readsBefore = counting.counts.read;
    await journal.submit([insertRow(1)]);
    expect(((await pending).value as Xrow[]).map(rowKey)).toEqual([1]);
    for (let i = 2; i < 50; i++) {
      const next = stream.next();
      await journal.submit([insertRow(i)]);
      expect(((await next).value as Xrow[]).map(rowKey)).toEqual([i]);
    }
    expect(counting.counts.read - readsBefore).toBe(0);
    controller.abort();
    await stream.return(undefined);
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
