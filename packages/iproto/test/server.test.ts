// The server over real sockets on 127.0.0.1 with the in-memory handler: greeting, every request
// type, the reply layouts, and sessions. Bad input, pipelining and auth have their own files.
import {
  AccessDeniedError,
  decode,
  ErrorCode,
  encode,
  IprotoType,
  MsgpackWriter,
  Vclock,
} from '@tarantype/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReplicationHook } from '../src/port.js';
import { RawMsgpack } from '../src/raw-msgpack.js';
import type { MemoryUser } from '../src/testing.js';
import {
  data,
  errorOf,
  frame,
  intMap,
  RawClient,
  readerOf,
  request,
  startServer,
  type TestServer,
} from './helpers.js';

const cleanup: Array<() => unknown> = [];

/** Header and body maps of a frame written in compact (replication) form. */
function decodeFrame(bytes: Uint8Array): unknown[] {
  const reader = readerOf(bytes.subarray(5));
  const values: unknown[] = [];
  while (reader.remaining > 0) values.push(reader.readValue());
  return values;
}
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

describe('greeting', () => {
  it('is 128 bytes in the layout of spec §2, with a fresh 32-byte salt per connection', async () => {
    const { s, c } = await setup();
    const text = Buffer.from(c.greetingBytes).toString('latin1');
    expect(text.length).toBe(128);
    expect(text.slice(0, 63)).toBe(`Tarantool 2.6.0 (Binary) ${s.handler.uuid}`.padEnd(63, ' '));
    expect(text[63]).toBe('\n');
    expect(text.slice(64, 108)).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(text.slice(108, 127)).toBe(' '.repeat(19));
    expect(text[127]).toBe('\n');
    expect(c.greeting.salt.length).toBe(32);
    const other = await RawClient.connect(s.port);
    cleanup.push(() => other.close());
    expect(Buffer.from(other.greeting.salt).equals(Buffer.from(c.greeting.salt))).toBe(false);
  });
});

describe('requests through the server', () => {
  it('PING: OK with the empty-map body, sync and schema version echoed', async () => {
    const { s, c } = await setup();
    const reply = await c.roundTrip(request(IprotoType.PING, 77));
    expect(reply.status).toBe(0);
    expect(reply.sync).toBe(77);
    expect(reply.schemaVersion).toBe(s.handler.schemaVersion());
    expect([...reply.bodyBytes]).toEqual([0x80]);
  });

  it('a request without SYNC is answered with sync 0; a 64-bit sync is echoed exactly', async () => {
    const { c } = await setup();
    const noSync = await c.roundTrip(frame(intMap([[0, IprotoType.PING]])));
    expect(noSync.sync).toBe(0);
    const big = 2n ** 64n - 1n;
    const w = new MsgpackWriter();
    w.mapHeader(2);
    w.uint(0);
    w.uint(IprotoType.PING);
    w.uint(1);
    w.bigint(big);
    const reply = await c.roundTrip(frame(w.toBytes()));
    expect(reply.sync).toBe(big);
  });

  it('INSERT, SELECT, REPLACE, UPDATE, UPSERT, DELETE against a memory space', async () => {
    const { s, c } = await setup();
    const space = s.handler.createSpace({ name: 'test' });
    const id = space.id;
    const inserted = await c.roundTrip(
      request(IprotoType.INSERT, 1, [
        [0x10, id],
        [0x21, [1, 'a', 10]],
      ]),
    );
    expect(data(inserted)).toEqual([[1, 'a', 10]]);
    // DATA is always `81 30 dd <u32 count>` (spec §1.7).
    expect([...inserted.bodyBytes.subarray(0, 7)]).toEqual([0x81, 0x30, 0xdd, 0, 0, 0, 1]);
    await c.roundTrip(
      request(IprotoType.INSERT, 2, [
        [0x10, id],
        [0x21, [2, 'b', 20]],
      ]),
    );

    const selected = await c.roundTrip(
      request(IprotoType.SELECT, 3, [
        [0x10, id],
        [0x12, 100],
        [0x20, []],
        [0x14, 2],
      ]),
    );
    expect(data(selected)).toEqual([
      [1, 'a', 10],
      [2, 'b', 20],
    ]);
    const one = await c.roundTrip(
      request(IprotoType.SELECT, 4, [
        [0x10, id],
        [0x12, 1],
        [0x20, [2]],
      ]),
    );
    expect(data(one)).toEqual([[2, 'b', 20]]);

    const replaced = await c.roundTrip(
      request(IprotoType.REPLACE, 5, [
        [0x10, id],
        [0x21, [2, 'B', 21]],
      ]),
    );
    expect(data(replaced)).toEqual([[2, 'B', 21]]);

    // UPDATE ops travel under TUPLE (0x21), fields 0-based by default.
    const updated = await c.roundTrip(
      request(IprotoType.UPDATE, 6, [
        [0x10, id],
        [0x20, [1]],
        [
          0x21,
          [
            ['+', 2, 5],
            ['=', 1, 'z'],
          ],
        ],
      ]),
    );
    expect(data(updated)).toEqual([[1, 'z', 15]]);
    const updatedBase1 = await c.roundTrip(
      request(IprotoType.UPDATE, 7, [
        [0x10, id],
        [0x20, [1]],
        [0x15, 1],
        [0x21, [['+', 3, 1]]],
      ]),
    );
    expect(data(updatedBase1)).toEqual([[1, 'z', 16]]);
    const missing = await c.roundTrip(
      request(IprotoType.UPDATE, 8, [
        [0x10, id],
        [0x20, [99]],
        [0x21, []],
      ]),
    );
    expect(data(missing)).toEqual([]);

    // UPSERT ops travel under OPS (0x28) and it never returns tuples.
    const upserted = await c.roundTrip(
      request(IprotoType.UPSERT, 9, [
        [0x10, id],
        [0x21, [3, 'c', 0]],
        [0x28, [['+', 2, 1]]],
      ]),
    );
    expect(data(upserted)).toEqual([]);
    await c.roundTrip(
      request(IprotoType.UPSERT, 10, [
        [0x10, id],
        [0x21, [3, 'c', 0]],
        [0x28, [['+', 2, 1]]],
      ]),
    );
    const three = await c.roundTrip(
      request(IprotoType.SELECT, 11, [
        [0x10, id],
        [0x12, 1],
        [0x20, [3]],
      ]),
    );
    expect(data(three)).toEqual([[3, 'c', 1]]);

    const deleted = await c.roundTrip(
      request(IprotoType.DELETE, 12, [
        [0x10, id],
        [0x20, [3]],
      ]),
    );
    expect(data(deleted)).toEqual([[3, 'c', 1]]);
    const deletedAgain = await c.roundTrip(
      request(IprotoType.DELETE, 13, [
        [0x10, id],
        [0x20, [3]],
      ]),
    );
    expect(data(deletedAgain)).toEqual([]);
    expect(s.handler.served).toEqual([
      IprotoType.INSERT,
      IprotoType.INSERT,
      IprotoType.SELECT,
      IprotoType.SELECT,
      IprotoType.REPLACE,
      IprotoType.UPDATE,
      IprotoType.UPDATE,
      IprotoType.UPDATE,
      IprotoType.UPSERT,
      IprotoType.UPSERT,
      IprotoType.SELECT,
      IprotoType.DELETE,
      IprotoType.DELETE,
    ]);
  });

  it('a duplicate key is an error reply encoded as Tarantool 2.6 does (spec §1.6)', async () => {
    const { s, c } = await setup();
    const { id } = s.handler.createSpace({ name: 'test' });
    await c.roundTrip(
      request(IprotoType.INSERT, 1, [
        [0x10, id],
        [0x21, [1]],
      ]),
    );
    const reply = await c.roundTrip(
      request(IprotoType.INSERT, 9, [
        [0x10, id],
        [0x21, [1]],
      ]),
    );
    expect(reply.status).toBe(0x8003);
    expect(reply.sync).toBe(9);
    const message = "Duplicate key exists in unique index 'primary' in space 'test'";
    // Body: 82 31 <message> 52 81 00 91 <entry with keys in the order 0,2,1,3,4,5>.
    const b = reply.bodyBytes;
    expect([b[0], b[1]]).toEqual([0x82, 0x31]);
    expect(errorOf(reply)).toMatchObject({ code: 3, message, type: 'ClientError' });
    const entry = errorOf(reply).entry;
    expect([...entry.keys()]).toEqual([0, 2, 1, 3, 4, 5]);
    expect(entry.get(3)).toBe(message);
    expect(entry.get(4)).toBe(0);
    expect(entry.get(5)).toBe(3);
  });

  it('an AccessDeniedError carries its fields under stack key 6', async () => {
    const { s, c } = await setup();
    const { id } = s.handler.createSpace({ name: 'secret', guestAccess: false });
    const reply = await c.roundTrip(
      request(IprotoType.SELECT, 1, [
        [0x10, id],
        [0x12, 1],
        [0x20, []],
      ]),
    );
    const error = errorOf(reply);
    expect(error).toMatchObject({
      code: 42,
      type: 'AccessDeniedError',
      message: "Read access to space 'secret' is denied for user 'guest'",
    });
    expect([...error.entry.keys()]).toEqual([0, 2, 1, 3, 4, 5, 6]);
    expect(error.entry.get(6)).toEqual({
      object_type: 'space',
      object_name: 'secret',
      access_type: 'Read',
    });
    void AccessDeniedError;
  });

  it('CALL returns values as they are; CALL_16 wraps them as tuples (spec §4.9)', async () => {
    const { s, c } = await setup();
    const results: Record<string, readonly unknown[]> = {
      multi: [1, [2, 3], 'x'],
      scalar: [5],
      map: [{ a: 1 }],
      empty: [[]],
      array: [[1, 2]],
      nested: [[[1], [2], 3]],
      none: [],
      tuple: [new RawMsgpack(encode([7, 'raw']))],
      tuples: [[new RawMsgpack(encode([1])), new RawMsgpack(encode([2]))]],
    };
    for (const [name, values] of Object.entries(results))
      s.handler.defineFunction(name, () => values);
    const call = async (type: number, name: string) =>
      data(
        await c.roundTrip(
          request(type, 1, [
            [0x22, name],
            [0x21, []],
          ]),
        ),
      );
    expect(await call(IprotoType.CALL, 'multi')).toEqual([1, [2, 3], 'x']);
    expect(await call(IprotoType.CALL_16, 'multi')).toEqual([[1], [2, 3], ['x']]);
    expect(await call(IprotoType.CALL, 'scalar')).toEqual([5]);
    expect(await call(IprotoType.CALL_16, 'scalar')).toEqual([[5]]);
    expect(await call(IprotoType.CALL, 'map')).toEqual([{ a: 1 }]);
    expect(await call(IprotoType.CALL_16, 'map')).toEqual([[{ a: 1 }]]);
    expect(await call(IprotoType.CALL, 'empty')).toEqual([[]]);
    expect(await call(IprotoType.CALL_16, 'empty')).toEqual([[]]);
    expect(await call(IprotoType.CALL, 'array')).toEqual([[1, 2]]);
    expect(await call(IprotoType.CALL_16, 'array')).toEqual([[1, 2]]);
    expect(await call(IprotoType.CALL, 'nested')).toEqual([[[1], [2], 3]]);
    expect(await call(IprotoType.CALL_16, 'nested')).toEqual([[1], [2], [3]]);
    expect(await call(IprotoType.CALL, 'none')).toEqual([]);
    expect(await call(IprotoType.CALL_16, 'none')).toEqual([]);
    expect(await call(IprotoType.CALL, 'tuple')).toEqual([[7, 'raw']]);
    expect(await call(IprotoType.CALL_16, 'tuple')).toEqual([[7, 'raw']]);
    expect(await call(IprotoType.CALL_16, 'tuples')).toEqual([[1], [2]]);
    const unknown = await c.roundTrip(request(IprotoType.CALL, 2, [[0x22, 'nosuch']]));
    expect(errorOf(unknown)).toMatchObject({
      code: 33,
      message: "Procedure 'nosuch' is not defined",
    });
  });

  it('CALL passes args (absent args are [])', async () => {
    const { s, c } = await setup();
    s.handler.defineFunction('echo', (args) => args);
    expect(
      data(
        await c.roundTrip(
          request(IprotoType.CALL, 1, [
            [0x22, 'echo'],
            [0x21, [1, 'two', null]],
          ]),
        ),
      ),
    ).toEqual([1, 'two', null]);
    expect(data(await c.roundTrip(request(IprotoType.CALL, 2, [[0x22, 'echo']])))).toEqual([]);
  });

  it('EVAL, EXECUTE, PREPARE', async () => {
    const { s, c } = await setup();
    expect(
      data(
        await c.roundTrip(
          request(IprotoType.EVAL, 1, [
            [0x27, 'return ...'],
            [0x21, [5, 'a']],
          ]),
        ),
      ),
    ).toEqual([5, 'a']);
    s.handler.sql.set('SELECT 1', () => ({
      metadata: [{ name: 'COLUMN_1', type: 'integer' }],
      rows: [[1]],
    }));
    s.handler.sql.set('DELETE', () => ({ rowCount: 3 }));
    const rows = await c.roundTrip(
      request(IprotoType.EXECUTE, 2, [
        [0x40, 'SELECT 1'],
        [0x41, []],
      ]),
    );
    expect(rows.body.get(0x32)).toEqual([
      new Map<number, unknown>([
        [0, 'COLUMN_1'],
        [1, 'integer'],
      ]),
    ]);
    expect(rows.body.get(0x30)).toEqual([[1]]);
    const dml = await c.roundTrip(request(IprotoType.EXECUTE, 3, [[0x40, 'DELETE']]));
    expect(dml.body.get(0x42)).toEqual(new Map([[0, 3]]));
    const prepared = await c.roundTrip(request(IprotoType.PREPARE, 4, [[0x40, 'SELECT ?']]));
    expect(prepared.body.get(0x43)).toBe(1);
    expect(prepared.body.get(0x34)).toBe(0);
    const unprepared = await c.roundTrip(request(IprotoType.PREPARE, 5, [[0x43, 1]]));
    expect([...unprepared.bodyBytes]).toEqual([0x80]);
  });

  it('VOTE answers the ballot in 2.6 order; VOTE_DEPRECATED the vclock', async () => {
    const { s, c } = await setup();
    s.handler.vclock = new Vclock([[1, 33]]);
    const vote = await c.roundTrip(request(IprotoType.VOTE, 1));
    expect([...vote.bodyBytes]).toEqual([
      0x81, 0x29, 0x84, 0x01, 0xc2, 0x04, 0xc2, 0x02, 0x81, 0x01, 0x21, 0x03, 0x80,
    ]);
    const deprecated = await c.roundTrip(request(IprotoType.VOTE_DEPRECATED, 2));
    expect(deprecated.body.get(0x26)).toEqual(new Map([[1, 33]]));
  });

  it('answers what the handler lacks: EVAL/SQL/VOTE → ER_UNSUPPORTED, PING → OK', async () => {
    const s = await startServer();
    cleanup.push(() => s.close());
    const bare = s.handler;
    // A handler object without the optional methods.
    const minimal = {
      instanceUuid: () => bare.uuid,
      schemaVersion: () => 1,
      guestUser: () => bare.guestUser(),
      authenticate: bare.authenticate.bind(bare),
      select: bare.select.bind(bare),
      insert: bare.insert.bind(bare),
      replace: bare.replace.bind(bare),
      update: bare.update.bind(bare),
      delete: bare.delete.bind(bare),
      upsert: bare.upsert.bind(bare),
      call: bare.call.bind(bare),
    };
    const { createServer } = await import('../src/server.js');
    const server = createServer<MemoryUser>({ handler: minimal });
    const { port } = await server.listen();
    cleanup.push(() => server.close());
    const c = await RawClient.connect(port);
    cleanup.push(() => c.close());
    expect((await c.roundTrip(request(IprotoType.PING, 1))).status).toBe(0);
    for (const [type, body] of [
      [IprotoType.EVAL, [[0x27, 'return 1']]],
      [IprotoType.EXECUTE, [[0x40, 'SELECT 1']]],
      [IprotoType.PREPARE, [[0x40, 'SELECT 1']]],
      [IprotoType.VOTE, undefined],
      [IprotoType.JOIN, [[0x24, '11111111-1111-1111-1111-111111111111']]],
      [IprotoType.SUBSCRIBE, []],
      [IprotoType.FETCH_SNAPSHOT, undefined],
      [IprotoType.REGISTER, []],
    ] as const) {
      const reply = await c.roundTrip(request(type, 5, body as never));
      expect(reply.status).toBe(0x8000 | ErrorCode.ER_UNSUPPORTED);
      expect(errorOf(reply).message).toMatch(/^tarantype does not support /);
    }
    expect((await c.roundTrip(request(IprotoType.PING, 2))).status).toBe(0);
  });

  it('a handler exception becomes ER_PROC_LUA with its message; the connection stays', async () => {
    const errors: unknown[] = [];
    const { s, c } = await setup({ onHandlerError: (error) => errors.push(error) });
    s.handler.defineFunction('boom', () => {
      throw new TypeError('boom happened');
    });
    s.handler.defineFunction('reject', () => Promise.reject(new Error('async boom')));
    s.handler.defineFunction('unencodable', () => [() => 1]);
    s.handler.defineFunction('string', () => {
      throw 'a string';
    });
    s.handler.defineFunction('badTuple', () => [new RawMsgpack(new Uint8Array([0x01]))]);
    const boom = errorOf(await c.roundTrip(request(IprotoType.CALL, 1, [[0x22, 'boom']])));
    expect(boom).toMatchObject({ code: 32, message: 'boom happened', type: 'ClientError' });
    expect(
      errorOf(await c.roundTrip(request(IprotoType.CALL, 2, [[0x22, 'reject']]))),
    ).toMatchObject({ code: 32, message: 'async boom' });
    expect(
      errorOf(await c.roundTrip(request(IprotoType.CALL, 3, [[0x22, 'unencodable']]))).code,
    ).toBe(32);
    expect(
      errorOf(await c.roundTrip(request(IprotoType.CALL, 4, [[0x22, 'string']]))),
    ).toMatchObject({ code: 32, message: 'a string' });
    // A bad raw value in CALL is copied as is (the handler's responsibility), CALL_16 too: but
    // a bad raw tuple in a DML reply is refused.
    const { id } = s.handler.createSpace({ name: 't' });
    const original = s.handler.insert.bind(s.handler);
    s.handler.insert = () => new Uint8Array([0x01]);
    expect(
      errorOf(
        await c.roundTrip(
          request(IprotoType.INSERT, 5, [
            [0x10, id],
            [0x21, [1]],
          ]),
        ),
      ).code,
    ).toBe(32);
    s.handler.insert = original;
    expect((await c.roundTrip(request(IprotoType.PING, 6))).status).toBe(0);
    expect(errors.length).toBeGreaterThanOrEqual(4);
  });

  it('onConnect and onDisconnect run once per connection', async () => {
    const s = await startServer();
    cleanup.push(() => s.close());
    const events: string[] = [];
    s.handler.onConnect = (session) => {
      events.push(`connect ${session.id}`);
    };
    s.handler.onDisconnect = (session) => {
      events.push(`disconnect ${session.id}`);
    };
    const c = await RawClient.connect(s.port);
    await c.roundTrip(request(IprotoType.PING, 1));
    c.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual(['connect 1', 'disconnect 1']);
  });

  it('an onConnect failure is sent instead of the greeting, then the connection closes', async () => {
    const s = await startServer();
    cleanup.push(() => s.close());
    s.handler.onConnect = () => {
      throw new Error('not today');
    };
    const { connect } = await import('node:net');
    const socket = connect({ host: '127.0.0.1', port: s.port });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => socket.on('close', resolve));
    const all = Buffer.concat(chunks);
    expect(all[0]).toBe(0xce);
    const { parseReply } = await import('./helpers.js');
    expect(errorOf(parseReply(new Uint8Array(all))).message).toBe('not today');
  });

  it('survives handler bugs before the greeting (guestUser, instanceUuid)', async () => {
    const errors: unknown[] = [];
    const s = await startServer({ onHandlerError: (error) => errors.push(error) });
    cleanup.push(() => s.close());
    const { connect: netConnect } = await import('node:net');
    const closedAfterBug = async () => {
      const socket = netConnect({ host: '127.0.0.1', port: s.port });
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.on('close', resolve));
    };
    const guestUser = s.handler.guestUser.bind(s.handler);
    s.handler.guestUser = () => {
      throw new Error('no guest');
    };
    await closedAfterBug();
    s.handler.guestUser = guestUser;
    const instanceUuid = s.handler.instanceUuid.bind(s.handler);
    s.handler.instanceUuid = () => {
      throw new Error('no uuid');
    };
    await closedAfterBug();
    s.handler.instanceUuid = instanceUuid;
    expect(errors.map((e) => (e as Error).message)).toEqual(['no guest', 'no uuid']);
    const c = await RawClient.connect(s.port);
    cleanup.push(() => c.close());
    expect((await c.roundTrip(request(IprotoType.PING, 1))).status).toBe(0);
  });

  it('session ids grow; session.user starts as guest', async () => {
    const { s, c } = await setup();
    s.handler.defineFunction('whoami', (_args, session) => [
      session.user.name,
      session.id,
      session.peer,
    ]);
    const reply = data(await c.roundTrip(request(IprotoType.CALL, 1, [[0x22, 'whoami']])));
    expect(reply[0]).toBe('guest');
    expect(reply[1]).toBe(1);
    expect(reply[2]).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(s.server.sessions.size).toBe(1);
  });
});

describe('replication hook', () => {
  it('takes over the socket for JOIN, reads the peer packets, then hands the connection back', async () => {
    const seen: number[] = [];
    const hook: ReplicationHook<MemoryUser> = {
      async handle(_session, req, channel) {
        seen.push(req.type);
        const body = decode(req.body!) as Map<number, unknown>;
        expect(body.get(0x24)).toBe('11111111-1111-1111-1111-111111111111');
        // Start marker, then wait for one packet from the peer (an "ack"), then the end marker.
        channel.write(
          frame(
            intMap([
              [0, 0],
              [1, req.sync as number],
            ]),
            intMap([[0x26, new Map([[1, 5]])]]),
          ),
        );
        const ack = await channel.readPacket();
        expect(ack).toBeDefined();
        channel.write(
          frame(
            intMap([
              [0, 0],
              [1, req.sync as number],
            ]),
            intMap([[0x26, new Map([[1, 6]])]]),
          ),
        );
      },
    };
    const { c } = await setup({ replication: hook });
    c.write(request(IprotoType.JOIN, 3, [[0x24, '11111111-1111-1111-1111-111111111111']]));
    const start = decodeFrame(await c.rawReply());
    expect(start).toEqual([
      new Map([
        [0, 0],
        [1, 3],
      ]),
      new Map([[0x26, new Map([[1, 5]])]]),
    ]);
    c.write(frame(intMap([[0, 0]]), intMap([[0x26, new Map([[1, 5]])]])));
    const end = decodeFrame(await c.rawReply());
    expect(end[1]).toEqual(new Map([[0x26, new Map([[1, 6]])]]));
    expect(seen).toEqual([IprotoType.JOIN]);
    // After the hook, requests are dispatched again.
    const pong = await c.roundTrip(request(IprotoType.PING, 4));
    expect(pong.sync).toBe(4);
  });

  it('a rejected hook sends an error with the request sync; a closed channel closes the connection', async () => {
    let mode: 'reject' | 'close' = 'reject';
    const hook: ReplicationHook<MemoryUser> = {
      handle(_session, _req, channel) {
        if (mode === 'close') {
          channel.close();
          return;
        }
        throw new Error('no replication today');
      },
    };
    const { c, s } = await setup({ replication: hook });
    const reply = await c.roundTrip(request(IprotoType.SUBSCRIBE, 8, []));
    expect(reply.sync).toBe(8);
    expect(errorOf(reply).message).toBe('no replication today');
    expect((await c.roundTrip(request(IprotoType.PING, 9))).status).toBe(0);
    mode = 'close';
    c.write(request(IprotoType.SUBSCRIBE, 10, []));
    expect(await c.closedWithin(3000)).toBe(true);
    void s;
  });
});
