// Campaign kill-9 (issue 15: 100 rounds in the full run): the restart campaign's seeded
// sequences (test/restart-model.ts) against real `tarantype start` processes. A round is one
// sequence of STEPS random steps (writes, transactions, DDL, checkpoints, SIGTERM and SIGKILL
// stops, interrupted starts) that ends with a SIGKILL while box.snapshot() and writes are in
// flight; after every start the model is checked (every acknowledged write present, nothing
// half applied) and so are the invariants (test/invariants.ts). Faults: the SIGKILLs sent.
import { addStats, emptyStats, runRandomSequence } from '../../test/restart-model.js';
import type { Campaign, CampaignOptions, CampaignResult } from './campaign.js';

const STEPS = 20;
/** Sequences at a time: starts are CPU-bound, two keep both cores busy on a shared machine. */
const CONCURRENCY = 2;

export const campaign: Campaign = {
  name: 'kill-9',
  round: `a restart sequence of ${STEPS} steps of real processes, ending in a SIGKILL during box.snapshot()`,
  fullRounds: 100,
  async run(options: CampaignOptions): Promise<CampaignResult> {
    const started = performance.now();
    const stats = emptyStats();
    const failures: string[] = [];
    let next = 0;
    let done = 0;
    let lastProgress = started;
    const worker = async () => {
      while (next < options.rounds && performance.now() - started < options.deadlineMs) {
        const seed = (options.seed + next++) >>> 0;
        const { sequence, failure } = await runRandomSequence(seed, STEPS, {
          finalStop: 'kill during checkpoint',
        });
        addStats(stats, sequence.stats);
        done++;
        if (failure !== undefined) {
          const report = `${failure.report()}\n  (kill-9 campaign: SEED=${seed} ROUNDS=1 CAMPAIGNS=kill-9)`;
          failures.push(report);
          options.progress(report);
        }
        const now = performance.now();
        if (now - lastProgress > 3000 || done === options.rounds) {
          lastProgress = now;
          options.progress(
            `kill-9: ${done}/${options.rounds} rounds, ${stats.kills} kills, ${stats.starts} starts, ${stats.writesChecked} acknowledged checked, ${stats.lost} lost, ${stats.failures} failed`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return {
      campaign: 'kill-9',
      seed: options.seed,
      rounds: done,
      faults: stats.kills,
      acknowledgedChecked: stats.writesChecked,
      lost: stats.lost,
      diverged: 0,
      failedStarts: stats.failedStarts,
      failures,
    };
  },
};
