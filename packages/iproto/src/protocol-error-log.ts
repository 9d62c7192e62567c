// Error-level log lines for protocol errors: bytes a peer sent that could not be framed or
// decoded as a request (PROTOCOL.md §1, §4), including a malformed AUTH. Layer: iproto (it only
// formats and rate-limits; the logger is the application's).
//
// Tarantool 2.6 logs each of these in its iproto thread at error level, one line each, e.g.
// `iproto xrow.c:142 E> ER_INVALID_MSGPACK: Invalid MsgPack - packet header`. The line here has
// the same `ER_NAME: message` text and names the peer, which Tarantool's line does not:
// `ER_INVALID_MSGPACK: Invalid MsgPack - packet header (peer 127.0.0.1:51234)`.
//
// Bounded: a flood of bad frames (cheap to send, one per connection) must not flood the log.
// As Tarantool's say_ratelimited (10 lines per 5 s), at most `burst` lines are written per
// `intervalMs` window; the rest are counted, and when the window ends one warning says how many
// were left out ("N more protocol errors suppressed"). It does not decide what a protocol error
// is (server-connection.ts does) and never throws into the connection.
import { errorName, type TarantoolError } from '@tarantype/core';
import { PROTOCOL_ERROR_LOG_BURST, PROTOCOL_ERROR_LOG_INTERVAL_MS } from './limits.js';

/** Where protocol errors are written (the server's logger, e.g. pino's). */
export interface ProtocolLogger {
  error(message: string): void;
  warn(message: string): void;
}

export interface ProtocolErrorLogLimits {
  /** Lines written per window (default 10, as Tarantool's SAY_RATELIMIT_BURST). */
  readonly burst?: number;
  /** Window length (default 5000 ms, as Tarantool's SAY_RATELIMIT_INTERVAL). */
  readonly intervalMs?: number;
}

export class ProtocolErrorLog {
  private readonly burst: number;
  private readonly intervalMs: number;
  private windowStart = Number.NEGATIVE_INFINITY;
  private written = 0;
  private suppressed = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: ProtocolLogger,
    limits: ProtocolErrorLogLimits = {},
  ) {
    this.burst = limits.burst ?? PROTOCOL_ERROR_LOG_BURST;
    this.intervalMs = limits.intervalMs ?? PROTOCOL_ERROR_LOG_INTERVAL_MS;
    if (!(this.burst >= 1)) throw new RangeError('the protocol error log burst must be at least 1');
  }

  /** Logs (or counts) one protocol error from `peer` ("host:port"). */
  report(peer: string, error: TarantoolError): void {
    const now = Date.now();
    if (now - this.windowStart >= this.intervalMs) {
      this.flush();
      this.windowStart = now;
      this.written = 0;
    }
    if (this.written < this.burst) {
      this.written++;
      this.write('error', `${errorName(error.code)}: ${error.message} (peer ${peer})`);
      return;
    }
    this.suppressed++;
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.windowStart + this.intervalMs - now);
      this.timer.unref();
    }
  }

  /** Writes the count of suppressed lines now, if any (window end, server close). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.suppressed === 0) return;
    const count = this.suppressed;
    this.suppressed = 0;
    this.write('warn', `${count} more protocol errors suppressed`);
  }

  private write(level: 'error' | 'warn', line: string): void {
    try {
      this.logger[level](line);
    } catch {
      // A failing logger must not take the connection down.
    }
  }
}
