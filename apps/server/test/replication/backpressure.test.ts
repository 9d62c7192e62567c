// Issue 15 "Backpressure" with real processes: a SIGSTOPped replica costs the master bounded
// memory while the master keeps writing, and catches up with every row after SIGCONT
// (backpressure.ts has the scenario and where its bounds come from). The measured figures are
// printed. BACKPRESSURE_ROWS= / BACKPRESSURE_PAUSE_MS= make it longer; `npm run chaos` with
// CAMPAIGNS=backpressure runs the minutes-long variant.
import { afterEach, describe, expect, it } from 'vitest';
import { runBackpressure } from './backpressure.js';
import { Cluster } from './cluster.js';

const ROWS = Number(process.env.BACKPRESSURE_ROWS ?? 100_000);
const PAUSE_MS = Number(process.env.BACKPRESSURE_PAUSE_MS ?? 0);
const MIB = 1024 * 1024;

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = undefined;
});

describe('backpressure: a stopped replica under load', () => {
  it('the master holds at most the relay bound + the live feed bound, and the replica catches up with every row after SIGCONT', async () => {
    cluster = new Cluster('backpressure');
    const result = await runBackpressure(cluster, {
      rows: ROWS,
      rowBytes: 1000,
      keys: 1000,
      extraPauseMs: PAUSE_MS,
      // 4 × 3 s without acks before the relay gives up: longer than the load, so the relay
      // is alive (and would be buffering) the whole time the replica is stopped.
      replicationTimeoutS: 3,
      window: 256,
      log: (line) => console.log(line),
    });
    console.log(
      `backpressure: ${ROWS} rows in ${result.loadMs.toFixed(0)} ms; master RSS ${(result.rssBeforeBytes / MIB).toFixed(1)} MiB, warm-up peak ${(result.rssWarmPeakBytes / MIB).toFixed(1)}, stopped-replica peak ${(result.rssPeakBytes / MIB).toFixed(1)} (at most ${(result.rssGrowthBoundBytes / MIB).toFixed(1)} above the warm-up); relay held at most ${(result.relayPeakBytes / MIB).toFixed(2)} MiB (bound ${(result.relayBoundBytes / MIB).toFixed(2)} MiB) over ${result.samples} samples; caught up in ${result.catchUpMs.toFixed(0)} ms at lsn ${result.replicaLsn}`,
    );
    expect(result.problems).toEqual([]);
    // The load was large enough that a relay without the bound would break it many times over
    // (with the relay's wait for drain taken out it held 90 MiB of these 100 000 rows).
    expect(ROWS * 1000).toBeGreaterThan(8 * result.relayBoundBytes);
    expect(result.relayPeakBytes).toBeGreaterThan(0);
  }, 120_000);
});
