// checkWalDir: reads a data directory and lists every broken invariant of FORMAT.md §1 and §6
// that can be seen from the files alone. Layer: wal. Campaigns and tests run it after every
// step; it never changes the directory, and it reports instead of throwing, so one run shows
// every violation at once.
//
// Checked:
// - names: a file's name is the signature (sum of components) of its header VClock;
// - vclocks only grow: each xlog's VClock ≤ the next one's, componentwise;
// - the PrevVClock chain (rule 13): each xlog's PrevVClock equals the previous xlog's VClock;
// - no rows missing between files: the vclock after the last row of an xlog (its VClock plus
//   its rows) equals the next xlog's VClock, and every row of an xlog is above the file's VClock
//   and above the previous row of its component (read with the xlog cursor, which also checks
//   checksums: corruption is a violation);
// - only the newest xlog may end in a torn tail (recovery truncates it before writing on, so an
//   older file never keeps one) — unless `allowTorn`, for a directory a crash or a power loss
//   left before recovery repaired it. An older xlog without its EOF marker at a block boundary
//   is allowed: a crash leaves it so, and it keeps warning until GC removes it, as in 2.6;
// - GC never removed a file still needed: for the vclock of every kept snapshot and of every
//   consumer passed in `needed` (replicas, open JOINs), the xlogs hold every row after it (the
//   first xlog's VClock ≤ that vclock), unless nothing was written after it.
import { basename } from 'node:path';
import { type Hasher, loadHasher, Vclock, XlogError } from '@tarantype/core';
import { type FileSystem, NodeFileSystem } from './file-system.js';
import { XlogCursor, type XlogEnd } from './xlog-cursor.js';
import { XlogDir } from './xlog-dir.js';

export interface WalDirFile {
  readonly path: string;
  readonly signature: number;
  /** Header VClock (start of the file); undefined for an incomplete header. */
  readonly vclock: Vclock | undefined;
  readonly prevVclock: Vclock | undefined;
  /** VClock after the last whole transaction of the file. */
  readonly endVclock: Vclock | undefined;
  readonly end: XlogEnd | 'unreadable' | undefined;
  readonly transactions: number;
}

export interface WalDirReport {
  readonly xlogs: readonly WalDirFile[];
  readonly snapshots: readonly { readonly path: string; readonly vclock: Vclock }[];
  /** One sentence per broken invariant, naming the file. Empty when all hold. */
  readonly violations: string[];
}

export interface CheckWalDirOptions {
  readonly fs?: FileSystem;
  readonly hasher?: Hasher;
  /** Where the .snap files are (memtx_dir); default the same directory. */
  readonly snapDir?: string;
  /** GC consumers whose rows must still be on disk: {name, vclock} (box.info.gc().consumers). */
  readonly needed?: readonly { readonly name: string; readonly vclock: Vclock }[];
  /** A directory not yet repaired by recovery: older xlogs may end in a torn tail. */
  readonly allowTorn?: boolean;
}

/** Loaded once for callers that pass no hasher (the xxhash module is initialised once). */
let defaultHasher: Promise<Hasher> | undefined;

export async function checkWalDir(
  dir: string,
  options: CheckWalDirOptions = {},
): Promise<WalDirReport> {
  const fs = options.fs ?? new NodeFileSystem();
  defaultHasher ??= loadHasher();
  const hasher = options.hasher ?? (await defaultHasher);
  const violations: string[] = [];
  const xlogDir = await XlogDir.scan(fs, dir, 'XLOG', hasher);
  const xlogs: WalDirFile[] = [];
  for (const file of xlogDir.files) xlogs.push(await readXlog(fs, hasher, file.path, violations));
  for (let i = 0; i < xlogs.length; i++) {
    const file = xlogs[i]!;
    if (file.vclock === undefined) {
      if (i !== xlogs.length - 1) violations.push(`${file.path}: incomplete meta header`);
      continue;
    }
    if (file.vclock.signature() !== file.signature)
      violations.push(
        `${file.path}: the name says signature ${file.signature}, the VClock ${file.vclock} sums to ${file.vclock.signature()}`,
      );
    const newest = i === xlogs.length - 1;
    if (!newest && options.allowTorn !== true && file.end === 'torn')
      violations.push(`${file.path}: not the newest xlog, yet it ends in a torn tail`);
    const previous = xlogs[i - 1];
    if (previous?.vclock === undefined) continue;
    const prev = file.prevVclock ?? new Vclock();
    if (!prev.equals(previous.vclock))
      violations.push(
        `${file.path}: PrevVClock ${prev} differs from the VClock ${previous.vclock} of ${previous.path}`,
      );
    if (!previous.vclock.isLessOrEqual(file.vclock))
      violations.push(
        `${file.path}: VClock ${file.vclock} went back from ${previous.vclock} of ${previous.path}`,
      );
    if (previous.endVclock !== undefined && !previous.endVclock.equals(file.vclock))
      violations.push(
        `${file.path}: starts at ${file.vclock} but ${previous.path} ends at ${previous.endVclock}: rows missing between them`,
      );
  }
  const snapDir = await XlogDir.scan(fs, options.snapDir ?? dir, 'SNAP', hasher);
  const snapshots: { path: string; vclock: Vclock }[] = [];
  for (const snap of snapDir.files) {
    if (snap.meta === undefined) {
      violations.push(`${snap.path}: incomplete meta header`);
      continue;
    }
    if (snap.meta.vclock.signature() !== snap.signature)
      violations.push(
        `${snap.path}: the name says signature ${snap.signature}, the VClock ${snap.meta.vclock} sums to ${snap.meta.vclock.signature()}`,
      );
    snapshots.push({ path: snap.path, vclock: snap.meta.vclock });
  }
  const needed = [
    ...snapshots.map((s) => ({ name: `checkpoint ${s.path}`, vclock: s.vclock })),
    ...(options.needed ?? []),
  ];
  const first = xlogs.find((f) => f.vclock !== undefined);
  const last = [...xlogs].reverse().find((f) => f.endVclock !== undefined);
  for (const consumer of needed) {
    if (first?.vclock === undefined || last?.endVclock === undefined) continue;
    // Nothing was written after this vclock: no file is needed.
    if (last.endVclock.isLessOrEqual(consumer.vclock)) continue;
    if (!first.vclock.isLessOrEqual(consumer.vclock))
      violations.push(
        `${consumer.name} needs the rows after ${consumer.vclock}, but the oldest xlog ${first.path} starts at ${first.vclock}`,
      );
  }
  return { xlogs, snapshots, violations };
}

async function readXlog(
  fs: FileSystem,
  hasher: Hasher,
  path: string,
  violations: string[],
): Promise<WalDirFile> {
  const signature = Number(basename(path).split('.')[0]);
  let cursor: XlogCursor | undefined;
  try {
    cursor = await XlogCursor.open(fs, path, 'XLOG', hasher, { reuseBuffers: true });
  } catch (error) {
    violations.push(`${path}: ${(error as Error).message}`);
    return {
      path,
      signature,
      vclock: undefined,
      prevVclock: undefined,
      endVclock: undefined,
      end: 'unreadable',
      transactions: 0,
    };
  }
  if (cursor === undefined)
    return {
      path,
      signature,
      vclock: undefined,
      prevVclock: undefined,
      endVclock: undefined,
      end: undefined,
      transactions: 0,
    };
  const vclock = cursor.meta.vclock.copy();
  const end = vclock.copy();
  let transactions = 0;
  try {
    for (let tx = await cursor.next(); tx !== undefined; tx = await cursor.next()) {
      transactions++;
      for (const row of tx.rows) {
        if (row.lsn <= end.get(row.replica_id)) {
          violations.push(
            `${path}: row with LSN ${row.lsn} of replica ${row.replica_id} at offset ${tx.offset} is not above ${end.get(row.replica_id)}`,
          );
          continue;
        }
        end.set(row.replica_id, row.lsn);
      }
    }
  } catch (error) {
    violations.push(
      error instanceof XlogError ? error.message : `${path}: ${(error as Error).message}`,
    );
    await cursor.close();
    return {
      path,
      signature,
      vclock,
      prevVclock: cursor.meta.prevVclock,
      endVclock: undefined,
      end: 'unreadable',
      transactions,
    };
  }
  await cursor.close();
  return {
    path,
    signature,
    vclock,
    prevVclock: cursor.meta.prevVclock,
    endVclock: end,
    end: cursor.end,
    transactions,
  };
}
