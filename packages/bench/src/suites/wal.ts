// WAL benchmarks (issue: foundation). Rows of ~100 bytes. In one run:
// (a) write mode, 1000-row transactions; (b) write mode, 1000 concurrent single-row
// transactions; (c) fsync mode, 1000 concurrent single-row transactions; (d) reading a
// 1M-row file back; and the machine's limits measured the same way in the same run: plain
// sequential write() of the same bytes, plain read + xxh64 of the same file, and the latency
// of one 4 KiB append + fdatasync. Ratios against those limits are printed with the targets.

import { closeSync, fdatasyncSync, openSync, readSync, writeSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  IprotoType,
  loadHasher,
  MsgpackWriter,
  makeXrow,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import { Journal, NodeFileSystem, type WalMode, XlogCursor, XlogDir } from '@tarantype/wal';
import {
  type BenchFigure,
  type BenchScale,
  type BenchSuite,
  medianMs,
  percentile,
} from '../harness.js';

const UUID = '5f0a7b3e-2c1d-4e6f-8a9b-0c1d2e3f4a5b';
const PAYLOAD = 'p'.repeat(80);

/**
 * An INSERT row of [i, 80-char string, i*2]. Bodies are views into one shared writer buffer,
 * as they are in the server (views into network buffers or the memtx arena): a million
 * separately allocated 100-byte buffers would mostly measure the garbage collector.
 */
function rowFor(i: number, writer: MsgpackWriter): Xrow {
  const start = writer.length;
  writer.mapHeader(2);
  writer.uint(0x10);
  writer.uint(512);
  writer.uint(0x21);
  writer.arrayHeader(3);
  writer.uint(i);
  writer.str(PAYLOAD);
  writer.uint(i * 2);
  return makeXrow(IprotoType.INSERT, writer.bytes.subarray(start, writer.length));
}

interface Scale {
  txRows: number; // (a) rows per transaction
  txCount: number; // (a) transactions
  concurrentRounds: number; // (b)/(c): completions per client in the closed loop
  concurrency: number;
  iterations: number;
  syncSamples: number;
}

const SCALES: Record<BenchScale, Scale> = {
  small: {
    txRows: 1000,
    txCount: 10,
    concurrentRounds: 3,
    concurrency: 1000,
    iterations: 1,
    syncSamples: 10,
  },
  large: {
    txRows: 1000,
    txCount: 1000,
    concurrentRounds: 30,
    concurrency: 1000,
    iterations: 5,
    syncSamples: 200,
  },
};

async function newJournal(
  dir: string,
  mode: WalMode,
  hasher: Awaited<ReturnType<typeof loadHasher>>,
): Promise<Journal> {
  return new Journal({
    fs: new NodeFileSystem(),
    dir,
    hasher,
    instanceUuid: UUID,
    instanceId: 1,
    vclock: new Vclock(),
    mode,
    maxSizeBytes: 1 << 30,
  });
}

/** A closed loop of `concurrency` clients, each submitting single-row transactions `rounds` times. */
async function closedLoop(
  journal: Journal,
  rows: Xrow[],
  concurrency: number,
  rounds: number,
): Promise<void> {
  const client = async (c: number) => {
    for (let r = 0; r < rounds; r++) {
      const row = rows[c]!;
      row.replica_id = 0;
      await journal.submit([row]);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, c) => client(c)));
}

export default {
  name: 'wal',
  async run(scaleName: BenchScale) {
    const scale = SCALES[scaleName];
    const hasher = await loadHasher();
    const root = await mkdtemp(join(tmpdir(), 'tarantype-bench-wal-'));
    const writer = new MsgpackWriter();
    const figures: BenchFigure[] = [];
    let checksum = 0;
    try {
      const totalRows = scale.txRows * scale.txCount;
      const bodies = new MsgpackWriter(totalRows * 110);
      const transactions = Array.from({ length: scale.txCount }, (_, t) =>
        Array.from({ length: scale.txRows }, (_, r) => rowFor(t * scale.txRows + r, bodies)),
      );
      let dirA = '';
      let n = 0;
      // (a) write mode, 1000-row transactions, all submitted at once (the queue bound applies).
      const msA = await medianMs(
        '(a)',
        async () => {
          const journal = await newJournal(dirA, 'write', hasher);
          await Promise.all(
            transactions.map((rows) => {
              for (const row of rows) row.replica_id = 0;
              return journal.submit(rows);
            }),
          );
          await journal.close();
          checksum += journal.vclock.signature();
        },
        scale.iterations,
        async () => {
          dirA = join(root, `a${n++}`);
          await new NodeFileSystem().mkdir(dirA);
        },
      );
      const fileA = (await XlogDir.scan(new NodeFileSystem(), dirA, 'XLOG', hasher)).files[0]!.path;
      const handle = await open(fileA);
      const fileBytes = (await handle.stat()).size;
      await handle.close();
      // The machine: plain sequential write() of the same number of bytes in 1 MiB chunks.
      const chunk = Buffer.alloc(1 << 20, 7);
      const msPlainWrite = await medianMs(
        'plain write',
        () => {
          const fd = openSync(join(root, `plain${n++}`), 'w');
          for (let written = 0; written < fileBytes; written += chunk.length)
            writeSync(fd, chunk, 0, Math.min(chunk.length, fileBytes - written));
          closeSync(fd);
        },
        scale.iterations,
      );
      const mbA = fileBytes / 1e6 / (msA / 1000);
      const mbPlain = fileBytes / 1e6 / (msPlainWrite / 1000);
      figures.push({
        name: `(a) write mode, ${scale.txRows}-row transactions`,
        value: totalRows / (msA / 1000),
        unit: 'rows/s',
      });
      figures.push({
        name: '(a) bandwidth',
        value: mbA,
        unit: 'MB/s',
        ratio: { value: mbA / mbPlain, against: 'plain sequential write()', target: '≥ 0.50' },
      });
      figures.push({
        name: 'machine: plain sequential write() of the same bytes',
        value: mbPlain,
        unit: 'MB/s',
      });

      // (b) and (c): closed loop of 1000 clients with single-row transactions.
      const loopRows = Array.from({ length: scale.concurrency }, (_, i) => rowFor(i, writer));
      writer.reset();
      for (const mode of ['write', 'fsync'] as const) {
        let journal: Journal | undefined;
        let dir = '';
        const ms = await medianMs(
          mode,
          () => closedLoop(journal!, loopRows, scale.concurrency, scale.concurrentRounds),
          scale.iterations,
          async () => {
            await journal?.close();
            dir = join(root, `${mode}${n++}`);
            await new NodeFileSystem().mkdir(dir);
            journal = await newJournal(dir, mode, hasher);
          },
        );
        const stats = journal!.stats;
        await journal!.close();
        const tx = scale.concurrency * scale.concurrentRounds;
        const label = mode === 'write' ? '(b) write mode' : '(c) fsync mode';
        figures.push({
          name: `${label}, ${scale.concurrency} concurrent 1-row transactions`,
          value: tx / (ms / 1000),
          unit: 'tx/s',
        });
        if (mode === 'fsync') {
          const perSync = stats.transactions / Math.max(1, stats.syncs);
          figures.push({
            name: '(c) transactions per fdatasync',
            value: perSync,
            unit: 'tx/sync',
            ratio: { value: perSync / 100, against: '100 tx per sync', target: '≥ 1.00' },
          });
        }
        checksum += stats.transactions;
      }

      // (d) reading the (a) file back: every block read and its checksum verified (what finding
      // the end of a log costs); (d') the same plus decoding every row (what replay costs).
      const readBack = (decode: boolean) => async () => {
        const cursor = (await XlogCursor.open(new NodeFileSystem(), fileA, 'XLOG', hasher, {
          reuseBuffers: true,
        }))!;
        let rows = 0;
        for (let tx = await cursor.next(); tx !== undefined; tx = await cursor.next()) {
          rows += decode ? tx.rows.length : tx.rowCount;
        }
        await cursor.close();
        checksum += rows;
      };
      transactions.length = 0; // the write phase's million rows: a recovering reader does not hold them
      const msD = await medianMs('(d)', readBack(false), scale.iterations);
      const msDecode = await medianMs("(d')", readBack(true), scale.iterations);
      const readBuffer = Buffer.allocUnsafe(1 << 20);
      const msPlainRead = await medianMs(
        'plain read',
        () => {
          const fd = openSync(fileA, 'r');
          let h = 0n;
          for (let position = 0; ; ) {
            const got = readSync(fd, readBuffer, 0, readBuffer.length, position);
            if (got === 0) break;
            h ^= hasher.h64(readBuffer.subarray(0, got));
            position += got;
          }
          closeSync(fd);
          checksum += Number(h & 0xffn);
        },
        scale.iterations,
      );
      figures.push({
        name: `(d) read ${totalRows.toLocaleString('en-US')}-row file back (verify blocks)`,
        value: totalRows / (msD / 1000),
        unit: 'rows/s',
      });
      figures.push({
        name: '(d) read bandwidth',
        value: fileBytes / 1e6 / (msD / 1000),
        unit: 'MB/s',
        ratio: { value: msPlainRead / msD, against: 'plain read + xxh64', target: '≥ 0.50' },
      });
      figures.push({
        name: "(d') read back, verify + decode every row",
        value: totalRows / (msDecode / 1000),
        unit: 'rows/s',
        ratio: { value: msPlainRead / msDecode, against: 'plain read + xxh64' },
      });
      figures.push({
        name: 'machine: plain read + xxh64 of the same file',
        value: fileBytes / 1e6 / (msPlainRead / 1000),
        unit: 'MB/s',
      });

      // The machine: 4 KiB append + fdatasync latency.
      const fd = openSync(join(root, 'sync-probe'), 'w');
      const page = Buffer.alloc(4096, 1);
      const samples: number[] = [];
      for (let i = 0; i < scale.syncSamples; i++) {
        const started = performance.now();
        writeSync(fd, page);
        fdatasyncSync(fd);
        samples.push((performance.now() - started) * 1000);
      }
      closeSync(fd);
      samples.sort((a, b) => a - b);
      figures.push({
        name: 'machine: 4 KiB append + fdatasync, median',
        value: percentile(samples, 50),
        unit: 'µs',
      });
      return { suite: 'wal', figures, checksum };
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
} satisfies BenchSuite;
