// The logging port of the storage layers: box passes its pino logger; tests pass a recorder.
// Messages keep Tarantool's wording where Tarantool has a message for the event.
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/** A logger that records every line (tests, and the CLI's progress output). */
export class RecordingLogger implements Logger {
  readonly lines: Array<{ level: 'info' | 'warn' | 'error'; message: string }> = [];
  info(message: string): void {
    this.lines.push({ level: 'info', message });
  }
  warn(message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  error(message: string): void {
    this.lines.push({ level: 'error', message });
  }
  messages(level?: 'info' | 'warn' | 'error'): string[] {
    return this.lines.filter((l) => level === undefined || l.level === level).map((l) => l.message);
  }
}
