// Regression tests for bugs found in review (each comment tells the bug as it was; all are
// fixed): a snapshot taken across an open transaction, local truncate durability, schema
// read-modify-write races, dropping a space under an in-flight write, triggers across alter.
// Review findings: each test FAILS on the current code and demonstrates a real bug.
import { Privilege } from '@tarantype/core';
import { NodeFileSystem } from '@tarantype/wal';
import { FaultyFileSystem } from '@tarantype/wal/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// The server's CALL surface (built dist; it only needs a Box instance at run time).
import type { Box } from '../src/index.js';
import { open, tempDir, tester } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const boxes: Box[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  for (const box of boxes.splice(0)) await box.close().catch(() => {});
  await cleanup();
});

async function start(options: Record<string, unknown> = {}, runtime = {}) {
  const result = await open(dir, options, runtime);
  boxes.push(result.box);
  return result;
}

async function restart(box: Box) {
  await box.close();
  boxes.splice(boxes.indexOf(box), 1);
  return start();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('checkpoints', () => {
  // Was a bug (box.ts write()/writeSlow + snapshot/quiesce): the checkpoint barrier is only checked for
  // writes made outside a transaction (`txns.current() === undefined`), and the
  // tryInTransaction fast path never checks it at all. snapshot() copies the vclock, then awaits
  // rotate()/openFile(), and only then takes the read views. A transaction open in another
  // context writes in between: its uncommitted change lands in the snapshot while the vclock
  // excludes it. If it then rolls back, the rolled-back row is resurrected by the snapshot on
  // restart (if it commits instead, its row is replayed on top of the snapshot a second time).
  // Expected: the read views and the vclock describe the same instant; a rolled-back write is
  // never in a snapshot.
  it('does not put an uncommitted (later rolled-back) write into the snapshot', async () => {
    let { box } = await start();
    const space = await tester(box);
    await space.insert([1, 'committed']);
    const snapshot = box.snapshot(); // barrier up, vclock copied, now awaiting the WAL rotation
    box.begin();
    await space.insert([2, 'rolled back']); // goes straight through the barrier
    await snapshot;
    box.rollback();
    expect(space.get([2])).toBeUndefined();
    ({ box } = await restart(box));
    expect(box.space.tester!.select()).toEqual([[1, 'committed']]);
  });

  // Same bug, commit variant: the committed row is both in the snapshot and in the xlog after
  // it (LSN > snapshot vclock), so recovery replays an INSERT of a key that already exists.
  // Expected: the instance restarts with the row once.
  it('restarts after a transaction committed across a checkpoint', async () => {
    let { box } = await start();
    const space = await tester(box);
    const snapshot = box.snapshot();
    box.begin();
    await space.insert([2, 'txn']);
    await snapshot;
    await box.commit();
    ({ box } = await restart(box));
    expect(box.space.tester!.select()).toEqual([[2, 'txn']]);
  });
});

describe('restart after a checkpoint', () => {
  // Was a bug (issue 9 §2): start, insert, box.snapshot(), stop; start, insert, stop; start.
  // The snapshot rotated to an empty xlog N; the second run replaced that empty leftover with a
  // new xlog N whose PrevVClock was the leftover's own VClock, so the third start failed with
  // "Missing .xlog file between LSN 0 {} and N {1: N}". Expected: every start succeeds.
  it('starts again after snapshot, stop, insert, stop', async () => {
    let { box } = await start();
    const space = await tester(box);
    await space.insert([1, 'before snapshot']);
    await box.snapshot();
    ({ box } = await restart(box));
    await box.space.tester!.insert([2, 'after snapshot']);
    ({ box } = await restart(box));
    await box.space.tester!.insert([3, 'third run']);
    ({ box } = await restart(box));
    expect(box.space.tester!.select()).toEqual([
      [1, 'before snapshot'],
      [2, 'after snapshot'],
      [3, 'third run'],
    ]);
  });

  it('starts again when the newest xlog is header-only at every restart', async () => {
    let { box } = await start();
    const space = await tester(box);
    await space.insert([1, 'a']);
    await box.snapshot();
    for (let round = 0; round < 3; round++) {
      ({ box } = await restart(box));
      await box.snapshot();
    }
    ({ box } = await restart(box));
    await box.space.tester!.insert([2, 'b']);
    ({ box } = await restart(box));
    expect(box.space.tester!.select()).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
  });
});

describe('truncate', () => {
  // Was a bug (schema-api.ts truncateSpace, the `entry.def.temporary || entry.def.group_id === 1`
  // branch): an is_local space is persisted (its rows are logged with group_id LOCAL), but its
  // truncate is done in memory only and never logged. The acknowledged truncate is lost on
  // restart: the rows come back. (It is also not transactional: a truncate inside box.atomic
  // that rolls back is not undone.) Expected: truncating an is_local space is logged
  // (a _truncate row, as for other spaces) and survives restart.
  it('keeps an is_local space truncated after restart', async () => {
    let { box } = await start();
    const local = await box.schema.space.create('loc', { is_local: true });
    await local.createIndex('primary');
    await local.insert([1]);
    await local.insert([2]);
    await local.truncate();
    expect(local.len()).toBe(0);
    ({ box } = await restart(box));
    expect(box.space.loc!.select()).toEqual([]);
  });

  it('undoes an is_local truncate when its transaction rolls back', async () => {
    const { box } = await start();
    const local = await box.schema.space.create('loc', { is_local: true });
    await local.createIndex('primary');
    await local.insert([1]);
    await expect(
      box.atomic(async () => {
        await local.truncate();
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(local.select()).toEqual([[1]]);
  });
});

describe('access', () => {
  // Was a bug (schema-api.ts grant()/revoke(): read-modify-write of the _priv row outside the write
  // lock). Both compute the new privilege bits from the catalog *before* box.write(), which may
  // wait for another context's transaction. Two concurrent calls then replace the row with
  // stale bits: here revoke('write') is applied, then grant('delete') writes
  // read|write|delete computed before the revoke, so the revoked privilege comes back although
  // both calls succeeded. Expected: the revoke sticks (read|delete), as with sequential calls.
  it('does not resurrect a revoked privilege when grant and revoke race', async () => {
    const { box } = await start();
    const space = await tester(box);
    await box.schema.user.create('u1');
    await box.schema.user.grant('u1', 'read,write', 'space', 'tester');
    const txn = box.atomic(async () => {
      await space.insert([1, 'holds the write lock']);
      await sleep(20);
    });
    await sleep(2);
    const revoke = box.schema.user.revoke('u1', 'write', 'space', 'tester');
    const grant = box.schema.user.grant('u1', 'delete', 'space', 'tester');
    await Promise.all([txn, revoke, grant]);
    const bits = box.catalog.access.privRow(32, 'space', space.id)!.privilege;
    expect(bits & Privilege.WRITE).toBe(0);
    await expect(box.spaceAs(32, 'tester').insert([2, 'x'])).rejects.toThrow(/Write access/);
  });
});

describe('schema changes', () => {
  // Was a bug (catalog.ts dropIndex/createIndex undo + memtx): dropping the primary key gives memtx a
  // new arena; the undo re-inserts the saved tuples into yet another state. When an autocommit
  // INSERT into the space is still in flight and the WAL write fails, the cascade undoes the
  // drop first (restoring the tuples, including the in-flight one), then the INSERT's
  // rollback hits memtx's "statement rolled back after a later truncate" assertion: the
  // rollback aborts half-way and the failed INSERT's tuple stays in memory although it was
  // never logged. Expected: both fail with WAL errors and the space holds only row 1.
  it('undoes an in-flight insert and a drop of the same space on a WAL failure', async () => {
    const fs = new FaultyFileSystem(new NodeFileSystem());
    const { box } = await start({}, { fs });
    const space = await tester(box);
    await space.insert([1, 'kept']);
    fs.tearNextWrite(10, { pathIncludes: '.xlog' });
    const insert = space.insert([2, 'lost']);
    const drop = space.drop();
    const results = await Promise.allSettled([insert, drop]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(box.space.tester!.select()).toEqual([[1, 'kept']]);
    for (const r of results)
      expect(String((r as PromiseRejectedResult).reason)).not.toMatch(/assert|out of order/i);
  });

  // Was a bug (catalog.ts changeSpace/rebuild): a rename or format change builds a brand-new memtx
  // Space, so every before_replace/on_replace trigger set on the space is silently dropped.
  // Tarantool keeps a space's triggers across alter. Expected: the trigger still fires.
  it('keeps on_replace triggers across a rename', async () => {
    const { box } = await start();
    const space = await tester(box);
    const seen: unknown[] = [];
    space.onReplace((_old, next) => void seen.push(next));
    await space.rename('renamed');
    await box.space.renamed!.insert([1, 'a']);
    expect(seen).toHaveLength(1);
  });

  // Was a bug (schema-api.ts createUser: the id is `max(users)+1` computed before inTxn(), i.e. before
  // waiting for the write lock). Two users created while a transaction holds the lock get the
  // same id; the second fails with a duplicate key in _user instead of getting the next id.
  // Same pattern in createFunc. Expected: both users are created.
  it('creates two users concurrently while a transaction holds the write lock', async () => {
    const { box } = await start();
    const space = await tester(box);
    const txn = box.atomic(async () => {
      await space.insert([1, 'holds the write lock']);
      await sleep(20);
    });
    await sleep(2);
    const results = await Promise.allSettled([
      box.schema.user.create('a'),
      box.schema.user.create('b'),
      txn,
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  });
});
