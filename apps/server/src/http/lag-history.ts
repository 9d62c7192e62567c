// Lag history of the local instance's upstreams for the status page: box.info.replication's
// upstream lag and status sampled once a second into a ring buffer per upstream (the last
// HISTORY_SAMPLES_MAX, ten minutes). Layer: apps/server (in-process, nothing persisted). The
// sampler's timer never keeps the process alive (unref) and stops itself once the box closes,
// so Instance.stop() needs no hook; stop() ends it at once.
import type { Box } from '@tarantype/box';

/** Samples kept per upstream: 10 minutes at one a second. */
export const HISTORY_SAMPLES_MAX = 600;
export const HISTORY_INTERVAL_MS_DEFAULT = 1000;

/** One sample: unix time in seconds, lag in seconds (null when not following), status. */
export type LagSample = readonly [time: number, lag: number | null, status: string];

export interface UpstreamHistory {
  readonly id: number;
  readonly uuid: string;
  readonly peer: string | null;
  /** Oldest first. */
  readonly samples: LagSample[];
}

/** A fixed-size ring of samples per upstream (by uuid). */
export class LagHistory {
  private readonly rings = new Map<
    string,
    { id: number; peer: string | null; ring: LagSample[]; next: number }
  >();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly capacity = HISTORY_SAMPLES_MAX) {}

  /** Adds one sample of an upstream, overwriting the oldest once full. */
  add(uuid: string, id: number, peer: string | null, sample: LagSample): void {
    let entry = this.rings.get(uuid);
    if (entry === undefined) {
      entry = { id, peer, ring: [], next: 0 };
      this.rings.set(uuid, entry);
    }
    entry.id = id;
    entry.peer = peer;
    if (entry.ring.length < this.capacity) entry.ring.push(sample);
    else entry.ring[entry.next] = sample;
    entry.next = (entry.next + 1) % this.capacity;
  }

  /** Every upstream's samples, oldest first, by id. */
  snapshot(): UpstreamHistory[] {
    return [...this.rings]
      .map(([uuid, { id, peer, ring, next }]) => ({
        id,
        uuid,
        peer,
        samples:
          ring.length < this.capacity ? [...ring] : [...ring.slice(next), ...ring.slice(0, next)],
      }))
      .sort((a, b) => a.id - b.id);
  }

  /** Samples the upstreams of box.info.replication now. */
  sample(box: Box, now = Date.now() / 1000): void {
    const replication = box.info().replication as Record<number, Record<string, unknown>>;
    for (const member of Object.values(replication)) {
      const upstream = member.upstream as
        | { status: string; lag: number; peer: string | undefined }
        | undefined;
      if (upstream === undefined) continue;
      const following = upstream.status === 'follow' || upstream.status === 'sync';
      this.add(String(member.uuid), Number(member.id), upstream.peer ?? null, [
        now,
        following ? upstream.lag : null,
        upstream.status,
      ]);
    }
  }

  /**
   * Samples every `intervalMs` while `box()` gives a running box; stops itself once the box is
   * closing or closed.
   */
  start(box: () => Box | undefined, intervalMs = HISTORY_INTERVAL_MS_DEFAULT): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      const b = box();
      if (b === undefined) return;
      if (b.status === 'closing' || b.status === 'closed') {
        this.stop();
        return;
      }
      if (b.status === 'running') this.sample(b);
    }, intervalMs);
    this.timer.unref();
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
