// Protocol errors in the log, over real sockets: one error line per bad frame, bad request
// header or body, or malformed AUTH, in Tarantool's `ER_NAME: message` form and naming the peer;
// not for wrong passwords or ordinary request errors; and a flood is cut to the burst plus one
// "N more protocol errors suppressed" line.
import { IprotoType } from '@tarantype/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProtocolLogger } from '../src/protocol-error-log.js';
import { authFrame, frame, intMap, RawClient, request, startServer } from './helpers.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

class CaptureLogger implements ProtocolLogger {
  readonly lines: string[] = [];
  error(message: string): void {
    this.lines.push(`E> ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`W> ${message}`);
  }
}

const bytes = (...values: number[]) => new Uint8Array(values);

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('protocol error log', () => {
  it('writes one error line per protocol error, naming the peer', async () => {
    const logger = new CaptureLogger();
    const s = await startServer({ logger });
    cleanup.push(() => s.close());
    s.handler.createUser('tester', 'secret');
    const cases: Array<[Uint8Array, string]> = [
      [bytes(0xc1, 1, 2, 3), 'ER_INVALID_MSGPACK: Invalid MsgPack - packet length'],
      [
        bytes(0xce, 0x80, 0, 0, 1),
        'ER_INVALID_MSGPACK: Invalid MsgPack - too big packet size in the header: 2147483649',
      ],
      [bytes(0x03, 0x01, 0x02, 0x03), 'ER_INVALID_MSGPACK: Invalid MsgPack - packet header'],
      [
        frame(
          intMap([
            [0, IprotoType.SELECT],
            [1, 5],
          ]),
          bytes(0x81, 0x10),
        ),
        'ER_INVALID_MSGPACK: Invalid MsgPack - packet body',
      ],
      [request(0x30, 6, []), 'ER_UNKNOWN_REQUEST_TYPE: Unknown request type 48'],
      [
        request(IprotoType.SELECT, 7, []),
        "ER_MISSING_REQUEST_FIELD: Missing mandatory field 'space id' in request",
      ],
      [
        authFrame(8, 'tester', bytes(1, 2, 3)),
        'ER_INVALID_MSGPACK: Invalid MsgPack - invalid scramble size',
      ],
    ];
    for (const [packet, line] of cases) {
      const c = await RawClient.connect(s.port);
      cleanup.push(() => c.close());
      const before = logger.lines.length;
      await c.roundTrip(packet);
      await until(() => logger.lines.length > before, line);
      expect(logger.lines.slice(before)).toEqual([
        `E> ${line} (peer 127.0.0.1:${c.socket.localPort})`,
      ]);
    }
    // Not protocol errors: a wrong password, an unknown space, a ping.
    const c = await RawClient.connect(s.port);
    cleanup.push(() => c.close());
    const before = logger.lines.length;
    await c.roundTrip(authFrame(9, 'tester', new Uint8Array(20)));
    await c.roundTrip(
      request(IprotoType.SELECT, 10, [
        [0x10, 9999],
        [0x11, 0],
        [0x12, 1],
        [0x13, 0],
        [0x14, 0],
        [0x20, []],
      ]),
    );
    await c.roundTrip(request(IprotoType.PING, 11));
    expect(logger.lines.slice(before)).toEqual([]);
  });

  it('cuts a flood of bad frames to the burst and says how many it left out', async () => {
    const logger = new CaptureLogger();
    const s = await startServer({ logger, protocolErrorLogLimits: { burst: 10, intervalMs: 500 } });
    cleanup.push(() => s.close());
    const clients = await Promise.all(Array.from({ length: 60 }, () => RawClient.connect(s.port)));
    for (const c of clients) cleanup.push(() => c.close());
    await Promise.all(clients.map((c) => c.roundTrip(bytes(0xc1))));
    await until(() => logger.lines.length === 11, 'the suppressed count', 3_000);
    const errors = logger.lines.filter((l) => l.startsWith('E> '));
    expect(errors).toHaveLength(10);
    for (const line of errors)
      expect(line).toMatch(
        /^E> ER_INVALID_MSGPACK: Invalid MsgPack - packet length \(peer 127\.0\.0\.1:\d+\)$/,
      );
    expect(logger.lines[10]).toBe('W> 50 more protocol errors suppressed');
    // The next window logs again.
    const late = await RawClient.connect(s.port);
    cleanup.push(() => late.close());
    await late.roundTrip(bytes(0xc1));
    await until(() => logger.lines.length === 12, 'a line in the next window');
    expect(logger.lines[11]).toContain(`(peer 127.0.0.1:${late.socket.localPort})`);
  });
});
