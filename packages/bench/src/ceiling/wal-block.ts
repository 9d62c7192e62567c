// The ceilings' write-ahead log: rows appended to one batch buffer, written as one block of
// tarantype's xlog layout (packages/wal/FORMAT.md §3: 24-byte header, xxh64 of the payload,
// xxh32 of the header) with one fs.write per batch, and an fdatasync after it in fsync mode.
// Every row appended in the current tick joins one batch (a microtask, as the journal does);
// while a write is in flight the next batch accumulates (group commit).
// It is the least a durable write path can do: encode the row, checksum it, one write(2) per
// batch. Left out on purpose: the meta header, rotation, the EOF marker, error recovery (a failed
// write rejects the batch and poisons the log), and one block per transaction (tarantype writes
// one block per transaction; a batch is one block here, so this is cheaper).
import { closeSync, fdatasync, openSync, write } from 'node:fs';
import type { Hasher } from '@tarantype/core';

const MAGIC = 0xd5ba0bab;
const HEADER = 24;

export type CeilingWalMode = 'write' | 'fsync' | 'none';

export class CeilingWal {
  private readonly fd: number;
  private buffer = Buffer.allocUnsafe(1 << 20);
  /** The buffer of the batch in flight; the two swap (only one write is ever in flight). */
  private spare = Buffer.allocUnsafe(1 << 20);
  private length = HEADER;
  private rows = 0;
  private waiters: (() => void)[] = [];
  private writing = false;
  private scheduled = false;
  private failure: Error | undefined;
  private lsn = 0;

  constructor(
    path: string,
    private readonly mode: CeilingWalMode,
    private readonly hasher: Hasher,
  ) {
    this.fd = openSync(path, 'w');
  }

  /**
   * Appends one row {type, lsn, timestamp} + {0x10 space, 0x21 tuple} to the batch; `done` runs
   * once the batch holding it is written (and synced in fsync mode). Returns the row's LSN.
   */
  append(type: number, space: number, tuple: Uint8Array, done: () => void): number {
    if (this.failure !== undefined) throw this.failure;
    const lsn = ++this.lsn;
    this.reserve(tuple.length + 32);
    const b = this.buffer;
    let p = this.length;
    // header {0x00: type, 0x03: lsn (uint32), 0x04: timestamp (float64)}
    b[p++] = 0x83;
    b[p++] = 0x00;
    b[p++] = type;
    b[p++] = 0x03;
    b[p++] = 0xce;
    b.writeUInt32BE(lsn, p);
    p += 4;
    b[p++] = 0x04;
    b[p++] = 0xcb;
    b.writeDoubleBE(Date.now() / 1000, p);
    p += 8;
    // body {0x10: space (uint16), 0x21: tuple}
    b[p++] = 0x82;
    b[p++] = 0x10;
    b[p++] = 0xcd;
    b.writeUInt16BE(space, p);
    p += 2;
    b[p++] = 0x21;
    b.set(tuple, p);
    p += tuple.length;
    this.length = p;
    this.rows++;
    this.waiters.push(done);
    if (!this.writing && !this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flush);
    }
    return lsn;
  }

  close(): void {
    closeSync(this.fd);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.rows === 0 || this.writing) return;
    const full = this.buffer;
    const batch = full.subarray(0, this.length);
    const waiters = this.waiters;
    const rows = this.rows;
    // The next batch accumulates in the other buffer while this one is in flight.
    this.buffer = this.spare;
    this.spare = full;
    this.length = HEADER;
    this.rows = 0;
    this.waiters = [];
    batch.writeUInt32BE(MAGIC, 0);
    batch.writeUInt32BE(batch.length - HEADER, 4);
    batch.writeUInt32BE(rows, 8);
    batch.writeBigUInt64BE(this.hasher.h64(batch.subarray(HEADER)), 12);
    batch.writeUInt32BE(this.hasher.h32(batch.subarray(0, 20)), 20);
    if (this.mode === 'none') {
      this.finish(waiters);
      return;
    }
    this.writing = true;
    write(this.fd, batch, 0, batch.length, null, (error, written) => {
      if (error === null && written !== batch.length)
        error = new Error(`short write: ${written} of ${batch.length} bytes`);
      if (error !== null || this.mode !== 'fsync') return this.written(error, waiters);
      fdatasync(this.fd, (syncError) => this.written(syncError, waiters));
    });
  };

  private written(error: Error | null, waiters: (() => void)[]): void {
    this.writing = false;
    if (error !== null) {
      this.failure = error;
      throw error;
    }
    this.finish(waiters);
    if (this.rows > 0) this.flush();
  }

  private finish(waiters: (() => void)[]): void {
    for (const done of waiters) done();
  }
}
