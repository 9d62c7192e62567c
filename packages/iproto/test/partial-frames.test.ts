// Memory held by partial frames, over real sockets (PROTOCOL.md §7): a frame that declares
// 2 GiB costs only the bytes that arrived, the bytes are counted (IprotoServer.inputBufferedBytes)
// and given back when the connection closes, and a large frame that arrives in pieces is still
// served intact.
import { connect as netConnect, type Socket } from 'node:net';
import { ErrorCode, IprotoKey, IprotoType } from '@tarantype/core';
import { afterEach, describe, expect, it } from 'vitest';
import { data, RawClient, request, startServer, type TestServer } from './helpers.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const MiB = 1024 * 1024;

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Connects, reads the greeting, declares a 2 GiB frame and streams `bytes` of it. */
async function streamPartialFrame(port: number, bytes: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.write(new Uint8Array([0xce, 0x80, 0x00, 0x00, 0x00]));
  const chunk = new Uint8Array(64 * 1024).fill(0x90);
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  return socket;
}

describe('partial frames', () => {
  it('hold what arrived of a declared 2 GiB frame, and give it back when the connection closes', {
    timeout: 30_000,
  }, async () => {
    const s: TestServer = await startServer();
    cleanup.push(() => s.close());
    const perConnection = 8 * MiB;
    const sockets = await Promise.all(
      Array.from({ length: 4 }, () => streamPartialFrame(s.port, perConnection)),
    );
    await until(() => s.server.inputBufferedBytes === 4 * perConnection, 'the streamed bytes');
    const rssStreamed = process.memoryUsage().rss;
    for (const socket of sockets) socket.destroy();
    await until(() => s.server.sessions.size === 0, 'the sessions to close');
    expect(s.server.inputBufferedBytes).toBe(0);
    // The assembly buffers were shrunk on close: their pages are back with the OS before any GC.
    const rssClosed = process.memoryUsage().rss;
    expect(rssStreamed - rssClosed).toBeGreaterThan(16 * MiB);
  });

  it('are released when a framing error closes the connection', async () => {
    const s = await startServer({ packetSizeMaxBytes: 4 * MiB });
    cleanup.push(() => s.close());
    const c = await RawClient.connect(s.port);
    cleanup.push(() => c.close());
    c.write(new Uint8Array([0xce, 0x00, 0x30, 0x00, 0x00, 1, 2, 3]));
    await until(() => s.server.inputBufferedBytes === 3, 'the partial frame');
    const other = await RawClient.connect(s.port);
    cleanup.push(() => other.close());
    other.write(new Uint8Array([0xce, 0x01, 0x00, 0x00, 0x00]));
    const reply = await other.reply();
    expect(reply.body.get(IprotoKey.ERROR_24)).toBe(
      'Invalid MsgPack - too big packet size in the header: 16777216',
    );
    expect(await other.closedWithin(3000)).toBe(true);
    expect(s.server.inputBufferedBytes).toBe(3);
    c.close();
    await until(() => s.server.sessions.size === 0, 'the sessions to close');
    expect(s.server.inputBufferedBytes).toBe(0);
  });

  it('over the server-wide budget, the connection that crosses it gets ER_MEMORY_ISSUE and is closed', {
    timeout: 30_000,
  }, async () => {
    const s = await startServer({ inputBufferedBytesMax: 8 * MiB });
    cleanup.push(() => s.close());
    const first = await streamPartialFrame(s.port, 5 * MiB);
    cleanup.push(() => first.destroy());
    await until(() => s.server.inputBufferedBytes === 5 * MiB, 'the first partial frame');
    // The second connection: a RawClient reads the error reply, then sees the close.
    const second = await RawClient.connect(s.port);
    cleanup.push(() => second.close());
    second.write(new Uint8Array([0xce, 0x80, 0x00, 0x00, 0x00]));
    const chunk = new Uint8Array(64 * 1024).fill(0x90);
    for (let sent = 0; sent < 5 * MiB && !second.socket.destroyed; sent += chunk.length) {
      if (!second.socket.write(chunk))
        await Promise.race([
          new Promise((resolve) => second.socket.once('drain', resolve)),
          second.closed,
        ]);
    }
    const reply = await second.reply();
    expect(reply.sync).toBe(0);
    expect(reply.status).toBe(0x8000 | ErrorCode.ER_MEMORY_ISSUE);
    expect(reply.body.get(IprotoKey.ERROR_24)).toMatch(
      /^Failed to allocate \d+ bytes in iproto for input buffer$/,
    );
    expect(await second.closedWithin(3000)).toBe(true);
    await until(() => s.server.inputBufferedBytes === 5 * MiB, 'the second to be released');
    // The first connection and new ones are unharmed.
    expect(first.destroyed).toBe(false);
    const third = await RawClient.connect(s.port);
    cleanup.push(() => third.close());
    expect((await third.roundTrip(request(IprotoType.PING, 9))).status).toBe(0);
  });

  it('a 3 MiB request that arrives in pieces is assembled and served intact', {
    timeout: 30_000,
  }, async () => {
    const s = await startServer();
    cleanup.push(() => s.close());
    s.handler.functions.set('measure', (args) => {
      const text = args[0] as string;
      return [text.length, text.slice(0, 3), text.slice(-3)];
    });
    const c = await RawClient.connect(s.port);
    cleanup.push(() => c.close());
    const big = `abc${'x'.repeat(3 * MiB)}xyz`;
    const packet = request(IprotoType.CALL, 7, [
      [IprotoKey.FUNCTION_NAME, 'measure'],
      [IprotoKey.TUPLE, [big]],
    ]);
    for (let at = 0; at < packet.length; at += 100_000) {
      c.write(packet.subarray(at, at + 100_000));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const reply = await c.reply(10_000);
    expect(reply.sync).toBe(7);
    expect(data(reply)).toEqual([big.length, 'abc', 'xyz']);
    expect(s.server.inputBufferedBytes).toBe(0);
  });
});
