// Campaign power-loss-replica: a replica (wal_mode fsync, on a PowerLossDisk) loses power while
// it applies a master's rows under load and checkpoints (sometimes during its JOIN); after the
// reboot it holds whole transactions of each master writer, a prefix of them, never more than
// the master, and catches up to the master's rows and vclock (test/replica-power-loss-model.ts).
import { runReplicaPowerLossRound } from '../../test/replica-power-loss-model.js';
import type { Campaign, CampaignOptions, CampaignResult } from './campaign.js';

export const campaign: Campaign = {
  name: 'power-loss-replica',
  round: 'power loss of an in-process replica (wal_mode fsync) applying a loaded master',
  fullRounds: 100,
  async run(options: CampaignOptions): Promise<CampaignResult> {
    const started = performance.now();
    let rounds = 0;
    let faults = 0;
    let acknowledgedChecked = 0;
    let lost = 0;
    let diverged = 0;
    let failedStarts = 0;
    let applied = 0;
    const failures: string[] = [];
    let lastProgress = started;
    while (rounds < options.rounds && performance.now() - started < options.deadlineMs) {
      const result = await runReplicaPowerLossRound((options.seed + rounds) >>> 0);
      rounds++;
      faults += result.powerLosses;
      acknowledgedChecked += result.acknowledgedChecked;
      lost += result.lost;
      diverged += result.diverged;
      failedStarts += result.failedStarts;
      applied += result.appliedBeforePowerLoss;
      failures.push(...result.failures);
      for (const failure of result.failures) options.progress(failure);
      const now = performance.now();
      if (now - lastProgress > 3000 || rounds === options.rounds) {
        lastProgress = now;
        options.progress(
          `power-loss-replica: ${rounds}/${options.rounds} rounds, ${applied} rows applied before the power losses, ${acknowledgedChecked} acknowledged checked, ${lost} lost, ${diverged} diverged, ${failures.length} failures`,
        );
      }
    }
    return {
      campaign: 'power-loss-replica',
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
