// box.stat(): per-request-type counters with requests per second averaged over the last 5
// seconds, as Tarantool reports them. Layer: box.
export const STAT_NAMES = [
  'DELETE',
  'SELECT',
  'INSERT',
  'EVAL',
  'CALL',
  'ERROR',
  'PREPARE',
  'REPLACE',
  'UPSERT',
  'AUTH',
  'EXECUTE',
  'UPDATE',
] as const;
export type StatName = (typeof STAT_NAMES)[number];

const WINDOW_SECONDS = 5;

/**
 * Counting is one increment on the request path; once a second a timer (unref'd: it never
 * keeps the process alive) records the totals, and rps is the growth over the last 5 records.
 */
export class BoxStat {
  private readonly totals: Record<StatName, number> = Object.fromEntries(
    STAT_NAMES.map((n) => [n, 0]),
  ) as Record<StatName, number>;
  private readonly history: Array<Record<StatName, number>> = [];
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => {
      this.history.push({ ...this.totals });
      if (this.history.length > WINDOW_SECONDS + 1) this.history.shift();
    }, 1000);
    this.timer.unref();
  }

  count(name: StatName, n = 1): void {
    this.totals[name] += n;
  }

  snapshot(): Record<string, { total: number; rps: number }> {
    const out: Record<string, { total: number; rps: number }> = {};
    const oldest = this.history[0];
    const newest = this.history[this.history.length - 1];
    const seconds = this.history.length - 1;
    for (const name of STAT_NAMES) {
      const rps =
        oldest === undefined || newest === undefined || seconds === 0
          ? 0
          : Math.round((newest[name] - oldest[name]) / seconds);
      out[name] = { total: this.totals[name], rps };
    }
    return out;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
