// Cluster.cleanup() leaves nothing that keeps the event loop alive (found by `npm run chaos`,
// which said "N handle(s) still open at the end" after the partition and fuzz campaigns): the
// timer Node.exit raced against the exit, the pipes and log file of the killed processes, log
// waiters whose line never came, and the fault proxies' sockets.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Cluster, STANDARD_USERS } from './cluster.js';
import { FaultProxy } from './fault-proxy.js';

/** The active resources as name → count. */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo())
    counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

describe('Cluster.cleanup', () => {
  it('closes every process handle, pipe, timer, client and proxy it owned', async () => {
    const before = resources();
    const cluster = new Cluster('cleanup');
    const node = cluster.node('n', 'tarantype', { users: STANDARD_USERS });
    await node.start(30_000);
    const client = await node.client();
    const proxy = await FaultProxy.start({ targetPort: node.port });
    // A connection through the fault proxy, partitioned, and a log line that never comes.
    const socket = connect(proxy.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    proxy.partition();
    node.waitLog(/a line tarantype never prints/, 60_000).catch(() => {});
    expect(await client.iproto.ping()).toBeUndefined();
    await node.stop();
    socket.destroy();
    await proxy.close();
    await cluster.cleanup();
    // One turn of the loop for the handles closed last (libuv closes after node's 'close').
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Nothing more of any kind than before (the worker's own may have gone meanwhile).
    const left = [...resources()].filter(([name, n]) => n > (before.get(name) ?? 0));
    expect(left).toEqual([]);
  }, 60_000);
});
