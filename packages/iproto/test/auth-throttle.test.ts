// Failed-login limits over real sockets (auth-throttle.ts): 100 parallel connections from one
// peer that keep sending wrong passwords are held to the per-peer limit in a bounded window,
// while a correct login from another peer at the same time, and a peer's first login, are
// answered at once.
import { afterEach, describe, expect, it } from 'vitest';
import { chapSha1Scramble } from '../src/chap-sha1.js';
import { AUTH_FAILURES_PER_PEER_BURST, AUTH_FAILURES_PER_PEER_PER_SECOND } from '../src/limits.js';
import { authFrame, RawClient, startServer, type TestServer } from './helpers.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function connect(s: TestServer, localAddress?: string): Promise<RawClient> {
  const c = await RawClient.connect(s.port, localAddress);
  cleanup.push(() => c.close());
  return c;
}

/** A correct login on a new connection from `localAddress`: its status and time in ms. */
async function goodLogin(s: TestServer, localAddress: string) {
  const c = await connect(s, localAddress);
  const started = performance.now();
  const reply = await c.roundTrip(
    authFrame(1, 'tester', chapSha1Scramble('secret', c.greeting.salt)),
  );
  return { status: reply.status, ms: performance.now() - started };
}

/**
 * `connections` clients from 127.0.0.1 send wrong passwords back to back for `windowMs`;
 * returns the failure replies received inside the window.
 */
async function attack(s: TestServer, connections: number, windowMs: number): Promise<number> {
  const clients = await Promise.all(Array.from({ length: connections }, () => connect(s)));
  const end = performance.now() + windowMs;
  let failures = 0;
  await Promise.all(
    clients.map(async (c, i) => {
      for (let sync = 1; ; sync++) {
        c.write(authFrame(sync, 'tester', new Uint8Array(20).fill(i)));
        const left = end - performance.now();
        if (left <= 0) return;
        const reply = await c.reply(left).catch(() => undefined);
        if (reply === undefined || performance.now() > end) return;
        if (reply.status !== 0) failures++;
      }
    }),
  );
  for (const c of clients) c.close();
  return failures;
}

describe('failed-login limits', () => {
  it('holds 100 parallel bad-login connections of one peer to its limit; good logins elsewhere are not delayed', {
    timeout: 30_000,
  }, async () => {
    const s = await startServer({ authFailureDelayMs: 250 });
    cleanup.push(() => s.close());
    s.handler.createUser('tester', 'secret');
    // The peer's first login, before any failure: at once.
    expect((await goodLogin(s, '127.0.0.1')).status).toBe(0);
    const windowMs = 2_000;
    const attacking = attack(s, 100, windowMs);
    await new Promise((resolve) => setTimeout(resolve, windowMs / 2));
    // In the middle of the attack: another peer's login, and another peer's very first one.
    const other = await goodLogin(s, '127.0.0.2');
    const first = await goodLogin(s, '127.0.0.3');
    const failures = await attacking;
    const allowed =
      AUTH_FAILURES_PER_PEER_BURST + (AUTH_FAILURES_PER_PEER_PER_SECOND * windowMs) / 1000;
    console.log(
      `failed logins in ${windowMs} ms from 100 connections: ${failures} (limit ${allowed})`,
    );
    expect(failures).toBeGreaterThanOrEqual(AUTH_FAILURES_PER_PEER_BURST);
    expect(failures).toBeLessThanOrEqual(allowed + 1);
    expect(other.status).toBe(0);
    expect(other.ms).toBeLessThan(100);
    expect(first.status).toBe(0);
    expect(first.ms).toBeLessThan(100);
  });

  it('the same attack without the limits gets through far more often (the measure can tell)', {
    timeout: 30_000,
  }, async () => {
    const s = await startServer({ authFailureDelayMs: 250, authThrottle: false });
    cleanup.push(() => s.close());
    s.handler.createUser('tester', 'secret');
    const failures = await attack(s, 100, 1_000);
    console.log(`failed logins in 1000 ms from 100 connections, no limits: ${failures}`);
    expect(failures).toBeGreaterThan(200);
  });
});
