// box.info.replication's numbers measured, not assumed (issue 10 "Status"): through a TCP proxy
// adding 200 ms between replica and master, upstream.lag reads 0.2–0.5 s; upstream.idle grows
// while the master is SIGSTOPped; the master's downstream.vclock equals the replica's vclock.
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, STANDARD_USERS, sleep, until } from './cluster.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

describe('measured upstream/downstream fields', () => {
  it('through a 200 ms proxy: lag 0.2–0.5 s; idle grows while the master is stopped; downstream.vclock = replica vclock', async () => {
    cluster = new Cluster('measured');
    const m1 = cluster.node('m1', 'tarantype', {
      users: STANDARD_USERS,
      cfg: { replication_timeout: 0.5 },
    });
    await m1.start();
    const proxy = await cluster.proxy(m1.port, 200);
    const r2 = cluster.node('r2', 'tarantype', {
      replication: [`replicator:password@127.0.0.1:${proxy.port}`],
      cfg: { replication_timeout: 0.5, replication_connect_timeout: 3 },
    });
    await r2.start();
    const [mc, rc] = [await m1.client(), await r2.client()];
    await mc.createSpace('tester');
    await mc.createIndex('tester', 'primary');

    // lag: the time from a row's commit on the master to its arrival here.
    const lags: number[] = [];
    for (let i = 1; i <= 5; i++) {
      await mc.insert('tester', [i, 'through the proxy']);
      await until(
        `row ${i} on the replica`,
        async () => (await rc.select('tester', [i], 'EQ')).length === 1,
        3000,
        10,
      );
      lags.push((await rc.replication())[1]!.upstream!.lag);
    }
    for (const lag of lags) {
      expect(lag).toBeGreaterThanOrEqual(0.19);
      expect(lag).toBeLessThanOrEqual(0.5);
    }
    console.log(
      `upstream.lag through a 200 ms proxy: ${lags.map((l) => l.toFixed(3)).join(', ')} s`,
    );
    // Without the proxy's delay, lag would be a few ms: the measurement is the proxy's.
    expect(Math.min(...lags)).toBeGreaterThan(0.15);

    // downstream.vclock on the master equals the replica's vclock (its own rows included).
    await rc.insert('tester', [100, 'written on the replica']);
    const rv = (await rc.info()).vclock;
    expect(rv[2]).toBe(1);
    await until(
      'downstream vclock = replica vclock',
      async () => {
        const d = (await mc.replication())[2]!.downstream;
        return d?.status === 'follow' && JSON.stringify(d.vclock) === JSON.stringify(rv);
      },
      3000,
    );

    // idle: heartbeats keep it below replication_timeout (+ the proxy delay) while all is well …
    const idleBefore = (await rc.replication())[1]!.upstream!.idle;
    expect(idleBefore).toBeLessThan(0.5 + 0.25);
    // … and it grows with the time since the last packet while the master is stopped.
    m1.pause();
    await sleep(300);
    const u1 = (await rc.replication())[1]!.upstream!;
    const t1 = Date.now();
    await sleep(700);
    const u2 = (await rc.replication())[1]!.upstream!;
    const t2 = Date.now();
    m1.resume();
    expect(u1.status).toBe('follow');
    expect(u2.status).toBe('follow'); // 4 × 0.5 s have not passed yet
    const grew = u2.idle - u1.idle;
    expect(grew).toBeGreaterThan((t2 - t1) / 1000 - 0.25);
    expect(grew).toBeLessThan((t2 - t1) / 1000 + 0.25);
    expect(u2.idle).toBeGreaterThan(0.9);
    await until(
      'idle small again after SIGCONT',
      async () => (await rc.replication())[1]!.upstream!.idle < 0.75,
      4000,
    );
  });
});
