// Shared by the power-loss and power-loss-write campaigns: runs seeded rounds of
// test/power-loss-model.ts (round i: seed + i) until the rounds or the deadline are used up.
// Not a campaign module itself (it exports no `campaign`): the runner skips it.
import { type PowerLossMode, runPowerLossRound } from '../../test/power-loss-model.js';
import { type Campaign, type CampaignOptions, type CampaignResult, runRounds } from './campaign.js';

export function powerLossCampaign(name: string, mode: PowerLossMode, fullRounds: number): Campaign {
  return {
    name,
    round:
      mode === 'fsync'
        ? 'power loss of an in-process Box (wal_mode fsync) under writers and checkpoints'
        : 'power loss of an in-process Box (wal_mode write): the loss is the unsynced tail only',
    fullRounds,
    async run(options: CampaignOptions): Promise<CampaignResult> {
      let lostUnsynced = 0;
      let halfApplied = 0;
      let duringCheckpoint = 0;
      return runRounds(
        name,
        options,
        async (seed) => {
          const result = await runPowerLossRound(seed, mode);
          lostUnsynced += result.lostUnsynced;
          halfApplied += result.halfApplied;
          if (result.duringCheckpoint) duringCheckpoint++;
          return { ...result, faults: result.powerLosses, diverged: 0 };
        },
        (t) =>
          `${name}: ${t.rounds}/${options.rounds} rounds (${duringCheckpoint} lost power during box.snapshot()), ${t.acknowledgedChecked} acknowledged checked, ${t.lost} lost${mode === 'write' ? `, ${lostUnsynced} in the unsynced tail (allowed)` : ''}, ${halfApplied} half applied, ${t.failures.length} failures`,
      );
    },
  };
}
