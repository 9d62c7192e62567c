// Shared by the power-loss and power-loss-write campaigns: runs seeded rounds of
// test/power-loss-model.ts (round i: seed + i) until the rounds or the deadline are used up.
// Not a campaign module itself (it exports no `campaign`): the runner skips it.
import { type PowerLossMode, runPowerLossRound } from '../../test/power-loss-model.js';
import type { Campaign, CampaignOptions, CampaignResult } from './campaign.js';

export function powerLossCampaign(name: string, mode: PowerLossMode, fullRounds: number): Campaign {
  return {
    name,
    round:
      mode === 'fsync'
        ? 'power loss of an in-process Box (wal_mode fsync) under writers and checkpoints'
        : 'power loss of an in-process Box (wal_mode write): the loss is the unsynced tail only',
    fullRounds,
    async run(options: CampaignOptions): Promise<CampaignResult> {
      const started = performance.now();
      let rounds = 0;
      let faults = 0;
      let acknowledgedChecked = 0;
      let lost = 0;
      let lostUnsynced = 0;
      let failedStarts = 0;
      let halfApplied = 0;
      let duringCheckpoint = 0;
      const failures: string[] = [];
      let lastProgress = started;
      while (rounds < options.rounds && performance.now() - started < options.deadlineMs) {
        const result = await runPowerLossRound((options.seed + rounds) >>> 0, mode);
        rounds++;
        faults += result.powerLosses;
        acknowledgedChecked += result.acknowledgedChecked;
        lost += result.lost;
        lostUnsynced += result.lostUnsynced;
        failedStarts += result.failedStarts;
        halfApplied += result.halfApplied;
        if (result.duringCheckpoint) duringCheckpoint++;
        failures.push(...result.failures);
        for (const failure of result.failures) options.progress(failure);
        const now = performance.now();
        if (now - lastProgress > 3000 || rounds === options.rounds) {
          lastProgress = now;
          options.progress(
            `${name}: ${rounds}/${options.rounds} rounds (${duringCheckpoint} lost power during box.snapshot()), ${acknowledgedChecked} acknowledged checked, ${lost} lost${mode === 'write' ? `, ${lostUnsynced} in the unsynced tail (allowed)` : ''}, ${halfApplied} half applied, ${failures.length} failures`,
          );
        }
      }
      return {
        campaign: name,
        seed: options.seed,
        rounds,
        faults,
        acknowledgedChecked,
        lost,
        diverged: 0,
        failedStarts,
        failures,
      };
    },
  };
}
