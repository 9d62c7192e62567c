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
const str = (k: number) => POOL[k & 65535]!;

async function space(box: Box, name: string): Promise<BoxSpace> {
  const s = await box.schema.space.create(name);
  await s.createIndex('pk', { type: 'TREE', parts: [{ field: 0, type: 'unsigned' }] });
  return s;
}

async function loadBatched(box: Box, s: BoxSpace, n: number, batch: number): Promise<void> {
  for (let i = 1; i <= n; i += batch) {
    await box.atomic(() => {
      const end = Math.min(i + batch - 1, n);
      for (let k = i; k <= end; k++) void s.insert([k, str(k), k * 2]);
    });
  }
}

/** ours / theirs: for throughput higher is better (target ≥), for times lower (target ≤). */
function ratio(ours: number, theirs: number | undefined, target: string, _higherIsBetter = true) {
  if (theirs === undefined || !(theirs > 0)) return undefined;
  return { value: ours / theirs, against: 'Tarantool 2.6', target };
}

export default {
  name: 'box',
  async run(scaleName: BenchScale) {
    const scale = SCALES[scaleName];
    const root = await mkdtemp(join(tmpdir(), 'tarantype-bench-box-'));
    const figures: BenchFigure[] = [];
    let checksum = 0;
    try {
      const tt = hasTarantool
        ? ((await runTarantoolJson(
            'tt-embedded.lua',
            [String(scale.n), 'write', String(scale.batch), String(scale.fibers), join(root, 'tt')],
            { PHASE_CAP: String(scale.capSeconds), GETS: String(Math.min(scale.n, 100_000)) },
          )) as Record<string, Record<string, number> & Record<string, Record<string, number>>>)
        : undefined;
      const dir = join(root, 'box');
      const freshDir = join(root, 'box-restart');
      let box = await Box.cfg({ work_dir: dir, wal_mode: 'write', checkpoint_interval: 0 });
      // (a) one context, each insert awaited (durable) before the next.
      {
        const s = await space(box, 'pa');
        const started = performance.now();
        const deadline = started + scale.capSeconds * 1000;
        let n = 0;
        for (let i = 1; i <= scale.n; i++) {
          await s.insert([i, str(i), i * 2]);
          n = i;
          if (performance.now() > deadline) break;
        }
        const rps = n / ((performance.now() - started) / 1000);
        figures.push({
          name: '(a) 1 context, single-insert transactions',
          value: rps,
          unit: 'tx/s',
          ...withRatio(ratio(rps, tt?.a_single_fiber?.rps, '≥ 1.0')),
        });
        checksum += s.len();
        await s.drop();
      }
      // (b) 100 concurrent contexts, one insert per transaction (group commit).
      {
        const s = await space(box, 'pb');
        const started = performance.now();
        const deadline = started + scale.capSeconds * 1000;
        let n = 0;
        await Promise.all(
          Array.from({ length: scale.fibers }, async (_, f) => {
            for (let k = f + 1; k <= scale.n; k += scale.fibers) {
              await s.insert([k, str(k), k * 2]);
              n++;
              if (performance.now() > deadline) break;
            }
          }),
        );
        const rps = n / ((performance.now() - started) / 1000);
        figures.push({
          name: `(b) ${scale.fibers} concurrent single-insert transactions`,
          value: rps,
          unit: 'tx/s',
          ...withRatio(ratio(rps, tt?.b_fibers?.rps, '≥ 1.0')),
        });
        checksum += s.len();
        await s.drop();
      }
      // (c) transactions of 1000 inserts, in a fresh directory (as Tarantool's recovery child
      // loads one): its xlogs hold only these rows, so the restarts below compare like for like.
      await box.close();
      box = await Box.cfg({ work_dir: freshDir, wal_mode: 'write', checkpoint_interval: 0 });
      {
        const s = await space(box, 'bench');
        const started = performance.now();
        await loadBatched(box, s, scale.n, scale.batch);
        const rps = scale.n / ((performance.now() - started) / 1000);
        figures.push({
          name: `(c) transactions of ${scale.batch} inserts`,
          value: rps,
          unit: 'rows/s',
          ...withRatio(ratio(rps, tt?.c_batched?.rps, '≥ 1.0')),
        });
      }
      // Restart from xlogs only (the initial snapshot is empty), then from a snapshot.
      await box.close();
      let started = performance.now();
      box = await Box.cfg({ work_dir: freshDir, checkpoint_interval: 0 });
      const fromXlog = (performance.now() - started) / 1000;
      checksum += box.space.bench!.len();
      const ttXlog = (tt?.recovery as Record<string, Record<string, number>> | undefined)?.from_xlog
        ?.cfg_s;
      figures.push({
        name: `restart from xlogs (${scale.n.toLocaleString('en-US')} rows)`,
        value: fromXlog,
        unit: 's',
        ...withRatio(ratio(fromXlog, ttXlog, '≤ 1.0 (time)', false)),
      });
      started = performance.now();
      await box.snapshot();
      figures.push({
        name: 'box.snapshot()',
        value: (performance.now() - started) / 1000,
        unit: 's',
        ...withRatio(
          ratio(
            (performance.now() - started) / 1000,
            tt?.snapshot?.secs as number | undefined,
            '≤ 1.0 (time)',
            false,
          ),
        ),
      });
      await box.close();
      started = performance.now();
      box = await Box.cfg({ work_dir: freshDir, checkpoint_interval: 0 });
      const fromSnap = (performance.now() - started) / 1000;
      checksum += box.space.bench!.len();
      const ttSnap = (tt?.recovery as Record<string, Record<string, number>> | undefined)?.from_snap
        ?.cfg_s;
      figures.push({
        name: 'restart from a snapshot',
        value: fromSnap,
        unit: 's',
        ...withRatio(ratio(fromSnap, ttSnap, '≤ 1.0 (time)', false)),
      });
      await box.close();
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
        checksum,
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
