// Writing and reading back: many spaces, file naming and meta, container compatibility,
// "no changes, no file", progress, rate limit, yielding, and the writer's refusals.

import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ClientError,
  decodeXrowHeader,
  ErrorCode,
  encode,
  loadHasher,
  MsgpackReader,
  SystemError,
  Vclock,
} from '@tarantype/core';
import { NodeFileSystem, RecordingLogger, XlogCursor } from '@tarantype/wal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SnapshotDir,
  type SnapshotProgress,
  SnapshotReader,
  type SnapshotSource,
  type SnapshotSpace,
  writeSnapshot,
} from '../src/index.js';
import { readViewSource } from '../src/testing.js';
import {
  buildSpaces,
  expectedRows,
  INSTANCE_UUID,
  readAll,
  rowTriples,
  seededRandom,
  smallDatabase,
  snapshotOf,
  tempDir,
  testSeed,
  tuple,
} from './helpers.js';

const hasher = await loadHasher();
const hex = (bytes: Uint8Array, start = 0, end = bytes.length) =>
  Buffer.from(bytes.subarray(start, end)).toString('hex');
const fs = new NodeFileSystem();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

/** 40 spaces: system, local, ids below 256, empty ones, tuples from 1 byte to 300 KiB. */
function manySpaces(seed: number) {
  const random = seededRandom(seed);
  const ids = [272, 276, 280, 281, 284, 288, 296, 304, 312, 320, 330, 340, 511, 0, 5, 255];
  for (let id = 512; ids.length < 40; id += 1 + Math.floor(random() * 50)) ids.push(id);
  return buildSpaces(
    ids.map((id, index) => {
      const count = index % 7 === 3 ? 0 : Math.floor(random() * 120);
      const keys = Array.from({ length: count }, (_, i) => i * 3 + Math.floor(random() * 3));
      const size = index === 20 ? 300_000 : Math.floor(random() * 200);
      return {
        id,
        groupId: index % 5 === 1 ? 1 : 0,
        keys,
        make: (key: number) => tuple(key, 'x'.repeat(size)),
      };
    }),
  );
}

describe('round trip', () => {
  it('reads back every tuple of many spaces, in snapshot order, with lsn = ordinal', async () => {
    const seed = testSeed();
    const spaces = manySpaces(seed);
    const vclock = new Vclock([
      [1, 1234],
      [2, 56],
      [0, 7],
    ]);
    const result = await snapshotOf(dir, hasher, spaces, vclock, { blockSizeBytes: 4096 });
    expect(result.status, `seed ${seed}`).toBe('written');
    if (result.status !== 'written') return;
    expect(result.path).toBe(join(dir, '00000000000000001297.snap'));
    expect(await readdir(dir)).toEqual(['00000000000000001297.snap']);
    const { reader, rows } = await readAll(result.path, hasher, { readSizeBytes: 5000 });
    expect(reader.meta).toMatchObject({ type: 'SNAP', instanceUuid: INSTANCE_UUID });
    expect(reader.vclock.toString()).toBe('{0: 7, 1: 1234, 2: 56}');
    expect(rowTriples(rows), `seed ${seed}`).toEqual(expectedRows(spaces));
    expect(rows.map((row) => row.lsn)).toEqual(rows.map((_, i) => i));
    expect(reader.stats).toMatchObject({ rows: rows.length, complete: true, skippedRegions: 0 });
    expect(reader.stats.systemRows).toBe(
      rows.filter((row) => row.spaceId >= 256 && row.spaceId <= 511).length,
    );
    expect(result.rows).toBe(rows.length);
    expect(result.bytes).toBe((await readFile(result.path)).length);
    // Every refill size gives the same rows (buffer boundaries fall everywhere).
    for (const readSizeBytes of [1, 7, 24, 4096]) {
      expect(
        rowTriples((await readAll(result.path, hasher, { readSizeBytes })).rows),
        `read size ${readSizeBytes}`,
      ).toEqual(expectedRows(spaces));
    }
  });

  it('hands each block out in place too: the same rows, tuples as ranges of the block', async () => {
    const spaces = manySpaces(testSeed());
    const result = await snapshotOf(dir, hasher, spaces, new Vclock([[1, 3]]), {
      blockSizeBytes: 4096,
    });
    if (result.status !== 'written') throw new Error(result.status);
    const reader = await SnapshotReader.open(fs, result.path, hasher, { readSizeBytes: 5000 });
    const fromObjects: unknown[] = [];
    const inPlace: unknown[] = [];
    let blocks = 0;
    for await (const batch of reader) {
      const rows = batch.inPlace;
      blocks++;
      for (let i = 0; i < rows.count; i++) {
        const [start, end] = [rows.start(i), rows.end(i)];
        expect(start).toBeLessThan(end);
        inPlace.push([
          rows.spaceId(i),
          rows.groupId(i),
          rows.lsn(i),
          hex(rows.payload, start, end),
        ]);
      }
      // The objects, made once on demand, are the same rows.
      expect(batch.rows).toBe(batch.rows);
      fromObjects.push(...batch.rows.map((r) => [r.spaceId, r.groupId, r.lsn, hex(r.tuple)]));
    }
    expect(blocks).toBeGreaterThan(10);
    expect(inPlace).toEqual(fromObjects);
    expect(inPlace.length).toBe(expectedRows(spaces).length);
    // reuseBuffers (recovery's mode): the same rows while each batch is read before the next,
    // at every read size (blocks cut by chunk boundaries, heads longer than the headroom).
    for (const readSizeBytes of [7, 1000, 5000, 100_000]) {
      const reused = await SnapshotReader.open(fs, result.path, hasher, {
        readSizeBytes,
        reuseBuffers: true,
      });
      const seen: unknown[] = [];
      for await (const batch of reused) {
        const rows = batch.inPlace;
        for (let i = 0; i < rows.count; i++)
          seen.push([
            rows.spaceId(i),
            rows.groupId(i),
            rows.lsn(i),
            hex(rows.payload, rows.start(i), rows.end(i)),
          ]);
      }
      expect(seen, `read size ${readSizeBytes}`).toEqual(fromObjects);
    }
  });

  it('with reuseBuffers, reads each chunk ahead into the memory of the chunk before last', async () => {
    const spaces = buildSpaces([
      {
        id: 512,
        groupId: 0,
        keys: Array.from({ length: 20_000 }, (_, i) => i),
        make: (k: number) => tuple(k, 'z'.repeat(40)),
      },
    ]);
    const result = await snapshotOf(dir, hasher, spaces, new Vclock([[1, 1]]), {
      blockSizeBytes: 4096,
    });
    if (result.status !== 'written') throw new Error(result.status);
    const memories = async (reuseBuffers: boolean) => {
      const reader = await SnapshotReader.open(fs, result.path, hasher, {
        readSizeBytes: 20_000,
        reuseBuffers,
      });
      const memory = new Set<ArrayBufferLike>();
      let rows = 0;
      for await (const batch of reader) {
        memory.add(batch.inPlace.payload.buffer);
        rows += batch.inPlace.count;
      }
      expect(rows).toBe(expectedRows(spaces).length);
      return memory.size;
    };
    // Fresh memory per chunk by default (rows stay valid while held): about 60 chunks.
    expect(await memories(false)).toBeGreaterThan(40);
    // Reused: the first read, then two chunks' memory in turn.
    expect(await memories(true)).toBeLessThanOrEqual(3);
  });

  it('writes the same file from a source cursor as from its tuples()', async () => {
    const tuples = Array.from({ length: 3000 }, (_, i) => encode([i, 'y'.repeat(i % 400)]));
    const files: Uint8Array[] = [];
    for (const withCursor of [false, true]) {
      const into = join(dir, withCursor ? 'cursor' : 'tuples');
      await fs.mkdir(into);
      const one = tuples.map((t) => {
        // every tuple inside a larger buffer, as a read view's are inside arena chunks
        const bytes = new Uint8Array(t.length + 10);
        bytes.set(t, 5);
        return { bytes, start: 5, end: 5 + t.length };
      });
      const space: SnapshotSpace = {
        id: 512,
        groupId: 0,
        tuples: () => tuples,
        ...(withCursor
          ? {
              cursor: () => {
                let i = -1;
                const cursor = {
                  bytes: new Uint8Array(0),
                  start: 0,
                  end: 0,
                  next: () => {
                    if (++i >= one.length) return false;
                    Object.assign(cursor, one[i]);
                    return true;
                  },
                };
                return cursor;
              },
            }
          : {}),
      };
      const result = await writeSnapshot({
        fs,
        dir: into,
        hasher,
        instanceUuid: INSTANCE_UUID,
        source: { vclock: new Vclock([[1, 5]]), spaces: [space], release() {} },
      });
      expect(result.status).toBe('written');
      if (result.status !== 'written') return;
      files.push(await readFile(result.path));
    }
    expect(Buffer.from(files[1]!).equals(Buffer.from(files[0]!))).toBe(true);
    expect(files[0]!.length).toBeGreaterThan(3000 * 10);
  });

  it('is a valid container file: XlogCursor reads the same rows, and no block mixes system and user rows', async () => {
    const spaces = manySpaces(42);
    const result = await snapshotOf(dir, hasher, spaces, new Vclock([[1, 10]]), {
      blockSizeBytes: 1000,
    });
    if (result.status !== 'written') throw new Error('not written');
    const cursor = (await XlogCursor.open(fs, result.path, 'SNAP', hasher))!;
    const body = new MsgpackReader(new Uint8Array(0));
    const triples: Array<[number, number, string]> = [];
    let blocks = 0;
    for (let block = await cursor.next(); block !== undefined; block = await cursor.next()) {
      blocks++;
      const kinds = new Set<boolean>();
      for (const row of block.rows) {
        expect(row).toMatchObject({ type: 2, replica_id: 0, timestamp: 0 });
        body.reset(row.body);
        body.readMapHeader();
        body.readUint();
        const spaceId = body.readUint();
        body.readUint();
        triples.push([spaceId, row.group_id, Buffer.from(body.readRaw()).toString('hex')]);
        kinds.add(spaceId >= 256 && spaceId <= 511);
      }
      expect(kinds.size).toBe(1);
    }
    expect(cursor.end).toBe('eof-marker');
    await cursor.close();
    expect(blocks).toBeGreaterThan(10);
    expect(triples).toEqual(expectedRows(spaces));
    // The first row has no LSN key (lsn 0), as in Tarantool.
    const bytes = await readFile(result.path);
    const firstRow = new MsgpackReader(bytes, bytes.indexOf(Buffer.from('\n\n')) + 2 + 24);
    expect(decodeXrowHeader(firstRow)).toMatchObject({ lsn: 0, type: 2 });
  });

  it('round-trips an empty database as a header and an EOF marker', async () => {
    const result = await snapshotOf(dir, hasher, [], new Vclock());
    if (result.status !== 'written') throw new Error('not written');
    expect(result.path.endsWith('00000000000000000000.snap')).toBe(true);
    const { reader, rows } = await readAll(result.path, hasher);
    expect(rows).toEqual([]);
    expect(reader.stats.complete).toBe(true);
    expect((await readFile(result.path)).subarray(-4)).toEqual(
      Buffer.from([0xd5, 0x10, 0xad, 0xed]),
    );
  });

  it('writes no file when nothing changed since the last snapshot, and a new one when something did', async () => {
    const spaces = smallDatabase();
    const first = await snapshotOf(dir, hasher, spaces, new Vclock([[1, 5]]));
    expect(first.status).toBe('written');
    const logger = new RecordingLogger();
    const again = await snapshotOf(dir, hasher, spaces, new Vclock([[1, 5]]), { logger });
    expect(again).toMatchObject({ status: 'unchanged', path: first.path });
    expect(logger.messages('info')[0]).toMatch(/up to date/);
    expect(await readdir(dir)).toEqual(['00000000000000000005.snap']);
    const next = await snapshotOf(dir, hasher, spaces, new Vclock([[1, 6]]));
    expect(next.status).toBe('written');
    expect((await readdir(dir)).sort()).toEqual([
      '00000000000000000005.snap',
      '00000000000000000006.snap',
    ]);
  });
});

describe('progress, rate limit and yielding', () => {
  it('reports rows, bytes and rate while writing and reading, and a final done', async () => {
    const spaces = buildSpaces([{ id: 512, keys: Array.from({ length: 3000 }, (_, i) => i) }]);
    const writes: SnapshotProgress[] = [];
    const result = await snapshotOf(dir, hasher, spaces, new Vclock([[1, 1]]), {
      blockSizeBytes: 2048,
      progressIntervalMs: 0,
      onProgress: (p) => writes.push(p),
    });
    if (result.status !== 'written') throw new Error('not written');
    expect(writes.length).toBeGreaterThan(20);
    for (let i = 1; i < writes.length; i++) {
      expect(writes[i]!.rows).toBeGreaterThanOrEqual(writes[i - 1]!.rows);
      expect(writes[i]!.bytes).toBeGreaterThanOrEqual(writes[i - 1]!.bytes);
    }
    expect(writes.at(-1)).toMatchObject({
      rows: 3000,
      rowsTotal: 3000,
      bytes: result.bytes,
      done: true,
    });
    expect(writes.at(-1)!.rateMBps).toBeGreaterThan(0);
    const reads: SnapshotProgress[] = [];
    await readAll(result.path, hasher, { progressIntervalMs: 0, onProgress: (p) => reads.push(p) });
    expect(reads.at(-1)).toMatchObject({
      rows: 3000,
      bytes: result.bytes,
      bytesTotal: result.bytes,
      done: true,
    });
    expect(reads.filter((p) => !p.done).length).toBeGreaterThan(20);
  });

  it('keeps under snap_io_rate_limit', async () => {
    const spaces = buildSpaces([
      {
        id: 512,
        keys: Array.from({ length: 4000 }, (_, i) => i),
        make: (k) => tuple(k, 'y'.repeat(60)),
      },
    ]);
    const started = performance.now();
    const result = await snapshotOf(dir, hasher, spaces, new Vclock([[1, 1]]), {
      ioRateLimitMBps: 1,
      blockSizeBytes: 16 * 1024,
    });
    const elapsedMs = performance.now() - started;
    if (result.status !== 'written') throw new Error('not written');
    // ~300 KB at 1 MB/s: the last block may go out at once, everything before it is paced.
    const floorMs = ((result.bytes - 16 * 1024 - 200) / (1024 * 1024)) * 1000;
    expect(elapsedMs).toBeGreaterThanOrEqual(floorMs * 0.95);
    expect(result.rateMBps).toBeLessThan(1.2);
  });

  it('gives the event loop back while encoding, so other work keeps running', async () => {
    // Another task on the loop counts its turns; the source notes the count at every tuple it
    // hands out. Each distinct count seen while encoding is a time the writer let the task run.
    let turns = 0;
    let done = false;
    const other = new Promise<void>((resolve) => {
      const turn = () => {
        turns++;
        if (done) resolve();
        else setImmediate(turn);
      };
      setImmediate(turn);
    });
    const seen = new Set<number>();
    const source: SnapshotSource = {
      vclock: new Vclock([[1, 1]]),
      spaces: [
        {
          id: 512,
          groupId: 0,
          *tuples() {
            for (let i = 0; i < 60_000; i++) {
              seen.add(turns);
              yield tuple(i);
            }
          },
        },
      ],
      release() {},
    };
    // One 1 MiB block: without slicing, the whole encoding would run in one or two turns.
    await writeSnapshot({
      fs,
      dir,
      hasher,
      instanceUuid: INSTANCE_UUID,
      source,
      yieldIntervalMs: 0.2,
      blockSizeBytes: 1 << 20,
    });
    done = true;
    await other;
    expect(seen.size).toBeGreaterThan(5);
  });
});

describe('refusals', () => {
  it('refuses a second snapshot in the same directory while one runs (ER_CHECKPOINT_IN_PROGRESS)', async () => {
    const spaces = buildSpaces([{ id: 512, keys: Array.from({ length: 20_000 }, (_, i) => i) }]);
    const first = readViewSource(new Vclock([[1, 1]]), spaces);
    const second = readViewSource(new Vclock([[1, 2]]), spaces);
    const running = writeSnapshot({ fs, dir, hasher, instanceUuid: INSTANCE_UUID, source: first });
    const refused = writeSnapshot({ fs, dir, hasher, instanceUuid: INSTANCE_UUID, source: second });
    await expect(refused).rejects.toThrow(ClientError);
    await expect(refused).rejects.toMatchObject({
      code: ErrorCode.ER_CHECKPOINT_IN_PROGRESS,
      message: 'Snapshot is already in progress',
    });
    expect(second.releaseCount).toBe(1);
    expect((await running).status).toBe('written');
    expect(first.releaseCount).toBe(1);
  });

  it('never replaces a snapshot of another vclock that has the same name', async () => {
    const spaces = smallDatabase();
    const first = await snapshotOf(
      dir,
      hasher,
      spaces,
      new Vclock([
        [1, 5],
        [2, 5],
      ]),
    );
    const before = await readFile(first.path);
    const clash = snapshotOf(
      dir,
      hasher,
      spaces,
      new Vclock([
        [1, 4],
        [2, 6],
      ]),
    );
    await expect(clash).rejects.toThrow(SystemError);
    await expect(clash).rejects.toThrow(/a snapshot of another vclock has this name: EEXIST/);
    expect(await readFile(first.path)).toEqual(before);
    expect(await readdir(dir)).toEqual(['00000000000000000010.snap']);
  });

  it('passes an error of the source on, removes the .inprogress and releases the source', async () => {
    const boom = new Error('read view broke');
    let released = 0;
    const source: SnapshotSource = {
      vclock: new Vclock([[1, 3]]),
      spaces: [
        {
          id: 512,
          groupId: 0,
          *tuples() {
            for (let i = 0; i < 5000; i++) yield tuple(i);
            throw boom;
          },
        },
      ],
      release: () => released++,
    };
    await expect(
      writeSnapshot({ fs, dir, hasher, instanceUuid: INSTANCE_UUID, source, blockSizeBytes: 1024 }),
    ).rejects.toBe(boom);
    expect(released).toBe(1);
    expect(await readdir(dir)).toEqual([]);
  });

  it('removes a leftover .inprogress of the same name before writing', async () => {
    await writeFile(join(dir, '00000000000000000003.snap.inprogress'), 'half a snapshot');
    const logger = new RecordingLogger();
    const result = await snapshotOf(dir, hasher, smallDatabase(), new Vclock([[1, 3]]), { logger });
    expect(result.status).toBe('written');
    expect(await readdir(dir)).toEqual(['00000000000000000003.snap']);
    expect(logger.messages('warn')).toEqual([
      `removing leftover ${join(dir, '00000000000000000003.snap.inprogress')}`,
    ]);
    expect((await SnapshotDir.scan(fs, dir, hasher)).inprogress).toEqual([]);
  });

  it('saves tuples as they are, byte for byte (never re-encoded)', async () => {
    // A non-canonical encoding (uint32 for a small int, str16 for a short string) must survive.
    const odd = new Uint8Array([0x92, 0xce, 0, 0, 0, 1, 0xda, 0, 1, 0x61]);
    const spaces = buildSpaces([{ id: 512, keys: [1], make: () => odd }]);
    const result = await snapshotOf(dir, hasher, spaces, new Vclock([[1, 1]]));
    const reader = await SnapshotReader.open(fs, result.path, hasher);
    const rows = [];
    for await (const row of reader.rows()) rows.push(row);
    expect(rows.map((row) => row.tuple)).toEqual([odd]);
    expect(encode([1, 'a'])).not.toEqual(odd);
  });
});
