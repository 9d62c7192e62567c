// The reader's read-ahead (snapshot-reader.ts): the next chunk is read while the current one is
// decoded. Checked here: every read size, down to 1 byte, gives the outcome of one big read
// (rows, stats, errors, on clean and damaged files); a block cut by a chunk boundary is joined
// without reading its bytes twice; the read of the next chunk is in flight before the current
// chunk is consumed; a failed read-ahead throws the plain read's error only where its bytes are
// needed, and never as an unhandled rejection; close() waits for a read in flight.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AssertionError, loadHasher, SystemError, Vclock } from '@tarantype/core';
import {
  type FileHandle,
  type FileSystem,
  NodeFileSystem,
  type OpenMode,
  XlogCursor,
} from '@tarantype/wal';
import { errnoError, FaultyFileSystem, RecordingLogger } from '@tarantype/wal/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SnapshotReader,
  type SnapshotReaderOptions,
  type SnapshotReadStats,
  type SnapshotRow,
} from '../src/index.js';
import {
  buildSpaces,
  expectedRows,
  hex,
  rowTriples,
  seededRandom,
  snapshotOf,
  tempDir,
  testSeed,
  tuple,
} from './helpers.js';

const hasher = await loadHasher();
const real = new NodeFileSystem();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir('tarantype-read-ahead-')));
afterEach(async () => cleanup());

/** Unhandled rejections while `body` runs and shortly after (a late one would be missed). */
async function unhandledRejectionsDuring(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => void seen.push(reason);
  process.on('unhandledRejection', listener);
  try {
    await body();
    await sleep(20);
  } finally {
    process.off('unhandledRejection', listener);
  }
  return seen;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Tuples of varying length, so blocks hold different row counts and boundaries fall anywhere. */
const varied = (key: number) => tuple(key, `value-${key}-${'x'.repeat((key * 7919) % 61)}`);

/** A snapshot of several spaces in blocks of about `blockSizeBytes`; its path, bytes and blocks. */
async function multiBlockSnapshot(rowsPerSpace: number, blockSizeBytes: number) {
  const keys = Array.from({ length: rowsPerSpace }, (_, i) => i + 1);
  const spaces = buildSpaces([
    { id: 280, keys: keys.slice(0, 50), make: varied },
    { id: 512, keys, make: varied },
    { id: 513, groupId: 1, keys, make: varied },
  ]);
  const { path } = await snapshotOf(dir, hasher, spaces, new Vclock([[1, 9]]), { blockSizeBytes });
  const cursor = (await XlogCursor.open(real, path, 'SNAP', hasher))!;
  const headerLength = cursor.validEnd;
  const blocks: Array<{ offset: number; size: number; rows: number }> = [];
  for (let block = await cursor.next(); block !== undefined; block = await cursor.next())
    blocks.push({ offset: block.offset, size: block.size, rows: block.rows.length });
  await cursor.close();
  return {
    path,
    bytes: await readFile(path),
    blocks,
    headerLength,
    expected: expectedRows(spaces),
  };
}

interface Outcome {
  readonly rows: string[];
  readonly stats: SnapshotReadStats | undefined;
  readonly error: string | undefined;
  readonly warnings: string[];
}

/** Everything a read shows: rows with lsn, stats, the error's class and text, warnings. */
async function outcome(path: string, options: SnapshotReaderOptions): Promise<Outcome> {
  const logger = new RecordingLogger();
  const rows: SnapshotRow[] = [];
  let reader: SnapshotReader | undefined;
  let error: string | undefined;
  try {
    reader = await SnapshotReader.open(real, path, hasher, { ...options, logger });
    for await (const batch of reader) rows.push(...batch.rows);
  } catch (caught) {
    error = `${(caught as Error).constructor.name}: ${(caught as Error).message}`;
  }
  return {
    rows: rows.map((row) => `${row.lsn} ${row.spaceId} ${row.groupId} ${hex(row.tuple)}`),
    stats: reader === undefined ? undefined : { ...reader.stats },
    error,
    warnings: logger.messages('warn'),
  };
}

describe('every read size gives what one read of the whole file gives', () => {
  it('on a clean file and on damaged ones, with and without force_recovery (seeded sizes)', async () => {
    const { path, bytes, blocks, expected } = await multiBlockSnapshot(600, 1024);
    expect(blocks.length).toBeGreaterThan(40);
    const seed = testSeed();
    const random = seededRandom(seed);
    const sizes = [1, 7, 64, 600, 1000, 1023, 1500, 4096, 9000];
    for (let i = 0; i < 3; i++) sizes.push(1 + Math.floor(random() * 5000));
    const middle = blocks[Math.floor(blocks.length * 0.6)]!;
    const last = blocks[blocks.length - 1]!;
    const eofAt = bytes.length - 8;
    const files: Array<[string, Buffer]> = [
      ['clean', bytes],
      ['flipped byte in a user block', flip(bytes, middle.offset + 40)],
      ['flipped block magic', flip(bytes, middle.offset)],
      ['cut in the middle of a block', bytes.subarray(0, middle.offset + 500)],
      [
        'zero-filled tail',
        Buffer.concat([bytes.subarray(0, last.offset), Buffer.alloc(eofAt - last.offset + 3000)]),
      ],
      ['bytes after the EOF marker', Buffer.concat([bytes, Buffer.from('junk')])],
    ];
    // The reference: a read size larger than the file, so it is read in one go, no read-ahead.
    const whole = { readSizeBytes: bytes.length * 2 };
    const copy = path.replace('.snap', '.copy/00000000000000000009.snap');
    await real.mkdir(join(copy, '..'));
    for (const [what, content] of files) {
      await writeFile(copy, content);
      for (const forceRecovery of [false, true]) {
        const reference = await outcome(copy, { ...whole, forceRecovery });
        if (what === 'clean') {
          expect(reference.error).toBeUndefined();
          expect(reference.rows.map((row) => row.split(' ').slice(1))).toEqual(
            expected.map(([space, group, data]) => [String(space), String(group), data]),
          );
        } else expect(reference.error ?? reference.warnings.join(), what).not.toBe('');
        for (const readSizeBytes of sizes) {
          const context = `seed ${seed}: ${what}, forceRecovery ${forceRecovery}, readSizeBytes ${readSizeBytes}`;
          expect(await outcome(copy, { readSizeBytes, forceRecovery }), context).toEqual(reference);
        }
      }
    }
  });

  it('with blocks longer than the read-ahead headroom, at the default read size', async () => {
    // 160 KiB blocks: the head of a block cut by a 1 MiB boundary is often longer than the
    // 64 KiB headroom, so the join copies into fresh memory.
    const { path, bytes, blocks } = await multiBlockSnapshot(20_000, 160 * 1024);
    expect(bytes.length).toBeGreaterThan(2 << 20);
    expect(blocks.length).toBeGreaterThan(10);
    const reference = await outcome(path, { readSizeBytes: bytes.length * 2 });
    expect(reference.stats?.complete).toBe(true);
    expect(await outcome(path, {})).toEqual(reference);
    expect(await outcome(path, { readSizeBytes: 200 * 1024 })).toEqual(reference);
  });
});

function flip(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at]! ^= 0x40;
  return copy;
}

/** One read or close of a GatedFileSystem's file, in the order they happened. */
type Event =
  | { kind: 'read-start'; position: number; length: number }
  | { kind: 'read-end'; position: number; bytes: number }
  | { kind: 'read-failed'; position: number }
  | { kind: 'close' };

/**
 * A FileSystem whose reads at or after `gateFrom` wait until release() lets them go on (or
 * fail with an EIO), and which logs every read and close of its files.
 */
class GatedFileSystem implements FileSystem {
  readonly events: Event[] = [];
  gateFrom = Number.POSITIVE_INFINITY;
  private waiting: Array<(failure: Error | undefined) => void> = [];

  constructor(private readonly inner: FileSystem) {}

  /** Reads waiting at the gate; the next ones go through too (or fail) until the gate is moved. */
  release(failure?: Error): void {
    this.gateFrom = Number.POSITIVE_INFINITY;
    for (const resume of this.waiting.splice(0)) resume(failure);
  }

  get held(): number {
    return this.waiting.length;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    const owner = this;
    return {
      write: (data, position) => handle.write(data, position),
      datasync: () => handle.datasync(),
      truncate: (length) => handle.truncate(length),
      size: () => handle.size(),
      async read(into, offset, length, position) {
        owner.events.push({ kind: 'read-start', position, length });
        if (position >= owner.gateFrom) {
          const failure = await new Promise<Error | undefined>((resume) =>
            owner.waiting.push(resume),
          );
          if (failure !== undefined) {
            owner.events.push({ kind: 'read-failed', position });
            throw failure;
          }
        }
        const bytes = await handle.read(into, offset, length, position);
        owner.events.push({ kind: 'read-end', position, bytes });
        return bytes;
      },
      async close() {
        owner.events.push({ kind: 'close' });
        await handle.close();
      },
    };
  }

  readdir = (path: string) => this.inner.readdir(path);
  size = (path: string) => this.inner.size(path);
  rename = (from: string, to: string) => this.inner.rename(from, to);
  unlink = (path: string) => this.inner.unlink(path);
  mkdir = (path: string) => this.inner.mkdir(path);
  syncDir = (path: string) => this.inner.syncDir(path);
}

const READ_SIZE = 4096;

describe('read-ahead', () => {
  it('reads the next chunk while the current one is handed out, and every byte only once', async () => {
    const { path, bytes, headerLength, expected } = await multiBlockSnapshot(600, 1024);
    expect(bytes.length).toBeGreaterThan(8 * READ_SIZE);
    const fs = new GatedFileSystem(real);
    const second = headerLength + READ_SIZE;
    fs.gateFrom = second;
    const reader = await SnapshotReader.open(fs, path, hasher, { readSizeBytes: READ_SIZE });
    const rows: SnapshotRow[] = [];
    // The first block comes while the read of the second chunk is held at the gate: it was
    // started (read-ahead), and the reader does not wait for it before it needs its bytes.
    rows.push(...(await reader.next())!.rows);
    expect(fs.held).toBe(1);
    expect(fs.events.at(-1)).toEqual({ kind: 'read-start', position: second, length: READ_SIZE });
    fs.release();
    for (let batch = await reader.next(); batch !== undefined; batch = await reader.next())
      rows.push(...batch.rows);
    await reader.close();
    expect(rowTriples(rows)).toEqual(expected);
    // Chunks follow each other and no byte is read twice: the heads of blocks cut by chunk
    // boundaries were joined from memory. (The meta header's read is the first.)
    const reads = fs.events.filter((event) => event.kind === 'read-start');
    expect(reads[0]).toEqual({ kind: 'read-start', position: 0, length: 4096 });
    expect(reads.slice(1).map((read) => read.position)).toEqual(
      Array.from(
        { length: Math.ceil((bytes.length - headerLength) / READ_SIZE) },
        (_, i) => headerLength + i * READ_SIZE,
      ),
    );
    expect(fs.events.at(-1)).toEqual({ kind: 'close' });
  });

  it('a failed read-ahead throws the read error where its bytes are needed, not before', async () => {
    const { path, blocks, headerLength } = await multiBlockSnapshot(600, 1024);
    const fs = new FaultyFileSystem(real);
    // Reads: the meta header, the first chunk, then the read-ahead of the second chunk.
    fs.failNext('read', 'EIO', { skip: 2, pathIncludes: '.snap' });
    const chunkEnd = headerLength + READ_SIZE;
    const inFirstChunk = blocks.filter((block) => block.offset + block.size <= chunkEnd);
    expect(inFirstChunk.length).toBeGreaterThan(1);
    const rows: SnapshotRow[] = [];
    let error: unknown;
    const unhandled = await unhandledRejectionsDuring(async () => {
      const reader = await SnapshotReader.open(fs, path, hasher, { readSizeBytes: READ_SIZE });
      try {
        for await (const batch of reader) {
          rows.push(...batch.rows);
          // Time for the failed read to settle long before its bytes are needed.
          await sleep(5);
        }
      } catch (caught) {
        error = caught;
      }
    });
    expect(fs.counts.injected).toBe(1);
    expect(unhandled).toEqual([]);
    // The same error, with the same text, a plain read of those bytes throws (io() wraps it).
    expect(error).toBeInstanceOf(SystemError);
    expect((error as SystemError).message).toBe(`read '${path}' failed: EIO`);
    expect((error as SystemError).errno).toBe(5);
    // Every block that lies in the first chunk was handed out before it.
    expect(rows.length).toBe(inFirstChunk.reduce((sum, block) => sum + block.rows, 0));
  });

  it('a failed read-ahead whose bytes are never needed is dropped: early exit closes cleanly', async () => {
    const { path } = await multiBlockSnapshot(600, 1024);
    const fs = new FaultyFileSystem(real);
    fs.failNext('read', 'EIO', { skip: 2, pathIncludes: '.snap' });
    let batches = 0;
    const unhandled = await unhandledRejectionsDuring(async () => {
      const reader = await SnapshotReader.open(fs, path, hasher, { readSizeBytes: READ_SIZE });
      for await (const _batch of reader) {
        batches++;
        await sleep(5);
        break;
      }
    });
    expect(batches).toBe(1);
    expect(fs.counts.injected).toBe(1);
    expect(unhandled).toEqual([]);
  });

  it('close() during a read-ahead waits for the read, then closes the file; nothing reads after', async () => {
    const { path, headerLength } = await multiBlockSnapshot(600, 1024);
    const fs = new GatedFileSystem(real);
    fs.gateFrom = headerLength + READ_SIZE;
    let closed = false;
    const unhandled = await unhandledRejectionsDuring(async () => {
      const reader = await SnapshotReader.open(fs, path, hasher, { readSizeBytes: READ_SIZE });
      expect(await reader.next()).toBeDefined();
      expect(fs.held).toBe(1);
      const closing = reader.close().then(() => {
        closed = true;
      });
      await sleep(20);
      expect(closed).toBe(false);
      expect(fs.events.some((event) => event.kind === 'close')).toBe(false);
      fs.release(errnoError('EIO', 'read', path));
      await closing;
      // A reader used after close() is a programmer error, and it reads nothing.
      await expect(drain(reader)).rejects.toThrow(AssertionError);
    });
    expect(unhandled).toEqual([]);
    const kinds = fs.events.map((event) => event.kind);
    expect(kinds.slice(-2)).toEqual(['read-failed', 'close']);
  });
});

async function drain(reader: SnapshotReader): Promise<void> {
  while ((await reader.next()) !== undefined) {
    // every block
  }
}
