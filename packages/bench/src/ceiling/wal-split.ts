// Issue 14's question "would Tarantool's split pay in Node?", answered on the ceiling of the
// embedded insert path (embedded-insert.ts), where nothing else differs: the same rows, the same
// batches, the same bytes, written either through libuv's thread pool (fs.write with a
// callback, what tarantype's journal does) or by a dedicated WAL worker thread reading the batch
// from shared memory and signalling completion with Atomics (a WAL thread, as Tarantool has).
// Alternates the two (A B A B) PAIRS times per configuration and prints medians and the ratio.
//   node dist/ceiling/wal-split.js        (PAIRS=5 N=1000000 CAP=3 by default)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from '../compare/model.js';
import { str } from '../suites/box.js';
import { measureCeilingInserts } from './embedded-insert.js';
import type { CeilingWalIo, CeilingWalMode } from './wal-block.js';

export interface SplitRow {
  readonly walMode: CeilingWalMode;
  readonly fibers: number;
  readonly libuv: number;
  readonly worker: number;
  /** Median of the per-pair worker ÷ libuv ratios. */
  readonly ratio: number;
  readonly spread: readonly [number, number];
}

export async function measureWalSplit(options: {
  readonly pairs: number;
  readonly n: number;
  readonly capSeconds: number;
  readonly log?: (line: string) => void;
}): Promise<SplitRow[]> {
  const rows: SplitRow[] = [];
  const root = await mkdtemp(join(tmpdir(), 'tarantype-wal-split-'));
  try {
    for (const walMode of ['write', 'fsync'] as const)
      for (const fibers of [1, 100, 1000]) {
        const figures: Record<CeilingWalIo, number[]> = { libuv: [], worker: [] };
        for (let pair = 0; pair < options.pairs; pair++)
          for (const io of ['libuv', 'worker'] as const) {
            const dir = await mkdtemp(join(root, `${io}-`));
            try {
              const result = await measureCeilingInserts({
                dir,
                n: options.n,
                walMode,
                io,
                fibers,
                batch: 1000,
                capSeconds: options.capSeconds,
                single: false,
                batched: false,
                tuple: (k) => [k, str(k), k * 2],
              });
              figures[io].push(result.concurrentRps);
              options.log?.(
                `[wal-split] ${walMode} ${fibers} writers pair ${pair + 1}/${options.pairs} ${io}: ${Math.round(result.concurrentRps)} tx/s`,
              );
            } finally {
              await rm(dir, { recursive: true, force: true });
            }
          }
        const ratios = figures.worker.map((w, i) => w / figures.libuv[i]!);
        rows.push({
          walMode,
          fibers,
          libuv: median(figures.libuv),
          worker: median(figures.worker),
          ratio: median(ratios),
          spread: [Math.min(...ratios), Math.max(...ratios)],
        });
      }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return rows;
}

export function renderSplit(rows: readonly SplitRow[], pairs: number): string {
  const lines = [
    `| wal_mode | writers | libuv thread pool (tx/s) | WAL worker thread (tx/s) | worker ÷ libuv | spread (${pairs} pairs) |`,
    '| --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows)
    lines.push(
      `| ${r.walMode} | ${r.fibers} | ${Math.round(r.libuv).toLocaleString('en-US')} | ${Math.round(r.worker).toLocaleString('en-US')} | ${r.ratio.toFixed(2)}× | ${r.spread[0].toFixed(2)}×–${r.spread[1].toFixed(2)}× |`,
    );
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === `file://${process.argv[1]}`) {
  const pairs = Number(process.env.PAIRS ?? 5);
  const n = Number(process.env.N ?? 1_000_000);
  const capSeconds = Number(process.env.CAP ?? 3);
  if (!(pairs >= 1 && n >= 1 && capSeconds > 0)) {
    process.stderr.write('usage: PAIRS=5 N=1000000 CAP=3 node dist/ceiling/wal-split.js\n');
    process.exit(2);
  }
  const rows = await measureWalSplit({
    pairs,
    n,
    capSeconds,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${renderSplit(rows, pairs)}\n`);
}
