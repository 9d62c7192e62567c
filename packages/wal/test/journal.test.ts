import { readFile } from 'node:fs/promises';
import {
  ClientError,
  ER_CASCADE_ROLLBACK,
  ErrorCode,
  GroupId,
  loadHasher,
  Vclock,
} from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeFileSystem, XlogCursor, XlogDir } from '../src/index.js';
import { FaultyFileSystem, RecordingLogger } from '../src/testing.js';
import { insertRow, openJournal, readAllKeys, tempDir } from './helpers.js';

const hasher = await loadHasher();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

describe('Journal', () => {
  it('writes transactions that read back whole, in order, with LSNs and a clean EOF', async () => {
    const journal = await openJournal(new NodeFileSystem(), dir, hasher);
    const single = journal.submit([insertRow(1)]);
    const multi = [insertRow(2), insertRow(3), insertRow(4)];
    await Promise.all([single, journal.submit(multi)]);
    expect(multi.map((r) => [r.lsn, r.tsn, r.is_commit, r.replica_id])).toEqual([
      [2, 2, false, 1],
      [3, 2, false, 1],
      [4, 2, true, 1],
    ]);
    expect(journal.vclock.toString()).toBe('{1: 4}');
    await journal.close();
    expect(await readAllKeys(dir, hasher)).toEqual([[1], [2, 3, 4]]);
    const scanned = await XlogDir.scan(new NodeFileSystem(), dir, 'XLOG', hasher);
    const cursor = (await XlogCursor.open(
      new NodeFileSystem(),
      scanned.files[0]!.path,
      'XLOG',
      hasher,
    ))!;
    const rows = [];
    for (let tx = await cursor.next(); tx !== undefined; tx = await cursor.next())
      rows.push(...tx.rows);
    expect(cursor.end).toBe('eof-marker');
    await cursor.close();
    expect(rows.map((r) => [r.lsn, r.tsn, r.is_commit, r.timestamp])).toEqual([
      [1, 1, true, 1_700_000_000.5],
      [2, 2, false, 1_700_000_000.5],
      [3, 2, false, 1_700_000_000.5],
      [4, 2, true, 1_700_000_000.5],
    ]);
    expect(scanned.files[0]!.path.endsWith('00000000000000000000.xlog')).toBe(true);
    const text = (await readFile(scanned.files[0]!.path)).subarray(0, 40).toString('latin1');
    expect(text.startsWith('XLOG\ntarantype-1\n')).toBe(true);
  });

  it('groups everything submitted during a write into one batch (group commit)', async () => {
    const fs = new FaultyFileSystem(new NodeFileSystem());
    const journal = await openJournal(fs, dir, hasher, { mode: 'fsync' });
    const promises = [];
    for (let i = 0; i < 1000; i++) promises.push(journal.submit([insertRow(i)]));
    await Promise.all(promises);
    expect(journal.stats.transactions).toBe(1000);
    // All 1000 were submitted in one tick: one write and one sync for the data.
    expect(journal.stats.writes).toBe(1);
    expect(journal.stats.syncs).toBe(1);
    await journal.close();
    expect((await readAllKeys(dir, hasher)).length).toBe(1000);
  });

  it('lets timers and I/O run while writers await each commit (small writes complete at once)', async () => {
    // Writes of this size go through write(2) on this thread and settle at once: the writers
    // they wake submit again in the same run of microtasks. The journal must still give the
    // event loop a turn between batches, or this timer would not fire until they stopped.
    const journal = await openJournal(new NodeFileSystem(), dir, hasher);
    let timerFired = false;
    let commitsWhenFired = -1;
    let commits = 0;
    const writer = async (first: number) => {
      for (let i = first; i < 20_000 && !timerFired; i += 10) {
        await journal.submit([insertRow(i)]);
        // Armed once the writers are going.
        if (++commits === 100)
          setTimeout(() => {
            timerFired = true;
            commitsWhenFired = commits;
          }, 1);
      }
    };
    await Promise.all(Array.from({ length: 10 }, (_, f) => writer(f)));
    expect(timerFired).toBe(true);
    // The timer fired while the writers were still writing, not after they ran out of keys.
    expect(commitsWhenFired).toBeGreaterThanOrEqual(100);
    expect(commitsWhenFired).toBeLessThan(20_000);
    // Each writer finishes at most the one commit it was awaiting.
    expect(commits).toBeLessThanOrEqual(commitsWhenFired + 10);
    await journal.close();
  });

  it('keeps batching while a write is in flight', async () => {
    const journal = await openJournal(new NodeFileSystem(), dir, hasher, { mode: 'fsync' });
    const first = journal.submit([insertRow(0)]);
    // The journal issues a batch in the event loop's check phase (setImmediate) after the
    // submit; one turn later the first batch is in flight (its fdatasync on the thread pool),
    // and these 200 queue behind it and go out together.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const rest = [];
    for (let i = 1; i <= 200; i++) rest.push(journal.submit([insertRow(i)]));
    await Promise.all([first, ...rest]);
    expect(journal.stats.writes).toBe(2);
    await journal.close();
  });

  it('really calls fdatasync in fsync mode and never in write mode', async () => {
    for (const mode of ['write', 'fsync'] as const) {
      const fs = new FaultyFileSystem(new NodeFileSystem());
      const sub = `${dir}/${mode}`;
      await fs.mkdir(sub);
      const journal = await openJournal(fs, sub, hasher, { mode });
      for (let i = 0; i < 5; i++) await journal.submit([insertRow(i)]);
      const syncsBeforeClose = fs.counts.datasync;
      await journal.close();
      // The file header is synced once when the file is created, in both modes.
      expect(syncsBeforeClose).toBe(mode === 'fsync' ? 6 : 1);
      expect(journal.stats.syncs).toBe(mode === 'fsync' ? 5 : 0);
    }
  });

  it("assigns local rows to component 0 and keeps foreign rows' LSNs", async () => {
    const journal = await openJournal(new NodeFileSystem(), dir, hasher, {
      vclock: new Vclock([
        [1, 10],
        [2, 5],
      ]),
    });
    const local = insertRow(1);
    local.group_id = GroupId.LOCAL;
    const foreign = insertRow(2);
    foreign.replica_id = 2;
    foreign.lsn = 9;
    const own = insertRow(3);
    await Promise.all([journal.submit([local]), journal.submit([foreign]), journal.submit([own])]);
    expect([
      local.replica_id,
      local.lsn,
      foreign.replica_id,
      foreign.lsn,
      own.replica_id,
      own.lsn,
    ]).toEqual([0, 1, 2, 9, 1, 11]);
    expect(journal.vclock.toString()).toBe('{0: 1, 1: 11, 2: 9}');
    await journal.close();
  });

  it('mode none assigns LSNs and writes no file', async () => {
    const journal = await openJournal(new NodeFileSystem(), dir, hasher, { mode: 'none' });
    const row = insertRow(1);
    await journal.submit([row]);
    await journal.close();
    expect(row.lsn).toBe(1);
    expect((await XlogDir.scan(new NodeFileSystem(), dir, 'XLOG', hasher)).files).toEqual([]);
  });

  it('rotates at wal_max_size with PrevVClock continuity and on demand', async () => {
    const journal = await openJournal(new NodeFileSystem(), dir, hasher, { maxSizeBytes: 1000 });
    for (let i = 0; i < 40; i++) await journal.submit([insertRow(i)]);
    await journal.rotate();
    await journal.submit([insertRow(40)]);
    await journal.close();
    const scanned = await XlogDir.scan(new NodeFileSystem(), dir, 'XLOG', hasher);
    expect(scanned.files.length).toBeGreaterThan(3);
    scanned.checkContinuity();
    for (let i = 1; i < scanned.files.length; i++) {
      expect(scanned.files[i]!.meta!.prevVclock!.toString()).toBe(
        scanned.files[i - 1]!.meta!.vclock.toString(),
      );
      expect(scanned.files[i]!.signature).toBe(scanned.files[i]!.meta!.vclock.signature());
    }
    expect((await readAllKeys(dir, hasher)).flat()).toEqual(
      Array.from({ length: 41 }, (_, i) => i),
    );
  });

  it('rolls back the failed batch and everything queued behind it, newest first, and stays usable', async () => {
    const fs = new FaultyFileSystem(new NodeFileSystem());
    // Holds the batch's write until released, so 3, 4 and 5 are queued while it is in flight.
    let gate: Promise<void> | undefined;
    let release = () => {};
    const gated = new Proxy(fs, {
      get(target, key) {
        if (key === 'open')
          return async (...args: Parameters<typeof fs.open>) => {
            const handle = await target.open(...args);
            return new Proxy(handle, {
              get(h, k) {
                if (k === 'write')
                  return async (data: Uint8Array, position: number) => {
                    if (gate !== undefined) await gate;
                    return h.write(data, position);
                  };
                const value = Reflect.get(h, k);
                return typeof value === 'function' ? value.bind(h) : value;
              },
            });
          };
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const logger = new RecordingLogger();
    const journal = await openJournal(gated, dir, hasher, { logger });
    await journal.submit([insertRow(1)]);
    fs.tearNextWrite(30); // a torn write: 30 bytes reach the file, then EIO
    gate = new Promise<void>((resolve) => (release = resolve));
    const order: number[] = [];
    const failed = journal.submit([insertRow(2)]).catch((e: ClientError) => {
      order.push(2);
      return e;
    });
    // The batch of 2 is issued in a check phase (setImmediate) and waits at the gate.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const queued = [3, 4, 5].map((k) =>
      journal.submit([insertRow(k)]).catch((e: ClientError) => {
        order.push(k);
        return e;
      }),
    );
    gate = undefined;
    release();
    const errors = await Promise.all([failed, ...queued]);
    expect(errors[0]).toBeInstanceOf(ClientError);
    expect((errors[0] as ClientError).code).toBe(ErrorCode.ER_WAL_IO);
    expect((errors[0] as ClientError).message).toBe('Failed to write to disk');
    for (const e of errors.slice(1)) expect((e as ClientError).code).toBe(ER_CASCADE_ROLLBACK);
    expect(order).toEqual([5, 4, 3, 2]);
    expect(journal.vclock.toString()).toBe('{1: 1}');
    // Still usable; the next transaction gets LSN 2 and the file has no trace of the failure.
    const next = insertRow(6);
    await journal.submit([next]);
    expect(next.lsn).toBe(2);
    await journal.close();
    expect(await readAllKeys(dir, hasher)).toEqual([[1], [6]]);
    expect(logger.messages('error').some((m) => m.includes('failed to write a batch'))).toBe(true);
  });

  it('rolls back on a failed fdatasync in fsync mode', async () => {
    const fs = new FaultyFileSystem(new NodeFileSystem());
    const journal = await openJournal(fs, dir, hasher, { mode: 'fsync' });
    await journal.submit([insertRow(1)]);
    fs.failNext('datasync', 'EIO');
    await expect(journal.submit([insertRow(2)])).rejects.toMatchObject({
      code: ErrorCode.ER_WAL_IO,
    });
    await journal.submit([insertRow(3)]);
    await journal.close();
    expect(await readAllKeys(dir, hasher)).toEqual([[1], [3]]);
  });

  it('refuses writes when truncation after a failure fails (no garbage left behind silently)', async () => {
    const fs = new FaultyFileSystem(new NodeFileSystem());
    const journal = await openJournal(fs, dir, hasher);
    await journal.submit([insertRow(1)]);
    fs.tearNextWrite(10);
    fs.failNext('truncate', 'EIO');
    await expect(journal.submit([insertRow(2)])).rejects.toMatchObject({
      code: ErrorCode.ER_WAL_IO,
    });
    await expect(journal.submit([insertRow(3)])).rejects.toMatchObject({
      code: ErrorCode.ER_WAL_IO,
    });
    await journal.close();
  });

  it('retries once after ENOSPC when the GC hook frees space', async () => {
    const fs = new FaultyFileSystem(new NodeFileSystem());
    let called = 0;
    const journal = await openJournal(fs, dir, hasher, {
      onNoSpace: async () => {
        called++;
        return true;
      },
    });
    await journal.submit([insertRow(1)]);
    fs.failNext('write', 'ENOSPC');
    await journal.submit([insertRow(2)]);
    expect(called).toBe(1);
    fs.failNext('write', 'ENOSPC', { count: 2 });
    await expect(journal.submit([insertRow(3)])).rejects.toMatchObject({
      code: ErrorCode.ER_WAL_IO,
    });
    await journal.close();
    expect(await readAllKeys(dir, hasher)).toEqual([[1], [2]]);
  });

  it('applies backpressure: past wal_queue_max_size submissions wait, in order', async () => {
    const journal = await openJournal(new NodeFileSystem(), dir, hasher, {
      queueMaxSizeBytes: 500,
    });
    const promises = [];
    for (let i = 0; i < 100; i++) promises.push(journal.submit([insertRow(i)]));
    await Promise.all(promises);
    expect(journal.stats.writes).toBeGreaterThan(5);
    await journal.close();
    expect((await readAllKeys(dir, hasher)).flat()).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  it('warns about a too long WAL write', async () => {
    const logger = new RecordingLogger();
    const journal = await openJournal(new NodeFileSystem(), dir, hasher, {
      logger,
      tooLongThresholdMs: -1,
    });
    await journal.submit([insertRow(1)]);
    await journal.close();
    expect(
      logger
        .messages('warn')
        .some((m) => /^too long WAL write: 1 rows at LSN 1: \d+\.\d{3} sec$/.test(m)),
    ).toBe(true);
  });

  it('removes an empty leftover file with its name and refuses to overwrite one with rows', async () => {
    const fs = new NodeFileSystem();
    const first = await openJournal(fs, dir, hasher);
    await first.submit([insertRow(1)]);
    await first.close();
    // A new journal at the same (stale) vclock would reuse name 0: it holds rows: refuse.
    const stale = await openJournal(fs, dir, hasher);
    await expect(stale.submit([insertRow(2)])).rejects.toMatchObject({ code: ErrorCode.ER_WAL_IO });
    const keys = await readAllKeys(dir, hasher);
    expect(keys).toEqual([[1]]);
  });
});
