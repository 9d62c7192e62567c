// box.stat(): per-request-type counters with requests per second averaged over the last 5
// seconds, as Tarantool reports them. Layer: box.
export const STAT_NAMES = ['DELETE', 'SELECT', 'INSERT', 'EVAL', 'CALL', 'ERROR', 'PREPARE', 'REPLACE', 'UPSERT', 'AUTH', 'EXECUTE', 'UPDATE'] as const;
export type StatName = (typeof STAT_NAMES)[number];

const WINDOW_SECONDS = 5;

export class BoxStat {
  private readonly totals = new Map<StatName, number>(STAT_NAMES.map((n) => [n, 0]));
  /** Per second buckets: [second, counts]. */
  private readonly buckets: Array<{ second: number; counts: Map<StatName, number> }> = [];

  count(name: StatName, n = 1): void {
    this.totals.set(name, this.totals.get(name)! + n);
    const second = Math.floor(Date.now() / 1000);
    let bucket = this.buckets[this.buckets.length - 1];
    if (bucket === undefined || bucket.second !== second) {
      bucket = { second, counts: new Map() };
      this.buckets.push(bucket);
      while (this.buckets.length > WINDOW_SECONDS + 1) this.buckets.shift();
    }
    bucket.counts.set(name, (bucket.counts.get(name) ?? 0) + n);
  }

  snapshot(): Record<string, { total: number; rps: number }> {
    const now = Math.floor(Date.now() / 1000);
    const out: Record<string, { total: number; rps: number }> = {};
    for (const name of STAT_NAMES) {
      let recent = 0;
      for (const bucket of this.buckets) if (bucket.second < now && bucket.second >= now - WINDOW_SECONDS) recent += bucket.counts.get(name) ?? 0;
      out[name] = { total: this.totals.get(name)!, rps: Math.round(recent / WINDOW_SECONDS) };
    }
    return out;
  }
}
