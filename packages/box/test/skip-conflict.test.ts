// The write path's side of replication conflicts (reference §4, §4d–§4i): a duplicate key
// from another instance rejects with the row and a description of the conflict; with
// replication_skip_conflict it is written as a NOP with the origin's replica_id and lsn (only
// for ER_TUPLE_FOUND), the rest of its transaction applied, and the skip survives a restart.
import { readdir } from 'node:fs/promises';
import {
  type ClientError,
  ErrorCode,
  encode,
  encodeTupleBody,
  IprotoType,
  loadHasher,
  makeXrow,
  type Xrow,
} from '@tarantype/core';
import { NodeFileSystem, XlogCursor } from '@tarantype/wal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Box } from '../src/index.js';
import type { ApplyError, ReplicationConflict } from '../src/write-path.js';
import { open, tempDir, tester } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const boxes: Box[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  for (const box of boxes.splice(0)) await box.close().catch(() => {});
  await cleanup();
});

async function start(options: Record<string, unknown> = {}): Promise<Box> {
  const { box } = await open(dir, options);
  boxes.push(box);
  return box;
}

function foreign(lsn: number, spaceId: number, tuple: unknown[], tsn = lsn, commit = true): Xrow {
  const row = makeXrow(IprotoType.INSERT, encodeTupleBody(spaceId, encode(tuple)));
  row.replica_id = 2;
  row.lsn = lsn;
  row.tsn = tsn;
  row.is_commit = commit;
  row.timestamp = 1700000000.5;
  return row;
}

async function walRows(box: Box): Promise<Xrow[]> {
  const hasher = await loadHasher();
  const fs = new NodeFileSystem();
  const rows: Xrow[] = [];
  for (const name of (await readdir(box.walDir)).filter((n) => n.endsWith('.xlog')).sort()) {
    const cursor = await XlogCursor.open(fs, `${box.walDir}/${name}`, 'XLOG', hasher);
    if (cursor === undefined) continue;
    for (let tx = await cursor.next(); tx !== undefined; tx = await cursor.next())
      rows.push(...tx.rows);
    await cursor.close();
  }
  return rows;
}

describe('replicated duplicate keys', () => {
  it('reject with the failed row and the conflict; nothing is applied, the vclock stays', async () => {
    const box = await start();
    const space = await tester(box);
    await space.insert([1, 'local']);
    const row = foreign(1, space.id, [1, 'remote']);
    const error = (await box.replicationPorts
      .applyTransaction([row])
      .catch((e) => e)) as ClientError & ApplyError;
    expect(error.code).toBe(ErrorCode.ER_TUPLE_FOUND);
    expect(error.failedRow).toBe(row);
    expect(error.conflict).toMatchObject({
      replica_id: 2,
      lsn: 1,
      type: 'INSERT',
      space: 'tester',
      index: 'primary',
      key: [1],
      local: [1, 'local'],
      remote: [1, 'remote'],
      skipped: false,
    } satisfies Partial<ReplicationConflict>);
    expect(box.replicationPorts.vclock().get(2)).toBe(0);
  });

  it('with replication_skip_conflict: a NOP with the origin id and lsn, the rest of the transaction applied, kept across a restart', async () => {
    let box = await start({ replication_skip_conflict: true });
    const space = await tester(box);
    await space.insert([1, 'local']);
    const skipped: Array<[Xrow, ReplicationConflict]> = [];
    const rows = [
      foreign(1, space.id, [1, 'remote'], 1, false),
      foreign(2, space.id, [2, 'two'], 1),
    ];
    expect(
      await box.writes.applyTransaction(rows, { skipped: (r, c) => skipped.push([r, c]) }),
    ).toBe('applied');
    expect(skipped.map(([r, c]) => [r.lsn, c.skipped, c.local])).toEqual([[1, true, [1, 'local']]]);
    expect(box.space.tester!.select()).toEqual([
      [1, 'local'],
      [2, 'two'],
    ]);
    expect(box.replicationPorts.vclock().get(2)).toBe(2);
    const logged = (await walRows(box)).filter((r) => r.replica_id === 2);
    // A NOP carries no request: the xrow codec writes its body as an empty map.
    expect(logged.map((r) => [r.type, r.lsn, Buffer.from(r.body).toString('hex')])).toEqual([
      [IprotoType.NOP, 1, '80'],
      [IprotoType.INSERT, 2, Buffer.from(rows[1]!.body).toString('hex')],
    ]);
    await box.close();
    boxes.splice(boxes.indexOf(box), 1);
    box = await start({ replication_skip_conflict: true });
    expect(box.info().vclock).toMatchObject({ 2: 2 });
    expect(box.space.tester!.select()).toEqual([
      [1, 'local'],
      [2, 'two'],
    ]);
    expect(await box.replicationPorts.applyTransaction([foreign(1, space.id, [1, 'remote'])])).toBe(
      'skipped',
    );
  });

  it('skip_conflict skips only duplicate keys: a row for a missing space still fails', async () => {
    const box = await start({ replication_skip_conflict: true });
    await tester(box);
    const error = (await box.replicationPorts
      .applyTransaction([foreign(1, 999, [1])])
      .catch((e) => e)) as ClientError & ApplyError;
    expect(error.code).toBe(ErrorCode.ER_NO_SUCH_SPACE);
    expect(error.message).toBe("Space '999' does not exist");
    // 2.6 logs no "error applying row" for it: the row is not named.
    expect(error.failedRow).toBeUndefined();
    expect(box.replicationPorts.vclock().get(2)).toBe(0);
  });
});
