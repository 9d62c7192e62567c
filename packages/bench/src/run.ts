// `turbo bench` entry: runs every suite in dist/suites at large scale, one after another
// (the machine has 2 cores: suites must not share them). `node dist/run.js wal` runs one suite;
// `--small` runs the small scale (quick check).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchSuite, formatReport } from './harness.js';

const suitesDir = join(new URL('.', import.meta.url).pathname, 'suites');
const args = process.argv.slice(2);
const scale = args.includes('--small') ? 'small' : 'large';
const only = args.filter((a) => !a.startsWith('--'));
const files = readdirSync(suitesDir)
  .filter((f) => f.endsWith('.js'))
  .sort();
for (const file of files) {
  const suite = ((await import(join(suitesDir, file))) as { default: BenchSuite }).default;
  if (only.length > 0 && !only.includes(suite.name)) continue;
  process.stdout.write(`running ${suite.name} (${scale})…\n`);
  const report = await suite.run(scale);
  process.stdout.write(`${formatReport(report)}\n\n`);
}
