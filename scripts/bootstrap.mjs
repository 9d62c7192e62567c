#!/usr/bin/env node
// Bootstrap: the first of the README's two commands on a fresh machine with only Node and npm.
// Makes sure pnpm (the pinned version) is present, installs the workspace from the lockfile and
// builds every package with turbo. Idempotent: a second run is a quick no-op check.
// It never installs anything globally: a missing pnpm is put in ./.tools (git-ignored), and
// every child runs with toolEnv() so that turbo and package scripts find it by name.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { localPnpm, pinnedPnpm, root, toolEnv, versionOf, wantedPnpm } from './toolchain.mjs';

const buildOnly = process.argv.includes('--build-only');

function step(message) {
  process.stdout.write(`[bootstrap] ${message}\n`);
}

function installPnpm() {
  step(`installing pnpm@${wantedPnpm} into .tools/ (found ${versionOf('pnpm') ?? 'none'} on PATH)`);
  const result = spawnSync(
    'npm',
    [
      'install',
      '--prefix',
      join(root, '.tools'),
      '--no-save',
      '--no-audit',
      '--no-fund',
      `pnpm@${wantedPnpm}`,
    ],
    { stdio: 'inherit' },
  );
  if (result.status !== 0)
    throw new Error(`npm install pnpm@${wantedPnpm} failed with status ${result.status}`);
  return localPnpm;
}

function run(command, args, env) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) {
    process.stderr.write(
      `[bootstrap] ${command} ${args.join(' ')} failed with status ${result.status}\n`,
    );
    process.exit(result.status ?? 1);
  }
}

const pnpm = pinnedPnpm() ?? installPnpm();
const env = toolEnv(pnpm);
if (!buildOnly) {
  step(`pnpm install --frozen-lockfile (pnpm ${wantedPnpm})`);
  run(pnpm, ['install', '--frozen-lockfile', '--reporter=append-only'], env);
}
step('building all packages (turbo build)');
run(pnpm, ['exec', 'turbo', 'build', '--output-logs=errors-only'], env);
step('ready');
