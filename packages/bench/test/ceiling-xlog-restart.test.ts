// The restart-from-xlogs ceiling (src/ceiling/xlog-restart.ts) on xlogs tarantype's own Box
// wrote: it must find every tuple the benchmark inserted, byte for byte, index them in key
// order, and refuse a file with a flipped byte instead of loading it.
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box } from '@tarantype/box';
import { decode, encode } from '@tarantype/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ceilingRestartFromXlogs, lookup, recoverXlogs } from '../src/ceiling/xlog-restart.js';
import { loadBatched, space, str } from '../src/suites/box.js';

const N = 20_000;
const BATCH = 1000;
let root: string;
/** The work_dir: Box keeps its xlogs there (wal_dir defaults to '.', relative to work_dir). */
let workDir: string;
let spaceId: number;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tarantype-ceiling-xlog-'));
  workDir = join(root, 'box');
  const box = await Box.cfg({ work_dir: workDir, wal_mode: 'write', checkpoint_interval: 0 });
  try {
    const s = await space(box, 'bench');
    spaceId = s.id;
    await loadBatched(box, s, N, BATCH);
  } finally {
    await box.close();
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The only xlog of the work_dir (20k rows stay far below wal_max_size). */
async function theXlog(dir: string): Promise<string> {
  const xlogs = (await readdir(dir)).filter((n) => n.endsWith('.xlog'));
  expect(xlogs).toHaveLength(1);
  return xlogs[0]!;
}

/** File offsets of the blocks of an xlog (walked by their length fields). */
function blockOffsets(file: Buffer): number[] {
  const offsets: number[] = [];
  let offset = file.indexOf('\n\n') + 2;
  while (offset + 24 <= file.length && file.readUInt32BE(offset) === 0xd5ba0bab) {
    offsets.push(offset);
    offset += 24 + file.readUInt32BE(offset + 4);
  }
  return offsets;
}

function bytesOf(array: Float64Array | Uint32Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

describe('the restart-from-xlogs ceiling', () => {
  it('recovers every inserted tuple byte for byte, indexed by key', async () => {
    const result = await ceilingRestartFromXlogs(workDir);
    expect(result.rows).toBeGreaterThanOrEqual(N);
    expect(result.tuples).toBe(N);
    expect(result.seconds).toBeGreaterThan(0);
    const store = await recoverXlogs(workDir);
    expect(store.bytes).toBe(result.bytes);
    // Only the user space holds tuples: the schema rows (_space, _index) were not applied.
    expect([...store.spaces.keys()]).toEqual([spaceId]);
    const index = store.spaces.get(spaceId)!;
    expect(index.count).toBe(N);
    for (let k = 1; k <= N; k++) {
      if (index.keys[k - 1] !== k)
        expect.fail(`index position ${k - 1} holds ${index.keys[k - 1]}`);
      const bytes = lookup(store, spaceId, k);
      const expected = encode([k, str(k), k * 2]);
      if (bytes === undefined || Buffer.compare(bytes, expected) !== 0)
        expect.fail(`tuple ${k}: ${bytes && Buffer.from(bytes).toString('hex')}`);
    }
    for (const k of [1, 1000, 1001, 12_345, N])
      expect(decode(lookup(store, spaceId, k)!)).toEqual([k, str(k), k * 2]);
    expect(lookup(store, spaceId, N + 1)).toBeUndefined();
    expect(lookup(store, spaceId, 0)).toBeUndefined();
    // The arena holds exactly the tuples, nothing else.
    let tupleBytes = 0;
    for (let k = 1; k <= N; k++) tupleBytes += encode([k, str(k), k * 2]).length;
    expect(store.arenaBytes).toBe(tupleBytes);
  });

  it('refuses a flipped byte in a payload and in a block header', async () => {
    const name = await theXlog(workDir);
    const original = await readFile(join(workDir, name));
    const blocks = blockOffsets(original);
    expect(blocks.length).toBeGreaterThanOrEqual(N / BATCH);
    const target = blocks[5]!;
    const cases: [string, number, RegExp][] = [
      ['payload', target + 24 + 100, /^block checksum mismatch in .* at offset (\d+)$/],
      ['length field', target + 5, /^block header checksum mismatch in .* at offset (\d+)$/],
    ];
    for (const [what, at, error] of cases) {
      const dir = join(root, `flipped-${what.replace(' ', '-')}`);
      await mkdir(dir);
      const damaged = Buffer.from(original);
      damaged[at]! ^= 0x01;
      await writeFile(join(dir, name), damaged);
      const failure = await recoverXlogs(dir).then(
        () => expect.fail(`a flipped byte in the ${what} was accepted`),
        (e: Error) => e,
      );
      expect(failure.message, what).toMatch(error);
      expect(Number(error.exec(failure.message)![1]), what).toBe(target);
    }
    // The undamaged copy loads: the failures above come from the flipped byte.
    const dir = join(root, 'copy');
    await mkdir(dir);
    await copyFile(join(workDir, name), join(dir, name));
    expect((await recoverXlogs(dir)).tuples).toBe(N);
  });

  it('recovers the same store whatever the read size (blocks split across reads)', async () => {
    const name = await theXlog(workDir);
    const file = await readFile(join(workDir, name));
    expect(file.readUInt32BE(file.length - 4), 'a cleanly closed file').toBe(0xd510aded);
    const blocks = blockOffsets(file);
    const reference = await recoverXlogs(workDir);
    const index = reference.spaces.get(spaceId)!;
    const chunkSizes: [string, number][] = [
      ['4 KiB: every big block spans many reads', 4096],
      ['an odd size', 4096 + 7],
      ["a boundary 12 bytes into a block's header", blocks[3]! + 12],
      ['a boundary inside the last block', file.length - 100],
      ['a boundary splitting the EOF marker', file.length - 2],
    ];
    for (const [what, chunkBytes] of chunkSizes) {
      const store = await recoverXlogs(workDir, { chunkBytes });
      expect(store.rows, what).toBe(reference.rows);
      expect(store.tuples, what).toBe(N);
      expect(store.bytes, what).toBe(file.length);
      expect(store.arenaBytes, what).toBe(reference.arenaBytes);
      const arena = store.arena.subarray(0, store.arenaBytes);
      expect(Buffer.compare(arena, reference.arena.subarray(0, reference.arenaBytes)), what).toBe(
        0,
      );
      const got = store.spaces.get(spaceId)!;
      expect(Buffer.compare(bytesOf(got.keys), bytesOf(index.keys)), what).toBe(0);
      expect(Buffer.compare(bytesOf(got.offsets), bytesOf(index.offsets)), what).toBe(0);
    }
    await expect(recoverXlogs(workDir, { chunkBytes: 100 })).rejects.toThrow(/chunkBytes/);
  });

  it('sorts keys that did not arrive ascending into a correct index', async () => {
    const dir = join(root, 'unordered');
    const box = await Box.cfg({ work_dir: dir, wal_mode: 'write', checkpoint_interval: 0 });
    let id: number;
    const keys = [50, 3, 7, 1000, 2, 999, 4, 1];
    try {
      const s = await space(box, 'unordered');
      id = s.id;
      await box.atomic(() => {
        for (const k of keys.slice(0, 4)) void s.insert([k, str(k), k * 2]);
      });
      for (const k of keys.slice(4)) await s.insert([k, str(k), k * 2]);
    } finally {
      await box.close();
    }
    const store = await recoverXlogs(dir);
    const index = store.spaces.get(id)!;
    expect([...index.keys]).toEqual([...keys].sort((a, b) => a - b));
    for (const k of keys) expect(decode(lookup(store, id, k)!)).toEqual([k, str(k), k * 2]);
  });
});
