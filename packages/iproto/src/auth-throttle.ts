// Limits on failed logins per peer address and over the whole server. Layer: iproto (pure
// bookkeeping: the connection asks how long an AUTH must wait before it is checked, then says
// how it ended; no timers, no sockets).
//
// Why: the per-connection failure delay (AUTH_FAILURE_DELAY_MS) only slows one connection; 100
// parallel connections still got ~380 failed logins per second, and a client that closes as
// soon as the reply is late learns "wrong" without waiting at all. So the check itself is
// rate-limited: an AUTH waits *before* it is verified until its peer (and, for a peer that has
// been failing, the whole server) has budget for one more failure.
//
// Algorithm: GCRA (a virtual-scheduling token bucket) per key: `tat` is the theoretical arrival
// time; an attempt may run at max(now, tat − tolerance), where tolerance = (burst − 1) ×
// interval, and every attempt reserves one interval (tat = max(tat, now) + interval) as it is
// admitted, so parallel attempts cannot all slip through before the first one fails. A login
// that succeeds gives its reservation back: good logins never use up budget. Per peer, attempts
// are keyed by IP address (IPv6 by its /64, which one host usually owns whole). The global
// bucket counts every failure but only makes *suspect* peers wait (peers with failures still
// inside their own bucket), so a distributed attack is held to the global rate while a peer
// without recent failures is never delayed, whatever others do.
//
// Bounds: at most AUTH_THROTTLE_PEERS_MAX peers are tracked; peers whose bucket has drained
// are forgotten; when the table is full of active peers, a new peer is treated as suspect
// (global bucket only). Waits are bounded by the number of waiting connections × interval.
// What it does not do: lock accounts, or refuse attempts (an AUTH that waits is still answered).
import {
  AUTH_FAILURES_GLOBAL_BURST,
  AUTH_FAILURES_GLOBAL_PER_SECOND,
  AUTH_FAILURES_PER_PEER_BURST,
  AUTH_FAILURES_PER_PEER_PER_SECOND,
  AUTH_THROTTLE_PEERS_MAX,
} from './limits.js';

export interface AuthThrottleLimits {
  /** Failed logins a peer address may have at once before its AUTHs wait (default 10). */
  readonly perPeerBurst?: number;
  /** Failed logins per second a peer address sustains (default 2). */
  readonly perPeerPerSecond?: number;
  /** Failed logins the whole server may have at once before suspect peers wait (default 100). */
  readonly globalBurst?: number;
  /** Failed logins per second over all peers (default 20). */
  readonly globalPerSecond?: number;
  /** Peers tracked at most (default AUTH_THROTTLE_PEERS_MAX). */
  readonly peersMax?: number;
}

/** One GCRA bucket: `tat` in ms of the clock given to AuthThrottle. */
class Bucket {
  tat = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly intervalMs: number,
    private readonly toleranceMs: number,
  ) {}

  /** Reserves one slot; returns the time (ms) from `now` until the slot may be used. */
  reserve(now: number): number {
    const start = Math.max(now, this.tat - this.toleranceMs);
    this.tat = Math.max(this.tat, now) + this.intervalMs;
    return start - now;
  }

  /** Gives a reserved slot back (the attempt succeeded, or never ran). */
  refund(): void {
    this.tat -= this.intervalMs;
  }

  /** Failures still counted at `now` (tat is in the future). */
  active(now: number): boolean {
    return this.tat > now;
  }
}

/** The throttle's verdict for one AUTH, and how to report its outcome. */
export interface AuthAdmission {
  /** How long to wait before checking the credentials (0: at once). */
  readonly waitMs: number;
  /** The login succeeded, or was never checked: give the reservations back. */
  release(): void;
}

export class AuthThrottle {
  private readonly peers = new Map<string, Bucket>();
  private readonly global: Bucket;
  private readonly perPeer: { intervalMs: number; toleranceMs: number };
  private readonly peersMax: number;
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(
    limits: AuthThrottleLimits = {},
    private readonly clock: () => number = Date.now,
  ) {
    const peerBurst = limits.perPeerBurst ?? AUTH_FAILURES_PER_PEER_BURST;
    const peerRate = limits.perPeerPerSecond ?? AUTH_FAILURES_PER_PEER_PER_SECOND;
    const globalBurst = limits.globalBurst ?? AUTH_FAILURES_GLOBAL_BURST;
    const globalRate = limits.globalPerSecond ?? AUTH_FAILURES_GLOBAL_PER_SECOND;
    for (const [name, value] of [
      ['perPeerBurst', peerBurst],
      ['perPeerPerSecond', peerRate],
      ['globalBurst', globalBurst],
      ['globalPerSecond', globalRate],
    ] as const) {
      if (!(value > 0)) throw new RangeError(`authThrottle.${name} must be positive`);
    }
    const peerInterval = 1000 / peerRate;
    this.perPeer = { intervalMs: peerInterval, toleranceMs: (peerBurst - 1) * peerInterval };
    const globalInterval = 1000 / globalRate;
    this.global = new Bucket(globalInterval, (globalBurst - 1) * globalInterval);
    this.peersMax = limits.peersMax ?? AUTH_THROTTLE_PEERS_MAX;
  }

  /** Peers currently tracked (tests; bounded by peersMax). */
  get trackedPeers(): number {
    return this.peers.size;
  }

  /** Admits one AUTH from `address` (the peer's IP): how long it waits, and its release. */
  admit(address: string): AuthAdmission {
    const now = this.clock();
    const key = peerKey(address);
    let peer = this.peers.get(key);
    if (peer === undefined) peer = this.track(key, now);
    // Suspect: failures of its own still counted, or not tracked (the table is full).
    const suspect = peer === undefined || peer.active(now);
    const peerWait = peer === undefined ? 0 : peer.reserve(now);
    // A peer with no recent failures is never held by others' failures, but its failures count.
    const globalWait = this.global.reserve(now);
    const waitMs = suspect ? Math.max(peerWait, globalWait) : peerWait;
    let released = false;
    return {
      waitMs,
      release: () => {
        if (released) return;
        released = true;
        peer?.refund();
        this.global.refund();
      },
    };
  }

  private track(key: string, now: number): Bucket | undefined {
    if (this.peers.size >= this.peersMax) {
      // Forget drained peers, at most once a second (a sweep is O(peers)).
      if (now - this.lastSweep < 1000) return undefined;
      this.lastSweep = now;
      for (const [k, bucket] of this.peers) if (!bucket.active(now)) this.peers.delete(k);
      if (this.peers.size >= this.peersMax) return undefined;
    }
    const bucket = new Bucket(this.perPeer.intervalMs, this.perPeer.toleranceMs);
    this.peers.set(key, bucket);
    return bucket;
  }
}

/**
 * The key of a peer address: the IPv4 address itself (also when IPv4-mapped, ::ffff:a.b.c.d),
 * or the first four groups (/64) of an IPv6 address.
 */
export function peerKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [
    ...left,
    ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'),
    ...right,
  ];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
