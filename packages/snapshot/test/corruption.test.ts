// Damaged snapshots: truncation at every byte, seeded bit flips, force_recovery's limits
// (user rows after valid ones may be skipped; system rows never), and hand-made files that
// break the ordering rules. FORMAT.md §5 and §7.

import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadHasher, Vclock, XlogError } from '@tarantype/core';
import {
  EOF_MARKER_BYTES,
  encodeMeta,
  NodeFileSystem,
  RecordingLogger,
  XlogCursor,
} from '@tarantype/wal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotBlockBuilder, SnapshotReader } from '../src/index.js';
import {
  buildSpaces,
  expectedRows,
  INSTANCE_UUID,
  readUntilError,
  rowTriples,
  seededRandom,
  smallDatabase,
  snapshotOf,
  tempDir,
  testSeed,
  tuple,
} from './helpers.js';

const hasher = await loadHasher();
const fs = new NodeFileSystem();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

interface BlockInfo {
  readonly offset: number;
  readonly size: number;
  readonly spaces: number[];
}

/** Writes a snapshot and lists its blocks (offset, size, spaces) with the container's cursor. */
async function writeWithBlocks(spaces = smallDatabase(), blockSizeBytes = 64) {
  const result = await snapshotOf(dir, hasher, spaces, new Vclock([[1, 9]]), { blockSizeBytes });
  const cursor = (await XlogCursor.open(fs, result.path, 'SNAP', hasher))!;
  const headerLength = cursor.validEnd;
  const blocks: BlockInfo[] = [];
  for (let block = await cursor.next(); block !== undefined; block = await cursor.next()) {
    blocks.push({
      offset: block.offset,
      size: block.size,
      spaces: [...new Set(block.rows.map((row) => spaceOfBody(row.body)))],
    });
  }
  await cursor.close();
  const bytes = await readFile(result.path);
  return { path: result.path, bytes, blocks, headerLength, expected: expectedRows(spaces) };
}

function spaceOfBody(body: Uint8Array): number {
  // 82 10 ce <u32> …
  return new DataView(body.buffer, body.byteOffset).getUint32(3);
}

const isSystem = (id: number) => id >= 256 && id <= 511;

/** A copy with the snapshot's own name (the reader checks name against VClock) in a fresh subdir. */
let copies = 0;
async function copyWith(original: string, bytes: Uint8Array): Promise<string> {
  const sub = join(dir, `copy-${copies++}`);
  await mkdir(sub);
  const path = join(sub, original.slice(original.lastIndexOf('/') + 1));
  await writeFile(path, bytes);
  return path;
}

describe('truncation', () => {
  it('at every byte offset gives either the whole snapshot or a typed error — never "complete"', async () => {
    const { path, bytes, blocks, expected } = await writeWithBlocks();
    expect(blocks.length).toBeGreaterThan(5);
    const copy = await copyWith(path, bytes);
    for (const forceRecovery of [false, true]) {
      for (let length = 0; length <= bytes.length; length++) {
        await writeFile(copy, bytes.subarray(0, length));
        const result = await readUntilError(copy, hasher, { forceRecovery });
        if (length === bytes.length) {
          expect(result.error).toBeUndefined();
          expect(rowTriples(result.rows)).toEqual(expected);
          expect(result.complete).toBe(true);
          continue;
        }
        expect(result.complete, `length ${length}`).toBe(false);
        expect(result.error, `length ${length}`).toBeInstanceOf(XlogError);
        expect(result.error!.message).toContain(copy);
        expect(result.error!.message).toMatch(/has no EOF marker|incomplete meta header/);
        // What was handed out before the error is whole blocks, in order: a prefix.
        expect(rowTriples(result.rows)).toEqual(expected.slice(0, result.rows.length));
        const wholeBlocks = blocks.filter((block) => block.offset + block.size <= length).length;
        expect(result.reader?.stats.blocks ?? 0).toBe(wholeBlocks);
      }
    }
  });
});

describe('bit flips', () => {
  it('every sampled flip is detected as an XlogError naming the file (seeded)', async () => {
    const { path, bytes, expected } = await writeWithBlocks();
    let forcedComplete = 0;
    const seed = testSeed();
    const random = seededRandom(seed);
    const copy = await copyWith(path, bytes);
    for (let i = 0; i < 400; i++) {
      const position = Math.floor(random() * bytes.length);
      const bit = Math.floor(random() * 8);
      const flipped = Buffer.from(bytes);
      flipped[position]! ^= 1 << bit;
      await writeFile(copy, flipped);
      const result = await readUntilError(copy, hasher);
      expect(result.complete, `seed ${seed}: flip ${position}:${bit} went undetected`).toBe(false);
      expect(result.error, `seed ${seed}: flip ${position}:${bit}`).toBeInstanceOf(XlogError);
      expect(result.error!.message).toContain(copy);
      // force_recovery may lose user rows, never alter one or let one through from a bad block.
      const forced = await readUntilError(copy, hasher, { forceRecovery: true });
      if (forced.error !== undefined) expect(forced.error).toBeInstanceOf(XlogError);
      const delivered = rowTriples(forced.rows).map((row) => row.join());
      const written = new Set(expected.map((row) => row.join()));
      expect(
        delivered.every((row) => written.has(row)),
        `seed ${seed}: flip ${position}:${bit}`,
      ).toBe(true);
      if (forced.complete) expect(forced.reader!.stats.skippedRegions).toBeGreaterThan(0);
      if (forced.complete) forcedComplete++;
    }
    // Some flips land in user blocks after the first one: force_recovery skips those.
    expect(forcedComplete).toBeGreaterThan(0);
  });
});

describe('force_recovery', () => {
  async function damage(
    mutate: (bytes: Buffer, blocks: readonly BlockInfo[]) => Buffer | undefined,
    spaces = smallDatabase(),
  ) {
    const written = await writeWithBlocks(spaces);
    const bytes = Buffer.from(written.bytes);
    const damaged = mutate(bytes, written.blocks) ?? bytes;
    const path = await copyWith(written.path, damaged);
    return { ...written, path };
  }
  const userBlocks = (blocks: readonly BlockInfo[]) =>
    blocks.filter((block) => !isSystem(block.spaces[0]!));

  it('skips a damaged user block after valid user rows, with a warning, and loses only that block', async () => {
    const { path, blocks, expected } = await damage((bytes, blocks) => {
      const block = userBlocks(blocks)[2]!;
      bytes[block.offset + 30]! ^= 0x40;
    });
    const target = userBlocks(blocks)[2]!;
    const normal = await readUntilError(path, hasher);
    expect(normal.error?.message).toBe(
      `block checksum mismatch in ${path} at offset ${target.offset}`,
    );
    const logger = new RecordingLogger();
    const forced = await readUntilError(path, hasher, { forceRecovery: true, logger });
    expect(forced.error).toBeUndefined();
    expect(forced.complete).toBe(true);
    expect(forced.reader!.stats).toMatchObject({ skippedRegions: 1, skippedBytes: target.size });
    const lost = expected.length - forced.rows.length;
    expect(lost).toBeGreaterThan(0);
    // The surviving rows are the expected ones minus one contiguous run.
    const firstMissing = forced.rows.findIndex(
      (row, i) => rowTriples([row])[0]!.join() !== expected[i]!.join(),
    );
    expect(rowTriples(forced.rows)).toEqual([
      ...expected.slice(0, firstMissing),
      ...expected.slice(firstMissing + lost),
    ]);
    expect(logger.messages('warn')).toEqual([
      `block checksum mismatch in ${path} at offset ${target.offset}: skipping ${target.size} bytes (force_recovery)`,
    ]);
  });

  it('skips a damaged last block up to the EOF marker', async () => {
    const { path, blocks } = await damage((bytes, blocks) => {
      bytes[blocks.at(-1)!.offset + 2]! ^= 1;
    });
    expect((await readUntilError(path, hasher)).error).toBeInstanceOf(XlogError);
    const forced = await readUntilError(path, hasher, { forceRecovery: true });
    expect(forced.complete).toBe(true);
    expect(forced.reader!.stats.skippedBytes).toBe(blocks.at(-1)!.size);
  });

  it('never skips damage in the system spaces, nor the first user block (it may hold the end of them)', async () => {
    for (const pick of [
      (b: readonly BlockInfo[]) => b[0]!,
      (b: readonly BlockInfo[]) => b.find((x) => isSystem(x.spaces[0]!) && x !== b[0])!,
      (b: readonly BlockInfo[]) => userBlocks(b)[0]!,
    ]) {
      const { path } = await damage((bytes, blocks) => {
        bytes[pick(blocks).offset + 26]! ^= 0x01;
      });
      const forced = await readUntilError(path, hasher, { forceRecovery: true });
      expect(forced.complete).toBe(false);
      expect(forced.error).toBeInstanceOf(XlogError);
      expect(forced.error!.message).toMatch(/system spaces, which force_recovery never skips/);
    }
  });

  it('accepts no damage at all in a snapshot without user rows... or without system rows before the damage', async () => {
    const onlyUser = buildSpaces([{ id: 512, keys: Array.from({ length: 30 }, (_, i) => i) }]);
    const { path } = await damage((bytes, blocks) => {
      bytes[blocks[0]!.offset + 26]! ^= 0x01;
    }, onlyUser);
    const forced = await readUntilError(path, hasher, { forceRecovery: true });
    expect(forced.error?.message).toMatch(/force_recovery never skips/);
  });

  it('detects a removed block by the lsn gap; force_recovery accepts the rest with a warning', async () => {
    const { path, expected } = await damage((bytes, blocks) => {
      const block = userBlocks(blocks)[3]!;
      return Buffer.concat([
        bytes.subarray(0, block.offset),
        bytes.subarray(block.offset + block.size),
      ]);
    });
    const normal = await readUntilError(path, hasher);
    expect(normal.error?.message).toMatch(
      /row lsn \d+ where \d+ was expected \(rows missing\) in .* at offset \d+$/,
    );
    const logger = new RecordingLogger();
    const forced = await readUntilError(path, hasher, { forceRecovery: true, logger });
    expect(forced.complete).toBe(true);
    expect(forced.rows.length).toBeLessThan(expected.length);
    expect(logger.messages('warn')[0]).toMatch(
      /rows missing.*accepting the block \(force_recovery\)/,
    );
  });

  it('detects swapped blocks; force_recovery drops the one that goes back', async () => {
    const { path } = await damage((bytes, blocks) => {
      const [a, b] = [userBlocks(blocks)[2]!, userBlocks(blocks)[3]!];
      return Buffer.concat([
        bytes.subarray(0, a.offset),
        bytes.subarray(b.offset, b.offset + b.size),
        bytes.subarray(a.offset, a.offset + a.size),
        bytes.subarray(b.offset + b.size),
      ]);
    });
    expect((await readUntilError(path, hasher)).error?.message).toMatch(/rows missing/);
    const logger = new RecordingLogger();
    const forced = await readUntilError(path, hasher, { forceRecovery: true, logger });
    expect(forced.complete).toBe(true);
    expect(logger.messages('warn')[1]).toMatch(/repeated or misplaced block.*skipping the block/);
    const lsns = forced.rows.map((row) => row.lsn);
    expect(lsns).toEqual([...lsns].sort((x, y) => x - y));
  });

  it('refuses bytes after the EOF marker, ignores them with force_recovery', async () => {
    const { path, expected } = await damage((bytes) => Buffer.concat([bytes, Buffer.from('junk')]));
    expect((await readUntilError(path, hasher)).error?.message).toMatch(
      /4 bytes after the EOF marker in .* at offset/,
    );
    const forced = await readUntilError(path, hasher, { forceRecovery: true });
    expect(forced.complete).toBe(true);
    expect(rowTriples(forced.rows)).toEqual(expected);
  });

  it('treats a zero-filled tail as a missing EOF marker, even with force_recovery', async () => {
    const { path } = await damage((bytes) =>
      Buffer.concat([bytes.subarray(0, bytes.length - 4), Buffer.alloc(4096)]),
    );
    const forced = await readUntilError(path, hasher, { forceRecovery: true });
    expect(forced.error?.message).toMatch(/has no EOF marker/);
  });
});

describe('files that break the format rules', () => {
  type Row = [space: number, group: number, lsn: number, data: Uint8Array];
  async function craft(
    blocks: Row[][],
    name = '00000000000000000009.snap',
    vclock = new Vclock([[1, 9]]),
  ): Promise<string> {
    const parts: Uint8Array[] = [
      encodeMeta({ type: 'SNAP', instanceUuid: INSTANCE_UUID, vclock }, hasher),
    ];
    for (const rows of blocks) {
      const builder = new SnapshotBlockBuilder(hasher, 256);
      for (const row of rows) builder.append(...row);
      parts.push(Buffer.from(builder.finish()));
    }
    parts.push(EOF_MARKER_BYTES);
    const sub = join(dir, `crafted-${copies++}`);
    await mkdir(sub);
    const path = join(sub, name);
    await writeFile(path, Buffer.concat(parts));
    return path;
  }
  const t = (key: number) => tuple(key);

  it('a well-formed crafted file reads (the crafting is right)', async () => {
    const path = await craft([
      [
        [280, 0, 0, t(1)],
        [512, 0, 1, t(1)],
      ],
      [[512, 0, 2, t(2)]],
    ]);
    const result = await readUntilError(path, hasher);
    expect(result.complete).toBe(true);
    expect(result.rows.map((row) => row.spaceId)).toEqual([280, 512, 512]);
  });

  it.each<[string, Row[][], RegExp]>([
    [
      'a system row after a user row',
      [
        [
          [512, 0, 0, t(1)],
          [280, 0, 1, t(1)],
        ],
      ],
      /rows of space 280 after rows of space 512/,
    ],
    [
      'a space coming back',
      [
        [
          [512, 0, 0, t(1)],
          [513, 0, 1, t(1)],
        ],
        [[512, 0, 2, t(2)]],
      ],
      /rows of space 512 after rows of space 513/,
    ],
    [
      'spaces out of id order',
      [
        [
          [600, 0, 0, t(1)],
          [512, 0, 1, t(1)],
        ],
      ],
      /rows of space 512 after rows of space 600/,
    ],
    [
      'a group change within a space',
      [
        [
          [512, 0, 0, t(1)],
          [512, 1, 1, t(2)],
        ],
      ],
      /space 512 has rows of group_id 0 and 1/,
    ],
    ['a first row with lsn 1', [[[512, 0, 1, t(1)]]], /row lsn 1 where 0 was expected/],
    [
      'an lsn gap inside a block',
      [
        [
          [512, 0, 0, t(1)],
          [512, 0, 2, t(2)],
        ],
      ],
      /row 1 of the block has lsn 2 after 0/,
    ],
  ])('refuses %s, even with force_recovery', async (_name, blocks, expected) => {
    const path = await craft(blocks);
    for (const forceRecovery of [false, true]) {
      const result = await readUntilError(path, hasher, { forceRecovery });
      expect(result.complete).toBe(false);
      expect(result.error).toBeInstanceOf(XlogError);
      expect(result.error!.message).toMatch(expected);
    }
  });

  it('refuses a file whose name does not match its VClock, and an xlog named .snap', async () => {
    const path = await craft([[[512, 0, 0, t(1)]]], '00000000000000000008.snap');
    await expect(SnapshotReader.open(fs, path, hasher)).rejects.toThrow(
      `${path}: Invalid xlog name: expected 9 got 8`,
    );
    const xlog = Buffer.concat([
      encodeMeta(
        { type: 'XLOG', instanceUuid: INSTANCE_UUID, vclock: new Vclock([[1, 9]]) },
        hasher,
      ),
      EOF_MARKER_BYTES,
    ]);
    const xlogPath = join(dir, '00000000000000000009.snap');
    await writeFile(xlogPath, xlog);
    await expect(SnapshotReader.open(fs, xlogPath, hasher)).rejects.toThrow(
      /Invalid xlog type: expected SNAP, got XLOG/,
    );
    // A copy under another name (for inspection) is read without the name check.
    const other = join(dir, 'inspect.bin');
    await copyFile(path, other);
    expect((await readUntilError(other, hasher)).complete).toBe(true);
  });
});
