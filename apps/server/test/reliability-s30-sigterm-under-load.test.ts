// RELIABILITY.md #30, a graceful shutdown under load, with a real `tarantype start` process:
// SIGTERM while four clients keep inserting. The process exits 0, closes its xlog cleanly (the
// next start has no "wasn't correctly closed"), and every acknowledged insert is there after
// the restart. 2.6 has no `box.shutdown` event (watchers came in 2.10), so there is none here.
import { connect, type IprotoClient } from '@tarantype/iproto';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, STANDARD_USERS } from './replication/cluster.js';

let cluster: Cluster;
const clients: IprotoClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await cluster?.cleanup();
});

describe('RELIABILITY.md #30: SIGTERM under load', () => {
  it('#30: exits 0 with the xlog closed; every acknowledged write survives the restart', async () => {
    cluster = new Cluster('s30');
    const node = await cluster.node('n', 'tarantype', { users: STANDARD_USERS }).start();
    const admin = await node.client();
    await admin.createSpace('tester');
    await admin.createIndex('tester', 'primary');
    admin.destroy();

    const acked = new Set<number>();
    let attempted = 0;
    const writers: Promise<void>[] = [];
    for (let w = 0; w < 4; w++) {
      const client = await connect({
        host: '127.0.0.1',
        port: node.port,
        user: 'alice',
        password: 'secret',
        reconnect: false,
      });
      clients.push(client);
      writers.push(
        (async () => {
          for (let i = 0; ; i++) {
            const key = w * 1_000_000 + i;
            attempted++;
            try {
              await client.insert('tester', [key, 'x'.repeat(100)], { timeoutMs: 5000 });
            } catch {
              return; // the server went away: stop this writer
            }
            acked.add(key);
          }
        })(),
      );
    }
    while (acked.size < 500) await new Promise((resolve) => setTimeout(resolve, 20));
    const mark = node.mark();
    process.kill(node.pid!, 'SIGTERM');
    expect(await node.exit(10_000)).toBe(0);
    await Promise.all(writers);
    expect(node.logSince(mark)).toMatch(/main I> got SIGTERM/);
    expect(node.logSince(mark)).toMatch(/main I> stopped: the xlog is closed$/m);
    expect(attempted).toBeGreaterThan(acked.size); // writes were in flight at the signal

    const restart = node.mark();
    await node.start();
    expect(node.logSince(restart)).not.toMatch(/wasn't correctly closed/);
    const check = await node.client();
    const keys = new Set((await check.select('tester')).map((t) => t[0] as number));
    const lost = [...acked].filter((k) => !keys.has(k));
    expect(lost).toEqual([]);
  });
});
