// Shared helpers for the wal integration tests: temp dirs, rows, reading files back.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Hasher,
  IprotoType,
  loadHasher,
  MsgpackWriter,
  makeXrow,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import {
  type FileSystem,
  Journal,
  type JournalOptions,
  NodeFileSystem,
  XlogCursor,
  XlogDir,
} from '../src/index.js';

export const INSTANCE_UUID = '7c6b0e53-8e5c-4b36-9f62-7c6d0b7f4b11';

export async function tempDir(
  prefix = 'tarantype-wal-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const writer = new MsgpackWriter();

/** An INSERT row into space 512 of tuple [i, payload]. */
export function insertRow(i: number, payload = 'x'.repeat(40)): Xrow {
  writer.reset();
  writer.mapHeader(2);
  writer.uint(0x10);
  writer.uint(512);
  writer.uint(0x21);
  writer.arrayHeader(2);
  writer.uint(i);
  writer.str(payload);
  return makeXrow(IprotoType.INSERT, writer.toBytes());
}

/** The tuple key (first field) of an insertRow body. */
export function rowKey(row: Xrow): number {
  // body: 82 10 cd 02 00 21 92 <key>
  const b = row.body;
  const t = b[7]!;
  if (t < 0x80) return t;
  if (t === 0xcc) return b[8]!;
  if (t === 0xcd) return (b[8]! << 8) | b[9]!;
  if (t === 0xce) return new DataView(b.buffer, b.byteOffset).getUint32(8);
  throw new Error(`unexpected key type ${t}`);
}

export async function openJournal(
  fs: FileSystem,
  dir: string,
  hasher: Hasher,
  overrides: Partial<JournalOptions> = {},
): Promise<Journal> {
  return new Journal({
    fs,
    dir,
    hasher,
    instanceUuid: INSTANCE_UUID,
    instanceId: 1,
    vclock: new Vclock(),
    mode: 'write',
    now: () => 1_700_000_000.5,
    ...overrides,
  });
}

/** Every transaction of every xlog in `dir`, as arrays of keys. */
export async function readAllKeys(
  dir: string,
  hasher: Hasher,
  fs: FileSystem = new NodeFileSystem(),
): Promise<number[][]> {
  const scanned = await XlogDir.scan(fs, dir, 'XLOG', hasher);
  const out: number[][] = [];
  for (const file of scanned.files) {
    const cursor = await XlogCursor.open(fs, file.path, 'XLOG', hasher);
    if (cursor === undefined) continue;
    for (let tx = await cursor.next(); tx !== undefined; tx = await cursor.next())
      out.push(tx.rows.map(rowKey));
    await cursor.close();
  }
  return out;
}

export { loadHasher, NodeFileSystem };
