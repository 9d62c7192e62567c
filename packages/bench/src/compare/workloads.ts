// The workloads of the side-by-side command (issue 14), each measured on Tarantool 2.6 and on
// tarantype by the suites' own measuring functions and drivers, never written twice here:
// - embedded: tt-embedded.lua vs measureBox (box suite) + measureMemtx (memtx suite): inserts in
//   wal_mode write and fsync at 1, 100 and 1000 concurrent writers and in 1000-row transactions;
//   point get, full scan, GE limit 100, bytes per tuple with 1 and 2 TREE indexes; box.snapshot()
//   time; restart from xlogs and from a snapshot;
// - snapshot stall: fixtures/tt-snapshot-latency.lua vs the same open loop (snapshot suite's
//   openLoopLatencies) through a real Box: insert p99 without a snapshot and while snapshots are
//   written;
// - network: tt-server.lua and the tarantype server (server suite) driven by the one net.box
//   client netload.lua: ping, select, insert, replace, update, mixed at 1, 100 and 1000 in flight;
//   ops/s, p99, and server CPU per op read from /proc/<pid>/task/*/stat over every thread;
// - replication (replication suite): a master holding N tuples (its RSS), a fresh replica's
//   join, then steady replication from 100 writers (rows/s, upstream.lag p99, commit → visible).
// A unit measures one side once and returns a figure per row, or a Missing saying why not.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Box } from '@tarantype/box';
import { measureCeilingInserts } from '../ceiling/embedded-insert.js';
import { ceilingRestartFromXlogs } from '../ceiling/xlog-restart.js';
import { percentile } from '../harness.js';
import { processCpuSeconds, residentBytes, sleep } from '../lib/processes.js';
import { runTarantoolJson } from '../lib/tarantool.js';
import { loadBatched, measureBox, space, str } from '../suites/box.js';
import { measureMemtx } from '../suites/memtx.js';
import {
  countBench,
  joinSecondsFromLog,
  type Pair,
  type Steady,
  startMaster,
  startReplica,
  steady,
} from '../suites/replication.js';
import {
  load,
  type Server,
  startCeiling,
  startTarantool as startTarantoolServer,
  startTarantype as startTarantypeServer,
  stop,
} from '../suites/server.js';
import { openLoopLatencies } from '../suites/snapshot.js';
import { type Figure, type Missing, type RowSpec, type Side, TARGETS } from './model.js';

export type ScaleName = 'tiny' | 'small' | 'large';

export interface CompareScale {
  readonly name: ScaleName;
  /** Tuples {i, 32-byte string, i*2} of the embedded, snapshot and replication workloads. */
  readonly tuples: number;
  /** Seconds the 1-writer and concurrent-writer insert phases may take at most. */
  readonly capSeconds: number;
  readonly netSeconds: number;
  /** An unmeasured netload.lua run before each measured one (0: none). */
  readonly netWarmupSeconds: number;
  /** Key range of the network workloads (prefilled once per server). */
  readonly netKeys: number;
  readonly snapshotRounds: number;
  readonly steadySeconds: number;
  readonly steadyWriters: number;
}

export const SCALES: Record<ScaleName, CompareScale> = {
  large: {
    name: 'large',
    tuples: 1_000_000,
    capSeconds: 5,
    netSeconds: 3,
    netWarmupSeconds: 0.5,
    netKeys: 100_000,
    snapshotRounds: 5,
    steadySeconds: 5,
    steadyWriters: 100,
  },
  small: {
    name: 'small',
    tuples: 20_000,
    capSeconds: 1,
    netSeconds: 0.5,
    netWarmupSeconds: 0.2,
    netKeys: 10_000,
    snapshotRounds: 2,
    steadySeconds: 1,
    steadyWriters: 100,
  },
  // For the test suite: every workload, quickly; the figures only show that the command works.
  tiny: {
    name: 'tiny',
    tuples: 2_000,
    capSeconds: 0.2,
    netSeconds: 0.3,
    netWarmupSeconds: 0,
    netKeys: 1_000,
    snapshotRounds: 1,
    steadySeconds: 0.3,
    steadyWriters: 10,
  },
};

export const CONCURRENCY = [1, 100, 1000] as const;
export const NETWORK_OPS = ['ping', 'select', 'insert', 'replace', 'update', 'mixed'] as const;
/** Open-loop insert rate of the snapshot-stall workload (the snapshot suite's). */
const SNAPSHOT_INSERT_RATE = 10_000;
/** Shortest window of the snapshot-stall workload, seconds. */
const SNAPSHOT_MIN_WINDOW_S = 0.05;
const MEGABYTE = 1024 * 1024;

export interface Unit {
  readonly name: string;
  readonly rows: readonly RowSpec[];
  /** Measures one side once (pair `pair`); a figure per row id. */
  run(side: Side, pair: number): Promise<Partial<Record<string, Figure>>>;
  /**
   * The Node ceiling of some of these rows: a minimal Node program doing only the unavoidable
   * work of the path (src/ceiling/), measured in every pair right after both sides.
   */
  readonly ceiling?: Ceiling;
}

export interface Ceiling {
  /** The row ids it measures. */
  readonly rows: readonly string[];
  run(pair: number): Promise<Partial<Record<string, Figure>>>;
}

export interface Group {
  readonly name: string;
  readonly units: readonly Unit[];
  /** Row ids in the order the table shows them (rows not listed follow, in unit order). */
  readonly order?: readonly string[];
  /** Why this group cannot measure `side` at all in this run (undefined: it can). */
  unavailable?(side: Side): string | undefined;
  open?(): Promise<void>;
  close?(): Promise<void>;
}

export interface WorkloadContext {
  readonly scale: CompareScale;
  /** A scratch directory of this run (removed by the caller). */
  readonly root: string;
  readonly tarantool: boolean;
  /** fixtures/ of this package (the drivers of our own). */
  readonly fixturesDir: string;
}

const row = (
  id: string,
  workload: string,
  unit: string,
  better: RowSpec['better'],
  target: RowSpec['target'],
): RowSpec => ({ id, workload, unit, better, target });

/** A number from the JSON a driver printed, or a Missing naming the field. */
function field(json: unknown, path: string, script: string): Figure {
  let value: unknown = json;
  for (const key of path.split('.'))
    value =
      value !== null && typeof value === 'object'
        ? (value as Record<string, unknown>)[key]
        : undefined;
  return typeof value === 'number' && Number.isFinite(value)
    ? value
    : { missing: `${script} printed no ${path}` };
}

function figureOf(value: number | undefined, what: string): Figure {
  return value !== undefined && Number.isFinite(value) ? value : { missing: `no ${what}` };
}

// {{{ embedded

interface EmbeddedConfig {
  readonly walMode: 'write' | 'fsync';
  readonly fibers: number;
  /** Phase (a) (1 writer) and (c) (1000-row transactions) too. */
  readonly singleAndBatched: boolean;
  /** Reads, bytes per tuple, box.snapshot() and restarts too (wal_mode write, 100 writers). */
  readonly full: boolean;
}

function embeddedRows(config: EmbeddedConfig): RowSpec[] {
  const mode = `wal_mode ${config.walMode}`;
  const key = `insert.${config.walMode}`;
  const rows = [
    row(
      `${key}.${config.fibers}`,
      `insert, ${mode}, ${config.fibers} concurrent writers`,
      'tx/s',
      'higher',
      TARGETS.throughput,
    ),
  ];
  if (config.singleAndBatched)
    rows.unshift(
      row(`${key}.1`, `insert, ${mode}, 1 writer`, 'tx/s', 'higher', TARGETS.throughput),
    );
  if (config.singleAndBatched)
    rows.push(
      row(
        `${key}.txn1000`,
        `insert, ${mode}, 1000-row transactions`,
        'rows/s',
        'higher',
        TARGETS.throughput,
      ),
    );
  if (config.full)
    rows.push(
      row('get', 'point get by random key', 'gets/s', 'higher', TARGETS.throughput),
      row('scan', 'full scan (pairs)', 'tuples/s', 'higher', TARGETS.throughput),
      row('ge100', 'select GE, limit 100', 'tuples/s', 'higher', TARGETS.throughput),
      row('bytes.1', 'bytes per tuple, 1 TREE index', 'B', 'lower', TARGETS.bytes),
      row('bytes.2', 'bytes per tuple, 2 TREE indexes', 'B', 'lower', TARGETS.bytes),
      row('snapshot.write', 'box.snapshot() of N tuples', 's', 'lower', TARGETS.time),
      row('restart.xlog', 'restart from xlogs', 's', 'lower', TARGETS.time),
      row('restart.snap', 'restart from a snapshot', 's', 'lower', TARGETS.time),
    );
  return rows;
}

function embeddedUnit(context: WorkloadContext, config: EmbeddedConfig): Unit {
  const { scale } = context;
  const rows = embeddedRows(config);
  const key = `insert.${config.walMode}`;
  const insertRows = [
    `${key}.${config.fibers}`,
    ...(config.singleAndBatched ? [`${key}.1`, `${key}.txn1000`] : []),
    ...(config.full ? ['restart.xlog'] : []),
  ];
  return {
    name: `embedded, wal_mode ${config.walMode}, ${config.fibers} writers`,
    rows,
    ceiling: {
      rows: insertRows,
      async run(pair) {
        const dir = join(context.root, `ceiling-${config.walMode}-${config.fibers}-${pair}`);
        await mkdir(dir, { recursive: true });
        try {
          const ceiling = await measureCeilingInserts({
            dir,
            n: scale.tuples,
            walMode: config.walMode,
            fibers: config.fibers,
            batch: 1000,
            capSeconds: scale.capSeconds,
            single: config.singleAndBatched,
            batched: config.singleAndBatched,
            tuple: (k) => [k, str(k), k * 2],
          });
          const out: Record<string, Figure> = {
            [`${key}.${config.fibers}`]: ceiling.concurrentRps,
          };
          if (config.singleAndBatched) {
            out[`${key}.1`] = figureOf(ceiling.singleRps, 'single insert rate');
            out[`${key}.txn1000`] = figureOf(ceiling.batchedRps, 'batched insert rate');
          }
          if (config.full) out['restart.xlog'] = await restartCeiling(dir, scale.tuples);
          return out;
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    },
    async run(side, pair) {
      const dir = join(context.root, `embedded-${config.walMode}-${config.fibers}-${side}-${pair}`);
      try {
        return side === 'tarantool'
          ? await embeddedTarantool(config, scale, dir, key)
          : await embeddedTarantype(config, scale, dir, key);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

async function embeddedTarantool(
  config: EmbeddedConfig,
  scale: CompareScale,
  dir: string,
  key: string,
): Promise<Record<string, Figure>> {
  const script = 'tt-embedded.lua';
  const json = await runTarantoolJson(
    script,
    [String(scale.tuples), config.walMode, '1000', String(config.fibers), dir],
    {
      PHASE_CAP: String(scale.capSeconds),
      // Point gets as many as tarantype's (N); the runs that only need inserts keep them short.
      GETS: String(config.full ? scale.tuples : 1000),
      RECOVERY: config.full ? '1' : '0',
    },
  );
  const out: Record<string, Figure> = {
    [`${key}.${config.fibers}`]: field(json, 'b_fibers.rps', script),
  };
  if (config.singleAndBatched) {
    out[`${key}.1`] = field(json, 'a_single_fiber.rps', script);
    out[`${key}.txn1000`] = field(json, 'c_batched.rps', script);
  }
  if (config.full) {
    out.get = field(json, 'get.ops_per_s', script);
    out.scan = field(json, 'range.full_scan_pairs_tuples_per_s', script);
    out.ge100 = field(json, 'range.select_ge_limit100_tuples_per_s', script);
    out['bytes.1'] = arenaBytes(field(json, 'mem_1idx.arena_used_per_tuple', script));
    out['bytes.2'] = arenaBytes(field(json, 'mem_2idx.arena_used_per_tuple_total', script));
    out['snapshot.write'] = field(json, 'snapshot.secs', script);
    out['restart.xlog'] = field(json, 'recovery.from_xlog.cfg_s', script);
    out['restart.snap'] = field(json, 'recovery.from_snap.cfg_s', script);
  }
  return out;
}

/**
 * tt-embedded.lua's bytes per tuple are arena_used deltas: whole slabs, while the tuples of the
 * dropped spaces of phases (a) and (b) are still being freed in the background. At 1M tuples
 * that is noise; at a few thousand the delta can be 0 or negative, which is no size.
 */
function arenaBytes(figure: Figure): Figure {
  if (typeof figure !== 'number' || figure > 0) return figure;
  return {
    missing: `arena_used grew by ${figure} B per tuple: N too small for the slab accounting`,
  };
}

async function embeddedTarantype(
  config: EmbeddedConfig,
  scale: CompareScale,
  dir: string,
  key: string,
): Promise<Record<string, Figure>> {
  await mkdir(dir, { recursive: true });
  const box = await measureBox({
    root: dir,
    n: scale.tuples,
    walMode: config.walMode,
    fibers: config.fibers,
    batch: 1000,
    capSeconds: scale.capSeconds,
    single: config.singleAndBatched,
    concurrent: true,
    batched: config.singleAndBatched,
    restarts: config.full,
  });
  const out: Record<string, Figure> = {
    [`${key}.${config.fibers}`]: figureOf(box.concurrentRps, 'concurrent insert rate'),
  };
  if (config.singleAndBatched) {
    out[`${key}.1`] = figureOf(box.singleRps, 'single insert rate');
    out[`${key}.txn1000`] = figureOf(box.batchedRps, 'batched insert rate');
  }
  if (config.full) {
    const memtx = measureMemtx(scale.tuples, 1);
    out.get = memtx.get;
    out.scan = memtx.fullScan;
    out.ge100 = memtx.rangeGe100;
    out['bytes.1'] = memtx.bytesOneIndex;
    out['bytes.2'] = memtx.bytesOneIndex + memtx.bytesSecondIndex;
    out['snapshot.write'] = figureOf(box.snapshotSeconds, 'snapshot time');
    out['restart.xlog'] = figureOf(box.restartFromXlogSeconds, 'restart time');
    out['restart.snap'] = figureOf(box.restartFromSnapshotSeconds, 'restart time');
  }
  return out;
}

/**
 * The ceiling of restart from xlogs (ceiling/xlog-restart.ts) on the xlogs measureBox restarts
 * from: N tuples loaded in 1000-row transactions by a real Box into an empty work_dir.
 */
async function restartCeiling(root: string, tuples: number): Promise<Figure> {
  const dir = join(root, 'restart');
  const box = await Box.cfg({ work_dir: dir, wal_mode: 'write', checkpoint_interval: 0 });
  try {
    await loadBatched(box, await space(box, 'bench'), tuples, 1000);
  } finally {
    await box.close();
  }
  const result = await ceilingRestartFromXlogs(dir);
  if (result.tuples !== tuples)
    return { missing: `the ceiling recovered ${result.tuples} of ${tuples} tuples` };
  return result.seconds;
}

function embeddedGroup(context: WorkloadContext): Group {
  const configs: EmbeddedConfig[] = [
    { walMode: 'write', fibers: 100, singleAndBatched: true, full: true },
    { walMode: 'write', fibers: 1000, singleAndBatched: false, full: false },
    { walMode: 'fsync', fibers: 100, singleAndBatched: true, full: false },
    { walMode: 'fsync', fibers: 1000, singleAndBatched: false, full: false },
  ];
  const units = configs.map((config) => embeddedUnit(context, config));
  const all = units.flatMap((unit) => unit.rows.map((r) => r.id));
  // Every insert row first, by wal_mode and writers; then reads, memory, snapshot, restarts.
  const inserts = ['write', 'fsync'].flatMap((mode) =>
    ['1', '100', '1000', 'txn1000'].map((writers) => `insert.${mode}.${writers}`),
  );
  return {
    name: 'embedded',
    units,
    order: [...inserts, ...all.filter((id) => !inserts.includes(id))],
  };
}

// }}}

// {{{ snapshot stall

const STALL_ROWS = [
  row(
    'snapshot.p99.without',
    'insert p99, no snapshot (10k/s open loop)',
    'µs',
    'lower',
    TARGETS.time,
  ),
  row('snapshot.p99.during', 'insert p99 while snapshots are written', 'µs', 'lower', TARGETS.time),
  row(
    'snapshot.stall',
    'insert p99 during a snapshot ÷ p99 without',
    '×',
    'lower',
    TARGETS.snapshotStall,
  ),
];

interface StallFigures {
  readonly without: number;
  readonly during: number;
}

function stallFigures(figures: StallFigures | Missing): Record<string, Figure> {
  if ('missing' in figures) return Object.fromEntries(STALL_ROWS.map((r) => [r.id, figures]));
  return {
    'snapshot.p99.without': figures.without,
    'snapshot.p99.during': figures.during,
    'snapshot.stall': figures.during / figures.without,
  };
}

/** tarantype's side of tt-snapshot-latency.lua: the same rounds through a real Box. */
async function stallTarantype(scale: CompareScale, dir: string): Promise<StallFigures | Missing> {
  const box = await Box.cfg({ work_dir: dir, wal_mode: 'write', checkpoint_interval: 0 });
  try {
    const bench = await space(box, 'bench');
    await loadBatched(box, bench, scale.tuples, 1000);
    let nextKey = scale.tuples + 1;
    const insert = () => {
      const k = nextKey++;
      return bench.insert([k, str(k), k * 2]);
    };
    let started = performance.now();
    await box.snapshot();
    let snapshotMs = performance.now() - started;
    const without: number[] = [];
    const during: number[] = [];
    const minWindowMs = SNAPSHOT_MIN_WINDOW_S * 1000;
    for (let round = 0; round < scale.snapshotRounds; round++) {
      const window = sleep(Math.max(minWindowMs, snapshotMs));
      without.push(...(await openLoopLatencies(insert, SNAPSHOT_INSERT_RATE, window)));
      const snapshots = (async () => {
        const began = performance.now();
        do {
          started = performance.now();
          await box.snapshot();
          snapshotMs = performance.now() - started;
        } while (performance.now() - began < minWindowMs);
      })();
      during.push(...(await openLoopLatencies(insert, SNAPSHOT_INSERT_RATE, snapshots)));
      await snapshots;
    }
    without.sort((a, b) => a - b);
    during.sort((a, b) => a - b);
    if (without.length === 0 || during.length === 0) return { missing: 'no inserts measured' };
    return { without: percentile(without, 99), during: percentile(during, 99) };
  } finally {
    await box.close();
  }
}

function stallGroup(context: WorkloadContext): Group {
  const { scale } = context;
  const unit: Unit = {
    name: 'insert latency during snapshots',
    rows: STALL_ROWS,
    async run(side, pair) {
      const dir = join(context.root, `stall-${side}-${pair}`);
      try {
        if (side === 'tarantype') return stallFigures(await stallTarantype(scale, dir));
        const script = join(context.fixturesDir, 'tt-snapshot-latency.lua');
        const json = await runTarantoolJson(script, [], {
          N: String(scale.tuples),
          DIR: dir,
          RATE: String(SNAPSHOT_INSERT_RATE),
          ROUNDS: String(scale.snapshotRounds),
          MIN_WINDOW_S: String(SNAPSHOT_MIN_WINDOW_S),
        });
        const without = field(json, 'p99_without_us', 'tt-snapshot-latency.lua');
        const during = field(json, 'p99_during_us', 'tt-snapshot-latency.lua');
        if (typeof without !== 'number') return stallFigures(without);
        if (typeof during !== 'number') return stallFigures(during);
        return stallFigures({ without, during });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
  return { name: 'snapshot stall', units: [unit] };
}

// }}}

// {{{ network

function networkGroup(context: WorkloadContext): Group {
  const { scale } = context;
  const servers = new Map<Side, Server>();
  let ceilingServer: Server | undefined;
  // netload.lua derives OP=insert's first key from the clock's second: two insert runs against
  // one server within a second would collide, so every insert run gets a range of its own
  // of 2M keys (more than 3 s at 1000 in flight insert). netload.lua keeps keys below 2^30:
  // with 18 insert runs a pair (3 servers, a warm-up and a measured run at 3 concurrencies)
  // that allows some 27 pairs.
  let nextKey0 = 100_000_000;
  const key0 = (op: string) => {
    if (op !== 'insert') return {};
    nextKey0 += 2_000_000;
    if (nextKey0 + 2_000_000 > 2 ** 30) throw new Error('too many insert runs for the key space');
    return { key0: nextKey0 };
  };
  const unit = (op: string, concurrency: number): Unit => {
    const id = `net.${op}.${concurrency}`;
    const measure = async (server: Server | undefined): Promise<Record<string, Figure>> => {
      if (server === undefined) return {};
      const pid = server.child.pid!;
      const options = { durationSeconds: scale.netSeconds, keys: scale.netKeys };
      if (scale.netWarmupSeconds > 0)
        await load(server, op, concurrency, {
          ...options,
          durationSeconds: scale.netWarmupSeconds,
          warmupSeconds: 0,
          ...key0(op),
        });
      // The CPU is read around the whole measured run (no warm-up inside it: the connect and
      // the schema fetch are a few requests against tens of thousands).
      const cpuBefore = processCpuSeconds(pid);
      const result = await load(server, op, concurrency, {
        ...options,
        warmupSeconds: 0,
        ...key0(op),
      });
      const cpuAfter = processCpuSeconds(pid);
      if (result.errors > 0) {
        const failed = { missing: `${result.errors} errors: ${result.firstError ?? '?'}` };
        return { [`${id}.ops`]: failed, [`${id}.cpu`]: failed, [`${id}.p99`]: failed };
      }
      const cpu: Figure =
        cpuBefore === undefined || cpuAfter === undefined
          ? { missing: `server (pid ${pid}) exited` }
          : result.ops > 0
            ? ((cpuAfter - cpuBefore) * 1e6) / result.ops
            : { missing: `no ${op} completed within the ${scale.netSeconds} s window` };
      return {
        [`${id}.ops`]: result.ops_per_s,
        [`${id}.cpu`]: cpu,
        [`${id}.p99`]: result.p99_us,
      };
    };
    return {
      name: `network ${op} @${concurrency}`,
      rows: [
        row(
          `${id}.ops`,
          `net.box ${op}, ${concurrency} in flight`,
          'ops/s',
          'higher',
          TARGETS.throughput,
        ),
        row(
          `${id}.cpu`,
          `  server CPU per ${op}, ${concurrency} in flight`,
          'µs',
          'lower',
          TARGETS.cpu,
        ),
        row(`${id}.p99`, `  p99 of ${op}, ${concurrency} in flight`, 'µs', 'lower', TARGETS.time),
      ],
      run: (side) => measure(servers.get(side)),
      ceiling: {
        rows: [`${id}.ops`, `${id}.cpu`, `${id}.p99`],
        run: async () => {
          if (ceilingServer !== undefined) return measure(ceilingServer);
          const reason = { missing: 'not measured: the net.box load generator needs tarantool' };
          return { [`${id}.ops`]: reason, [`${id}.cpu`]: reason, [`${id}.p99`]: reason };
        },
      },
    };
  };
  return {
    name: 'network',
    units: NETWORK_OPS.flatMap((op) => CONCURRENCY.map((c) => unit(op, c))),
    unavailable: () =>
      context.tarantool ? undefined : 'not measured: the net.box load generator needs tarantool',
    async open() {
      if (!context.tarantool) return;
      const root = join(context.root, 'network');
      servers.set('tarantool', await startTarantoolServer(root, 'write'));
      servers.set('tarantype', await startTarantypeServer(root, 'write'));
      ceilingServer = await startCeiling(root);
      // Prefill the key range once (netload.lua does it when key KEYS is missing), so that no
      // measured run includes it.
      for (const server of [...servers.values(), ceilingServer])
        await load(server, 'select', 10, {
          durationSeconds: 0.1,
          keys: scale.netKeys,
          warmupSeconds: 0,
        });
    },
    async close() {
      for (const server of servers.values()) await stop(server);
      servers.clear();
      if (ceilingServer !== undefined) await stop(ceilingServer);
      ceilingServer = undefined;
    },
  };
}

// }}}

// {{{ replication

const replicationRows = (scale: CompareScale) => [
  row('rss', 'RSS of a server holding N tuples', 'MB', 'lower', TARGETS.bytes),
  row('replication.join', 'replica join of N tuples', 's', 'lower', TARGETS.time),
  row(
    'replication.steady',
    `steady replication, ${scale.steadyWriters} writers on the master`,
    'rows/s',
    'higher',
    TARGETS.throughput,
  ),
  row('replication.lag.p99', '  upstream.lag p99', 'ms', 'lower', TARGETS.time),
  row(
    'replication.visible.p99',
    '  commit on master → visible on replica, p99',
    'µs',
    'lower',
    TARGETS.time,
  ),
];

function replicationGroup(context: WorkloadContext): Group {
  const { scale } = context;
  const unit: Unit = {
    name: 'replication',
    rows: replicationRows(scale),
    async run(side, pair) {
      const kind: Pair['kind'] = side === 'tarantool' ? 'Tarantool 2.6' : 'tarantype';
      const root = join(context.root, `replication-${side}-${pair}`);
      const master = await startMaster(kind, root, scale.tuples, 'compare');
      let replica: Awaited<ReturnType<typeof startReplica>> | undefined;
      try {
        const rss = residentBytes(master.master.child.pid!);
        replica = await startReplica(master, root, 'compare');
        const join_ = joinSecondsFromLog(await replica.replica.log());
        const count = await countBench(replica.port);
        if (count !== scale.tuples)
          throw new Error(`the ${kind} replica holds ${count} of ${scale.tuples} tuples`);
        const measured: Record<string, Figure> = {
          rss: rss === undefined ? { missing: 'master exited' } : rss / MEGABYTE,
          'replication.join': join_,
        };
        let result: Steady;
        try {
          result = await steady(master.masterPort, replica.port, {
            joinTuples: [],
            steadySeconds: scale.steadySeconds,
            writers: scale.steadyWriters,
          });
        } catch (error) {
          // A probe that is not visible within 10 s, a replica that does not catch up: the
          // steady rows say so, the join and the RSS of this pair stand.
          const failed = {
            missing: `failed: ${error instanceof Error ? error.message : String(error)}`,
          };
          return {
            ...measured,
            'replication.steady': failed,
            'replication.lag.p99': failed,
            'replication.visible.p99': failed,
          };
        }
        // 2.6 computes upstream.lag from its event loop's cached time and reports negative
        // values under load: such a figure is not a lag.
        const lag: Figure = Number.isNaN(result.lagP99Ms)
          ? { missing: 'no upstream.lag sample' }
          : result.lagP99Ms >= 0
            ? result.lagP99Ms
            : { missing: `upstream.lag p99 read ${result.lagP99Ms.toFixed(2)} ms (negative)` };
        return {
          ...measured,
          'replication.steady': figureOf(result.rowsPerSecond, 'replicated rows'),
          'replication.lag.p99': lag,
          'replication.visible.p99': figureOf(result.visibleP99Us, 'probe that became visible'),
        };
      } finally {
        await replica?.replica.stop();
        await master.master.stop();
        await rm(root, { recursive: true, force: true });
      }
    },
  };
  return { name: 'replication', units: [unit] };
}

// }}}

export function workloads(context: WorkloadContext): Group[] {
  return [
    embeddedGroup(context),
    stallGroup(context),
    networkGroup(context),
    replicationGroup(context),
  ];
}
