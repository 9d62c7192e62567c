// The server's input path fed split at every byte boundary over a real socket: each write
// is a separate TCP segment (a pause between them), and the replies must be the same as for
// the unsplit stream.
import { IprotoType } from '@tarantype/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, request, startServer, type TestServer } from './helpers.js';

let s: TestServer;
let spaceId = 0;
beforeAll(async () => {
  s = await startServer();
  spaceId = s.handler.createSpace({ name: 'split' }).id;
  s.handler.defineFunction('echo', (args) => args);
});
afterAll(async () => {
  await s.close();
});

function stream(round: number): Uint8Array {
  return Buffer.concat([
    request(IprotoType.PING, 1),
    request(IprotoType.REPLACE, 2, [
      [0x10, spaceId],
      [0x21, [round, 'x'.repeat(40), round * 2]],
    ]),
    request(IprotoType.SELECT, 3, [
      [0x10, spaceId],
      [0x12, 1],
      [0x20, [round]],
    ]),
    request(IprotoType.CALL, 4, [
      [0x22, 'echo'],
      [0x21, [round, { a: [1, 2] }]],
    ]),
    request(IprotoType.AUTH, 5, [
      [0x23, 'guest'],
      [0x21, []],
    ]),
  ]);
}

describe('server input split at every byte boundary', () => {
  it('answers the same replies whatever the split point', async () => {
    const c = await RawClient.connect(s.port);
    const whole = stream(0);
    for (let cut = 0; cut <= whole.length; cut++) {
      const bytes = stream(cut);
      c.write(bytes.subarray(0, cut));
      await new Promise((resolve) => setTimeout(resolve, 1));
      c.write(bytes.subarray(cut));
      const replies = [];
      for (let i = 0; i < 5; i++) replies.push(await c.reply());
      expect(replies.map((r) => [r.sync, r.status])).toEqual([
        [1, 0],
        [2, 0],
        [3, 0],
        [4, 0],
        [5, 0],
      ]);
      expect(replies[2]!.body.get(0x30)).toEqual([[cut, 'x'.repeat(40), cut * 2]]);
      expect(replies[3]!.body.get(0x30)).toEqual([cut, { a: [1, 2] }]);
    }
    c.close();
  });

  it('one byte per write', async () => {
    const c = await RawClient.connect(s.port);
    const bytes = stream(1000);
    for (let i = 0; i < bytes.length; i++) {
      c.write(bytes.subarray(i, i + 1));
      if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    for (let i = 1; i <= 5; i++) expect((await c.reply()).sync).toBe(i);
    c.close();
  });
});
