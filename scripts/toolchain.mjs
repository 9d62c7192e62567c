// The workspace's tools as every script and child process sees them. A fresh machine has only
// Node and npm: the pinned pnpm then lives in ./.tools (installed by bootstrap), and nothing
// (turbo, package scripts, the test runner) may assume a global `pnpm` on PATH. toolEnv()
// puts the pinned pnpm's folder and the workspace's node_modules/.bin first on PATH.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

export const root = new URL('..', import.meta.url).pathname;
export const wantedPnpm = JSON.parse(
  readFileSync(join(root, 'package.json'), 'utf8'),
).packageManager.split('@')[1];
export const localPnpm = join(root, '.tools', 'node_modules', '.bin', 'pnpm');

export function versionOf(command) {
  try {
    return execFileSync(command, ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

/** The pinned pnpm: 'pnpm' when PATH has that version, the .tools copy, or undefined. */
export function pinnedPnpm() {
  if (versionOf('pnpm') === wantedPnpm) return 'pnpm';
  if (existsSync(localPnpm) && versionOf(localPnpm) === wantedPnpm) return localPnpm;
  return undefined;
}

/** The environment for every child: pinned pnpm and workspace binaries first on PATH. */
export function toolEnv(pnpm = pinnedPnpm()) {
  const dirs = [join(root, 'node_modules', '.bin')];
  if (pnpm !== undefined && pnpm !== 'pnpm') dirs.unshift(dirname(pnpm));
  return {
    ...process.env,
    PATH: [...dirs, process.env.PATH ?? ''].join(delimiter),
    TURBO_TELEMETRY_DISABLED: '1',
  };
}
