// box benchmarks (issue: box): inserts through the whole database with wal_mode write — one
// context awaiting each insert, 100 concurrent single-insert transactions, transactions of
// 1000 inserts — and restart time from xlogs only and from a snapshot. Tuples are
// {i, 32-byte string, i*2} with a TREE primary key, as ../shared/bench/tt-embedded.lua does;
// that script runs in the same run (when `tarantool` is installed) and the ratios are printed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box, type BoxSpace } from '@tarantype/box';
import type { BenchFigure, BenchScale, BenchSuite } from '../harness.js';
import { hasTarantool, runTarantoolJson } from '../lib/tarantool.js';

interface Scale {
  readonly n: number;
  /** Seconds phase (a) may take at most (Tarantool's PHASE_CAP). */
  readonly capSeconds: number;
  readonly fibers: number;
  readonly batch: number;
}

const SCALES: Record<BenchScale, Scale> = {
  small: { n: 20_000, capSeconds: 1, fibers: 100, batch: 1000 },
  large: { n: 1_000_000, capSeconds: 5, fibers: 100, batch: 1000 },
};

/** 65536 32-character strings, as tt-embedded.lua's pool (random base64 of 24 bytes). */
const POOL = Array.from({ length: 65536 }, (_, i) =>
  Buffer.from(
    Array.from({ length: 24 }, (_, k) => (i * 131 + k * 7919 + (i >> 3) * k) & 0xff),
  ).toString('base64'),
);
/** The 32-byte string of tuple k (tt-embedded.lua's str(k)). */
export const str = (k: number) => POOL[k & 65535]!;

/** A space `name` with a TREE primary key on field 1 (unsigned), as tt-embedded.lua's mkspace. */
export async function space(box: Box, name: string): Promise<BoxSpace> {
  const s = await box.schema.space.create(name);
  await s.createIndex('pk', { type: 'TREE', parts: [{ field: 0, type: 'unsigned' }] });
  return s;
}

/** Tuples {i, str(i), i*2}, i = 1..n, in transactions of `batch` (tt-embedded.lua's load_batched). */
export async function loadBatched(box: Box, s: BoxSpace, n: number, batch: number): Promise<void> {
  for (let i = 1; i <= n; i += batch) {
    await box.atomic(() => {
      const end = Math.min(i + batch - 1, n);
      for (let k = i; k <= end; k++) void s.insert([k, str(k), k * 2]);
    });
  }
}

/** Inserts made and their rate (per second) in one insert phase. */
export interface PhaseRate {
  readonly count: number;
  readonly rps: number;
}

/** Phase (a): one context awaiting each insert of keys 1..n, stopping after `capSeconds`. */
export async function singleWriter(
  insert: (k: number) => Promise<unknown>,
  n: number,
  capSeconds: number,
): Promise<PhaseRate> {
  const started = performance.now();
  const deadline = started + capSeconds * 1000;
  let count = 0;
  for (let k = 1; k <= n; k++) {
    await insert(k);
    count = k;
    if (performance.now() > deadline) break;
  }
  return { count, rps: count / ((performance.now() - started) / 1000) };
}

/**
 * Phase (b): `fibers` concurrent contexts, context f inserting keys f + 1, f + 1 + fibers, …,
 * each awaiting its insert before the next, all stopping after `capSeconds`.
 */
export async function concurrentWriters(
  insert: (k: number) => Promise<unknown>,
  n: number,
  fibers: number,
  capSeconds: number,
): Promise<PhaseRate> {
  const started = performance.now();
  const deadline = started + capSeconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: fibers }, async (_, f) => {
      for (let k = f + 1; k <= n; k += fibers) {
        await insert(k);
        count++;
        if (performance.now() > deadline) break;
      }
    }),
  );
  return { count, rps: count / ((performance.now() - started) / 1000) };
}

/** ours / theirs: for throughput higher is better (target ≥), for times lower (target ≤). */
function ratio(ours: number, theirs: number | undefined, target: string, _higherIsBetter = true) {
  if (theirs === undefined || !(theirs > 0)) return undefined;
  return { value: ours / theirs, against: 'Tarantool 2.6', target };
}

/** What {@link measureBox} runs; each phase can be left out (the side-by-side command runs some alone). */
export interface BoxRunOptions {
  /** A directory of its own (created and filled here; the caller removes it). */
  readonly root: string;
  readonly n: number;
  readonly walMode: 'write' | 'fsync';
  /** Concurrent writers of phase (b). */
  readonly fibers: number;
  /** Inserts per transaction of phase (c). */
  readonly batch: number;
  /** Seconds phases (a) and (b) may take at most (Tarantool's PHASE_CAP). */
  readonly capSeconds: number;
  readonly single: boolean;
  readonly concurrent: boolean;
  /** Phase (c). */
  readonly batched: boolean;
  /** After phase (c): restart from xlogs, box.snapshot(), restart from the snapshot. */
  readonly restarts: boolean;
}

export interface BoxResult {
  /** (a) single-insert transactions of one context, tx/s. */
  readonly singleRps?: number;
  /** (b) single-insert transactions of `fibers` concurrent contexts, tx/s. */
  readonly concurrentRps?: number;
  /** (c) rows/s in transactions of `batch` inserts. */
  readonly batchedRps?: number;
  readonly restartFromXlogSeconds?: number;
  readonly snapshotSeconds?: number;
  readonly restartFromSnapshotSeconds?: number;
  readonly checksum: number;
}

/**
 * The box suite's measurements, tt-embedded.lua's phases for tarantype: (a) one context
 * awaiting each insert, (b) `fibers` concurrent single-insert transactions, (c) transactions of
 * `batch` inserts in a fresh directory (as Tarantool's recovery child loads one: its xlogs hold
 * only these rows, so the restarts compare like for like), then restart from xlogs only,
 * box.snapshot(), restart from the snapshot.
 */
export async function measureBox(options: BoxRunOptions): Promise<BoxResult> {
  const { n, capSeconds, fibers, batch, walMode } = options;
  const result: {
    -readonly [K in keyof BoxResult]: BoxResult[K];
  } = { checksum: 0 };
  let box = await Box.cfg({
    work_dir: join(options.root, 'box'),
    wal_mode: walMode,
    checkpoint_interval: 0,
  });
  try {
    if (options.single) {
      const s = await space(box, 'pa');
      result.singleRps = (
        await singleWriter((k) => s.insert([k, str(k), k * 2]), n, capSeconds)
      ).rps;
      result.checksum += s.len();
      await s.drop();
    }
    if (options.concurrent) {
      const s = await space(box, 'pb');
      result.concurrentRps = (
        await concurrentWriters((k) => s.insert([k, str(k), k * 2]), n, fibers, capSeconds)
      ).rps;
      result.checksum += s.len();
      await s.drop();
    }
    if (!options.batched) return result;
    await box.close();
    const freshDir = join(options.root, 'box-restart');
    box = await Box.cfg({ work_dir: freshDir, wal_mode: walMode, checkpoint_interval: 0 });
    const s = await space(box, 'bench');
    let started = performance.now();
    await loadBatched(box, s, n, batch);
    result.batchedRps = n / ((performance.now() - started) / 1000);
    if (!options.restarts) return result;
    // Restart from xlogs only (the initial snapshot is empty), then from a snapshot.
    await box.close();
    started = performance.now();
    box = await Box.cfg({ work_dir: freshDir, checkpoint_interval: 0 });
    result.restartFromXlogSeconds = (performance.now() - started) / 1000;
    result.checksum += box.space.bench!.len();
    started = performance.now();
    await box.snapshot();
    result.snapshotSeconds = (performance.now() - started) / 1000;
    await box.close();
    started = performance.now();
    box = await Box.cfg({ work_dir: freshDir, checkpoint_interval: 0 });
    result.restartFromSnapshotSeconds = (performance.now() - started) / 1000;
    result.checksum += box.space.bench!.len();
    return result;
  } finally {
    await box.close();
  }
}

export default {
  name: 'box',
  async run(scaleName: BenchScale) {
    const scale = SCALES[scaleName];
    const root = await mkdtemp(join(tmpdir(), 'tarantype-bench-box-'));
    const figures: BenchFigure[] = [];
    try {
      const tt = hasTarantool
        ? ((await runTarantoolJson(
            'tt-embedded.lua',
            [String(scale.n), 'write', String(scale.batch), String(scale.fibers), join(root, 'tt')],
            { PHASE_CAP: String(scale.capSeconds), GETS: String(Math.min(scale.n, 100_000)) },
          )) as Record<string, Record<string, number> & Record<string, Record<string, number>>>)
        : undefined;
      const ours = await measureBox({
        root,
        n: scale.n,
        walMode: 'write',
        fibers: scale.fibers,
        batch: scale.batch,
        capSeconds: scale.capSeconds,
        single: true,
        concurrent: true,
        batched: true,
        restarts: true,
      });
      const recovery = tt?.recovery as Record<string, Record<string, number>> | undefined;
      const ttXlog = recovery?.from_xlog?.cfg_s;
      const ttSnap = recovery?.from_snap?.cfg_s;
      figures.push(
        {
          name: '(a) 1 context, single-insert transactions',
          value: ours.singleRps!,
          unit: 'tx/s',
          ...withRatio(ratio(ours.singleRps!, tt?.a_single_fiber?.rps, '≥ 1.0')),
        },
        {
          name: `(b) ${scale.fibers} concurrent single-insert transactions`,
          value: ours.concurrentRps!,
          unit: 'tx/s',
          ...withRatio(ratio(ours.concurrentRps!, tt?.b_fibers?.rps, '≥ 1.0')),
        },
        {
          name: `(c) transactions of ${scale.batch} inserts`,
          value: ours.batchedRps!,
          unit: 'rows/s',
          ...withRatio(ratio(ours.batchedRps!, tt?.c_batched?.rps, '≥ 1.0')),
        },
        {
          name: `restart from xlogs (${scale.n.toLocaleString('en-US')} rows)`,
          value: ours.restartFromXlogSeconds!,
          unit: 's',
          ...withRatio(ratio(ours.restartFromXlogSeconds!, ttXlog, '≤ 1.0 (time)', false)),
        },
        {
          name: 'box.snapshot()',
          value: ours.snapshotSeconds!,
          unit: 's',
          ...withRatio(
            ratio(
              ours.snapshotSeconds!,
              tt?.snapshot?.secs as number | undefined,
              '≤ 1.0 (time)',
              false,
            ),
          ),
        },
        {
          name: 'restart from a snapshot',
          value: ours.restartFromSnapshotSeconds!,
          unit: 's',
          ...withRatio(ratio(ours.restartFromSnapshotSeconds!, ttSnap, '≤ 1.0 (time)', false)),
        },
      );
      if (tt !== undefined) {
        figures.push({
          name: 'Tarantool 2.6 (a) 1 fiber',
          value: tt.a_single_fiber!.rps!,
          unit: 'tx/s',
        });
        figures.push({
          name: 'Tarantool 2.6 (b) 100 fibers',
          value: tt.b_fibers!.rps!,
          unit: 'tx/s',
        });
        figures.push({
          name: 'Tarantool 2.6 (c) 1000-row transactions',
          value: tt.c_batched!.rps!,
          unit: 'rows/s',
        });
        if (ttXlog !== undefined)
          figures.push({ name: 'Tarantool 2.6 restart from xlogs', value: ttXlog, unit: 's' });
        if (ttSnap !== undefined)
          figures.push({ name: 'Tarantool 2.6 restart from a snapshot', value: ttSnap, unit: 's' });
      }
      return {
        suite: hasTarantool
          ? 'box (vs Tarantool 2.6 in the same run)'
          : 'box (tarantool not installed: no ratios)',
        figures,
        checksum: ours.checksum,
      };
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
} satisfies BenchSuite;

function withRatio(r: BenchFigure['ratio'] | undefined): {
  ratio?: NonNullable<BenchFigure['ratio']>;
} {
  return r === undefined ? {} : { ratio: r };
}
