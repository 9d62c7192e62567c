// The event-loop watchdog: notices when the process stopped running callbacks for longer than
// box.cfg.too_long_threshold (a long EVAL, a synchronous loop in an init module, a GC pause, a
// SIGSTOP) and logs it the way Tarantool 2.6 logs a slow WAL write ("too long WAL write: …
// sec"): `W> event loop stalled for 1.234 s`. Layer: apps/server; box and replication know
// nothing of it. It is a timer drift check: a repeating timer every WATCHDOG_PERIOD_MS measures
// how late it runs, so a stall is reported when it ends (nothing runs during it), with its
// length. It does not stop or shorten a stall, and stalls shorter than one period are not
// seen. The counts feed /metrics (tarantype_event_loop_stalls_total and friends).
// Invariant: one line per stall, whatever its length; the timer is unref'd, so the watchdog
// never keeps a stopping process alive.

/** How often the watchdog's timer runs: the resolution of what it can see. */
export const WATCHDOG_PERIOD_MS = 100;

/** box.cfg.too_long_threshold's default (seconds): also 2.6's for slow WAL writes. */
export const STALL_THRESHOLD_DEFAULT_S = 0.5;

export interface EventLoopWatchdogOptions {
  /** Seconds a stall must exceed to be logged (box.cfg.too_long_threshold, read at each check). */
  readonly thresholdS: () => number;
  readonly warn: (message: string) => void;
  readonly periodMs?: number;
  /** Monotonic milliseconds; default performance.now(). */
  readonly now?: () => number;
}

/** What the watchdog has seen since it started. */
export interface StallStats {
  /** Stalls longer than the threshold. */
  readonly stalls: number;
  /** Their lengths added up, seconds. */
  readonly stalledSeconds: number;
  /** The longest one, seconds (0 before the first). */
  readonly longestSeconds: number;
}

export class EventLoopWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private stalls = 0;
  private stalledSeconds = 0;
  private longestSeconds = 0;
  private readonly periodMs: number;
  private readonly now: () => number;

  constructor(private readonly options: EventLoopWatchdogOptions) {
    this.periodMs = options.periodMs ?? WATCHDOG_PERIOD_MS;
    this.now = options.now ?? (() => performance.now());
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.last = this.now();
    this.timer = setInterval(() => this.check(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get stats(): StallStats {
    return {
      stalls: this.stalls,
      stalledSeconds: this.stalledSeconds,
      longestSeconds: this.longestSeconds,
    };
  }

  /** One tick: how much later than due it ran is how long nothing ran. */
  private check(): void {
    const now = this.now();
    const lateMs = now - this.last - this.periodMs;
    this.last = now;
    // A threshold below one period would report the timer's own jitter.
    const thresholdMs = Math.max(this.options.thresholdS() * 1000, this.periodMs);
    if (lateMs <= thresholdMs) return;
    const seconds = lateMs / 1000;
    this.stalls += 1;
    this.stalledSeconds += seconds;
    this.longestSeconds = Math.max(this.longestSeconds, seconds);
    this.options.warn(`event loop stalled for ${seconds.toFixed(3)} s`);
  }
}
