// What tarantype does not model, arriving from another instance (a 2.6 master): refused with
// ER_UNSUPPORTED naming the object and the row, nothing applied, the vclock unchanged; and
// after a failed transaction, no later one of the origin applies past the failed row.
// The same refusals against a real 2.6 master: apps/server/test/replication/mixed.test.ts.
import {
  type ClientError,
  ER_CASCADE_ROLLBACK,
  ErrorCode,
  encode,
  encodeTupleBody,
  IprotoType,
  makeXrow,
  type Xrow,
} from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Box } from '../src/index.js';
import { open, tempDir, tester } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let box: Box;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  ({ box } = await open(dir));
});
afterEach(async () => {
  await box.close().catch(() => {});
  await cleanup();
});

function foreign(lsn: number, spaceId: number, tuple: unknown[]): Xrow {
  const row = makeXrow(IprotoType.INSERT, encodeTupleBody(spaceId, encode(tuple)));
  row.replica_id = 2;
  row.lsn = lsn;
  row.tsn = lsn;
  row.is_commit = true;
  row.timestamp = 1700000000.5;
  return row;
}

async function refusal(row: Xrow): Promise<ClientError> {
  const error = (await box.replicationPorts.applyTransaction([row]).catch((e) => e)) as ClientError;
  expect(error.code).toBe(ErrorCode.ER_UNSUPPORTED);
  expect(box.replicationPorts.vclock().get(2)).toBe(0);
  return error;
}

describe('rows of objects tarantype does not model', () => {
  it.each([
    [
      '_space with a collation in the format',
      280,
      [600, 1, 'c', 'memtx', 0, {}, [{ name: 'a', type: 'string', collation: 2 }]],
      "collations (space 'c', id 600)",
    ],
    [
      '_space of a SQL table (a SQL default)',
      280,
      [601, 1, 'd', 'memtx', 0, {}, [{ name: 'a', type: 'integer', default: '1' }]],
      "SQL-created tables (space 'd', id 601): field 'a' has 'default'",
    ],
    ['_sequence_data', 285, [7, 42], 'sequences (sequence id 7)'],
    [
      '_space_sequence',
      340,
      [512, 7, true, 0, ''],
      "auto-increment indexes (space 'tester', id 512, sequence id 7)",
    ],
    ['_trigger', 328, ['tr', 512, {}], "SQL triggers (trigger 'tr', space 'tester', id 512)"],
    [
      '_fk_constraint',
      356,
      ['fk', 512, 512, false, 'simple', 'no_action', 'no_action', [0], [0]],
      "foreign keys (constraint 'fk', space 'tester', id 512)",
    ],
    [
      '_ck_constraint',
      364,
      [512, 'ck', false, 'SQL', 'a > 0', true],
      "CHECK constraints (constraint 'ck', space 'tester', id 512)",
    ],
    ['_func_index', 372, [512, 1, 70], "functional indexes (index id 1, space 'tester', id 512)"],
    [
      '_index created by SQL (sort_order)',
      288,
      [512, 1, 's', 'tree', { unique: true }, [{ field: 0, type: 'unsigned', sort_order: 'asc' }]],
      "SQL-created indexes (index 's' of space 'tester', id 512)",
    ],
    [
      '_index created by SQL (sql option)',
      288,
      [512, 1, 's', 'tree', { unique: true, sql: 'CREATE INDEX …' }, [[0, 'unsigned']]],
      "SQL-created indexes (index 's' of space 'tester', id 512)",
    ],
    [
      '_index of type BITSET',
      288,
      [512, 1, 'b', 'bitset', { unique: false }, [[0, 'unsigned']]],
      "index type 'BITSET' (index 'b' of space 'tester', id 512)",
    ],
  ] as const)('%s', async (_name, spaceId, tuple, what) => {
    const space = await tester(box);
    expect(space.id).toBe(512);
    const error = await refusal(foreign(1, spaceId, [...tuple]));
    expect(error.message).toBe(`tarantype does not support ${what} in a row from replica 2 lsn 1`);
  });
});

describe('after a failed transaction of an origin', () => {
  it('one given after the failure does not apply past the failed row; the resend clears it', async () => {
    const space = await tester(box);
    await space.insert([1, 'local']);
    const failing = foreign(1, space.id, [1, 'remote']);
    const next = foreign(2, space.id, [2, 'two']);
    const first = box.replicationPorts.applyTransaction([failing]).catch((e) => e);
    expect(((await first) as ClientError).code).toBe(ErrorCode.ER_TUPLE_FOUND);
    // Given once the failure is recorded (rows already read from the socket).
    const error = (await box.replicationPorts
      .applyTransaction([next])
      .catch((e) => e)) as ClientError;
    expect(error.code).toBe(ER_CASCADE_ROLLBACK);
    expect(box.replicationPorts.vclock().get(2)).toBe(0);
    expect(box.space.tester!.select()).toEqual([[1, 'local']]);
    // The resend from the failed row on (here the conflict removed first) applies in order.
    await space.delete([1]);
    expect(await box.replicationPorts.applyTransaction([failing])).toBe('applied');
    expect(await box.replicationPorts.applyTransaction([next])).toBe('applied');
    expect(box.replicationPorts.vclock().get(2)).toBe(2);
    expect(box.space.tester!.select()).toEqual([
      [1, 'remote'],
      [2, 'two'],
    ]);
  });
});
