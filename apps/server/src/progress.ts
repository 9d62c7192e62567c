// Progress of long work on the server's stderr. Layer: apps/server. Box reports recovery, a
// join (either side) and checkpoint writing as ProgressEvents (packages/box/src/progress.ts);
// this renders them:
// - stderr is a terminal: one cli-progress bar per task running longer than one event interval
//   (100 ms), with percentage, counts, MB, rate and ETA; log lines written meanwhile go above
//   the bars (logStream), and a finished task's bar is cleared (its log lines tell the result).
// - otherwise: a plain log line per task every `logIntervalMs` (2 s) through the server's logger,
//   in its format (plain or JSON), no escape codes. Tarantool's own lines ("recover from …",
//   "0.2M rows processed") are the layers' and are logged either way.
// Rendering never throws into the layers: the text is computed from the event alone.
import { Writable } from 'node:stream';
import type { ProgressEvent, ProgressSink } from '@tarantype/box';
import type { Logger } from '@tarantype/wal';
import cliProgress from 'cli-progress';

/** Default interval between two log lines of one task when stderr is not a terminal. */
export const PROGRESS_LOG_INTERVAL_DEFAULT_MS = 2000;
const MEGABYTE = 1024 * 1024;
const BAR_WIDTH = 24;

/** Fraction done: by bytes when their total is known (file sizes), else by count, else unknown. */
export function fractionOf(event: ProgressEvent): number | undefined {
  if (event.bytesTotal !== undefined && event.bytesTotal > 0)
    return Math.min(1, event.bytesDone / event.bytesTotal);
  if (event.total !== undefined && event.total > 0) return Math.min(1, event.done / event.total);
  if (event.bytesTotal === 0 || event.total === 0) return 1;
  return undefined;
}

/** "1.2 s", "45 s", "3 min 05 s". */
export function formatDuration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
}

function megabytes(bytes: number): string {
  return (bytes / MEGABYTE).toFixed(1);
}

/** The parts every rendering shows: "45%", "90000 rows", "8.1/17.8 MB", "250000 rows/s", "ETA 2.0 s". */
export function describeProgress(event: ProgressEvent): {
  title: string;
  fraction: number | undefined;
  fields: string[];
} {
  const fraction = fractionOf(event);
  const seconds = event.elapsedMs / 1000;
  const count =
    event.total === undefined
      ? `${event.done} ${event.unit}`
      : `${event.done}/${event.total} ${event.unit}`;
  const bytes =
    event.bytesTotal === undefined
      ? `${megabytes(event.bytesDone)} MB`
      : `${megabytes(event.bytesDone)}/${megabytes(event.bytesTotal)} MB`;
  const rate =
    seconds > 0 ? `${Math.round(event.done / seconds)} ${event.unit}/s` : `- ${event.unit}/s`;
  const fields = [count, bytes, rate];
  if (fraction === undefined) fields.push(`${formatDuration(event.elapsedMs)} elapsed`);
  else if (fraction > 0)
    fields.push(`ETA ${formatDuration((event.elapsedMs * (1 - fraction)) / fraction)}`);
  else fields.push('ETA -');
  return { title: `${event.task} ${event.detail}`, fraction, fields };
}

/** One log line: "recovery snapshot 00000000000000151003.snap: 45% (90000 rows, 8.1/17.8 MB, …)". */
export function progressLine(event: ProgressEvent): string {
  const { title, fraction, fields } = describeProgress(event);
  const percent = fraction === undefined ? '' : ` ${Math.floor(fraction * 100)}%`;
  return `${title}:${percent} (${fields.join(', ')})`;
}

/** One bar: "recovery snapshot …snap [=========---------------] 45% | 90000 rows | … | ETA 2.0 s". */
export function progressBar(event: ProgressEvent, width: number): string {
  const { title, fraction, fields } = describeProgress(event);
  let bar: string;
  if (fraction === undefined) {
    // No total: a marker moving along the bar, one step per event interval, so it visibly lives.
    const at = Math.floor(event.elapsedMs / 100) % (BAR_WIDTH - 2);
    bar = `[${' '.repeat(at)}<=>${' '.repeat(BAR_WIDTH - 3 - at)}]     `;
  } else {
    const full = Math.round(fraction * BAR_WIDTH);
    bar = `[${'='.repeat(full)}${'-'.repeat(BAR_WIDTH - full)}] ${String(Math.floor(fraction * 100)).padStart(3)}%`;
  }
  const text = `${title} ${bar} | ${fields.join(' | ')}`;
  return text.length > width ? text.slice(0, Math.max(width - 1, 0)) : text;
}

export interface ProgressRendererOptions {
  /** Where bars go (the server's stderr). */
  readonly stream: NodeJS.WritableStream;
  /** Bars (stderr is a terminal) or log lines. */
  readonly tty: boolean;
  /** Log lines of one task at most this often when not a terminal (default 2000 ms). */
  readonly logIntervalMs?: number;
}

interface BarState {
  bar: cliProgress.SingleBar | undefined;
  event: ProgressEvent;
  /** elapsedMs of the last log line (log mode). */
  loggedAtMs: number;
}

export class ProgressRenderer {
  /** The port box reports to (BoxRuntime.onProgress). */
  readonly sink: ProgressSink = (event) => this.onEvent(event);
  /**
   * The logger's destination on a terminal: lines go straight to the stream, or above the
   * bars while any is drawn (cli-progress prints them at its next redraw).
   */
  readonly logStream: Writable;
  private logger: Logger | undefined;
  private multibar: cliProgress.MultiBar | undefined;
  private readonly tasks = new Map<number, BarState>();
  private readonly logIntervalMs: number;
  private readonly onExit = () => this.stop();

  constructor(private readonly options: ProgressRendererOptions) {
    this.logIntervalMs = options.logIntervalMs ?? PROGRESS_LOG_INTERVAL_DEFAULT_MS;
    this.logStream = new Writable({
      decodeStrings: false,
      write: (chunk: string | Buffer, _encoding, done) => {
        const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
        if (this.multibar === undefined) options.stream.write(text);
        else this.multibar.log(text);
        done();
      },
      final: (done) => {
        this.stop();
        done();
      },
    });
  }

  /** The logger of the log lines (not a terminal); set once it exists. */
  attach(logger: Logger): void {
    this.logger = logger;
  }

  /** Clears the bars, prints log lines still waiting, gives the terminal back. Idempotent. */
  stop(): void {
    const multibar = this.multibar;
    if (multibar === undefined) return;
    this.multibar = undefined;
    process.off('exit', this.onExit);
    multibar.update();
    multibar.stop();
  }

  private onEvent(event: ProgressEvent): void {
    if (event.phase === 'start') {
      this.tasks.set(event.id, { bar: undefined, event, loggedAtMs: 0 });
      return;
    }
    const state = this.tasks.get(event.id);
    if (state === undefined) return;
    state.event = event;
    if (event.phase === 'end') {
      this.tasks.delete(event.id);
      if (state.bar !== undefined) this.removeBar(state.bar);
      return;
    }
    if (!this.options.tty) {
      if (event.elapsedMs - state.loggedAtMs < this.logIntervalMs) return;
      state.loggedAtMs = event.elapsedMs;
      this.logger?.info(progressLine(event));
      return;
    }
    // A bar only for a task that lasted a whole event interval: short ones never flash.
    if (state.bar === undefined) state.bar = this.bars().create(1, 0, { event });
    else state.bar.update(0, { event });
    this.multibar?.update();
  }

  private bars(): cliProgress.MultiBar {
    if (this.multibar !== undefined) return this.multibar;
    this.multibar = new cliProgress.MultiBar({
      stream: this.options.stream,
      format: (_options, params, payload: { event: ProgressEvent }) =>
        progressBar(payload.event, params.maxWidth),
      clearOnComplete: true,
      hideCursor: false,
      // The server handles SIGINT/SIGTERM; the 'exit' hook restores the terminal.
      gracefulExit: false,
      fps: 10,
    });
    process.on('exit', this.onExit);
    return this.multibar;
  }

  private removeBar(bar: cliProgress.SingleBar): void {
    const multibar = this.multibar;
    if (multibar === undefined) return;
    multibar.remove(bar);
    if (![...this.tasks.values()].some((task) => task.bar !== undefined)) this.stop();
  }
}
