// The ceilings' write-ahead log: each transaction encoded as one block of tarantype's xlog
// layout (packages/wal/FORMAT.md §3: 24-byte header, xxh64 of the payload, xxh32 of the header;
// rows as the journal writes them), the blocks of a batch written with one fs.write, and an
// fdatasync after it in fsync mode: the same bytes and the same syscalls as tarantype's journal.
// Every row appended in the current tick joins one batch (a microtask, as the journal does);
// while a write is in flight the next batch accumulates (group commit).
// It is the least a durable write path can do: encode the row, checksum it, one write(2) per
// batch. The write goes either through libuv (as tarantype's journal writes through
// NodeFileSystem: a batch of up to SYNC_WRITE_MAX_BYTES_DEFAULT with write(2) on the main thread,
// a larger one through the thread pool; an fdatasync always through the pool) or to a dedicated
// worker thread reading the batch from shared memory (Tarantool's split: a WAL thread), so that
// the two designs can be measured against each other doing the same work. Left out on purpose: the meta header, rotation, the EOF marker, error recovery (a failed
// write poisons the log), the vclock and replication.
import { closeSync, fdatasync, openSync, write, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { type Hasher, xxh32 } from '@tarantype/core';
import { SYNC_WRITE_MAX_BYTES_DEFAULT } from '@tarantype/wal';

const MAGIC = 0xd5ba0bab;
const HEADER = 24;
/** Bytes of one batch buffer (there are two): far more than any batch of the benchmarks. */
const CAPACITY = 4 << 20;

export type CeilingWalMode = 'write' | 'fsync' | 'none';
/** Who calls write(2): libuv's thread pool, or a WAL worker thread of our own. */
export type CeilingWalIo = 'libuv' | 'worker';

/** Writes one whole batch; `done` runs on the main thread once it is written (and synced). */
interface BatchWriter {
  write(which: 0 | 1, length: number, done: (error: Error | null) => void): void;
  close(): Promise<void>;
}

class LibuvWriter implements BatchWriter {
  constructor(
    private readonly fd: number,
    private readonly buffers: readonly [Buffer, Buffer],
    private readonly fsync: boolean,
  ) {}

  write(which: 0 | 1, length: number, done: (error: Error | null) => void): void {
    const written = (error: Error | null) => {
      if (error !== null || !this.fsync) return done(error);
      fdatasync(this.fd, done);
    };
    const buffer = this.buffers[which];
    if (length > SYNC_WRITE_MAX_BYTES_DEFAULT) {
      write(this.fd, buffer, 0, length, null, (error, n) =>
        written(error ?? (n === length ? null : new Error(`short write: ${n} of ${length} bytes`))),
      );
      return;
    }
    let at = 0;
    try {
      while (at < length) at += writeSync(this.fd, buffer, at, length - at);
    } catch (error) {
      queueMicrotask(() => written(error as Error));
      return;
    }
    queueMicrotask(() => written(null));
  }

  async close(): Promise<void> {}
}

// control words of the worker's Int32Array
const REQUEST = 0; // sequence number of the batch asked for (-1: exit)
const WHICH = 1;
const LENGTH = 2;
const ERROR = 3;
const DONE = 4; // sequence number of the last batch written

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync, fdatasyncSync } = require('node:fs');
const { control, buffers, fd, fsync } = workerData;
const views = buffers.map((b) => Buffer.from(b));
let seen = 0;
for (;;) {
  Atomics.wait(control, ${REQUEST}, seen);
  const seq = Atomics.load(control, ${REQUEST});
  if (seq < 0) break;
  const view = views[control[${WHICH}]];
  const length = control[${LENGTH}];
  let error = 0;
  try {
    for (let at = 0; at < length; ) at += writeSync(fd, view, at, length - at);
    if (fsync) fdatasyncSync(fd);
  } catch {
    error = 1;
  }
  control[${ERROR}] = error;
  Atomics.store(control, ${DONE}, seq);
  Atomics.notify(control, ${DONE});
  seen = seq;
}
`;

/** Atomics.waitAsync (V8 has it since Node 16; TypeScript's lib has it from es2024). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      array: Int32Array,
      index: number,
      value: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

class WorkerWriter implements BatchWriter {
  private readonly control = new Int32Array(new SharedArrayBuffer(32));
  private readonly worker: Worker;
  private seq = 0;

  constructor(
    fd: number,
    buffers: readonly [SharedArrayBuffer, SharedArrayBuffer],
    fsync: boolean,
  ) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { control: this.control, buffers, fd, fsync },
    });
  }

  write(which: 0 | 1, length: number, done: (error: Error | null) => void): void {
    const c = this.control;
    c[WHICH] = which;
    c[LENGTH] = length;
    const seq = ++this.seq;
    Atomics.store(c, REQUEST, seq);
    Atomics.notify(c, REQUEST);
    const finish = () =>
      done(c[ERROR] === 0 ? null : new Error('the WAL worker failed to write a batch'));
    const wait = waitAsync(c, DONE, seq - 1);
    if (wait.async) void wait.value.then(finish);
    else finish();
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    Atomics.store(this.control, REQUEST, -1);
    Atomics.notify(this.control, REQUEST);
    await exited;
  }
}

export class CeilingWal {
  private readonly fd: number;
  private readonly writer: BatchWriter;
  /** Both batch buffers, in shared memory (the worker reads them). */
  private readonly buffers: readonly [Buffer, Buffer];
  /** The buffer being filled (0 or 1); the other is the batch in flight, if any. */
  private current: 0 | 1 = 0;
  private buffer: Buffer;
  private length = 0;
  /** Blocks (transactions) in the batch being filled. */
  private blocks = 0;
  private waiters: (() => void)[] = [];
  private writing = false;
  private scheduled = false;
  private failure: Error | undefined;
  private lsn = 0;

  constructor(
    path: string,
    private readonly mode: CeilingWalMode,
    private readonly hasher: Hasher,
    io: CeilingWalIo = 'libuv',
  ) {
    this.fd = openSync(path, 'w');
    const shared = [new SharedArrayBuffer(CAPACITY), new SharedArrayBuffer(CAPACITY)] as const;
    this.buffers = [Buffer.from(shared[0]), Buffer.from(shared[1])];
    this.buffer = this.buffers[0];
    const fsync = mode === 'fsync';
    this.writer =
      io === 'worker'
        ? new WorkerWriter(this.fd, shared, fsync)
        : new LibuvWriter(this.fd, this.buffers, fsync);
  }

  /**
   * Appends a one-row transaction as one block: row header {type, replica_id, lsn, timestamp},
   * body {0x10 space, 0x21 tuple}. `done` runs once the batch holding it is written (and
   * synced in fsync mode).
   */
  append(type: number, space: number, tuple: Uint8Array, done: () => void): void {
    const start = this.openBlock(tuple.length + 40);
    this.row(type, space, tuple, -1, false);
    this.closeBlock(start, 1, done);
  }

  /**
   * Appends a multi-row transaction as one block (FORMAT.md: tsn on every row, the commit flag
   * on the last); `done` runs once it is written.
   */
  appendTransaction(type: number, space: number, tuples: readonly Uint8Array[], done: () => void) {
    let bytes = 0;
    for (const tuple of tuples) bytes += tuple.length + 48;
    const start = this.openBlock(bytes);
    const first = this.lsn + 1;
    for (let i = 0; i < tuples.length; i++)
      this.row(type, space, tuples[i]!, this.lsn + 1 - first, i === tuples.length - 1);
    this.closeBlock(start, tuples.length, done);
  }

  private openBlock(bytes: number): number {
    if (this.failure !== undefined) throw this.failure;
    if (this.length + HEADER + bytes > CAPACITY)
      throw new Error(`ceiling: a batch of more than ${CAPACITY} bytes`);
    const start = this.length;
    this.length += HEADER;
    return start;
  }

  /** One row at the end of the batch; `tsn` < 0 for a one-row transaction. */
  private row(type: number, space: number, tuple: Uint8Array, tsn: number, last: boolean): void {
    const lsn = ++this.lsn;
    const b = this.buffer;
    let p = this.length;
    b[p++] = tsn < 0 ? 0x84 : last ? 0x86 : 0x85;
    b[p++] = 0x00;
    b[p++] = type;
    b[p++] = 0x02;
    b[p++] = 1; // replica_id: this instance
    b[p++] = 0x03;
    b[p++] = 0xce;
    b.writeUInt32BE(lsn, p);
    p += 4;
    b[p++] = 0x04;
    b[p++] = 0xcb;
    b.writeDoubleBE(Date.now() / 1000, p);
    p += 8;
    if (tsn >= 0) {
      b[p++] = 0x08;
      b[p++] = 0xce;
      b.writeUInt32BE(tsn, p);
      p += 4;
      if (last) {
        b[p++] = 0x09;
        b[p++] = 0x01;
      }
    }
    b[p++] = 0x82;
    b[p++] = 0x10;
    b[p++] = 0xcd;
    b.writeUInt16BE(space, p);
    p += 2;
    b[p++] = 0x21;
    b.set(tuple, p);
    this.length = p + tuple.length;
  }

  /** The block header (two checksums, as FORMAT.md §3), and the write scheduled. */
  private closeBlock(start: number, rows: number, done: () => void): void {
    const b = this.buffer;
    b.writeUInt32BE(MAGIC, start);
    b.writeUInt32BE(this.length - start - HEADER, start + 4);
    b.writeUInt32BE(rows, start + 8);
    b.writeBigUInt64BE(this.hasher.h64(b.subarray(start + HEADER, this.length)), start + 12);
    b.writeUInt32BE(xxh32(b, start, start + 20), start + 20);
    this.blocks++;
    this.waiters.push(done);
    if (!this.writing && !this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /** Closes the file (and stops the worker); nothing may be in flight. */
  async close(): Promise<void> {
    if (this.writing) throw new Error('ceiling: close() with a batch in flight');
    await this.writer.close();
    closeSync(this.fd);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.blocks === 0 || this.writing) return;
    const which = this.current;
    const length = this.length;
    const waiters = this.waiters;
    // The next batch accumulates in the other buffer while this one is in flight.
    this.current = which === 0 ? 1 : 0;
    this.buffer = this.buffers[this.current];
    this.length = 0;
    this.blocks = 0;
    this.waiters = [];
    if (this.mode === 'none') {
      this.finish(waiters);
      return;
    }
    this.writing = true;
    this.writer.write(which, length, (error) => this.written(error, waiters));
  };

  private written(error: Error | null, waiters: (() => void)[]): void {
    this.writing = false;
    if (error !== null) {
      this.failure = error;
      throw error;
    }
    this.finish(waiters);
    if (this.blocks > 0) this.flush();
  }

  private finish(waiters: (() => void)[]): void {
    for (const done of waiters) done();
  }
}
