// Campaign storage-faults: EIO, torn writes, failed fdatasync and a full disk injected through
// the FileSystem port into the WAL under load, the snapshot writer during box.snapshot(), or a
// joining replica's files, or a power loss of the master while a replica joins; failed and
// queued transactions roll back with ER_WAL_IO or the cascade, reads go on, the instance keeps
// serving, a restart recovers exactly what was acknowledged, and a replica whose JOIN failed
// joins again (test/storage-faults-model.ts).
import { runStorageFaultRound } from '../../test/storage-faults-model.js';
import { type Campaign, type CampaignOptions, type CampaignResult, runRounds } from './campaign.js';

export const campaign: Campaign = {
  name: 'storage-faults',
  round:
    'one storage fault (EIO, torn write, fdatasync, ENOSPC) in the WAL, a snapshot or a joining replica, or a power loss of a master during a JOIN, under writers',
  fullRounds: 1000,
  async run(options: CampaignOptions): Promise<CampaignResult> {
    let failedChecked = 0;
    const byTarget = new Map<string, number>();
    return runRounds(
      'storage-faults',
      options,
      async (seed) => {
        const result = await runStorageFaultRound(seed);
        failedChecked += result.failedChecked;
        const key = `${result.target}/${result.kind}`;
        byTarget.set(key, (byTarget.get(key) ?? 0) + 1);
        return result;
      },
      (t) =>
        `storage-faults: ${t.rounds}/${options.rounds} rounds (${[...byTarget].map(([k, n]) => `${k} ${n}`).join(', ')}), ${t.faults} faults, ${t.acknowledgedChecked} acknowledged and ${failedChecked} failed checked, ${t.lost} lost, ${t.failures.length} failures`,
    );
  },
};
