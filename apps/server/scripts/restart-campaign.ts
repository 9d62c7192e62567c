// The full restart campaign (issue 9 §2): seeded random sequences against real server
// processes (test/restart-model.ts), progress on stderr, the final table on stdout.
//   npm run campaign:restart                 (from the root: builds, then runs this file)
//   SEED=123 SEQUENCES=1 npm run campaign:restart              (replay one sequence)
//   cd apps/server && node_modules/.bin/tsx scripts/restart-campaign.ts   (without the build)
// Defaults: 300 sequences of 20 steps, 4 at a time (the servers' starts are CPU-bound; four
// keep both cores busy while a sequence waits on I/O), a random base seed (printed).
// Sequence i runs seed SEED+i. Exits 1 when any sequence failed, after printing each
// failure's report (its steps, the server's last log lines and the replay command).
import { formatStats, runCampaign } from '../test/restart-model.js';

function numberFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a non-negative integer`);
  return value;
}

const seed = numberFromEnv('SEED', Math.floor(Math.random() * 2 ** 31));
const sequences = numberFromEnv('SEQUENCES', 300);
const steps = numberFromEnv('STEPS', 20);
const concurrency = Math.max(1, numberFromEnv('CONCURRENCY', 4));
process.stderr.write(
  `restart campaign: SEED=${seed} SEQUENCES=${sequences} STEPS=${steps} CONCURRENCY=${concurrency}\n`,
);
const started = performance.now();
const result = await runCampaign({
  seed,
  sequences,
  steps,
  concurrency,
  onSequence: (done, stats, failure) => {
    if (failure !== undefined) process.stderr.write(`\n${failure.report()}\n\n`);
    if (failure !== undefined || done % 10 === 0 || done === sequences) {
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      process.stderr.write(
        `[${seconds} s] ${done}/${sequences} sequences, ${stats.steps} steps, ${stats.starts} starts, ${stats.failures} failed\n`,
      );
    }
  },
});
const cpu = process.cpuUsage();
process.stdout.write(
  `\nrestart campaign, SEED=${seed}, ${sequences} sequences of >= ${steps} steps, ${(result.elapsedMs / 1000).toFixed(1)} s (this process: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU)\n${formatStats(result.stats)}\n`,
);
if (result.failures.length > 0) {
  process.stdout.write(
    `failing seeds: ${result.failures.map((f) => f.seed).join(', ')} (replay: SEED=<seed> SEQUENCES=1)\n`,
  );
  process.exitCode = 1;
}
