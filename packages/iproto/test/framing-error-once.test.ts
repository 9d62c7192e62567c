// Regression (found by the live-server fuzz campaign, apps/server/test/iproto-fuzz.ts): a framing
// error met while the connection resumes reading (after a replication request handed the
// connection back, or after backpressure) was replied twice. flush() → updateReading() resumed
// the socket and ran pump() again from inside pump(), and the decoder still held the error.
// PROTOCOL.md F1/F2: exactly one ER_INVALID_MSGPACK reply with sync 0, then the close.
import { ErrorCode, IprotoType } from '@tarantype/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReplicationHook } from '../src/port.js';
import type { MemoryUser } from '../src/testing.js';
import { errorOf, parseReply, RawClient, request, startServer } from './helpers.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Every reply frame until the server closes the connection. */
async function repliesUntilClose(c: RawClient): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = [];
  for (;;) {
    try {
      frames.push(await c.rawReply(3000));
    } catch {
      return frames;
    }
  }
}

describe('a framing error after the connection resumes reading', () => {
  for (const bad of [
    { what: 'a length prefix that is not a uint', bytes: [0xc1] },
    { what: 'a length above 2 GiB', bytes: [0xce, 0xff, 0xff, 0xff, 0xff] },
  ])
    it(`is replied once after a replication request returned (${bad.what})`, async () => {
      const hook: ReplicationHook<MemoryUser> = { async handle() {} };
      const s = await startServer({ replication: hook });
      cleanup.push(() => s.close());
      const c = await RawClient.connect(s.port);
      cleanup.push(() => c.close());
      // One write: the replication request, a PING, then the bad frame.
      const join = request(IprotoType.JOIN, 5, [[0x24, '11111111-1111-1111-1111-111111111111']]);
      const ping = request(IprotoType.PING, 6);
      const all = new Uint8Array(join.length + ping.length + bad.bytes.length);
      all.set(join);
      all.set(ping, join.length);
      all.set(bad.bytes, join.length + ping.length);
      c.write(all);
      const replies = (await repliesUntilClose(c)).map(parseReply);
      expect(replies.map((r) => [r.sync, r.status])).toEqual([
        [6, 0],
        [0, 0x8000 | ErrorCode.ER_INVALID_MSGPACK],
      ]);
      expect(errorOf(replies[1]!).code).toBe(ErrorCode.ER_INVALID_MSGPACK);
      expect(await c.closedWithin(3000)).toBe(true);
    });
});
