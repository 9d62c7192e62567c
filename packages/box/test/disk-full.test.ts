// A full disk under a Box (RELIABILITY.md #5, issue 15), on FaultyFileSystem.limitSpace: the WAL
// frees, in order, xlogs nobody needs, snapshots older than the newest checkpoint, then the
// consumer of the replica holding the oldest rows (saying what it held), retries the write,
// and when nothing more can go refuses the transaction with ER_WAL_IO, says what holds the
// WAL, and keeps serving; a restart recovers exactly what was acknowledged.
import { ErrorCode, Vclock } from '@tarantype/core';
import { NodeFileSystem } from '@tarantype/wal';
import { FaultyFileSystem } from '@tarantype/wal/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Box } from '../src/index.js';
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

const REPLICA_UUID = '0b3a6f9e-3d52-4a5e-9c1d-6f0e2a7b8c41';

describe('a full disk', () => {
  it('frees older checkpoints, then a stale replica, retries, and finally refuses with ER_WAL_IO', async () => {
    const fs = new FaultyFileSystem(new NodeFileSystem());
    let logger: Awaited<ReturnType<typeof open>>['logger'];
    ({ box, logger } = await open(dir, { checkpoint_count: 2 }, { fs }));
    const space = await tester(box);
    const committed = new Map<number, string>();
    const insert = async (id: number, bytes: number) => {
      const name = String(id % 10).repeat(bytes);
      await space.insert([id, name]);
      committed.set(id, name);
    };
    await insert(1, 100);
    // A replica that stopped here: its consumer keeps every later xlog.
    box.replicaGc.advance(REPLICA_UUID, new Vclock(box.journal.vclock.entries()));
    for (let round = 2; round <= 4; round++) {
      await insert(round, 4096);
      await box.snapshot();
    }
    expect(box.checkpoints).toHaveLength(2);

    // 1. Full: the older of the two checkpoints goes, the write is retried and succeeds.
    await fs.limitSpace(0, [dir]);
    await fs.limitSpace(fs.usedBytes + 200);
    await insert(5, 2048);
    expect(box.checkpoints).toHaveLength(1);
    let text = logger.messages().join('\n');
    expect(text).toContain('ran out of disk space, try to delete old WAL files');
    expect(text).toContain('keeping only the newest checkpoint');
    expect(text).toContain('retrying after freeing space');
    expect(text).not.toContain('dropping the WAL GC consumer');

    // 2. Full again: the replica's consumer is dropped, saying what it held, and its xlogs go.
    await fs.limitSpace(fs.usedBytes + 200);
    await insert(6, 2048);
    text = logger.messages().join('\n');
    expect(text).toMatch(
      new RegExp(
        `dropping the WAL GC consumer of replica ${REPLICA_UUID} at \\{[^}]+\\}, which held [2-9] xlog\\(s\\), \\d{4,} bytes`,
      ),
    );
    expect(text).toMatch(
      new RegExp(`deactivated WAL consumer replica ${REPLICA_UUID} at \\{1: \\d+\\}`),
    );
    expect(box.infoGc().consumers).toEqual([]);

    // 3. Full, nothing left to free: ER_WAL_IO, the queue behind it rolls back, a log line
    // says what holds the WAL, reads go on, and a transaction that fits is written.
    await fs.limitSpace(fs.usedBytes + 200);
    const refused = space.insert([7, 'x'.repeat(2048)]);
    const behind = space.insert([8, 'queued behind']);
    const results = await Promise.allSettled([refused, behind]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({
      code: ErrorCode.ER_WAL_IO,
      message: 'Failed to write to disk',
    });
    text = logger.messages().join('\n');
    expect(text).toMatch(
      /disk is full and no WAL can be freed: \S+ holds \d+ xlog\(s\), \d+ bytes: recovery from the newest checkpoint at \{[^}]+\} needs \d+ xlog\(s\), \d+ bytes/,
    );
    const expected = () => [...committed].sort((a, b) => a[0] - b[0]).map(([k, v]) => [k, v]);
    expect(space.select()).toEqual(expected());
    expect(box.info().status).toBe('running');
    await insert(9, 10);

    // 4. Space comes back; a restart recovers exactly what was acknowledged.
    await fs.limitSpace(undefined);
    await insert(10, 10);
    await box.close();
    ({ box } = await open(dir, { checkpoint_count: 2 }));
    expect(box.space.tester!.select()).toEqual(expected());
  });
});
