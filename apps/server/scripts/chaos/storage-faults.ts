// Campaign storage-faults: EIO, torn writes, failed fdatasync and a full disk injected through
// the FileSystem port into the WAL under load, the snapshot writer during box.snapshot(), or a
// joining replica's files, or a power loss of the master while a replica joins; failed and
// queued transactions roll back with ER_WAL_IO or the cascade, reads go on, the instance keeps
// serving, a restart recovers exactly what was acknowledged, and a replica whose JOIN failed
// joins again (test/storage-faults-model.ts).
import { runStorageFaultRound } from '../../test/storage-faults-model.js';
import type { Campaign, CampaignOptions, CampaignResult } from './campaign.js';

export const campaign: Campaign = {
  name: 'storage-faults',
  round:
    'one storage fault (EIO, torn write, fdatasync, ENOSPC) in the WAL, a snapshot or a joining replica, or a power loss of a master during a JOIN, under writers',
  fullRounds: 1000,
  async run(options: CampaignOptions): Promise<CampaignResult> {
    const started = performance.now();
    let rounds = 0;
    let faults = 0;
    let acknowledgedChecked = 0;
    let failedChecked = 0;
    let lost = 0;
    let diverged = 0;
    let failedStarts = 0;
    const byTarget = new Map<string, number>();
    const failures: string[] = [];
    let lastProgress = started;
    while (rounds < options.rounds && performance.now() - started < options.deadlineMs) {
      const result = await runStorageFaultRound((options.seed + rounds) >>> 0);
      rounds++;
      faults += result.faults;
      acknowledgedChecked += result.acknowledgedChecked;
      failedChecked += result.failedChecked;
      lost += result.lost;
      diverged += result.diverged;
      failedStarts += result.failedStarts;
      const key = `${result.target}/${result.kind}`;
      byTarget.set(key, (byTarget.get(key) ?? 0) + 1);
      failures.push(...result.failures);
      for (const failure of result.failures) options.progress(failure);
      const now = performance.now();
      if (now - lastProgress > 3000 || rounds === options.rounds) {
        lastProgress = now;
        options.progress(
          `storage-faults: ${rounds}/${options.rounds} rounds (${[...byTarget].map(([k, n]) => `${k} ${n}`).join(', ')}), ${faults} faults, ${acknowledgedChecked} acknowledged and ${failedChecked} failed checked, ${lost} lost, ${failures.length} failures`,
        );
      }
    }
    return {
      campaign: 'storage-faults',
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
