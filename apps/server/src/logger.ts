// Logging for the server: pino, printed as Tarantool prints its log ("2026-11-21 13:07:31.766
// [8989] main I> ready to accept requests") by default, or as pino's JSON lines with
// --log-format json. Layer: apps/server. log_level keeps Tarantool's numbers: 1-2 error,
// 3-4 warn, 5 info (default), 6 verbose (debug), 7 debug (trace).

import type { Logger } from '@tarantype/wal';
import { type Logger as PinoLogger, pino } from 'pino';

export type LogFormat = 'plain' | 'json';

const LETTER: Record<number, string> = {
  10: 'D',
  20: 'V',
  30: 'I',
  40: 'W',
  50: 'E',
  52: '!',
  55: 'C',
  60: 'F',
};
/** Tarantool's crit level (C>): between error and fatal. */
const CRIT_LEVEL = 55;
/** Tarantool's syserror level (!>): an error with errno, such as a refused connect. */
const SYSERROR_LEVEL = 52;

export function pinoLevel(logLevel: number): pino.LevelWithSilent {
  if (logLevel <= 0) return 'silent';
  if (logLevel <= 2) return 'error';
  if (logLevel <= 4) return 'warn';
  if (logLevel === 5) return 'info';
  if (logLevel === 6) return 'debug';
  return 'trace';
}

function timestamp(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** What the log writes to: stderr, a stream, or box.cfg.log's file (first-cfg.ts). */
export interface LogStream {
  write(text: string): unknown;
  end(callback?: () => void): unknown;
}

/** Where the lines go; the first box.cfg{log = …} may replace the stream. */
interface Sink {
  out: LogStream;
}

/** A destination that turns pino's JSON lines into Tarantool's plain format. */
function plainDestination(sink: Sink): { write(line: string): void } {
  return {
    write(line: string) {
      const record = JSON.parse(line) as {
        level: number;
        time: number;
        pid: number;
        msg: string;
        component?: string;
      };
      sink.out.write(
        `${timestamp(record.time)} [${record.pid}] ${record.component ?? 'main'} ${LETTER[record.level] ?? 'I'}> ${record.msg}\n`,
      );
    },
  };
}

export interface ServerLogger extends Logger {
  readonly pino: PinoLogger<'crit' | 'syserror'>;
  setLevel(logLevel: number): void;
  /**
   * Sends the following lines to `stream` (box.cfg.log at the first box.cfg, as Tarantool
   * opens its log there); a previous file stream is ended.
   */
  redirect(stream: LogStream): void;
  /** Ends a file destination once its lines are written (stderr needs nothing). */
  close(): Promise<void>;
  child(component: string): Logger & LevelsOf26;
  crit(message: string): void;
  syserror(message: string): void;
}

/** Tarantool's levels that pino does not have. */
interface LevelsOf26 {
  crit(message: string): void;
  syserror(message: string): void;
}

export function createLogger(options: {
  level: number;
  format: LogFormat;
  destination?: NodeJS.WritableStream;
}): ServerLogger {
  const sink: Sink = { out: options.destination ?? process.stderr };
  const base = pino(
    {
      level: pinoLevel(options.level),
      base: { pid: process.pid },
      customLevels: { crit: CRIT_LEVEL, syserror: SYSERROR_LEVEL },
    },
    options.format === 'json'
      ? { write: (line: string) => sink.out.write(line) }
      : plainDestination(sink),
  );
  const wrap = (logger: PinoLogger<'crit' | 'syserror'>): Logger & LevelsOf26 => ({
    info: (message) => logger.info(message),
    warn: (message) => logger.warn(message),
    error: (message) => logger.error(message),
    crit: (message) => logger.crit(message),
    syserror: (message) => logger.syserror(message),
  });
  return {
    ...wrap(base),
    pino: base,
    setLevel(logLevel: number) {
      base.level = pinoLevel(logLevel);
    },
    child(component: string) {
      return wrap(base.child({ component }));
    },
    redirect(stream: LogStream) {
      const previous = sink.out;
      sink.out = stream;
      if (previous !== process.stderr && previous !== process.stdout) previous.end();
    },
    close() {
      const out = sink.out;
      if (out === process.stderr || out === process.stdout) return Promise.resolve();
      return new Promise((done) => out.end(() => done()));
    },
  };
}
