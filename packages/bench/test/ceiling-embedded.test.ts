// The Node ceiling of the embedded insert path (src/ceiling/): it must do the work it claims,
// or its figures mean nothing. Its WAL file is read back block by block here (magic, lengths,
// both checksums, every row's header and body) and each row's tuple must be the bytes
// @tarantype/core's encoder writes for the tuple inserted; the ceiling refuses a duplicate key.
// Also the compare model's verdict against a ceiling (≥ 0.8× of it), per pair.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode, loadHasher, MsgpackReader } from '@tarantype/core';
import { afterAll, describe, expect, it } from 'vitest';
import { CeilingSpace, measureCeilingInserts } from '../src/ceiling/embedded-insert.js';
import { CeilingWal } from '../src/ceiling/wal-block.js';
import { CEILING_MIN, summarise, TARGETS } from '../src/compare/model.js';

interface Row {
  header: Map<number, unknown>;
  body: Map<number, unknown>;
  tuple: Uint8Array;
}

/** Every block of a ceiling WAL file, checked, as rows. */
async function readBlocks(path: string): Promise<Row[]> {
  const hasher = await loadHasher();
  const file = readFileSync(path);
  const rows: Row[] = [];
  let p = 0;
  while (p < file.length) {
    expect(file.readUInt32BE(p)).toBe(0xd5ba0bab);
    const length = file.readUInt32BE(p + 4);
    const count = file.readUInt32BE(p + 8);
    expect(hasher.h32(file.subarray(p, p + 20))).toBe(file.readUInt32BE(p + 20));
    const payload = file.subarray(p + 24, p + 24 + length);
    expect(payload.length).toBe(length);
    expect(hasher.h64(payload)).toBe(file.readBigUInt64BE(p + 12));
    // each row: the header map, then the body map {0x10: space, 0x21: tuple}
    const reader = new MsgpackReader(payload);
    for (let i = 0; i < count; i++) {
      const header = reader.readValue() as Map<number, unknown>;
      const bodyStart = reader.offset;
      expect(reader.readMapHeader()).toBe(2);
      expect(reader.readUint()).toBe(0x10);
      reader.skip();
      expect(reader.readUint()).toBe(0x21);
      const tupleStart = reader.offset;
      reader.skip();
      const body = decode(payload.subarray(bodyStart, reader.offset)) as Map<number, unknown>;
      rows.push({ header, body, tuple: payload.subarray(tupleStart, reader.offset) });
    }
    const q = reader.offset;
    expect(q).toBe(length);
    p += 24 + length;
  }
  return rows;
}

describe('the embedded insert ceiling', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tarantype-ceiling-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['libuv', 'worker'] as const)(
    'writes every row, with the tuple bytes core encodes, in checksummed blocks (%s)',
    async (io) => {
      const tuple = (k: number) => [k, `s${k}`.padEnd(32, 'x'), k * 2];
      const result = await measureCeilingInserts({
        io,
        dir,
        n: 3000,
        walMode: 'write',
        fibers: 100,
        batch: 1000,
        capSeconds: 5,
        single: true,
        batched: true,
        tuple,
      });
      expect(result.singleRps).toBeGreaterThan(0);
      expect(result.concurrentRps).toBeGreaterThan(0);
      expect(result.batchedRps).toBeGreaterThan(0);
      const rows = await readBlocks(join(dir, 'ceiling.wal'));
      rmSync(join(dir, 'ceiling.wal'));
      // phases (a), (b), (c): 3000 rows each, into spaces 512, 513, 514
      expect(rows).toHaveLength(9000);
      const lsns = rows.map((r) => r.header.get(3));
      expect(lsns).toEqual(Array.from({ length: 9000 }, (_, i) => i + 1));
      for (const [i, row] of rows.entries()) {
        expect(row.header.get(0)).toBe(2); // INSERT
        expect(row.body.get(0x10)).toBe(512 + Math.floor(i / 3000));
        const k = decode(row.tuple) as number[];
        expect(Buffer.from(row.tuple)).toEqual(Buffer.from(encode(tuple(k[0]!))));
      }
      // (c) is three 1000-row transactions: tsn on every row, the commit flag on the last
      for (const [i, row] of rows.slice(6000).entries()) {
        expect(row.header.get(8)).toBe(i % 1000);
        expect(row.header.get(9)).toBe(i % 1000 === 999 ? 1 : undefined);
      }
      expect(rows.slice(0, 6000).every((r) => !r.header.has(8))).toBe(true);
      const keys = new Set(rows.slice(3000, 6000).map((r) => (decode(r.tuple) as number[])[0]));
      expect(keys.size).toBe(3000);
    },
  );

  it('encodes non-ASCII and long strings as core does, and refuses a duplicate key (worker, fsync)', async () => {
    const hasher = await loadHasher();
    const path = join(dir, 'second.wal');
    const wal = new CeilingWal(path, 'fsync', hasher, 'worker');
    const space = new CeilingSpace(wal, 600);
    const tuples = [
      [1, 'ünïcödé', 2],
      [70_000, 'y'.repeat(300), 5_000_000_000],
      [3, '', 0],
    ];
    for (const t of tuples) await space.insert(t);
    await expect(space.insert([1, 'again', 0])).rejects.toThrow(/duplicate key 1/);
    await expect(space.insert([-1, 'negative', 0])).rejects.toThrow(/unsupported number -1/);
    await wal.close();
    const rows = await readBlocks(path);
    expect(rows.map((r) => Buffer.from(r.tuple))).toEqual(
      tuples.map((t) => Buffer.from(encode(t))),
    );
  });

  it('judges tarantype against the ceiling per pair, at 0.8× of it', () => {
    const row = {
      id: 'x',
      workload: 'x',
      unit: 'tx/s',
      better: 'higher' as const,
      target: TARGETS.throughput,
    };
    const summary = summarise(row, [80, 90, 70], [100, 100, 100], [100, 100, 100]);
    expect(summary.met).toBe('no');
    expect(summary.ceiling?.ratio).toBeCloseTo(0.8);
    expect(summary.ceiling?.spread).toEqual([0.7, 0.9]);
    expect(CEILING_MIN).toBe(0.8);
    expect(summary.ceiling?.met).toBe('yes'); // 0.8 is at the bar, not below it
    const slower = summarise({ ...row, better: 'lower' }, [2, 2], [1, 1], [1.5, { missing: 'x' }]);
    expect(slower.ceiling?.ratio).toBeCloseTo(0.75);
    expect(slower.ceiling?.ratioPairs).toBe(1);
    expect(slower.ceiling?.met).toBe('no');
    expect(summarise(row, [1], [1]).ceiling).toBeUndefined();
  });
});
