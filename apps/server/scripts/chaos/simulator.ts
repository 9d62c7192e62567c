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
import { type Campaign, type CampaignOptions, type CampaignResult, runRounds } from './campaign.js';

export const campaign: Campaign = {
  name: 'simulator',
  round:
    'a seeded schedule of the replication simulator (2–3 masters, virtual network, disk and clock)',
  fullRounds: 100_000,
  async run(options: CampaignOptions): Promise<CampaignResult> {
    return runRounds(
      'simulator',
      options,
      async (seed) => {
        const result = await runSchedule(seed);
        const failures =
          result.failures.length === 0
            ? []
            : [
                [
                  `simulator: schedule ${seed} failed (replay: SEED=${seed} ROUNDS=1 CAMPAIGNS=simulator):`,
                  ...result.failures.map((f) => `  ${f}`),
                  '  last trace lines:',
                  ...result.recent.slice(-20).map((line) => `    ${line}`),
                ].join('\n'),
              ];
        return { ...result, failures };
      },
      (t, elapsedMs) =>
        `simulator: ${t.rounds}/${options.rounds} schedules (${(t.rounds / (elapsedMs / 60_000)).toFixed(0)}/min), ${t.faults} faults, ${t.acknowledgedChecked} acknowledged checked, ${t.lost} lost, ${t.diverged} diverged, ${t.failures.length} failures`,
    );
  },
};
