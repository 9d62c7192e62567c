// Benchmark harness shared by every suite in src/suites/. A suite is a module whose default
// export is a BenchSuite; `turbo bench` (dist/run.js) runs every suite at 'large' scale, one at a
// time, and the test suite runs each at 'small' scale so benchmarks cannot rot.
// Suites print figures and ratios (vs. the machine's limits or vs. Tarantool 2.6 where
// `tarantool` is on PATH) and a checksum of their result so the work cannot be optimised away.

export type BenchScale = 'small' | 'large';

export interface BenchFigure {
  /** What was measured, e.g. "wal (a) 1000-row transactions". */
  readonly name: string;
  readonly value: number;
  /** Unit last, e.g. "rows/s", "MB/s", "µs". */
  readonly unit: string;
  /**
   * True for a figure whose honest value can be exactly 0 (a replication lag measured with a
   * millisecond clock on one machine); every other figure must be positive to be believed.
   */
  readonly canBeZero?: boolean;
  /** Optional comparison: value / reference, with what the reference is. */
  readonly ratio?: { readonly value: number; readonly against: string; readonly target?: string };
}

export interface BenchReport {
  readonly suite: string;
  readonly figures: readonly BenchFigure[];
  /** A number derived from the results (sum of keys read, rows counted …). */
  readonly checksum: number;
}

export interface BenchSuite {
  readonly name: string;
  run(scale: BenchScale): Promise<BenchReport>;
}

export function formatReport(report: BenchReport): string {
  const lines = [`## ${report.suite}`];
  for (const figure of report.figures) {
    let line = `${figure.name.padEnd(56)} ${formatNumber(figure.value).padStart(14)} ${figure.unit}`;
    if (figure.ratio !== undefined) {
      line += `   ${figure.ratio.value.toFixed(2)}x ${figure.ratio.against}`;
      if (figure.ratio.target !== undefined) line += ` (target ${figure.ratio.target})`;
    }
    lines.push(line);
  }
  lines.push(`checksum ${report.checksum}`);
  return lines.join('\n');
}

function formatNumber(value: number): string {
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(4);
}

import { Bench } from 'tinybench';

/**
 * Runs `fn` once to warm up, then `iterations` times with tinybench (no time budget: each call
 * is a whole scenario) and returns the median duration in milliseconds.
 */
export async function medianMs(
  name: string,
  fn: () => Promise<void> | void,
  iterations: number,
  setup?: () => Promise<void> | void,
): Promise<number> {
  // One warm-up run (JIT, WebAssembly, page cache) that is not counted.
  const bench = new Bench({
    iterations,
    time: 0,
    warmup: true,
    warmupIterations: 1,
    warmupTime: 0,
    throws: true,
  });
  bench.add(name, fn, setup === undefined ? {} : { beforeEach: setup });
  await bench.run();
  const result = bench.tasks[0]!.result;
  if (result.state !== 'completed')
    throw new Error(`benchmark ${name} ended in state ${result.state}`);
  return result.latency.p50;
}

export function percentile(sortedAscending: readonly number[], p: number): number {
  if (sortedAscending.length === 0) return Number.NaN;
  const index = Math.min(
    sortedAscending.length - 1,
    Math.ceil((p / 100) * sortedAscending.length) - 1,
  );
  return sortedAscending[Math.max(0, index)]!;
}
