// Running real Tarantool 2.6 side by side: the shared drivers in ../shared/bench (or this
// package's copies of them), one JSON line each. Suites call these in the same run as their own measurements and print ratios; when
// `tarantool` is not installed they say so and print our figures alone.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** `tarantool --version`'s first line, or undefined when it is not installed. */
export const tarantoolVersion: string | undefined = (() => {
  const run = spawnSync('tarantool', ['--version'], { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.split('\n')[0]!.trim() : undefined;
})();
const tarantoolInstalled = tarantoolVersion !== undefined;

/** The drivers every side-by-side run needs (the Tarantool side and the shared net.box client). */
export const REQUIRED_DRIVERS = ['tt-embedded.lua', 'tt-server.lua', 'netload.lua'] as const;

const ROOT = new URL('../../../../', import.meta.url).pathname;
/** Copies of REQUIRED_DRIVERS kept in this package, so that a fresh clone runs alone. */
export const FIXTURE_DRIVERS_DIR = join(ROOT, 'packages', 'bench', 'fixtures', 'shared-bench');

export interface DriversDir {
  readonly dir: string;
  /** Where it came from: TT_BENCH_DIR, ../shared/bench, or this package's copies. */
  readonly source: 'TT_BENCH_DIR' | '../shared/bench' | 'packages/bench/fixtures/shared-bench';
}

/**
 * TT_BENCH_DIR when set; else ../shared/bench from the repository root when it holds every
 * required driver; else the copies in packages/bench/fixtures/shared-bench.
 */
export function driversDir(): DriversDir {
  if (process.env.TT_BENCH_DIR !== undefined)
    return { dir: process.env.TT_BENCH_DIR, source: 'TT_BENCH_DIR' };
  const shared = join(ROOT, '..', 'shared', 'bench');
  if (REQUIRED_DRIVERS.every((file) => existsSync(join(shared, file))))
    return { dir: shared, source: '../shared/bench' };
  return { dir: FIXTURE_DRIVERS_DIR, source: 'packages/bench/fixtures/shared-bench' };
}

/** The directory of the Tarantool-side drivers (see {@link driversDir}). */
export function sharedBenchDir(): string {
  return driversDir().dir;
}

/**
 * Side-by-side runs need both the `tarantool` binary and the drivers (../shared/bench or this
 * package's copies); without either, suites print our figures alone and say so.
 */
export const hasTarantool =
  tarantoolInstalled && existsSync(join(sharedBenchDir(), 'tt-embedded.lua'));

/** Runs `tarantool <script> args` with `env`; resolves with the last JSON line it printed. */
export function runTarantoolJson(
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 600_000,
): Promise<Record<string, unknown>> {
  const path = script.startsWith('/') ? script : join(sharedBenchDir(), script);
  if (!existsSync(path)) return Promise.reject(new Error(`${path} not found (set TT_BENCH_DIR)`));
  return new Promise((resolve, reject) => {
    execFile(
      'tarantool',
      [path, ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`tarantool ${script}: ${error.message}\n${stderr}`));
        const line = stdout
          .split('\n')
          .reverse()
          .find((l) => l.trim().startsWith('{'));
        if (line === undefined)
          return reject(new Error(`tarantool ${script} printed no JSON:\n${stdout}\n${stderr}`));
        resolve(JSON.parse(line) as Record<string, unknown>);
      },
    );
  });
}
