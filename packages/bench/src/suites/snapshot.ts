// Snapshot benchmarks (issue: snapshot). N tuples {i, <32-byte string>, i*2} in one user space
// (1M large, 20k small), the strings drawn from a pool of 65 536 random base64 strings as in
// tt-embedded.lua's default, so the data compresses as it does for Tarantool.
// In one run:
// - write: seconds from writeSnapshot() to a renamed, synced .snap; MB/s of the file;
// - load: seconds to open, verify and hand out every row (SnapshotReader); and the same plus
//   what memtx adds in a restart, modelled: each tuple copied into an arena and its offset
//   appended to a primary index (CowSortedMap, bulk load in key order);
// - insert latency: an open-loop workload of 10k inserts/s (insert into a copy-on-write sorted
//   map, the memtx stand-in, plus a WAL write in wal_mode 'write' through @tarantype/wal's
//   Journal; latency from the request's scheduled arrival to the WAL acknowledgement, so any
//   time the event loop is busy counts), measured without a snapshot and while snapshots are
//   written; p99 of each and their ratio.
// Tarantool's figures: when `tarantool` is on PATH (large scale only), tt-embedded.lua runs in
// the same run first (box.snapshot() of 1M tuples, restart from that snapshot); otherwise the
// figures quoted in the issue are used, and the figure names say which.
// The checksum sums rows and tuple bytes read back.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
import { SnapshotReader, writeSnapshot } from '@tarantype/snapshot';
import { CowSortedMap, type MemorySpace, readViewSource } from '@tarantype/snapshot/testing';
import { Journal, NodeFileSystem } from '@tarantype/wal';
import { seededRandom } from '@tarantype/wal/testing';
import { type BenchFigure, type BenchScale, type BenchSuite, percentile } from '../harness.js';
import { sharedBenchDir } from '../lib/tarantool.js';

const UUID = '6a1c8f2e-4b3d-4e5f-9a0b-1c2d3e4f5a6b';
const SPACE_ID = 512;
const MEGABYTE = 1024 * 1024;
/** Inserts per second of the latency workload: moderate, well below what one core sustains. */
const INSERT_RATE_PER_S = 10_000;
const TT_EMBEDDED_LUA = process.env.TT_EMBEDDED_LUA ?? join(sharedBenchDir(), 'tt-embedded.lua');

interface Scale {
  readonly tuples: number;
  /** Repetitions of write and load (median taken). */
  readonly iterations: number;
  /** Snapshots written while measuring insert latency (samples pooled). */
  readonly latencyRounds: number;
}

const SCALES: Record<BenchScale, Scale> = {
  small: { tuples: 20_000, iterations: 1, latencyRounds: 1 },
  large: { tuples: 1_000_000, iterations: 3, latencyRounds: 10 },
};

/** Tarantool 2.6 on this machine, as quoted in the issue (used when tarantool is not on PATH). */
const QUOTED = {
  snapshotSeconds: 0.47,
  snapMegabytes: 32,
  restartSeconds: 0.365,
  source: 'Tarantool 2.6 (quoted)',
};

interface TarantoolFigures {
  readonly snapshotSeconds: number;
  readonly snapMegabytes: number;
  readonly restartSeconds: number;
  readonly source: string;
}

/** Runs tt-embedded.lua (N tuples) and takes its snapshot and restart-from-snapshot times. */
function runTarantool(tuples: number, dir: string): TarantoolFigures | undefined {
  if (!existsSync(TT_EMBEDDED_LUA)) return undefined;
  const which = spawnSync('tarantool', ['--version'], { encoding: 'utf8' });
  if (which.status !== 0) return undefined;
  const run = spawnSync('tarantool', [TT_EMBEDDED_LUA], {
    encoding: 'utf8',
    timeout: 300_000,
    // PHASE_CAP and GETS shorten phases this suite does not use; N and RECOVERY are what it reads.
    env: {
      ...process.env,
      N: String(tuples),
      DIR: join(dir, 'tt'),
      PHASE_CAP: '1',
      GETS: '1000',
      RECOVERY: '1',
    },
  });
  const line = run.stdout
    ?.split('\n')
    .filter((l) => l.startsWith('{'))
    .at(-1);
  if (run.status !== 0 || line === undefined) return undefined;
  const result = JSON.parse(line) as {
    snapshot?: { secs: number; snap_mb: number };
    recovery?: { from_snap?: { cfg_s?: number } };
    version?: string;
  };
  const restart = result.recovery?.from_snap?.cfg_s;
  if (result.snapshot === undefined || restart === undefined) return undefined;
  return {
    snapshotSeconds: result.snapshot.secs,
    snapMegabytes: result.snapshot.snap_mb,
    restartSeconds: restart,
    source: `Tarantool ${result.version ?? '2.6'} (same run)`,
  };
}

/** Tuples [i, <32-byte string>, i * 2] encoded into one arena (as memtx keeps them), as views. */
class TupleFactory {
  private readonly pool: Uint8Array[];
  private arena = new MsgpackWriter(1 << 24);

  constructor(seed: number) {
    const random = seededRandom(seed);
    this.pool = Array.from({ length: 65_536 }, () => {
      const raw = Buffer.alloc(24);
      for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(random() * 256);
      const text = new MsgpackWriter(40);
      text.str(raw.toString('base64'));
      return text.toBytes();
    });
  }

  make(i: number): Uint8Array {
    if (this.arena.length + 64 > this.arena.bytes.length) this.arena = new MsgpackWriter(1 << 24);
    const start = this.arena.length;
    this.arena.arrayHeader(3);
    this.arena.uint(i);
    this.arena.raw(this.pool[i & 0xffff]!);
    this.arena.uint(i * 2);
    return this.arena.bytes.subarray(start, this.arena.length);
  }
}

/** First field of [i, …] (a uint). */
function firstField(tuple: Uint8Array): number {
  const t = tuple[1]!;
  if (t < 0x80) return t;
  if (t === 0xcc) return tuple[2]!;
  if (t === 0xcd) return (tuple[2]! << 8) | tuple[3]!;
  if (t === 0xce)
    return ((tuple[2]! << 24) >>> 0) + ((tuple[3]! << 16) | (tuple[4]! << 8) | tuple[5]!);
  throw new Error(`unexpected key type 0x${t.toString(16)}`);
}

function insertRow(tuple: Uint8Array): Xrow {
  const body = new MsgpackWriter(tuple.length + 16);
  body.mapHeader(2);
  body.uint(0x10);
  body.uint(SPACE_ID);
  body.uint(0x21);
  body.raw(tuple);
  return makeXrow(IprotoType.INSERT, body.view0());
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return percentile(sorted, 50);
}

interface LoadResult {
  readonly ms: number;
  readonly rows: number;
  readonly bytes: number;
}

/**
 * Reads every row; with `index`, also does what memtx does with them during recovery: copies
 * each tuple into an arena (memtx keeps tuples in its own memory, not in read buffers) and
 * appends its offset to a primary index (rows come in primary-key order: a bulk load).
 */
async function load(
  fs: NodeFileSystem,
  path: string,
  hasher: Hasher,
  index: boolean,
): Promise<LoadResult> {
  const started = performance.now();
  const reader = await SnapshotReader.open(fs, path, hasher);
  const primary = index ? new CowSortedMap<number>() : undefined;
  const arenaChunkBytes = 1 << 24;
  const arenas: Uint8Array[] = [];
  let arena = new Uint8Array(0);
  let used = 0;
  let rows = 0;
  let bytes = 0;
  for await (const batch of reader) {
    // The block's rows in place, as recovery reads them (no object per row).
    const block = batch.inPlace;
    for (let i = 0; i < block.count; i++) {
      const start = block.start(i);
      const end = block.end(i);
      bytes += end - start;
      if (primary === undefined || block.spaceId(i) !== SPACE_ID) continue;
      const tuple = block.payload.subarray(start, end);
      if (used + tuple.length > arena.length) {
        arena = new Uint8Array(Math.max(arenaChunkBytes, tuple.length));
        arenas.push(arena);
        used = 0;
      }
      arena.set(tuple, used);
      primary.append(firstField(tuple), (arenas.length - 1) * arenaChunkBytes + used);
      used += tuple.length;
    }
    rows += block.count;
  }
  if (!reader.stats.complete) throw new Error('snapshot not complete');
  if (primary !== undefined && primary.size !== rows - reader.stats.systemRows)
    throw new Error(`index has ${primary.size} of ${rows} rows`);
  return { ms: performance.now() - started, rows, bytes };
}

/**
 * Open-loop arrivals at `ratePerS` until `until` settles: each scheduled arrival calls
 * `operation` (which does its synchronous work and may return a promise of its
 * acknowledgement); its latency runs from the scheduled arrival time to the operation's
 * completion. The arrival loop polls on every event-loop turn, as a server notices requests,
 * so any time the event loop is kept busy shows up as latency. Returns µs, in arrival order.
 */
export async function openLoopLatencies(
  operation: () => Promise<unknown> | undefined,
  ratePerS: number,
  until: Promise<unknown>,
): Promise<number[]> {
  const intervalMs = 1000 / ratePerS;
  const latenciesUs: number[] = [];
  const acknowledgements: Array<Promise<void>> = [];
  let stopped = false;
  // Either way the window ends; a rejection of `until` is the caller's to handle (it awaits it).
  const stop = () => {
    stopped = true;
  };
  void until.then(stop, stop);
  const started = performance.now();
  let issued = 0;
  await new Promise<void>((resolve) => {
    const poll = () => {
      const now = performance.now();
      while (!stopped && started + issued * intervalMs <= now) {
        const arrival = started + issued * intervalMs;
        const acknowledged = operation();
        if (acknowledged === undefined) latenciesUs.push((performance.now() - arrival) * 1000);
        else
          acknowledgements.push(
            acknowledged.then(() => void latenciesUs.push((performance.now() - arrival) * 1000)),
          );
        issued++;
      }
      if (stopped) resolve();
      else setImmediate(poll);
    };
    setImmediate(poll);
  });
  await Promise.all(acknowledgements);
  return latenciesUs;
}

/**
 * Open-loop inserts at INSERT_RATE_PER_S until `until` settles: each arrival inserts into the
 * map and, with a journal, submits its row to the WAL (latency to the WAL acknowledgement).
 */
function insertLatencies(
  space: CowSortedMap<Uint8Array>,
  journal: Journal | undefined,
  factory: TupleFactory,
  keys: { next: number },
  until: Promise<unknown>,
): Promise<number[]> {
  const insert = () => {
    const tuple = factory.make(keys.next);
    space.set(keys.next++, tuple);
    return journal?.submit([insertRow(tuple)]);
  };
  return openLoopLatencies(insert, INSERT_RATE_PER_S, until);
}

interface LatencyRun {
  readonly without: number[];
  readonly during: number[];
}

/**
 * Alternates a quiet window (no snapshot, as long as a snapshot write takes) with a window
 * during which a snapshot is written, `rounds` times; returns the pooled samples, sorted.
 */
async function latencyRun(
  rounds: number,
  windowMs: number,
  journal: Journal | undefined,
  context: {
    fs: NodeFileSystem;
    hasher: Hasher;
    root: string;
    spaces: MemorySpace[];
    factory: TupleFactory;
    keys: { next: number };
    nextVclock: () => Vclock;
  },
): Promise<LatencyRun> {
  const { fs, hasher, root, spaces, factory, keys, nextVclock } = context;
  const data = spaces.find((space) => space.id === SPACE_ID)!.data;
  await insertLatencies(data, journal, factory, keys, sleep(Math.min(windowMs, 100))); // warm-up
  const without: number[] = [];
  const during: number[] = [];
  for (let round = 0; round < rounds; round++) {
    without.push(...(await insertLatencies(data, journal, factory, keys, sleep(windowMs))));
    const dir = join(root, `during-${journal === undefined ? 'memory' : 'wal'}-${round}`);
    await fs.mkdir(dir);
    const snapshot = writeSnapshot({
      fs,
      dir,
      hasher,
      instanceUuid: UUID,
      source: readViewSource(nextVclock(), spaces),
    });
    during.push(...(await insertLatencies(data, journal, factory, keys, snapshot)));
    if ((await snapshot).status !== 'written') throw new Error('snapshot not written');
    await rm(dir, { recursive: true, force: true });
  }
  return { without: without.sort((a, b) => a - b), during: during.sort((a, b) => a - b) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export default {
  name: 'snapshot',
  async run(scaleName: BenchScale) {
    const scale = SCALES[scaleName];
    const hasher = await loadHasher();
    const fs = new NodeFileSystem();
    const root = await mkdtemp(join(tmpdir(), 'tarantype-bench-snapshot-'));
    const figures: BenchFigure[] = [];
    let checksum = 0;
    try {
      // Tarantool first, so that it does not share the cores with our measurements.
      const measured = scaleName === 'large' ? runTarantool(scale.tuples, root) : undefined;
      const tarantool = measured ?? QUOTED;

      const factory = new TupleFactory(20_260_521);
      const data = new CowSortedMap<Uint8Array>();
      for (let i = 1; i <= scale.tuples; i++) data.set(i, factory.make(i));
      // A little data dictionary, as a real snapshot starts with one.
      const schema = new CowSortedMap<Uint8Array>();
      for (let i = 0; i < 8; i++) schema.set(i, factory.make(i));
      const spaces: MemorySpace[] = [
        { id: 272, data: schema },
        { id: SPACE_ID, data },
      ];
      let signature = 0;
      const nextVclock = () => new Vclock([[1, ++signature]]);

      // Write.
      const writes: Array<{ ms: number; bytes: number; path: string }> = [];
      for (let i = 0; i < scale.iterations + 1; i++) {
        const dir = join(root, `write-${i}`);
        await fs.mkdir(dir);
        const started = performance.now();
        const result = await writeSnapshot({
          fs,
          dir,
          hasher,
          instanceUuid: UUID,
          source: readViewSource(nextVclock(), spaces),
        });
        const ms = performance.now() - started;
        if (result.status !== 'written') throw new Error('snapshot not written');
        if (i > 0) writes.push({ ms, bytes: result.bytes, path: result.path }); // the first run warms up
      }
      const writeSeconds = median(writes.map((w) => w.ms)) / 1000;
      const fileMegabytes = writes[0]!.bytes / MEGABYTE;
      const label = `${scale.tuples.toLocaleString('en-US')} tuples {i, 32-byte str, i*2}`;
      figures.push({
        name: `write snapshot, ${label}`,
        value: writeSeconds,
        unit: 's',
        ratio: {
          value: writeSeconds / tarantool.snapshotSeconds,
          against: `${tarantool.source} box.snapshot() ${tarantool.snapshotSeconds} s`,
          target: '≤ 1.00',
        },
      });
      figures.push({
        name: 'write bandwidth (file MB / s)',
        value: fileMegabytes / writeSeconds,
        unit: 'MB/s',
      });
      figures.push({
        name: 'snapshot file size (no compression)',
        value: fileMegabytes,
        unit: 'MB',
        ratio: {
          value: fileMegabytes / tarantool.snapMegabytes,
          against: `${tarantool.source} .snap ${tarantool.snapMegabytes} MB (zstd)`,
        },
      });

      // Load.
      const path = writes[0]!.path;
      const reads: LoadResult[] = [];
      const indexed: LoadResult[] = [];
      await load(fs, path, hasher, false); // warm-up
      for (let i = 0; i < scale.iterations; i++) reads.push(await load(fs, path, hasher, false));
      for (let i = 0; i < scale.iterations; i++) indexed.push(await load(fs, path, hasher, true));
      for (const result of [...reads, ...indexed]) checksum += result.rows + result.bytes;
      const loadSeconds = median(reads.map((r) => r.ms)) / 1000;
      const indexedSeconds = median(indexed.map((r) => r.ms)) / 1000;
      const restart = `${tarantool.source} restart from snapshot ${tarantool.restartSeconds} s`;
      figures.push({
        name: 'load snapshot (read, verify, hand out every row)',
        value: loadSeconds,
        unit: 's',
        ratio: {
          value: loadSeconds / tarantool.restartSeconds,
          against: restart,
          target: '≤ 1.00',
        },
      });
      figures.push({ name: 'load bandwidth', value: fileMegabytes / loadSeconds, unit: 'MB/s' });
      figures.push({
        name: 'load + copy to an arena + primary index (memtx stand-in)',
        value: indexedSeconds,
        unit: 's',
        ratio: { value: indexedSeconds / tarantool.restartSeconds, against: restart },
      });

      // Insert latency without and during a snapshot: the request path (memtx + WAL), then
      // the in-memory insert alone (what the event loop's slices cost by themselves).
      const walDir = join(root, 'wal');
      await fs.mkdir(walDir);
      const journal = new Journal({
        fs,
        dir: walDir,
        hasher,
        instanceUuid: UUID,
        instanceId: 1,
        vclock: new Vclock(),
        mode: 'write',
      });
      const context = {
        fs,
        hasher,
        root,
        spaces,
        factory,
        keys: { next: scale.tuples + 1 },
        nextVclock,
      };
      const windowMs = Math.max(50, writeSeconds * 1000);
      const withWal = await latencyRun(scale.latencyRounds, windowMs, journal, context);
      await journal.close();
      checksum += journal.stats.rows;
      const inMemory = await latencyRun(scale.latencyRounds, windowMs, undefined, context);
      const rate = `${INSERT_RATE_PER_S.toLocaleString('en-US')}/s`;
      for (const [run, what] of [
        [withWal, `insert + WAL write (wal_mode write), ${rate}`],
        [inMemory, `in-memory insert only, ${rate}`],
      ] as const) {
        const p99Without = percentile(run.without, 99);
        const p99During = percentile(run.during, 99);
        figures.push({
          name: `${what}: p50 without a snapshot`,
          value: percentile(run.without, 50),
          unit: 'µs',
        });
        figures.push({
          name: `  p99 without a snapshot (${run.without.length} inserts)`,
          value: p99Without,
          unit: 'µs',
        });
        figures.push({
          name: '  p50 during a snapshot',
          value: percentile(run.during, 50),
          unit: 'µs',
        });
        figures.push({
          name: `  p99 during a snapshot (${run.during.length} inserts)`,
          value: p99During,
          unit: 'µs',
          ratio: {
            value: p99During / p99Without,
            against: 'p99 without',
            ...(run === withWal ? { target: '≤ 2.00' } : {}),
          },
        });
        figures.push({ name: '  max during a snapshot', value: run.during.at(-1)!, unit: 'µs' });
      }
      return { suite: 'snapshot', figures, checksum };
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
} satisfies BenchSuite;
