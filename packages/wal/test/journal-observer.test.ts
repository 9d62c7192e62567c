// Journal.observe: every written batch reaches the observer with its size and timings (a
// metrics exporter's histograms); failed batches do not; unsubscribing stops the samples.
import { loadHasher } from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type FileHandle,
  type FileSystem,
  NodeFileSystem,
  type OpenMode,
  type WalBatchSample,
} from '../src/index.js';
import { FaultyFileSystem } from '../src/testing.js';
import { insertRow, openJournal, tempDir } from './helpers.js';

const hasher = await loadHasher();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const WRITE_DELAY_MS = 30;
const SYNC_DELAY_MS = 60;

/** Node's file system with every xlog write and fdatasync slowed by a known delay. */
class SlowFileSystem implements FileSystem {
  private readonly inner = new NodeFileSystem();
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    const wait = (ms: number) => new Promise((done) => setTimeout(done, ms));
    return {
      write: async (data, position) => {
        await wait(WRITE_DELAY_MS);
        await handle.write(data, position);
      },
      read: (into, offset, length, position) => handle.read(into, offset, length, position),
      datasync: async () => {
        await wait(SYNC_DELAY_MS);
        await handle.datasync();
      },
      truncate: (length) => handle.truncate(length),
      size: () => handle.size(),
      close: () => handle.close(),
    };
  }
  readdir = (d: string) => this.inner.readdir(d);
  size = (p: string) => this.inner.size(p);
  rename = (a: string, b: string) => this.inner.rename(a, b);
  unlink = (p: string) => this.inner.unlink(p);
  mkdir = (d: string) => this.inner.mkdir(d);
  syncDir = (d: string) => this.inner.syncDir(d);
}

describe('Journal.observe', () => {
  it('reports each batch: transactions, rows, bytes, write and sync times', async () => {
    const journal = await openJournal(new SlowFileSystem(), dir, hasher, { mode: 'fsync' });
    const samples: WalBatchSample[] = [];
    journal.observe({ batchWritten: (sample) => samples.push(sample) });
    // One tick: one batch of 3 transactions (4 rows). Then a batch of one.
    await Promise.all([
      journal.submit([insertRow(1)]),
      journal.submit([insertRow(2), insertRow(3)]),
      journal.submit([insertRow(4)]),
    ]);
    await journal.submit([insertRow(5)]);
    expect(samples.map((s) => [s.transactions, s.rows])).toEqual([
      [3, 4],
      [1, 1],
    ]);
    expect(samples.reduce((sum, s) => sum + s.bytes, 0)).toBe(journal.stats.bytes);
    for (const sample of samples) {
      expect(sample.writeMs).toBeGreaterThanOrEqual(WRITE_DELAY_MS - 2);
      expect(sample.writeMs).toBeLessThan(SYNC_DELAY_MS - 5);
      expect(sample.syncMs).toBeGreaterThanOrEqual(SYNC_DELAY_MS - 2);
    }
    await journal.close();
  });

  it('has no sync time in wal_mode write, skips failed batches, and stops on unsubscribe', async () => {
    const fs = new FaultyFileSystem(new NodeFileSystem());
    const journal = await openJournal(fs, dir, hasher, { mode: 'write' });
    const samples: WalBatchSample[] = [];
    const unsubscribe = journal.observe({ batchWritten: (sample) => samples.push(sample) });
    await journal.submit([insertRow(1)]);
    expect(samples).toHaveLength(1);
    expect(samples[0]!.syncMs).toBeUndefined();
    expect(samples[0]!.writeMs).toBeGreaterThanOrEqual(0);
    fs.failNext('write', 'EIO', { pathIncludes: '.xlog' });
    await expect(journal.submit([insertRow(2)])).rejects.toThrow();
    expect(samples).toHaveLength(1);
    unsubscribe();
    await journal.submit([insertRow(3)]);
    expect(samples).toHaveLength(1);
    expect(journal.stats.writes).toBe(2);
    await journal.close();
  });
});
