// Campaign backpressure (issue 15, RELIABILITY.md #14/#15): the minutes-long variant of
// test/replication/backpressure.test.ts. A round is a tarantype master and replica (fresh
// directories); the replica is SIGSTOPped for 20-90 s while the master takes a steady load of
// 500-2000 B rows spread over the pause (seeded: row size, keys, replication_timeout 1 or 3 s,
// pause length). The master's RSS and its relay's held bytes are sampled the whole time and
// checked against the bounds backpressure.ts derives from the code's constants; after SIGCONT
// the replica must catch up with the master's vclock and have the same tuples. Faults: the
// SIGSTOPs. Acknowledged writes checked: the rows written during the pause (each was answered,
// and the replica must end at the master's lsn with the same last value of every key).
import { prng } from '../../test/iproto-fuzz.js';
import { runBackpressure } from '../../test/replication/backpressure.js';
import { Cluster } from '../../test/replication/cluster.js';
import type { Campaign, CampaignOptions, CampaignResult } from './campaign.js';

/** Rows per second of the load during the pause (a few MB/s of WAL). */
const ROWS_PER_SECOND = 1500;

export const campaign: Campaign = {
  name: 'backpressure',
  round: 'a replica SIGSTOPped for 20-90 s while its master writes 1500 rows/s of 0.5-2 KB',
  fullRounds: 5,
  async run(options: CampaignOptions): Promise<CampaignResult> {
    const started = performance.now();
    const failures: string[] = [];
    let rounds = 0;
    let checked = 0;
    let lost = 0;
    let diverged = 0;
    let failedStarts = 0;
    while (rounds < options.rounds && performance.now() - started < options.deadlineMs) {
      const seed = (options.seed + rounds) >>> 0;
      const random = prng(seed);
      const pauseS = 20 + Math.floor(random() * 71);
      const rowBytes = 500 + Math.floor(random() * 1501);
      const keys = 100 + Math.floor(random() * 1901);
      const replicationTimeoutS = random() < 0.5 ? 1 : 3;
      const rows = ROWS_PER_SECOND * pauseS;
      const replay = `SEED=${seed} ROUNDS=1 CAMPAIGNS=backpressure`;
      options.progress(
        `backpressure round ${rounds + 1} (seed ${seed}): ${rows} rows of ${rowBytes} B over ${pauseS} s, ${keys} keys, replication_timeout ${replicationTimeoutS}`,
      );
      const cluster = new Cluster(`chaos-backpressure-${seed}`);
      try {
        const result = await runBackpressure(cluster, {
          rows,
          warmRows: 50_000,
          rowBytes,
          keys,
          spreadMs: pauseS * 1000,
          extraPauseMs: 0,
          replicationTimeoutS,
          window: 64,
          log: options.progress,
        });
        checked += rows;
        lost += Math.max(0, result.masterLsn - result.replicaLsn);
        if (result.problems.some((p) => p.includes('other tuples'))) diverged += 1;
        for (const problem of result.problems) failures.push(`${problem} (${replay})`);
        options.progress(
          `backpressure round ${rounds + 1}: relay held at most ${(result.relayPeakBytes / 1048576).toFixed(2)} MiB (bound ${(result.relayBoundBytes / 1048576).toFixed(2)}), RSS peak ${((result.rssPeakBytes - result.rssWarmPeakBytes) / 1048576).toFixed(1)} MiB above the warm-up (bound ${(result.rssGrowthBoundBytes / 1048576).toFixed(1)}), caught up in ${(result.catchUpMs / 1000).toFixed(1)} s`,
        );
      } catch (error) {
        const message = (error as Error).message;
        if (/ready to accept requests|bound to/.test(message)) failedStarts += 1;
        failures.push(`${message.split('\n')[0]} (${replay})`);
        options.progress(`backpressure round ${rounds + 1} failed: ${message.split('\n')[0]}`);
      } finally {
        await cluster.cleanup();
      }
      rounds += 1;
    }
    return {
      campaign: 'backpressure',
      seed: options.seed,
      rounds,
      faults: rounds,
      acknowledgedChecked: checked,
      lost,
      diverged,
      failedStarts,
      failures,
    };
  },
};
