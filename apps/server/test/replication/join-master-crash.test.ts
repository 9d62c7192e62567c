// A master killed (SIGKILL) while a replica joins (issue 15's crash campaign: "on a master while
// a replica joins"), real processes. The JOIN runs through a FaultProxy that slows the master's
// stream, so the kill lands in the initial data (the read view being sent) or in the final data
// (the rows logged during the join), while a client keeps writing to the master. Then:
// - the master starts again on the same directory with every write it acknowledged;
// - the replica never says it is ready before a JOIN completed: it drops what it loaded and
//   JOINs again with the same uuid (2.6 exits instead, gh-6126; 2.11 retries), joins the
//   restarted master, and ends with the master's rows; no start fails on either side and the
//   master registers it once.
import { afterEach, describe, expect, it } from 'vitest';
import { type Client, Cluster, STANDARD_USERS, sleep, until } from './cluster.js';
import { FaultProxy } from './fault-proxy.js';

let cluster: Cluster;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  await cluster?.cleanup();
});

/**
 * 8 MB of initial data: more than the proxy's queue (1 MB) and the kernel's socket buffers
 * hold, so the master is still sending when it is killed; at this rate a JOIN of 2 s.
 */
const ROWS = 8000;
const PAYLOAD = 'x'.repeat(1000);
const JOIN_BYTES_PER_SECOND = 4_000_000;

/** Inserts keys from `first` one after another until stopped; returns the acknowledged keys. */
function writer(client: Client, first: number): { stop: () => Promise<number[]> } {
  const acknowledged: number[] = [];
  let stopped = false;
  const loop = (async () => {
    for (let key = first; !stopped; key++) {
      try {
        await client.insert('tester', [key, 'during the join']);
        acknowledged.push(key);
        // A steady trickle, not a flat-out loop: an insert is acknowledged in tens of
        // microseconds, and a loop that fast takes the cores the JOIN's timing relies on.
        await sleep(1);
      } catch {
        return; // the master died: what was not acknowledged may or may not be there
      }
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return acknowledged;
    },
  };
}

describe('a master killed while a replica joins', () => {
  for (const phase of ['initial', 'final'] as const) {
    it(`kill -9 during the ${phase} data: the master keeps what it acknowledged, the replica joins afterwards`, {
      timeout: 90_000,
    }, async () => {
      cluster = new Cluster(`join-master-crash-${phase}`);
      const m1 = cluster.node('m1', 'tarantype', {
        users: STANDARD_USERS,
        cfg: { replication_timeout: 0.3 },
      });
      await m1.start();
      let mc = await m1.client();
      await mc.createSpace('tester');
      await mc.createIndex('tester', 'primary');
      await Promise.all(
        Array.from({ length: ROWS }, (_, i) => mc.insert('tester', [i + 1, PAYLOAD])),
      );
      proxy = await FaultProxy.start({ targetPort: m1.port });
      proxy.slow(JOIN_BYTES_PER_SECOND, 'to-client');
      const r2 = cluster.node('r2', 'tarantype', {
        replication: [`replicator:password@127.0.0.1:${proxy.port}`],
        cfg: { replication_timeout: 0.3, replication_connect_timeout: 60 },
      });
      const load = writer(await m1.client(), 1_000_000);
      const from = m1.mark();
      const r2From = r2.mark();
      r2.spawn();
      await m1.waitLog(
        phase === 'initial' ? /joining replica/ : /initial data sent\./,
        20_000,
        from,
      );
      // The initial data is on its way: the replica holds part of it when the master dies.
      if (phase === 'initial')
        await until(
          'initial data reaching the replica',
          () => (proxy!.counters['to-client'].forwarded > 1_000_000 ? true : undefined),
          10_000,
          5,
        );
      await m1.kill();
      const acknowledged = await load.stop();
      expect(m1.exitSignal).toBe('SIGKILL');
      // Half-joined, the replica must not claim to be up: it drops what it loaded and JOINs
      // again ('the JOIN broke …'), or, killed before the first reply, keeps reconnecting.
      // (A kill after the final data may come after a completed JOIN: then the replica is up,
      // with its snapshot, and subscribes once the master is back.)
      // The proxy still delivers what the master wrote before it died, then the EOF.
      if (phase === 'initial')
        await r2.waitLog(/the JOIN broke before its data was saved/, 15_000, r2From);
      else await sleep(1000);
      const completed = /ready to accept requests/.test(r2.logSince(r2From));
      if (phase === 'initial') expect(completed).toBe(false);
      expect(r2.running).toBe(true);

      // The master comes back on the same port and directory with everything it acknowledged.
      m1.options = { ...m1.options, port: m1.port };
      await m1.start(20_000);
      mc = await m1.client();
      const keys = new Set((await mc.select('tester')).map((t) => t[0]));
      expect(acknowledged.filter((k) => !keys.has(k))).toEqual([]);
      for (let k = 1; k <= ROWS; k++) if (!keys.has(k)) expect.fail(`row ${k} is missing`);
      proxy.slow(undefined, 'to-client');

      // The replica joins the restarted master (retrying on its own) and catches up.
      await r2.ready(30_000);
      expect(r2.running).toBe(true);
      const rc = await r2.client();
      const masterInfo = await mc.info();
      await until('the replica caught up', async () => {
        const v = (await rc.info()).vclock;
        return (v[masterInfo.id] ?? 0) >= (masterInfo.vclock[masterInfo.id] ?? 0);
      });
      const masterRows = await mc.select('tester');
      const replicaRows = await rc.select('tester');
      expect(replicaRows.length).toBe(masterRows.length);
      expect(JSON.stringify(replicaRows)).toBe(JSON.stringify(masterRows));
      expect((await rc.info()).status).toBe('running');
      // One replica, one row in _cluster for it (a retried JOIN re-registers nothing twice).
      const members = await mc.cluster();
      expect(members.filter(([id]) => id !== masterInfo.id)).toHaveLength(1);
    });
  }
});
