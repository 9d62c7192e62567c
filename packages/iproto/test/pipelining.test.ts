// Pipelining, out-of-order completion, backpressure (net_msg_max) and graceful close over a
// real socket.

import { Socket } from 'node:net';
import { IprotoType } from '@tarantype/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createServer,
  REPLY_FLUSH_REQUESTS_DEFAULT,
  REPLY_SLICE_MICROS_DEFAULT,
} from '../src/index.js';
import { MemoryHandler } from '../src/testing.js';
import { data, deferred, RawClient, request, startServer, type TestServer } from './helpers.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setup(
  options: Parameters<typeof startServer>[0] = {},
): Promise<{ s: TestServer; c: RawClient }> {
  const s = await startServer(options);
  cleanup.push(() => s.close());
  const c = await RawClient.connect(s.port);
  cleanup.push(() => c.close());
  return { s, c };
}

const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms));

describe('pipelining', () => {
  it('answers requests in the order they complete, matched by sync', async () => {
    const { s, c } = await setup();
    const gates = new Map<number, ReturnType<typeof deferred<void>>>();
    s.handler.defineFunction('wait', async ([n]) => {
      const gate = deferred();
      gates.set(n as number, gate);
      await gate.promise;
      return [n];
    });
    c.write(
      Buffer.concat(
        [1, 2, 3].map((n) =>
          request(IprotoType.CALL, 100 + n, [
            [0x22, 'wait'],
            [0x21, [n]],
          ]),
        ),
      ),
    );
    await tick();
    expect([...gates.keys()]).toEqual([1, 2, 3]);
    for (const n of [3, 1, 2]) {
      gates.get(n)!.resolve();
      const reply = await c.reply();
      expect(reply.sync).toBe(100 + n);
      expect(data(reply)).toEqual([n]);
    }
  });

  it('synchronous and asynchronous handlers interleave; 2000 pipelined requests all answered once', async () => {
    const { s, c } = await setup();
    s.handler.defineFunction('later', async ([n]) => {
      await tick(1);
      return [n];
    });
    const packets: Uint8Array[] = [];
    for (let i = 1; i <= 2000; i++) {
      packets.push(
        i % 3 === 0
          ? request(IprotoType.CALL, i, [
              [0x22, 'later'],
              [0x21, [i]],
            ])
          : request(IprotoType.PING, i),
      );
    }
    c.write(Buffer.concat(packets));
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const reply = await c.reply();
      expect(reply.status).toBe(0);
      seen.add(reply.sync as number);
      if ((reply.sync as number) % 3 === 0) expect(data(reply)).toEqual([reply.sync]);
    }
    expect(seen.size).toBe(2000);
  });

  /** Socket writes by the server (every socket but the client's) while `run` runs. */
  async function serverWrites(client: RawClient, run: () => Promise<void>): Promise<number[]> {
    const sizes: number[] = [];
    const original = Socket.prototype.write;
    const spy = vi.spyOn(Socket.prototype, 'write').mockImplementation(function (
      this: Socket,
      ...args: Parameters<Socket['write']>
    ) {
      if (this !== client.socket) sizes.push((args[0] as Uint8Array).length);
      return original.apply(this, args);
    });
    try {
      await run();
    } finally {
      spy.mockRestore();
    }
    return sizes;
  }

  const pings = (n: number) =>
    Buffer.concat(Array.from({ length: n }, (_, i) => request(IprotoType.PING, i)));

  it('replySliceMicros 0: replies of one input batch leave in slices of replyFlushRequests', async () => {
    const { c } = await setup({ replySliceMicros: 0 });
    expect(REPLY_FLUSH_REQUESTS_DEFAULT).toBe(8);
    const sizes = await serverWrites(c, async () => {
      c.write(pings(50));
      for (let i = 0; i < 50; i++) await c.reply();
    });
    // 50 replies of 29 bytes: six slices of 8 at once, the last 2 at the end of the tick.
    expect(sizes).toEqual([...Array(6).fill(8 * 29), 2 * 29]);
  });

  it('a fractional replyFlushRequests rounds up: 2.5 writes after every 3 requests', async () => {
    const { c } = await setup({ replyFlushRequests: 2.5, replySliceMicros: 0 });
    const sizes = await serverWrites(c, async () => {
      c.write(pings(10));
      for (let i = 0; i < 10; i++) await c.reply();
    });
    expect(sizes).toEqual([3 * 29, 3 * 29, 3 * 29, 29]);
  });

  it('by default a slice ends once its requests took replySliceMicros', async () => {
    const { s, c } = await setup();
    expect(REPLY_SLICE_MICROS_DEFAULT).toBe(100);
    // Each call takes 20 µs: the clock, read after every 8 requests, has passed 100 µs at the
    // 8th (160 µs) and again 8 requests after every write.
    s.handler.defineFunction('spin', () => {
      const end = performance.now() + 0.02;
      while (performance.now() < end);
      return [1];
    });
    const call = (sync: number) => request(IprotoType.CALL, sync, [[0x22, 'spin']]);
    const sizes = await serverWrites(c, async () => {
      c.write(Buffer.concat(Array.from({ length: 50 }, (_, i) => call(i))));
      for (let i = 0; i < 50; i++) await c.reply();
    });
    const per = sizes[sizes.length - 1]! / 2;
    expect(sizes).toEqual([...Array(6).fill(8 * per), 2 * per]);
  });

  it('a batch of requests that take less than replySliceMicros leaves in one socket write', async () => {
    // 1 s: no slice of 50 pings can end early, however slow the machine.
    const { c } = await setup({ replySliceMicros: 1_000_000 });
    const sizes = await serverWrites(c, async () => {
      c.write(pings(50));
      for (let i = 0; i < 50; i++) await c.reply();
    });
    expect(sizes).toEqual([50 * 29]);
  });

  it('with replyFlushRequests Infinity, the replies of one tick leave in one socket write', async () => {
    const { c } = await setup({
      replyFlushRequests: Number.POSITIVE_INFINITY,
      replySliceMicros: 0,
    });
    const sizes = await serverWrites(c, async () => {
      c.write(pings(50));
      for (let i = 0; i < 50; i++) await c.reply();
    });
    expect(sizes).toEqual([50 * 29]);
  });

  it('refuses a replyFlushRequests below 1 and a replySliceMicros below 0', () => {
    expect(() => createServer({ handler: new MemoryHandler(), replyFlushRequests: 0 })).toThrow(
      'replyFlushRequests must be at least 1',
    );
    expect(() => createServer({ handler: new MemoryHandler(), replySliceMicros: -1 })).toThrow(
      'replySliceMicros must be at least 0',
    );
  });
});

describe('backpressure (net_msg_max)', () => {
  it('stops reading past netMsgMax requests in flight and resumes below it', async () => {
    const { s, c } = await setup({ netMsgMax: 4 });
    const gates: Array<ReturnType<typeof deferred<void>>> = [];
    s.handler.defineFunction('block', async ([n]) => {
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
      return [n];
    });
    c.write(
      Buffer.concat(
        Array.from({ length: 10 }, (_, i) =>
          request(IprotoType.CALL, i + 1, [
            [0x22, 'block'],
            [0x21, [i + 1]],
          ]),
        ),
      ),
    );
    await tick(50);
    expect(gates.length).toBe(4);
    // A PING behind them waits too: input is not read while the pipeline is full.
    c.write(request(IprotoType.PING, 99));
    await tick(50);
    expect(gates.length).toBe(4);
    gates[0]!.resolve();
    expect((await c.reply()).sync).toBe(1);
    await tick(20);
    expect(gates.length).toBe(5);
    for (let i = 1; i < 10; i++) {
      while (gates.length <= i) await tick(5);
      gates[i]!.resolve();
    }
    const syncs = new Set<number>();
    for (let i = 0; i < 10; i++) syncs.add((await c.reply()).sync as number);
    expect(syncs).toEqual(new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 99]));
  });

  it('a client that does not read replies makes the server stop reading it', async () => {
    const { s, c } = await setup();
    const big = 'x'.repeat(64 * 1024);
    let calls = 0;
    s.handler.defineFunction('big', () => {
      calls++;
      return [big];
    });
    c.socket.pause();
    const packet = request(IprotoType.CALL, 1, [[0x22, 'big']]);
    // Far more reply bytes than the output high-water mark (4 MiB) + socket buffers.
    for (let i = 0; i < 400; i++) c.write(packet);
    await tick(300);
    const stalledAt = calls;
    expect(stalledAt).toBeLessThan(400);
    c.socket.resume();
    for (let i = 0; i < 400; i++) await c.reply(10_000);
    expect(calls).toBe(400);
  });
});

describe('AUTH is a barrier', () => {
  it('waits for earlier requests and holds later ones, which then run as the new user', async () => {
    const { s, c } = await setup();
    s.handler.createUser('tester', 'secret');
    const gate = deferred();
    const log: string[] = [];
    s.handler.defineFunction('slow', async (_args, session) => {
      log.push(`slow starts as ${session.user.name}`);
      await gate.promise;
      return [];
    });
    s.handler.defineFunction('whoami', (_args, session) => {
      log.push(`whoami as ${session.user.name}`);
      return [session.user.name];
    });
    const { chapSha1Scramble } = await import('../src/chap-sha1.js');
    const scramble = chapSha1Scramble('secret', c.greeting.salt);
    c.write(
      Buffer.concat([
        request(IprotoType.CALL, 1, [[0x22, 'slow']]),
        request(IprotoType.AUTH, 2, [
          [0x23, 'tester'],
          [0x21, ['chap-sha1', scramble]],
        ]),
        request(IprotoType.CALL, 3, [[0x22, 'whoami']]),
      ]),
    );
    await tick(50);
    expect(log).toEqual(['slow starts as guest']);
    gate.resolve();
    expect((await c.reply()).sync).toBe(1);
    expect((await c.reply()).sync).toBe(2);
    const who = await c.reply();
    expect(who.sync).toBe(3);
    expect(data(who)).toEqual(['tester']);
    expect(log).toEqual(['slow starts as guest', 'whoami as tester']);
  });
});

describe('graceful close', () => {
  it('finishes and answers in-flight requests, then closes; refuses new connections', async () => {
    const s = await startServer();
    const c = await RawClient.connect(s.port);
    cleanup.push(() => c.close());
    const gate = deferred();
    s.handler.defineFunction('slow', async () => {
      await gate.promise;
      return ['done'];
    });
    c.write(request(IprotoType.CALL, 7, [[0x22, 'slow']]));
    await tick(30);
    const closing = s.server.close({ timeoutMs: 5000 });
    await tick(30);
    // New connections are refused while closing.
    await expect(RawClient.connect(s.port)).rejects.toThrow();
    gate.resolve();
    const reply = await c.reply();
    expect(reply.sync).toBe(7);
    expect(data(reply)).toEqual(['done']);
    expect(await c.closedWithin(3000)).toBe(true);
    await closing;
  });

  it('destroys connections whose requests outlive the timeout', async () => {
    const s = await startServer();
    const c = await RawClient.connect(s.port);
    cleanup.push(() => c.close());
    s.handler.defineFunction('never', () => new Promise(() => undefined));
    c.write(request(IprotoType.CALL, 1, [[0x22, 'never']]));
    await tick(30);
    const started = Date.now();
    await s.server.close({ timeoutMs: 200 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await c.closedWithin(1000)).toBe(true);
  });
});
