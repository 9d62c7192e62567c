#!/usr/bin/env node
// The README's test command after bootstrap: the whole vitest suite (all workspace projects),
// then one plain closing line "N passed, N failed" that CI reads. Exits with vitest's status.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { toolEnv } from './toolchain.mjs';

const root = new URL('..', import.meta.url).pathname;
const env = toolEnv();
const resultsFile = join(root, '.vitest-results.json');
rmSync(resultsFile, { force: true });
// Type-check every package's sources and tests first (vitest only strips types).
const tsc = join(root, 'node_modules', '.bin', 'tsc');
const projects = [
  ...['packages', 'apps'].flatMap((group) =>
    readdirSync(join(root, group)).map((name) => join(root, group, name, 'tsconfig.test.json')),
  ),
  join(root, 'examples', 'tsconfig.test.json'),
];
for (const project of projects.filter((p) => existsSync(p))) {
  const check = spawnSync(tsc, ['-p', project], { cwd: root, stdio: 'inherit', env });
  if (check.status !== 0) {
    process.stdout.write(`\ntype errors in ${project}\n0 passed, 1 failed, 0 skipped\n`);
    process.exit(1);
  }
}
process.stdout.write(
  `type-checked ${projects.filter((p) => existsSync(p)).length} packages (sources and tests)\n`,
);

const vitest = join(root, 'node_modules', '.bin', 'vitest');
const result = spawnSync(
  vitest,
  [
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${resultsFile}`,
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit', env },
);
let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(resultsFile)) {
  const report = JSON.parse(readFileSync(resultsFile, 'utf8'));
  passed = report.numPassedTests;
  failed =
    report.numFailedTests +
    (report.numFailedTestSuites > 0 && report.numFailedTests === 0
      ? report.numFailedTestSuites
      : 0);
  skipped = report.numPendingTests + report.numTodoTests;
} else {
  failed = 1;
}
const status = result.status ?? 1;
if (status !== 0 && failed === 0) failed = 1;
process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(status);
