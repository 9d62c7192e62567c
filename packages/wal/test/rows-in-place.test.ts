// XlogTransaction.rowsInPlace(): the rows of a block decoded into the cursor's reused objects,
// bodies as ranges of the block (local recovery's path). They must be the rows `rows` gives,
// with the same checks (rule 12) and the same errors.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadHasher, MsgpackWriter, Vclock, XlogError, type Xrow } from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BlockEncoder,
  encodeMeta,
  NodeFileSystem,
  XlogCursor,
  XlogDir,
  type XlogTransaction,
} from '../src/index.js';
import { INSTANCE_UUID, insertRow, openJournal, tempDir } from './helpers.js';

const hasher = await loadHasher();
const fs = new NodeFileSystem();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

/** Every block of `path` through `read`, which gets each transaction while it is current. */
async function eachBlock(
  path: string,
  read: (tx: XlogTransaction) => void,
  reuseBuffers = true,
): Promise<void> {
  const cursor = (await XlogCursor.open(fs, path, 'XLOG', hasher, { reuseBuffers }))!;
  try {
    for (let tx = await cursor.next(); tx !== undefined; tx = await cursor.next()) read(tx);
  } finally {
    await cursor.close();
  }
}

/** A row as plain data: header fields and body bytes (what a reader can observe). */
function plain(row: Xrow): Record<string, unknown> {
  return { ...row, body: [...row.body] };
}

async function journalFile(): Promise<string> {
  const journal = await openJournal(fs, dir, hasher);
  await journal.submit([insertRow(1)]);
  // A three-row transaction (tsn, commit flag on the last), then one with a long payload.
  await journal.submit([insertRow(2), insertRow(3), insertRow(4)]);
  await journal.submit([insertRow(5, 'y'.repeat(300))]);
  await journal.close();
  return (await XlogDir.scan(fs, dir, 'XLOG', hasher)).files[0]!.path;
}

/** An xlog of one block holding `rows` as given (no journal: rule 12 is not enforced on write). */
async function handWritten(rows: Xrow[]): Promise<string> {
  const path = join(dir, '00000000000000000000.xlog');
  const writer = new MsgpackWriter(1 << 16);
  const meta = encodeMeta(
    { type: 'XLOG', instanceUuid: INSTANCE_UUID, vclock: new Vclock(), prevVclock: new Vclock() },
    hasher,
  );
  writer.raw(meta);
  new BlockEncoder(hasher).encode(writer, rows);
  await writeFile(path, writer.bytes.subarray(0, writer.length));
  return path;
}

function row(key: number, lsn: number, tsn: number, isCommit: boolean): Xrow {
  const r = insertRow(key);
  r.replica_id = 1;
  r.lsn = lsn;
  r.tsn = tsn;
  r.is_commit = isCommit;
  return r;
}

describe('XlogTransaction.rowsInPlace', () => {
  it('gives the rows `rows` gives: every header field, and the body as a range of the block', async () => {
    const path = await journalFile();
    const expected: Array<Record<string, unknown>> = [];
    await eachBlock(path, (tx) => expected.push(...tx.rows.map(plain)), false);
    const got: Array<Record<string, unknown>> = [];
    const counts: number[] = [];
    await eachBlock(path, (tx) => {
      const inPlace = tx.rowsInPlace();
      counts.push(tx.rowCount);
      for (let i = 0; i < tx.rowCount; i++) {
        const slot = inPlace[i]!;
        expect(slot.header.body.length).toBe(0);
        expect(slot.bytes).toBe(tx.payload);
        got.push(plain(slot.toXrow()));
      }
    });
    expect(counts).toEqual([1, 3, 1]);
    expect(got).toEqual(expected);
    expect(got.map((r) => [r.lsn, r.tsn, r.is_commit])).toEqual([
      [1, 1, true],
      [2, 2, false],
      [3, 2, false],
      [4, 2, true],
      [5, 5, true],
    ]);
  });

  it('reuses its objects block to block, resetting every header field', async () => {
    const path = await journalFile();
    const firsts: unknown[] = [];
    const syncs: number[] = [];
    await eachBlock(path, (tx) => {
      const inPlace = tx.rowsInPlace();
      firsts.push(inPlace[0]);
      // Dirty the reused header: the next block's decode must not keep any of it.
      for (let i = 0; i < tx.rowCount; i++) {
        syncs.push(inPlace[i]!.header.sync);
        inPlace[i]!.header.sync = 99;
        inPlace[i]!.header.group_id = 7;
      }
    });
    expect(new Set(firsts).size).toBe(1);
    expect(syncs).toEqual([0, 0, 0, 0, 0]);
    await eachBlock(path, (tx) => {
      for (const r of tx.rowsInPlace().slice(0, tx.rowCount)) expect(r.header.group_id).toBe(0);
    });
  });

  it('checks each block once, whichever of rows and rowsInPlace is read first', async () => {
    const path = await journalFile();
    const lsns: number[] = [];
    // Reading both must not check the LSNs twice (a second check would see them as repeated).
    await eachBlock(path, (tx) => {
      const rows = tx.rows;
      const inPlace = tx.rowsInPlace();
      for (let i = 0; i < tx.rowCount; i++) expect(inPlace[i]!.header.lsn).toBe(rows[i]!.lsn);
      lsns.push(...rows.map((r) => r.lsn));
    });
    await eachBlock(path, (tx) => {
      const inPlace = tx.rowsInPlace();
      const firstLsn = inPlace[0]!.header.lsn;
      const rows = tx.rows;
      expect(rows.map((r) => r.lsn)[0]).toBe(firstLsn);
      expect(rows.map(plain)).toEqual(
        inPlace.slice(0, tx.rowCount).map((slot) => plain(slot.toXrow())),
      );
    });
    expect(lsns).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses what `rows` refuses (rule 12), with the same XlogError', async () => {
    const cases: Array<[Xrow[], string]> = [
      [
        [row(1, 1, 1, false), row(2, 2, 1, false)],
        'row 1 of a 2-row transaction has a wrong commit flag',
      ],
      [
        [row(1, 1, 1, false), row(2, 2, 2, true)],
        'row 1 belongs to another transaction (tsn 2, expected 1)',
      ],
      [[row(1, 2, 2, false), row(2, 2, 2, true)], 'row with LSN 2 after LSN 2 of replica 1'],
    ];
    const foreign = row(1, 1, 1, true);
    foreign.replica_id = 40;
    cases.push([[foreign], 'row with replica id 40 (ids are below 32)']);
    for (const [rows, reason] of cases) {
      const path = await handWritten(rows);
      const errors: unknown[] = [];
      for (const read of [
        (tx: XlogTransaction) => tx.rows,
        (tx: XlogTransaction) => tx.rowsInPlace(),
      ]) {
        await eachBlock(path, (tx) => {
          try {
            read(tx);
          } catch (error) {
            errors.push(error);
          }
        });
      }
      expect(errors).toHaveLength(2);
      for (const error of errors) {
        expect(error).toBeInstanceOf(XlogError);
        expect((error as Error).message).toContain(reason);
      }
      expect((errors[0] as Error).message).toBe((errors[1] as Error).message);
    }
  });

  it('refuses a body that is not whole MessagePack, as `rows` does', async () => {
    const bad = insertRow(1);
    bad.replica_id = 1;
    bad.lsn = 1;
    bad.tsn = 1;
    // The body's map announces two pairs and holds one: the checksum is right, the row is not.
    bad.body = Uint8Array.from([0x82, 0x10, 0xcd, 0x02, 0x00]);
    const path = await handWritten([bad]);
    let message = '';
    await eachBlock(path, (tx) => {
      try {
        tx.rowsInPlace();
      } catch (error) {
        expect(error).toBeInstanceOf(XlogError);
        message = (error as Error).message;
      }
    });
    expect(message).toMatch(/^malformed row: .* at offset \d+$/);
  });
});
