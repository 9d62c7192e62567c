// Campaign simulator (issue 15: 100,000 schedules in the full run): the deterministic
// replication simulator of @tarantype/box/testing (packages/box/src/replication-simulator.ts).
// A round is one seeded schedule of a 2–3 master mesh — client writes, connection resets,
// partitions, crashes and power losses, restarts — healed and run to quiescence, then checked:
// each origin's transactions applied once, in order and whole; vclocks only grow; every
// acknowledged write survives its member's crashes and is on every member; every member has
// the same data and vclock. Everything runs in this process on a virtual clock, so a schedule
// costs milliseconds and a failing one replays exactly with SEED=<its seed> ROUNDS=1. One
// thread: two worker threads were slower (13 s vs 19 s for 1000 schedules) on the shared
// 2-core machine.
import { runSchedule } from '@tarantype/box/testing';
import type { Campaign, CampaignOptions, CampaignResult } from './campaign.js';

const PROGRESS_INTERVAL_MS = 3000;

export const campaign: Campaign = {
  name: 'simulator',
  round:
    'a seeded schedule of the replication simulator (2–3 masters, virtual network, disk and clock)',
  fullRounds: 100_000,
  async run(options: CampaignOptions): Promise<CampaignResult> {
    const started = performance.now();
    const failures: string[] = [];
    let rounds = 0;
    let faults = 0;
    let acknowledgedChecked = 0;
    let lost = 0;
    let diverged = 0;
    let failedStarts = 0;
    let lastProgress = started;
    while (rounds < options.rounds && performance.now() - started < options.deadlineMs) {
      const seed = (options.seed + rounds) >>> 0;
      const result = await runSchedule(seed);
      rounds++;
      faults += result.faults;
      acknowledgedChecked += result.acknowledgedChecked;
      lost += result.lost;
      diverged += result.diverged;
      failedStarts += result.failedStarts;
      if (result.failures.length > 0) {
        const report = [
          `simulator: schedule ${seed} failed (replay: SEED=${seed} ROUNDS=1 CAMPAIGNS=simulator):`,
          ...result.failures.map((f) => `  ${f}`),
          '  last trace lines:',
          ...result.recent.slice(-20).map((line) => `    ${line}`),
        ].join('\n');
        failures.push(report);
        options.progress(report);
      }
      const now = performance.now();
      if (now - lastProgress > PROGRESS_INTERVAL_MS || rounds === options.rounds) {
        lastProgress = now;
        const perMinute = (rounds / ((now - started) / 60_000)).toFixed(0);
        options.progress(
          `simulator: ${rounds}/${options.rounds} schedules (${perMinute}/min), ${faults} faults, ${acknowledgedChecked} acknowledged checked, ${lost} lost, ${diverged} diverged, ${failures.length} failures`,
        );
      }
    }
    return {
      campaign: 'simulator',
      seed: options.seed,
      rounds,
      faults,
      acknowledgedChecked,
      lost,
      diverged,
      failedStarts,
      failures,
    };
  },
};
