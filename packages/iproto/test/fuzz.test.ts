// Seeded fuzzing of the request path. Random and mutated frames go to a live server in random
// chunks: the server must survive, answer every well-framed packet with exactly one
// well-formed reply (the fixed header, status 0 or 0x8000|code with an error body), and after
// a bad length prefix send one error with sync 0 and close. The seed is printed on failure;
// `SEED=<n> pnpm exec vitest run test/fuzz.test.ts` replays it.
import { IprotoType, MsgpackWriter } from '@tarantype/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeRequest, RequestDecodeError } from '../src/request.js';
import { frame, RawClient, type Reply, startServer, type TestServer } from './helpers.js';

const seed =
  process.env.SEED !== undefined ? Number(process.env.SEED) : Math.floor(Math.random() * 2 ** 31);
const SOCKET_RUNS = 150;
const DECODER_RUNS = 5000;

function withSeed<T>(run: () => Promise<T> | T): Promise<T> {
  return Promise.resolve()
    .then(run)
    .catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(
        `fuzz failed with SEED=${seed} (replay: SEED=${seed} pnpm exec vitest run test/fuzz.test.ts)\n${message}`,
      );
    });
}

const TYPES = [
  IprotoType.SELECT,
  IprotoType.INSERT,
  IprotoType.REPLACE,
  IprotoType.UPDATE,
  IprotoType.DELETE,
  IprotoType.CALL_16,
  IprotoType.AUTH,
  IprotoType.EVAL,
  IprotoType.UPSERT,
  IprotoType.CALL,
  IprotoType.EXECUTE,
  IprotoType.NOP,
  IprotoType.PREPARE,
  IprotoType.PING,
  IprotoType.JOIN,
  IprotoType.SUBSCRIBE,
  IprotoType.VOTE_DEPRECATED,
  IprotoType.VOTE,
  IprotoType.FETCH_SNAPSHOT,
  IprotoType.REGISTER,
  0,
  40,
  99,
  0x7f,
];
const KEYS = [
  0x00, 0x01, 0x05, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x20, 0x21, 0x22, 0x23, 0x24, 0x26, 0x27,
  0x28, 0x40, 0x41, 0x43, 0x60,
];

const scalar = fc.oneof(
  fc.nat({ max: 1000 }),
  fc.integer({ min: -1000, max: -1 }),
  fc.string({ maxLength: 8 }),
  fc.constant(null),
  fc.boolean(),
  fc.double({ noNaN: true }),
  fc.constantFrom('f', 'echo', 'chap-sha1', 'return ...', 'tester', '=', '+', '#', '!'),
);
const value = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 3 }), tie('value'), { maxKeys: 2 }),
  ),
})).value;

/** A plausible request packet (header + body), not framed. */
const requestPacket = fc
  .record({
    type: fc.constantFrom(...TYPES),
    sync: fc.nat({ max: 2 ** 32 - 1 }),
    schema: fc.constantFrom(0, 0, 0, 1, 2, 7),
    body: fc.option(fc.array(fc.tuple(fc.constantFrom(...KEYS), value), { maxLength: 6 }), {
      nil: undefined,
    }),
  })
  .map(({ type, sync, schema, body }) => {
    const w = new MsgpackWriter();
    w.mapHeader(schema === 0 ? 2 : 3);
    w.uint(0);
    w.uint(type);
    w.uint(1);
    w.uint(sync);
    if (schema !== 0) {
      w.uint(5);
      w.uint(schema);
    }
    if (body !== undefined) {
      w.mapHeader(body.length);
      for (const [key, v] of body) {
        w.uint(key);
        w.value(key === 0x10 && typeof v === 'number' && v >= 0 ? 512 : v);
      }
    }
    return w.toBytes();
  });

/** A mutation of a packet: byte flips, truncation, insertions, or random bytes. */
const mutatedPacket = fc.oneof(
  requestPacket,
  fc
    .tuple(
      requestPacket,
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }),
    )
    .map(([p, flips]) => {
      const copy = Uint8Array.from(p);
      for (const [at, byte] of flips) if (copy.length > 0) copy[at % copy.length] = byte;
      return copy;
    }),
  fc.tuple(requestPacket, fc.nat()).map(([p, cut]) => p.subarray(0, cut % (p.length + 1))),
  fc
    .tuple(requestPacket, fc.uint8Array({ minLength: 1, maxLength: 8 }))
    .map(([p, extra]) => Buffer.concat([p, extra])),
  fc.uint8Array({ maxLength: 40 }),
);

const scenario = fc.record({
  packets: fc.array(mutatedPacket, { minLength: 1, maxLength: 12 }),
  /** A bad length prefix after the packets (fatal). */
  badPrefix: fc.option(fc.constantFrom(0xc1, 0xa0, 0x90, 0xff, 0xcf), { freq: 4, nil: undefined }),
  cuts: fc.array(fc.nat(), { maxLength: 6 }),
});

function checkWellFormed(reply: Reply): void {
  if (reply.status === 0) return;
  expect(reply.status & 0x8000).toBe(0x8000);
  expect(typeof reply.body.get(0x31)).toBe('string');
  const stack = (reply.body.get(0x52) as Map<number, unknown>).get(0) as Array<
    Map<number, unknown>
  >;
  expect(stack.length).toBeGreaterThan(0);
  expect(stack[0]!.get(5)).toBe(reply.status & 0x7fff);
  expect(stack[0]!.get(3)).toBe(reply.body.get(0x31));
}

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
  s.handler.createSpace({ name: 'fuzz' });
  s.handler.createUser('tester', 'secret');
  s.handler.defineFunction('f', (args) => args);
  s.handler.defineFunction('echo', (args) => [args]);
});
afterAll(async () => {
  await s.close();
});

describe(`fuzz (SEED=${seed})`, () => {
  it('decodeRequest never throws on arbitrary bytes', () =>
    withSeed(() => {
      fc.assert(
        fc.property(mutatedPacket, (packet) => {
          const result = decodeRequest(packet);
          if (result instanceof RequestDecodeError) expect(result.error.code).toBeGreaterThan(0);
        }),
        { seed, numRuns: DECODER_RUNS },
      );
    }));

  it('the server answers every framed packet once, well-formed, and survives bad prefixes', () =>
    withSeed(() =>
      fc.assert(
        fc.asyncProperty(scenario, async ({ packets, badPrefix, cuts }) => {
          const c = await RawClient.connect(s.port);
          try {
            const parts = packets.map((p) => frame(p));
            if (badPrefix !== undefined)
              parts.push(
                new Uint8Array([badPrefix, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
              );
            const stream = Buffer.concat(parts);
            const points = [...new Set(cuts.map((x) => x % (stream.length + 1)))].sort(
              (a, b) => a - b,
            );
            let from = 0;
            for (const to of [...points, stream.length]) {
              if (to > from) c.write(stream.subarray(from, to));
              from = to;
            }
            for (let i = 0; i < packets.length; i++) checkWellFormed(await c.reply());
            if (badPrefix !== undefined) {
              const fatal = await c.reply();
              expect(fatal.sync).toBe(0);
              expect(fatal.status).toBe(0x8000 | 20);
              expect(await c.closedWithin(3000)).toBe(true);
            } else {
              expect(await c.closedWithin(20)).toBe(false);
            }
          } finally {
            c.close();
          }
        }),
        { seed, numRuns: SOCKET_RUNS },
      ),
    ));

  it('the server is still serving afterwards', async () => {
    const c = await RawClient.connect(s.port);
    const w = new MsgpackWriter();
    w.mapHeader(2);
    w.uint(0);
    w.uint(IprotoType.PING);
    w.uint(1);
    w.uint(1);
    expect((await c.roundTrip(frame(w.toBytes()))).status).toBe(0);
    c.close();
  });
});
