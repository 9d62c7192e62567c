#!/usr/bin/env node
// Bootstrap: the first of the README's two commands on a fresh machine with only Node and npm.
// Makes sure pnpm (the pinned version) is present, installs the workspace from the lockfile and
// builds every package with turbo. Idempotent: a second run is a quick no-op check.
// It never installs anything globally: a missing pnpm is put in ./.tools (git-ignored).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const wanted = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split(
  '@',
)[1];
const buildOnly = process.argv.includes('--build-only');

function step(message) {
  process.stdout.write(`[bootstrap] ${message}\n`);
}

function versionOf(command) {
  try {
    return execFileSync(command, ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

function findPnpm() {
  const local = join(root, '.tools', 'node_modules', '.bin', 'pnpm');
  if (versionOf('pnpm') === wanted) return 'pnpm';
  if (existsSync(local) && versionOf(local) === wanted) return local;
  step(`installing pnpm@${wanted} into .tools/ (found ${versionOf('pnpm') ?? 'none'} on PATH)`);
  const result = spawnSync(
    'npm',
    [
      'install',
      '--prefix',
      join(root, '.tools'),
      '--no-save',
      '--no-audit',
      '--no-fund',
      `pnpm@${wanted}`,
    ],
    { stdio: 'inherit' },
  );
  if (result.status !== 0)
    throw new Error(`npm install pnpm@${wanted} failed with status ${result.status}`);
  return local;
}

function run(command, args) {
  const result = spawnSync(command, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  });
  if (result.status !== 0) {
    process.stderr.write(
      `[bootstrap] ${command} ${args.join(' ')} failed with status ${result.status}\n`,
    );
    process.exit(result.status ?? 1);
  }
}

const pnpm = findPnpm();
if (!buildOnly) {
  step(`pnpm install --frozen-lockfile (pnpm ${wanted})`);
  run(pnpm, ['install', '--frozen-lockfile', '--reporter=append-only']);
}
step('building all packages (turbo build)');
run(pnpm, ['exec', 'turbo', 'build', '--output-logs=errors-only']);
step('ready');
