// Shared helpers for the snapshot integration tests: temp dirs, tuples, spaces, reading back.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode, type Hasher, MsgpackWriter, Vclock } from '@tarantype/core';
import { type FileSystem, NodeFileSystem } from '@tarantype/wal';
import { seededRandom } from '@tarantype/wal/testing';
import {
  SnapshotReader,
  type SnapshotReaderOptions,
  type SnapshotRow,
  type SnapshotWriterOptions,
  writeSnapshot,
} from '../src/index.js';
import { CowSortedMap, type MemorySpace, readViewSource } from '../src/testing.js';

export const INSTANCE_UUID = '7c6b0e53-8e5c-4b36-9f62-7c6d0b7f4b11';

export async function tempDir(
  prefix = 'tarantype-snap-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The seed of a randomized test: SEED= replays one; printed by the tests on failure. */
export function testSeed(): number {
  return Number(process.env.SEED ?? Date.now() % 1_000_000);
}

const writer = new MsgpackWriter(256);

/** The benchmark's tuple shape: [key, string, key * 2]. */
export function tuple(key: number, text = `value-${key}`): Uint8Array {
  writer.reset();
  writer.arrayHeader(3);
  writer.uint(key);
  writer.str(text);
  writer.uint(key * 2);
  return writer.toBytes();
}

/** First field of a tuple made by tuple(). */
export function tupleKey(bytes: Uint8Array): number {
  // [key, ...]: a fixarray header, then the key.
  const t = bytes[1]!;
  if (t < 0x80) return t;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (t === 0xcc) return bytes[2]!;
  if (t === 0xcd) return view.getUint16(2);
  if (t === 0xce) return view.getUint32(2);
  throw new Error(`unexpected key type 0x${t.toString(16)}`);
}

export interface SpaceSpec {
  readonly id: number;
  readonly groupId?: number;
  readonly keys: readonly number[];
  /** Tuple for a key (default tuple(key)). */
  readonly make?: (key: number) => Uint8Array;
}

/** CowSortedMaps filled per spec. */
export function buildSpaces(specs: readonly SpaceSpec[], leafSize?: number): MemorySpace[] {
  return specs.map((spec) => {
    const data = new CowSortedMap<Uint8Array>(leafSize);
    for (const key of spec.keys) data.set(key, (spec.make ?? tuple)(key));
    return { id: spec.id, groupId: spec.groupId ?? 0, data };
  });
}

/** A small database: two system spaces, a local space, a space with id < 256, two user spaces. */
export function smallDatabase(rowsPerSpace = 6): MemorySpace[] {
  const keys = Array.from({ length: rowsPerSpace }, (_, i) => i + 1);
  return buildSpaces([
    { id: 513, keys },
    { id: 280, keys },
    { id: 512, groupId: 1, keys },
    { id: 272, keys: keys.slice(0, 3) },
    { id: 7, keys },
  ]);
}

/** Expected rows (spaceId, groupId, tuple bytes) of a source in file order, read from the maps now. */
export function expectedRows(spaces: readonly MemorySpace[]): Array<[number, number, string]> {
  const system = (id: number) => id >= 256 && id <= 511;
  const ordered = [...spaces].sort((a, b) =>
    system(a.id) === system(b.id) ? a.id - b.id : system(a.id) ? -1 : 1,
  );
  const rows: Array<[number, number, string]> = [];
  for (const space of ordered) {
    for (const [, value] of space.data.entries())
      rows.push([space.id, space.groupId ?? 0, hex(value)]);
  }
  return rows;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function rowTriples(rows: readonly SnapshotRow[]): Array<[number, number, string]> {
  return rows.map((row) => [row.spaceId, row.groupId, hex(row.tuple)]);
}

/** Writes a snapshot of `spaces` at `vclock` into `dir`. */
export async function snapshotOf(
  dir: string,
  hasher: Hasher,
  spaces: readonly MemorySpace[],
  vclock: Vclock,
  overrides: Partial<SnapshotWriterOptions> = {},
  fs: FileSystem = new NodeFileSystem(),
) {
  return writeSnapshot({
    fs,
    dir,
    hasher,
    instanceUuid: INSTANCE_UUID,
    source: readViewSource(vclock, spaces),
    ...overrides,
  });
}

/** Every row of a snapshot file, with the reader (for stats) — throws what the reader throws. */
export async function readAll(
  path: string,
  hasher: Hasher,
  options: SnapshotReaderOptions = {},
  fs: FileSystem = new NodeFileSystem(),
) {
  const reader = await SnapshotReader.open(fs, path, hasher, options);
  const rows: SnapshotRow[] = [];
  for await (const batch of reader) rows.push(...batch.rows);
  return { reader, rows };
}

/**
 * Reads what it can: the rows delivered before an error, and the error. Never throws for
 * XlogError-like failures (the caller asserts on them).
 */
export async function readUntilError(
  path: string,
  hasher: Hasher,
  options: SnapshotReaderOptions = {},
) {
  const rows: SnapshotRow[] = [];
  let reader: SnapshotReader | undefined;
  try {
    reader = await SnapshotReader.open(new NodeFileSystem(), path, hasher, options);
    for await (const batch of reader) rows.push(...batch.rows);
    return { rows, error: undefined, complete: reader.stats.complete, reader };
  } catch (error) {
    return { rows, error: error as Error, complete: false, reader };
  }
}

export { encode, seededRandom, Vclock };
