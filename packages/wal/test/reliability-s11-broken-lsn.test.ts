// RELIABILITY.md #11, a row with a broken LSN, on real files. 2.6 panics when a row would move
// its vclock component back ("LSN for N is used twice or COMMIT order is broken", gh-3105).
// The journal refuses such a transaction instead: ER_INVALID_ORDER, nothing written, the
// vclock unchanged, and the journal keeps serving (it assigns local LSNs itself, so only rows
// of other instances, from appliers, can carry a broken one).
import { ClientError, ErrorCode, loadHasher, Vclock } from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeFileSystem } from '../src/index.js';
import { insertRow, openJournal, readAllKeys, tempDir } from './helpers.js';

const hasher = await loadHasher();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

function foreign(key: number, replicaId: number, lsn: number) {
  const row = insertRow(key);
  row.replica_id = replicaId;
  row.lsn = lsn;
  return row;
}

describe('RELIABILITY.md #11: a row with a broken LSN', () => {
  it('#11: a foreign row that reuses or goes back on its LSN is refused with ER_INVALID_ORDER; nothing is written', async () => {
    const journal = await openJournal(new NodeFileSystem(), dir, hasher, {
      vclock: new Vclock([
        [1, 10],
        [2, 5],
      ]),
    });
    await journal.submit([foreign(1, 2, 6)]);
    for (const lsn of [6, 3]) {
      const refused = journal.submit([foreign(100 + lsn, 2, lsn)]);
      await expect(refused).rejects.toBeInstanceOf(ClientError);
      await expect(refused).rejects.toMatchObject({
        code: ErrorCode.ER_INVALID_ORDER,
        message: `Invalid LSN order for instance 2: previous LSN = 6, new lsn = ${lsn}`,
      });
    }
    // A transaction whose second row breaks the order is refused whole.
    await expect(journal.submit([foreign(2, 2, 7), foreign(3, 2, 7)])).rejects.toMatchObject({
      code: ErrorCode.ER_INVALID_ORDER,
    });
    expect(journal.vclock.toString()).toBe('{1: 10, 2: 6}');
    // The journal keeps serving, local and foreign rows alike.
    const local = insertRow(4);
    await journal.submit([local]);
    await journal.submit([foreign(5, 2, 7)]);
    expect(local.lsn).toBe(11);
    expect(journal.vclock.toString()).toBe('{1: 11, 2: 7}');
    await journal.close();
    expect(await readAllKeys(dir, hasher)).toEqual([[1], [4], [5]]);
  });
});
