// Campaign join-crash (issue 15's crash campaign, "on a master while a replica joins"): real
// `tarantype start` processes. A master with seeded data (2–10 MB) and wal_mode serves a JOIN
// through a FaultProxy slowed to a seeded rate while a client writes to it; the master is
// SIGKILLed at a seeded point — part way through the initial data, right after it ("initial
// data sent."), or once the final data is out ("final data sent.") — and started again on the
// same port and directory. Checked per round:
// - the master starts, with every write it acknowledged and every row loaded before the JOIN;
// - the replica process never exits and never says "ready to accept requests" before a JOIN
//   completed; it JOINs again (or subscribes, if its JOIN completed) and ends with the master's
//   rows; the master's _cluster registers it once.
// Replay: round i runs seed + i; `SEED=<that> ROUNDS=1 CAMPAIGNS=join-crash` replays it.
import {
  type Client,
  Cluster,
  STANDARD_USERS,
  sleep,
  until,
} from '../../test/replication/cluster.js';
import { FaultProxy } from '../../test/replication/fault-proxy.js';
import { Rng } from '../../test/restart-model.js';
import { type Campaign, type CampaignOptions, type CampaignResult, runRounds } from './campaign.js';

interface JoinCrashRound {
  /** Rounds whose replica dropped a broken JOIN and joined again. */
  rejoined: number;
  acknowledgedChecked: number;
  lost: number;
  diverged: number;
  failedStarts: number;
  failures: string[];
}

const PAYLOAD = 'x'.repeat(1000);

async function runRound(seed: number): Promise<JoinCrashRound> {
  const rng = new Rng(seed);
  const rows = rng.int(2000, 10_000);
  const rate = rng.pick([2_000_000, 4_000_000, 8_000_000]);
  const point = rng.pick(['initial', 'initial', 'initial-sent', 'final-sent'] as const);
  const walMode = rng.pick(['write', 'fsync']);
  const steps = [`${rows} rows, ${rate} B/s, wal_mode ${walMode}, kill at ${point}`];
  const result: JoinCrashRound = {
    rejoined: 0,
    acknowledgedChecked: 0,
    lost: 0,
    diverged: 0,
    failedStarts: 0,
    failures: [],
  };
  const fail = (message: string) =>
    result.failures.push(
      `join-crash seed ${seed}: ${message}\n  steps: ${steps.join('; ')}\n  replay: SEED=${seed} ROUNDS=1 CAMPAIGNS=join-crash`,
    );
  const cluster = new Cluster(`join-crash-${seed}`);
  let proxy: FaultProxy | undefined;
  try {
    const m1 = cluster.node('m1', 'tarantype', {
      users: STANDARD_USERS,
      cfg: { replication_timeout: 0.3, wal_mode: walMode },
    });
    await m1.start();
    let mc = await m1.client();
    await mc.createSpace('tester');
    await mc.createIndex('tester', 'primary');
    for (let first = 1; first <= rows; first += 1000)
      await Promise.all(
        Array.from({ length: Math.min(1000, rows - first + 1) }, (_, i) =>
          mc.insert('tester', [first + i, PAYLOAD]),
        ),
      );
    proxy = await FaultProxy.start({ targetPort: m1.port });
    proxy.slow(rate, 'to-client');
    const r2 = cluster.node('r2', 'tarantype', {
      replication: [`replicator:password@127.0.0.1:${proxy.port}`],
      cfg: { replication_timeout: 0.3, replication_connect_timeout: 60 },
    });
    const writer = await m1.client();
    const acknowledged: number[] = [];
    let stopped = false;
    const load = (async () => {
      for (let key = 1_000_000; !stopped; key++) {
        try {
          await writer.insert('tester', [key, 'during the join']);
          acknowledged.push(key);
        } catch {
          return;
        }
      }
    })();
    const from = m1.mark();
    const r2From = r2.mark();
    r2.spawn();
    if (point === 'initial') {
      await m1.waitLog(/joining replica/, 20_000, from);
      const bytes = rng.int(50_000, Math.floor((rows * 1000) / 2));
      steps.push(`kill after ${bytes} bytes reached the replica`);
      await until(
        'initial data reaching the replica',
        () => (proxy!.counters['to-client'].forwarded > bytes ? true : undefined),
        30_000,
        5,
      );
    } else
      await m1.waitLog(
        point === 'initial-sent' ? /initial data sent\./ : /final data sent\./,
        30_000,
        from,
      );
    await m1.kill();
    stopped = true;
    await load;
    await sleep(rng.int(0, 500));
    const early = r2.logSince(r2From);
    const joinedEarly = /ready to accept requests/.test(early);
    if (point === 'initial' && joinedEarly)
      fail('the replica said it was ready although its JOIN was cut in the initial data');
    if (!r2.running) {
      result.failedStarts++;
      fail(`the replica exited while its master was down: ${early.slice(-600)}`);
      return result;
    }

    m1.options = { ...m1.options, port: m1.port };
    try {
      await m1.start(30_000);
    } catch (error) {
      result.failedStarts++;
      fail(`the master did not start again: ${(error as Error).message.slice(0, 600)}`);
      return result;
    }
    mc = await m1.client();
    const keys = new Set((await mc.select('tester')).map((t) => t[0] as number));
    for (const key of [...acknowledged, ...Array.from({ length: rows }, (_, i) => i + 1)]) {
      result.acknowledgedChecked++;
      if (!keys.has(key)) {
        result.lost++;
        if (result.lost <= 3) fail(`the restarted master lost acknowledged key ${key}`);
      }
    }
    proxy.slow(undefined, 'to-client');
    try {
      await r2.ready(60_000);
    } catch (error) {
      result.failedStarts++;
      fail(`the replica did not come up: ${(error as Error).message.slice(0, 800)}`);
      return result;
    }
    const rejoined = /the JOIN broke before its data was saved/.test(r2.logSince(r2From));
    if (rejoined) result.rejoined++;
    steps.push(rejoined ? 'the replica joined again' : 'the JOIN had completed');
    const rc: Client = await r2.client();
    const info = await mc.info();
    await until(
      'the replica caught up',
      async () => ((await rc.info()).vclock[info.id] ?? 0) >= (info.vclock[info.id] ?? 0),
      30_000,
    ).catch(() => undefined);
    const [masterRows, replicaRows] = [await mc.select('tester'), await rc.select('tester')];
    if (JSON.stringify(masterRows) !== JSON.stringify(replicaRows)) {
      result.diverged++;
      fail(`the replica holds ${replicaRows.length} rows, the master ${masterRows.length}`);
    }
    const members = (await mc.cluster()).filter(([id]) => id !== info.id);
    if (members.length !== 1) fail(`the master registered ${members.length} replicas, not 1`);
  } catch (error) {
    fail(`unexpected error: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await proxy?.close().catch(() => {});
    await cluster.cleanup();
  }
  return result;
}

export const campaign: Campaign = {
  name: 'join-crash',
  round: 'kill -9 of a master (real process) while a replica JOINs it through a slowed link',
  fullRounds: 50,
  async run(options: CampaignOptions): Promise<CampaignResult> {
    let rejoined = 0;
    return runRounds(
      'join-crash',
      options,
      async (seed) => {
        const result = await runRound(seed);
        rejoined += result.rejoined;
        // One kill of the master per round.
        return { ...result, faults: 1 };
      },
      (t) =>
        `join-crash: ${t.rounds}/${options.rounds} rounds (${rejoined} JOINed again), ${t.acknowledgedChecked} acknowledged checked, ${t.lost} lost, ${t.failedStarts} failed starts, ${t.failures.length} failures`,
    );
  },
};
