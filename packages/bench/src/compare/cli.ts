// `npm run bench:compare` (after the build): the side-by-side table of tarantype and Tarantool
// 2.6 (src/compare/run.ts). Options:
//   --small / --tiny / --large (or SCALE=small|tiny|large; default large: 1M tuples)
//   PAIRS=N or --pairs=N     alternating A/B pairs per workload (default 5)
//   --only=a,b (or ONLY=)    only these groups: embedded, snapshot stall, network, replication
//   OUT_DIR=dir or --out=dir where the .md and .json go (default bench-results/ at the root)
// Prints the Markdown table and the paths of both files. Exits 1 when a run failed (its rows
// say which), 2 on a bad option; targets that are not met are a result, not a failure.
import { join } from 'node:path';
import { ROOT, runCompare } from './run.js';
import type { ScaleName } from './workloads.js';

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

function fail(message: string): never {
  process.stderr.write(`bench:compare: ${message}\n`);
  process.exit(2);
}

const flags = ['tiny', 'small', 'large'].filter((s) => process.argv.includes(`--${s}`));
if (flags.length > 1) fail(`choose one of --tiny, --small, --large (got ${flags.join(', ')})`);
const scale = (flags[0] ?? process.env.SCALE ?? 'large') as ScaleName;
if (!['tiny', 'small', 'large'].includes(scale))
  fail(`SCALE must be tiny, small or large, not ${scale}`);
const pairsText = option('pairs') ?? process.env.PAIRS ?? '5';
const pairs = Number(pairsText);
if (!Number.isInteger(pairs) || pairs < 1)
  fail(`PAIRS must be a whole number ≥ 1, not ${pairsText}`);
const onlyText = option('only') ?? process.env.ONLY;
const only = onlyText?.split(',').map((s) => s.trim());
const outDir = option('out') ?? process.env.OUT_DIR ?? join(ROOT, 'bench-results');

const { result, files } = await runCompare({
  scale,
  pairs,
  outDir,
  ...(only === undefined ? {} : { only }),
});
const { readFileSync } = await import('node:fs');
process.stdout.write(readFileSync(files.markdown, 'utf8'));
process.stdout.write(`\nwritten: ${files.markdown}\n         ${files.json}\n`);
if (!result.tarantool)
  process.stdout.write('\nTARANTOOL IS NOT INSTALLED: tarantype was measured alone (no ratios).\n');
process.exit(result.failures.length > 0 ? 1 : 0);
