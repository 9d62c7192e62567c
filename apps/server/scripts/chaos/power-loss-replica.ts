// Campaign power-loss-replica: a replica (wal_mode fsync, on a PowerLossDisk) loses power while
// it applies a master's rows under load and checkpoints (sometimes during its JOIN); after the
// reboot it holds whole transactions of each master writer, a prefix of them, never more than
// the master, and catches up to the master's rows and vclock (test/replica-power-loss-model.ts).
import { runReplicaPowerLossRound } from '../../test/replica-power-loss-model.js';
import { type Campaign, type CampaignOptions, type CampaignResult, runRounds } from './campaign.js';

export const campaign: Campaign = {
  name: 'power-loss-replica',
  round: 'power loss of an in-process replica (wal_mode fsync) applying a loaded master',
  fullRounds: 100,
  async run(options: CampaignOptions): Promise<CampaignResult> {
    let applied = 0;
    return runRounds(
      'power-loss-replica',
      options,
      async (seed) => {
        const result = await runReplicaPowerLossRound(seed);
        applied += result.appliedBeforePowerLoss;
        return { ...result, faults: result.powerLosses };
      },
      (t) =>
        `power-loss-replica: ${t.rounds}/${options.rounds} rounds, ${applied} rows applied before the power losses, ${t.acknowledgedChecked} acknowledged checked, ${t.lost} lost, ${t.diverged} diverged, ${t.failures.length} failures`,
    );
  },
};
