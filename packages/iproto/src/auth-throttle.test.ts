import { describe, expect, it } from 'vitest';
import { AuthThrottle, peerKey } from './auth-throttle.js';

/** A throttle on a clock the test moves. */
function throttle(limits: ConstructorParameters<typeof AuthThrottle>[0] = {}) {
  const clock = { now: 1_000_000 };
  return { t: new AuthThrottle(limits, () => clock.now), clock };
}

describe('AuthThrottle', () => {
  it('lets a peer fail `burst` times at once, then spaces its attempts by 1/rate', () => {
    const { t } = throttle({ perPeerBurst: 3, perPeerPerSecond: 4 });
    const waits = Array.from({ length: 6 }, () => t.admit('10.0.0.1').waitMs);
    expect(waits).toEqual([0, 0, 0, 250, 500, 750]);
  });

  it('recovers the budget at the sustained rate', () => {
    const { t, clock } = throttle({ perPeerBurst: 2, perPeerPerSecond: 2 });
    expect([t.admit('a').waitMs, t.admit('a').waitMs, t.admit('a').waitMs]).toEqual([0, 0, 500]);
    clock.now += 2_000;
    expect([t.admit('a').waitMs, t.admit('a').waitMs, t.admit('a').waitMs]).toEqual([0, 0, 500]);
  });

  it('never charges a login that succeeds (or was never checked)', () => {
    const { t } = throttle({ perPeerBurst: 2, perPeerPerSecond: 1, globalBurst: 2 });
    for (let i = 0; i < 1000; i++) {
      const admission = t.admit('10.0.0.1');
      expect(admission.waitMs).toBe(0);
      admission.release();
      admission.release(); // idempotent
    }
  });

  it('holds failing peers to the global rate, but never delays a peer without failures', () => {
    const { t, clock } = throttle({
      perPeerBurst: 5,
      perPeerPerSecond: 5,
      globalBurst: 10,
      globalPerSecond: 10,
    });
    // 50 peers fail once each, at the same instant: their first attempts are not held.
    for (let i = 0; i < 50; i++) expect(t.admit(`10.0.1.${i}`).waitMs).toBe(0);
    // Their second attempts are: the global bucket is 40 failures over its burst.
    const second = Array.from({ length: 50 }, (_, i) => t.admit(`10.0.1.${i}`).waitMs);
    expect(Math.min(...second)).toBeGreaterThanOrEqual(4_000);
    expect(Math.max(...second)).toBe(9_000);
    // A fresh peer logging in now is not held (and its success costs nothing).
    const fresh = t.admit('10.0.2.1');
    expect(fresh.waitMs).toBe(0);
    fresh.release();
    // Once the buckets have drained, the failing peers are not held either.
    clock.now += 60_000;
    expect(t.admit('10.0.1.7').waitMs).toBe(0);
  });

  it('tracks a bounded number of peers; untracked ones only get the global bucket', () => {
    const { t, clock } = throttle({ peersMax: 100, globalBurst: 1_000, globalPerSecond: 1_000 });
    for (let i = 0; i < 300; i++) t.admit(`10.1.${i >> 8}.${i & 255}`);
    expect(t.trackedPeers).toBe(100);
    clock.now += 60_000; // every bucket drained: the next new peer sweeps them out
    t.admit('10.2.0.1');
    expect(t.trackedPeers).toBe(1);
  });

  it('rejects limits that are not positive', () => {
    expect(() => new AuthThrottle({ perPeerPerSecond: 0 })).toThrow(RangeError);
    expect(() => new AuthThrottle({ globalBurst: -1 })).toThrow(RangeError);
  });
});

describe('peerKey', () => {
  it('keys IPv4 (plain or mapped) by address and IPv6 by its /64', () => {
    expect(peerKey('127.0.0.1')).toBe('127.0.0.1');
    expect(peerKey('::ffff:192.168.1.7')).toBe('192.168.1.7');
    expect(peerKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(peerKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(peerKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(peerKey('::1')).toBe('0:0:0:0::/64');
    expect(peerKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});
