// The Node ceiling of the embedded insert path (issue 14): the least any in-process Node
// database must do for `await space.insert([k, str, k * 2])` to be durable, measured with the
// same keys, writers and phases as the box suite's measureBox, in the same run.
// Per insert it: encodes the JS tuple to MessagePack once, into an arena slab (the stored
// copy); checks the key is unique and indexes it; appends the WAL row (the second copy, into
// the batch; CeilingWal); and settles the caller's promise once the batch is written. Left out
// on purpose: a B+tree (a hash Map is cheaper than any ordered index), schema and field type
// checks, transactions and rollback, triggers, replication, the statement objects a real
// engine needs. So the ceiling is optimistic, and that is its job: tarantype's gap to it is the
// part of the gap to Tarantool that a Node program could close.
import { join } from 'node:path';
import { loadHasher } from '@tarantype/core';
import { concurrentWriters, singleWriter } from '../suites/box.js';
import { CeilingWal, type CeilingWalIo, type CeilingWalMode } from './wal-block.js';

const SLAB = 1 << 20;
const INSERT = 2;

/** Encodes arrays of non-negative safe integers and strings (what the benchmark inserts). */
class Arena {
  private slab = Buffer.allocUnsafe(SLAB);
  private used = 0;

  encode(tuple: readonly unknown[]): Uint8Array {
    // The worst case of this tuple's encoding: 5 B of array header, 9 B per integer,
    // 5 B + 3 B per UTF-16 unit per string.
    let bound = 5;
    for (const field of tuple) bound += typeof field === 'string' ? 5 + 3 * field.length : 9;
    if (this.used + bound > this.slab.length) {
      this.slab = Buffer.allocUnsafe(Math.max(SLAB, bound));
      this.used = 0;
    }
    const b = this.slab;
    const start = this.used;
    let p = start;
    if (tuple.length < 16) b[p++] = 0x90 | tuple.length;
    else {
      b[p++] = 0xdc;
      b.writeUInt16BE(tuple.length, p);
      p += 2;
    }
    for (const field of tuple) {
      if (typeof field === 'number') {
        if (!Number.isSafeInteger(field) || field < 0)
          throw new TypeError(`ceiling: unsupported number ${field}`);
        if (field < 0x80) b[p++] = field;
        else if (field < 0x100) {
          b[p++] = 0xcc;
          b[p++] = field;
        } else if (field < 0x10000) {
          b[p++] = 0xcd;
          b.writeUInt16BE(field, p);
          p += 2;
        } else if (field < 0x100000000) {
          b[p++] = 0xce;
          b.writeUInt32BE(field, p);
          p += 4;
        } else {
          b[p++] = 0xcf;
          b.writeBigUInt64BE(BigInt(field), p);
          p += 8;
        }
      } else if (typeof field === 'string') {
        // Written after room for a str8 header; moved when another header fits it.
        const length = b.write(field, p + 2, 'utf8');
        if (length < 32) {
          b[p] = 0xa0 | length;
          b.copyWithin(p + 1, p + 2, p + 2 + length);
          p += 1 + length;
        } else if (length < 256) {
          b[p] = 0xd9;
          b[p + 1] = length;
          p += 2 + length;
        } else if (length < 0x10000) {
          b.copyWithin(p + 3, p + 2, p + 2 + length);
          b[p] = 0xda;
          b.writeUInt16BE(length, p + 1);
          p += 3 + length;
        } else {
          b.copyWithin(p + 5, p + 2, p + 2 + length);
          b[p] = 0xdb;
          b.writeUInt32BE(length, p + 1);
          p += 5 + length;
        }
      } else throw new TypeError(`ceiling: unsupported field type ${typeof field}`);
    }
    this.used = p;
    return b.subarray(start, p);
  }
}

export class CeilingSpace {
  private readonly arena = new Arena();
  private readonly index = new Map<number, Uint8Array>();

  constructor(
    private readonly wal: CeilingWal,
    private readonly id: number,
  ) {}

  get size(): number {
    return this.index.size;
  }

  /** Inserts one tuple (primary key: field 1); resolves once its WAL row is written. */
  insert(tuple: readonly unknown[]): Promise<void> {
    return new Promise((resolve) => this.wal.append(INSERT, this.id, this.stage(tuple), resolve));
  }

  /** Inserts the tuples as one transaction (one block): resolves once it is written. */
  insertMany(tuples: readonly (readonly unknown[])[]): Promise<void> {
    return new Promise((resolve) => {
      const encoded = tuples.map((tuple) => this.stage(tuple));
      this.wal.appendTransaction(INSERT, this.id, encoded, resolve);
    });
  }

  /** Encodes and indexes one tuple; its bytes (the stored copy). */
  private stage(tuple: readonly unknown[]): Uint8Array {
    const key = tuple[0];
    if (typeof key !== 'number') throw new TypeError('ceiling: the key must be a number');
    if (this.index.has(key)) throw new Error(`ceiling: duplicate key ${key}`);
    const bytes = this.arena.encode(tuple);
    this.index.set(key, bytes);
    return bytes;
  }
}

export interface CeilingInsertOptions {
  readonly dir: string;
  readonly n: number;
  readonly walMode: CeilingWalMode;
  /** Who calls write(2) (default libuv's thread pool, as tarantype's journal does). */
  readonly io?: CeilingWalIo;
  readonly fibers: number;
  readonly batch: number;
  readonly capSeconds: number;
  readonly single: boolean;
  readonly batched: boolean;
  /** The tuple of key k (the suite's {k, str(k), k * 2}). */
  readonly tuple: (k: number) => readonly unknown[];
}

export interface CeilingInsertResult {
  readonly singleRps?: number;
  readonly concurrentRps: number;
  readonly batchedRps?: number;
}

/** measureBox's insert phases (a), (b), (c) against the ceiling, each into a fresh space. */
export async function measureCeilingInserts(
  options: CeilingInsertOptions,
): Promise<CeilingInsertResult> {
  const { n, fibers, capSeconds, tuple } = options;
  const hasher = await loadHasher();
  const wal = new CeilingWal(join(options.dir, 'ceiling.wal'), options.walMode, hasher, options.io);
  try {
    let singleRps: number | undefined;
    let batchedRps: number | undefined;
    if (options.single) {
      const s = new CeilingSpace(wal, 512);
      singleRps = (await singleWriter((k) => s.insert(tuple(k)), n, capSeconds)).rps;
    }
    const s = new CeilingSpace(wal, 513);
    const concurrent = await concurrentWriters((k) => s.insert(tuple(k)), n, fibers, capSeconds);
    if (s.size !== concurrent.count)
      throw new Error(`ceiling: ${s.size} tuples after ${concurrent.count} inserts`);
    const concurrentRps = concurrent.rps;
    if (options.batched) {
      const b = new CeilingSpace(wal, 514);
      const began = performance.now();
      for (let first = 1; first <= n; first += options.batch) {
        const rows: (readonly unknown[])[] = [];
        for (let k = first; k < first + options.batch && k <= n; k++) rows.push(tuple(k));
        await b.insertMany(rows);
      }
      if (b.size !== n) throw new Error(`ceiling: ${b.size} tuples after ${n} batched inserts`);
      batchedRps = n / ((performance.now() - began) / 1000);
    }
    return {
      concurrentRps,
      ...(singleRps === undefined ? {} : { singleRps }),
      ...(batchedRps === undefined ? {} : { batchedRps }),
    };
  } finally {
    await wal.close();
  }
}
