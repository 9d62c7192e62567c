// Progress reporting for long snapshot writes and loads. Layer: snapshot.
// The writer and the reader count rows and bytes and call the caller's hook at most once per
// interval (default 1 s) plus once at the end, so a server can show "saving snapshot: 40%"
// without the hook costing anything per row. It does no I/O and no logging of its own.

/** What a progress hook receives. MB = 2^20 bytes (Tarantool's unit for snap_io_rate_limit). */
export interface SnapshotProgress {
  /** Rows written (or read and verified) so far. */
  readonly rows: number;
  /** All rows, when known (writer: every space reported a count; reader: never). */
  readonly rowsTotal: number | undefined;
  /** File bytes written (or read) so far, meta header included. */
  readonly bytes: number;
  /** The file size, when known (reader). */
  readonly bytesTotal: number | undefined;
  /** Since the operation started. */
  readonly elapsedMs: number;
  /** bytes / elapsed, in MB/s. */
  readonly rateMBps: number;
  /** True on the final call (the operation finished successfully). */
  readonly done: boolean;
}

export type ProgressHook = (progress: SnapshotProgress) => void;

export const PROGRESS_INTERVAL_DEFAULT_MS = 1000;
export const MEGABYTE = 1024 * 1024;

export class ProgressMeter {
  rows = 0;
  bytes = 0;
  readonly startedMs: number;
  private lastReportMs: number;

  constructor(
    private readonly hook: ProgressHook | undefined,
    private readonly intervalMs: number,
    private readonly rowsTotal: number | undefined,
    private readonly bytesTotal: number | undefined,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.startedMs = now();
    this.lastReportMs = this.startedMs;
  }

  get elapsedMs(): number {
    return this.now() - this.startedMs;
  }

  /** Calls the hook if the interval has passed since the last call. */
  tick(): void {
    if (this.hook === undefined) return;
    const now = this.now();
    if (now - this.lastReportMs < this.intervalMs) return;
    this.lastReportMs = now;
    this.hook(this.snapshot(now, false));
  }

  /** The final report. */
  finish(): SnapshotProgress {
    const progress = this.snapshot(this.now(), true);
    this.hook?.(progress);
    return progress;
  }

  private snapshot(now: number, done: boolean): SnapshotProgress {
    const elapsedMs = now - this.startedMs;
    const rateMBps = elapsedMs > 0 ? this.bytes / MEGABYTE / (elapsedMs / 1000) : 0;
    return {
      rows: this.rows,
      rowsTotal: this.rowsTotal,
      bytes: this.bytes,
      bytesTotal: this.bytesTotal,
      elapsedMs,
      rateMBps,
      done,
    };
  }
}
