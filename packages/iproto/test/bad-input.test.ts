// Every bad-input rule of PROTOCOL.md §4 and §7 over a real socket: framing errors are replied
// with sync 0 and close the connection; errors inside a well-framed packet are replied with the
// request's sync (0 when the header itself is bad) and the connection stays.
import { ErrorCode, IprotoType, MsgpackWriter } from '@tarantype/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  errorOf,
  frame,
  intMap,
  RawClient,
  request,
  startServer,
  type TestServer,
} from './helpers.js';

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

const bytes = (...values: number[]) => new Uint8Array(values);

/** Expects an ER_INVALID_MSGPACK reply with `detail`, then checks the connection is kept. */
async function expectKept(
  c: RawClient,
  packet: Uint8Array,
  sync: number,
  message: string,
  code: number = ErrorCode.ER_INVALID_MSGPACK,
) {
  const reply = await c.roundTrip(packet);
  expect(reply.sync).toBe(sync);
  expect(reply.status).toBe(0x8000 | code);
  expect(errorOf(reply).message).toBe(message);
  expect(errorOf(reply).code).toBe(code);
  const pong = await c.roundTrip(request(IprotoType.PING, 4242));
  expect(pong.status).toBe(0);
  expect(pong.sync).toBe(4242);
}

describe('framing errors: reply with sync 0, then close (rules F1, F2)', () => {
  it('a length prefix that is not a MessagePack uint', async () => {
    const { c } = await setup();
    c.write(bytes(0xa3, 0x61, 0x62, 0x63));
    const reply = await c.reply();
    expect(reply.sync).toBe(0);
    expect(reply.status).toBe(0x8000 | ErrorCode.ER_INVALID_MSGPACK);
    expect(errorOf(reply).message).toBe('Invalid MsgPack - packet length');
    expect(await c.closedWithin(3000)).toBe(true);
  });

  it('negative fixint, nil and map prefixes too', async () => {
    for (const first of [0xff, 0xc0, 0x81, 0xd0]) {
      const { c } = await setup();
      c.write(bytes(first, 0, 0, 0, 0, 0));
      expect(errorOf(await c.reply()).message).toBe('Invalid MsgPack - packet length');
      expect(await c.closedWithin(3000)).toBe(true);
    }
  });

  it('a length above 2 GiB', async () => {
    const { c } = await setup();
    c.write(bytes(0xce, 0x80, 0x00, 0x00, 0x01));
    const reply = await c.reply();
    expect(reply.sync).toBe(0);
    expect(errorOf(reply).message).toBe(
      'Invalid MsgPack - too big packet size in the header: 2147483649',
    );
    expect(await c.closedWithin(3000)).toBe(true);
  });

  it('a uint64 length far above the limit is printed exactly', async () => {
    const { c } = await setup();
    c.write(bytes(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    expect(errorOf(await c.reply()).message).toBe(
      'Invalid MsgPack - too big packet size in the header: 18446744073709551615',
    );
    expect(await c.closedWithin(3000)).toBe(true);
  });

  it('exactly 2 GiB is a valid length (the server waits for the bytes)', async () => {
    const { c } = await setup();
    c.write(bytes(0xce, 0x80, 0x00, 0x00, 0x00));
    expect(await c.closedWithin(200)).toBe(false);
  });

  it('a configured smaller maximum (packetSizeMaxBytes)', async () => {
    const { c } = await setup({ packetSizeMaxBytes: 1024 });
    const ok = request(IprotoType.CALL, 1, [
      [0x22, 'x'],
      [0x21, ['a'.repeat(900)]],
    ]);
    const okReply = await c.roundTrip(ok);
    expect(errorOf(okReply).code).toBe(ErrorCode.ER_NO_SUCH_PROC);
    c.write(
      request(IprotoType.CALL, 2, [
        [0x22, 'x'],
        [0x21, ['a'.repeat(2000)]],
      ]),
    );
    const reply = await c.reply();
    expect(reply.sync).toBe(0);
    expect(errorOf(reply).message).toMatch(
      /^Invalid MsgPack - too big packet size in the header: 20\d\d$/,
    );
    expect(await c.closedWithin(3000)).toBe(true);
  });

  it('replies to requests before the bad prefix are still delivered', async () => {
    const { c } = await setup();
    c.write(Buffer.concat([request(IprotoType.PING, 1), request(IprotoType.PING, 2), bytes(0xc1)]));
    expect((await c.reply()).sync).toBe(1);
    expect((await c.reply()).sync).toBe(2);
    expect(errorOf(await c.reply()).message).toBe('Invalid MsgPack - packet length');
    expect(await c.closedWithin(3000)).toBe(true);
  });
});

describe('bad header: "packet header", sync 0, connection kept (rules R1–R4)', () => {
  it('an empty packet, a non-map header, truncated header', async () => {
    const { c } = await setup();
    await expectKept(c, frame(bytes()), 0, 'Invalid MsgPack - packet header');
    await expectKept(c, frame(bytes(0x92, 0x00, 0x40)), 0, 'Invalid MsgPack - packet header');
    await expectKept(c, frame(bytes(0x82, 0x00, 0x40, 0x01)), 0, 'Invalid MsgPack - packet header');
    await expectKept(c, frame(bytes(0xc1)), 0, 'Invalid MsgPack - packet header');
  });

  it('a string key, a key >= 0x53, a value of the wrong type', async () => {
    const { c } = await setup();
    const w = new MsgpackWriter();
    w.mapHeader(2);
    w.str('type');
    w.uint(64);
    w.uint(1);
    w.uint(7);
    await expectKept(c, frame(w.toBytes()), 0, 'Invalid MsgPack - packet header');
    await expectKept(
      c,
      frame(
        intMap([
          [0, 64],
          [1, 7],
          [0x53, 1],
        ]),
      ),
      0,
      'Invalid MsgPack - packet header',
    );
    await expectKept(
      c,
      frame(
        intMap([
          [0, 64],
          [1, 'seven'],
        ]),
      ),
      0,
      'Invalid MsgPack - packet header',
    );
    await expectKept(c, frame(intMap([[0, 'ping']])), 0, 'Invalid MsgPack - packet header');
    // TIMESTAMP must be a double; unassigned keys below 0x53 expect a uint.
    await expectKept(
      c,
      frame(
        intMap([
          [0, 64],
          [0x04, 1],
        ]),
      ),
      0,
      'Invalid MsgPack - packet header',
    );
    await expectKept(
      c,
      frame(
        intMap([
          [0, 64],
          [0x2c, null],
        ]),
      ),
      0,
      'Invalid MsgPack - packet header',
    );
  });

  it('unknown keys below 0x53 with the expected type are skipped', async () => {
    const { c } = await setup();
    const reply = await c.roundTrip(
      frame(
        intMap([
          [0, 64],
          [1, 5],
          [0x2c, 1],
          [0x07, 0],
          [0x26, new Map()],
        ]),
      ),
    );
    expect(reply.status).toBe(0);
    expect(reply.sync).toBe(5);
  });
});

describe('bad body: error with the request sync, connection kept (rules R5, R6, R9–R12)', () => {
  it('malformed MessagePack after a valid header', async () => {
    const { c } = await setup();
    const header = intMap([
      [0, IprotoType.SELECT],
      [1, 11],
    ]);
    await expectKept(c, frame(header, bytes(0x85, 0x10)), 11, 'Invalid MsgPack - packet body');
    await expectKept(c, frame(header, bytes(0xc1)), 11, 'Invalid MsgPack - packet body');
  });

  it('trailing bytes after the body', async () => {
    const { c } = await setup();
    const header = intMap([
      [0, IprotoType.PING],
      [1, 12],
    ]);
    await expectKept(c, frame(header, bytes(0x80, 0x80)), 12, 'Invalid MsgPack - packet body');
  });

  it('a body that is not a map', async () => {
    const { c } = await setup();
    await expectKept(
      c,
      frame(
        intMap([
          [0, IprotoType.INSERT],
          [1, 13],
        ]),
        bytes(0x90),
      ),
      13,
      'Invalid MsgPack - packet body',
    );
    await expectKept(
      c,
      frame(
        intMap([
          [0, IprotoType.CALL],
          [1, 14],
        ]),
        bytes(0x01),
      ),
      14,
      'Invalid MsgPack - packet body',
    );
  });

  it('a known key with a value of the wrong type', async () => {
    const { c } = await setup();
    await expectKept(
      c,
      request(IprotoType.SELECT, 20, [
        [0x10, 'test'],
        [0x12, 1],
        [0x20, []],
      ]),
      20,
      'Invalid MsgPack - packet body',
    );
    await expectKept(
      c,
      request(IprotoType.INSERT, 21, [
        [0x10, 512],
        [0x21, 'not a tuple'],
      ]),
      21,
      'Invalid MsgPack - packet body',
    );
    await expectKept(
      c,
      request(IprotoType.SELECT, 22, [
        [0x10, 512],
        [0x12, -1],
        [0x20, []],
      ]),
      22,
      'Invalid MsgPack - packet body',
    );
    await expectKept(
      c,
      request(IprotoType.CALL, 23, [[0x22, 5]]),
      23,
      'Invalid MsgPack - packet body',
    );
    await expectKept(
      c,
      request(IprotoType.CALL, 24, [
        [0x22, 'f'],
        [0x21, 5],
      ]),
      24,
      'Invalid MsgPack - packet body',
    );
    await expectKept(
      c,
      request(IprotoType.AUTH, 25, [
        [0x23, 7],
        [0x21, []],
      ]),
      25,
      'Invalid MsgPack - packet body',
    );
    await expectKept(
      c,
      request(IprotoType.EXECUTE, 26, [[0x40, 1]]),
      26,
      'Invalid MsgPack - packet body',
    );
  });

  it('DML bodies skip unknown and string keys; CALL bodies refuse non-uint keys', async () => {
    const { s, c } = await setup();
    const { id } = s.handler.createSpace({ name: 't' });
    const w = new MsgpackWriter();
    w.mapHeader(4);
    w.str('space');
    w.uint(1);
    w.uint(0x10);
    w.uint(id);
    w.uint(0x21);
    w.value([1]);
    w.uint(0x77);
    w.value({ x: 1 });
    const inserted = await c.roundTrip(
      frame(
        intMap([
          [0, IprotoType.INSERT],
          [1, 30],
        ]),
        w.toBytes(),
      ),
    );
    expect(inserted.status).toBe(0);
    const call = new MsgpackWriter();
    call.mapHeader(2);
    call.str('name');
    call.uint(1);
    call.uint(0x22);
    call.str('f');
    await expectKept(
      c,
      frame(
        intMap([
          [0, IprotoType.CALL],
          [1, 31],
        ]),
        call.toBytes(),
      ),
      31,
      'Invalid MsgPack - packet body',
    );
  });

  it('NOP over iproto: with a body "packet body", without one "Unknown request type 12"', async () => {
    const { c } = await setup();
    await expectKept(c, request(IprotoType.NOP, 40, []), 40, 'Invalid MsgPack - packet body');
    await expectKept(
      c,
      request(IprotoType.NOP, 41),
      41,
      'Unknown request type 12',
      ErrorCode.ER_UNKNOWN_REQUEST_TYPE,
    );
  });
});

describe('request-level errors (rules R8, R10–R15)', () => {
  it('unknown request types are ER_UNKNOWN_REQUEST_TYPE and keep the connection', async () => {
    const { c } = await setup();
    for (const type of [0x7f, 0, 99, 40, 41, 30, 0xffff]) {
      await expectKept(
        c,
        request(type, 50),
        50,
        `Unknown request type ${type}`,
        ErrorCode.ER_UNKNOWN_REQUEST_TYPE,
      );
    }
  });

  it('missing mandatory fields name the key as Tarantool does', async () => {
    const { c } = await setup();
    const M = ErrorCode.ER_MISSING_REQUEST_FIELD;
    const missing = (name: string) => `Missing mandatory field '${name}' in request`;
    await expectKept(
      c,
      request(IprotoType.SELECT, 60, [
        [0x10, 512],
        [0x20, []],
      ]),
      60,
      missing('limit'),
      M,
    );
    await expectKept(
      c,
      request(IprotoType.SELECT, 61, [
        [0x10, 512],
        [0x12, 1],
      ]),
      61,
      missing('key'),
      M,
    );
    await expectKept(c, request(IprotoType.SELECT, 62, []), 62, missing('space id'), M);
    await expectKept(c, request(IprotoType.SELECT, 63), 63, missing('space id'), M);
    await expectKept(c, request(IprotoType.INSERT, 64, [[0x10, 512]]), 64, missing('tuple'), M);
    await expectKept(c, request(IprotoType.REPLACE, 65, [[0x21, [1]]]), 65, missing('space id'), M);
    await expectKept(
      c,
      request(IprotoType.UPDATE, 66, [
        [0x10, 512],
        [0x21, []],
      ]),
      66,
      missing('key'),
      M,
    );
    await expectKept(
      c,
      request(IprotoType.UPDATE, 67, [
        [0x10, 512],
        [0x20, [1]],
      ]),
      67,
      missing('tuple'),
      M,
    );
    await expectKept(c, request(IprotoType.DELETE, 68, [[0x10, 512]]), 68, missing('key'), M);
    await expectKept(
      c,
      request(IprotoType.UPSERT, 69, [
        [0x10, 512],
        [0x21, [1]],
      ]),
      69,
      missing('operations'),
      M,
    );
    await expectKept(
      c,
      request(IprotoType.UPSERT, 70, [
        [0x10, 512],
        [0x28, []],
      ]),
      70,
      missing('tuple'),
      M,
    );
    await expectKept(
      c,
      request(IprotoType.CALL, 71, [[0x21, []]]),
      71,
      missing('function name'),
      M,
    );
    await expectKept(c, request(IprotoType.CALL_16, 72, []), 72, missing('function name'), M);
    await expectKept(c, request(IprotoType.EVAL, 73, [[0x21, []]]), 73, missing('expression'), M);
    await expectKept(c, request(IprotoType.AUTH, 74, [[0x21, []]]), 74, missing('user name'), M);
    await expectKept(c, request(IprotoType.AUTH, 75, [[0x23, 'guest']]), 75, missing('tuple'), M);
    await expectKept(
      c,
      request(IprotoType.EXECUTE, 76, [[0x41, []]]),
      76,
      missing('SQL text or stmt id'),
      M,
    );
  });

  it('CALL, EVAL, AUTH and SQL without a body: "missing request body"', async () => {
    const { c } = await setup();
    for (const type of [
      IprotoType.CALL,
      IprotoType.CALL_16,
      IprotoType.EVAL,
      IprotoType.AUTH,
      IprotoType.EXECUTE,
      IprotoType.PREPARE,
    ]) {
      await expectKept(c, request(type, 80), 80, 'Invalid MsgPack - missing request body');
    }
  });

  it('SQL text and statement id together', async () => {
    const { c } = await setup();
    await expectKept(
      c,
      request(IprotoType.EXECUTE, 81, [
        [0x40, 'SELECT 1'],
        [0x43, 1],
      ]),
      81,
      'Invalid MsgPack - SQL text and statement id are incompatible options in one request: choose one',
    );
  });

  it('an iterator out of 0..11 is ER_ILLEGAL_PARAMS before the handler runs', async () => {
    const { s, c } = await setup();
    await expectKept(
      c,
      request(IprotoType.SELECT, 90, [
        [0x10, 512],
        [0x12, 1],
        [0x14, 12],
        [0x20, []],
      ]),
      90,
      'Illegal parameters, Invalid iterator type',
      ErrorCode.ER_ILLEGAL_PARAMS,
    );
    expect(s.handler.served).toEqual([IprotoType.PING]);
  });

  it('ER_WRONG_SCHEMA_VERSION with 2.6 swapped arguments; 0 means no check', async () => {
    const { s, c } = await setup();
    s.handler.createSpace({ name: 'bump' });
    const current = s.handler.schemaVersion();
    const packet = frame(
      intMap([
        [0, IprotoType.PING],
        [1, 91],
        [5, 1],
      ]),
    );
    await expectKept(
      c,
      packet,
      91,
      `Wrong schema version, current: 1, in request: ${current}`,
      ErrorCode.ER_WRONG_SCHEMA_VERSION,
    );
    const matching = await c.roundTrip(
      frame(
        intMap([
          [0, IprotoType.PING],
          [1, 92],
          [5, current],
        ]),
      ),
    );
    expect(matching.status).toBe(0);
    const zero = await c.roundTrip(
      frame(
        intMap([
          [0, IprotoType.PING],
          [1, 93],
          [5, 0],
        ]),
      ),
    );
    expect(zero.status).toBe(0);
  });

  it('unknown space and index errors come from the handler', async () => {
    const { c } = await setup();
    await expectKept(
      c,
      request(IprotoType.SELECT, 95, [
        [0x10, 9999],
        [0x12, 1],
        [0x20, []],
      ]),
      95,
      "Space '9999' does not exist",
      ErrorCode.ER_NO_SUCH_SPACE,
    );
  });
});
