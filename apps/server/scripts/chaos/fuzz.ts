// Campaign fuzz (issue 15: 1,000,000 frames in the full run): seeded random and mutated iproto
// frames against a live `tarantype start` process over real sockets (test/iproto-fuzz.ts), then
// seeded replication streams from a fake master to a live tarantype replica's applier
// (test/applier-fuzz.ts). A round is one frame sent (requests, and the fake master's rows,
// heartbeats and SUBSCRIBE replies); faults are the mutated frames and mutated stream rounds;
// lost/diverged count the tuples inserted before (on the fuzzed server; on the replica, those
// it got by JOIN) missing or changed after the fuzzing and after a restart; failedStarts, a
// restart that failed. Replay: SEED=<seed> ROUNDS=<frames> CAMPAIGNS=fuzz npm run chaos.
import { runApplierFuzz } from '../../test/applier-fuzz.js';
import { KNOWN_TUPLES, runFuzz } from '../../test/iproto-fuzz.js';
import type { Campaign, CampaignOptions, CampaignResult } from './campaign.js';

/** Stream rounds (SUBSCRIBE sessions) for a run of `frames` frames: 200 in the full run. */
export function applierRounds(frames: number): number {
  return Math.min(300, Math.max(16, Math.floor(frames / 5000)));
}

export const campaign: Campaign = {
  name: 'fuzz',
  round:
    'a random or mutated iproto frame to a live server, or a replication row to a live replica',
  fullRounds: 1_000_000,
  async run(options: CampaignOptions): Promise<CampaignResult> {
    const started = performance.now();
    const streamRounds = applierRounds(options.rounds);
    const master = await runFuzz({
      seed: options.seed,
      frames: options.rounds,
      // The replica's rounds get what the requests leave, at least a minute.
      deadlineMs: Math.max(options.deadlineMs / 2, options.deadlineMs - 60_000),
      progress: options.progress,
    });
    options.progress(
      `fuzz: ${master.stats.frames} frames (${(master.stats.frames / master.seconds).toFixed(0)}/s), ${master.stats.mutated} mutated, ${master.stats.connections} connections, ${master.stats.replies} replies, ${master.stats.closesChecked} closes checked, max RSS ${(master.maxRssBytes / 2 ** 20).toFixed(0)} MiB, max PING ${master.maxPingMs.toFixed(0)} ms; ${KNOWN_TUPLES} known tuples checked twice`,
    );
    const replica = await runApplierFuzz({
      seed: options.seed,
      rounds: streamRounds,
      deadlineMs: Math.max(10_000, options.deadlineMs - (performance.now() - started)),
      progress: options.progress,
    });
    options.progress(
      `fuzz (applier): ${replica.rounds} stream rounds, ${replica.frames} frames, ${replica.mutated} mutated (${Object.entries(
        replica.byKind,
      )
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}), max replica RSS ${(replica.maxRssBytes / 2 ** 20).toFixed(0)} MiB`,
    );
    return {
      campaign: 'fuzz',
      seed: options.seed,
      rounds: master.stats.frames + replica.frames,
      faults: master.stats.mutated + replica.mutated,
      acknowledgedChecked: master.knownChecked + replica.knownChecked,
      lost: master.lost + replica.lost,
      diverged: master.diverged + replica.diverged,
      failedStarts: master.failedStarts + replica.failedStarts,
      failures: [...master.failures, ...replica.failures],
    };
  },
};
