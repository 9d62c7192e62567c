// Running real Tarantool 2.6 side by side: the shared drivers in ../shared/bench, one JSON line
// each. Suites call these in the same run as their own measurements and print ratios; when
// `tarantool` is not installed they say so and print our figures alone.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const tarantoolInstalled = spawnSync('tarantool', ['--version'], { stdio: 'ignore' }).status === 0;

/** ../shared/bench from the repository root (override with TT_BENCH_DIR). */
export function sharedBenchDir(): string {
  if (process.env.TT_BENCH_DIR !== undefined) return process.env.TT_BENCH_DIR;
  const root = new URL('../../../../', import.meta.url).pathname;
  return join(root, '..', 'shared', 'bench');
}

/**
 * Side-by-side runs need both the `tarantool` binary and the shared drivers
 * (../shared/bench/*.lua); without either, suites print our figures alone and say so.
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
  const path = join(sharedBenchDir(), script);
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
