// Progress of long work: local recovery, a replica's JOIN (both sides) and checkpoint writing,
// reported through one small port. Layer: box. The layers that do the work own a
// ProgressReporter; it turns their counters into ProgressEvents, at most one 'progress' event
// per interval between a 'start' and an 'end', so a server can draw bars or log lines.
// It draws and logs nothing itself (apps/server renders), and it costs nothing when no sink is
// set: ProgressReporter.start() then returns undefined and the callers' `reporter?.update()`
// is a single check.
// Invariant: for one task id the sink sees 'start', then 'progress' events, then exactly one
// 'end' (outcome 'done' or 'failed'); `done` and `bytesDone` never decrease and never exceed a
// known total.
import { AssertionError, assert } from '@tarantype/core';

/** What the work is. */
export type ProgressTask =
  /** Local recovery: the newest snapshot, then the xlogs after it. */
  | 'recovery'
  /** A replica receiving a JOIN: the master's initial data, then its final rows. */
  | 'join'
  /** A master sending the initial data of a JOIN to a replica. */
  | 'relay'
  /** A snapshot being written (box.snapshot(), the checkpoint daemon, a join's first one). */
  | 'checkpoint';

export interface ProgressEvent {
  /** Distinguishes concurrent tasks (two replicas joining): unique within the process. */
  readonly id: number;
  readonly task: ProgressTask;
  /** What exactly, for a person: "snapshot 00000000000000151003.snap", "to replica <uuid>". */
  readonly detail: string;
  readonly phase: 'start' | 'progress' | 'end';
  /** What `done` and `total` count. */
  readonly unit: 'rows' | 'tuples';
  readonly done: number;
  /** Known up front (a checkpoint's tuple count), else undefined (a snapshot being read). */
  readonly total: number | undefined;
  /** Bytes read, received, sent or written so far. */
  readonly bytesDone: number;
  /** File sizes or the tuples' MessagePack size, when known. */
  readonly bytesTotal: number | undefined;
  /** Milliseconds since 'start'. */
  readonly elapsedMs: number;
  /** On 'end' only. */
  readonly outcome: 'done' | 'failed' | undefined;
}

/** The port: box.cfg's runtime `onProgress`. Called synchronously; must not throw. */
export type ProgressSink = (event: ProgressEvent) => void;

/** Default interval between two 'progress' events of one task (10 per second, a bar's rate). */
export const PROGRESS_EVENT_INTERVAL_DEFAULT_MS = 100;

export interface ProgressStart {
  readonly task: ProgressTask;
  readonly detail: string;
  readonly unit: 'rows' | 'tuples';
  readonly total?: number | undefined;
  readonly bytesTotal?: number | undefined;
  /** Minimum time between 'progress' events (default 100 ms). */
  readonly intervalMs?: number;
  /** Monotonic clock in ms (tests); default performance.now(). */
  readonly now?: () => number;
}

let nextId = 0;

export class ProgressReporter {
  private done = 0;
  private bytesDone = 0;
  private lastEmitMs: number;
  private ended = false;
  private readonly startedMs: number;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly id = ++nextId;

  private constructor(
    private readonly sink: ProgressSink,
    private readonly start: ProgressStart,
  ) {
    this.now = start.now ?? (() => performance.now());
    this.intervalMs = start.intervalMs ?? PROGRESS_EVENT_INTERVAL_DEFAULT_MS;
    assert(this.intervalMs >= 0, `progress interval ${this.intervalMs} ms`);
    this.startedMs = this.now();
    this.lastEmitMs = this.startedMs;
    this.emit('start', undefined);
  }

  /** A reporter that has sent 'start', or undefined when there is no sink (nothing to do). */
  static start(sink: ProgressSink | undefined, start: ProgressStart): ProgressReporter | undefined {
    return sink === undefined ? undefined : new ProgressReporter(sink, start);
  }

  /** New counters (absolute, not increments); a 'progress' event if the interval has passed. */
  update(done: number, bytesDone: number): void {
    if (this.ended) throw new AssertionError(`progress of ${this.start.task} after its end`);
    if (!(done >= this.done && bytesDone >= this.bytesDone))
      throw new AssertionError(
        `progress of ${this.start.task} went back: ${done} < ${this.done} or ${bytesDone} < ${this.bytesDone}`,
      );
    if (
      !(
        (this.start.total === undefined || done <= this.start.total) &&
        (this.start.bytesTotal === undefined || bytesDone <= this.start.bytesTotal)
      )
    )
      throw new AssertionError(
        `progress of ${this.start.task} beyond its total: ${done}/${this.start.total}, ${bytesDone}/${this.start.bytesTotal} bytes`,
      );
    this.done = done;
    this.bytesDone = bytesDone;
    const now = this.now();
    if (now - this.lastEmitMs < this.intervalMs) return;
    this.lastEmitMs = now;
    this.emit('progress', undefined);
  }

  /** The 'end' event; later calls do nothing (a `finally` may call it after a success). */
  finish(outcome: 'done' | 'failed'): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('end', outcome);
  }

  private emit(phase: ProgressEvent['phase'], outcome: ProgressEvent['outcome']): void {
    const { task, detail, unit, total, bytesTotal } = this.start;
    this.sink({
      id: this.id,
      task,
      detail,
      phase,
      unit,
      done: this.done,
      total,
      bytesDone: this.bytesDone,
      bytesTotal,
      elapsedMs: this.now() - this.startedMs,
      outcome,
    });
  }
}
