// AUTH over a real socket: chap-sha1 success (scramble as str or bin, any mechanism name),
// guest log-out, users without password, and uniform, delayed failures (rules A1–A6).
import { ErrorCode, IprotoType, MsgpackWriter } from '@tarantype/core';
import { afterEach, describe, expect, it } from 'vitest';
import { CREDENTIALS_MISMATCH_MESSAGE, chapSha1Scramble } from '../src/chap-sha1.js';
import {
  data,
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
  s.handler.createUser('tester', 'secret');
  s.handler.createUser('nopass');
  s.handler.defineFunction('whoami', (_args, session) => [session.user.name]);
  const c = await RawClient.connect(s.port);
  cleanup.push(() => c.close());
  return { s, c };
}

/** An AUTH frame with the scramble written as MP_STR (tarantool-driver) or MP_BIN (net.box). */
function auth(
  sync: number,
  user: string,
  scramble: Uint8Array,
  as: 'str' | 'bin',
  mechanism = 'chap-sha1',
): Uint8Array {
  const w = new MsgpackWriter();
  w.mapHeader(2);
  w.uint(0x23);
  w.str(user);
  w.uint(0x21);
  w.arrayHeader(2);
  w.str(mechanism);
  if (as === 'bin') w.bin(scramble);
  else {
    w.strHeader(scramble.length);
    w.raw(scramble);
  }
  return frame(
    intMap([
      [0, IprotoType.AUTH],
      [1, sync],
    ]),
    w.toBytes(),
  );
}

async function whoami(c: RawClient): Promise<string> {
  return data(await c.roundTrip(request(IprotoType.CALL, 500, [[0x22, 'whoami']])))[0] as string;
}

describe('AUTH', () => {
  it('succeeds with the scramble as MP_STR or MP_BIN and any mechanism name', async () => {
    const { c } = await setup();
    const scramble = chapSha1Scramble('secret', c.greeting.salt);
    for (const [as, mechanism] of [
      ['str', 'chap-sha1'],
      ['bin', 'chap-sha1'],
      ['bin', 'whatever'],
    ] as const) {
      const reply = await c.roundTrip(auth(1, 'tester', scramble, as, mechanism));
      expect(reply.status).toBe(0);
      expect([...reply.bodyBytes]).toEqual([0x80]);
      expect(await whoami(c)).toBe('tester');
    }
  });

  it('guest with an empty tuple succeeds ("log out"); AUTH can be repeated', async () => {
    const { c } = await setup();
    await c.roundTrip(auth(1, 'tester', chapSha1Scramble('secret', c.greeting.salt), 'bin'));
    expect(await whoami(c)).toBe('tester');
    const reply = await c.roundTrip(
      request(IprotoType.AUTH, 2, [
        [0x23, 'guest'],
        [0x21, []],
      ]),
    );
    expect(reply.status).toBe(0);
    expect(await whoami(c)).toBe('guest');
  });

  it('unknown user, wrong password and passwordless user give one error, equally delayed', async () => {
    const delay = 150;
    const { c } = await setup({ authFailureDelayMs: delay });
    const attempts = [
      ['nobody', chapSha1Scramble('secret', c.greeting.salt)],
      ['tester', chapSha1Scramble('wrong', c.greeting.salt)],
      ['nopass', chapSha1Scramble('', c.greeting.salt)],
      ['admin', chapSha1Scramble('', c.greeting.salt)],
    ] as const;
    const replies: Array<{ message: string; code: number; ms: number }> = [];
    for (const [user, scramble] of attempts) {
      const started = Date.now();
      const reply = await c.roundTrip(auth(3, user, scramble, 'str'));
      const error = errorOf(reply);
      replies.push({ message: error.message, code: error.code, ms: Date.now() - started });
      expect(reply.sync).toBe(3);
      expect(error.type).toBe('ClientError');
    }
    for (const reply of replies) {
      expect(reply.code).toBe(ErrorCode.ER_PASSWORD_MISMATCH);
      expect(reply.message).toBe(CREDENTIALS_MISMATCH_MESSAGE);
      expect(reply.ms).toBeGreaterThanOrEqual(delay - 5);
    }
    // A failed AUTH leaves the session's user unchanged.
    expect(await whoami(c)).toBe('guest');
  });

  it('shape errors: empty tuple for a non-guest, short tuple, bad scramble type or size', async () => {
    const { c } = await setup();
    const body = (tuple: unknown[]) =>
      request(IprotoType.AUTH, 4, [
        [0x23, 'tester'],
        [0x21, tuple],
      ]);
    const message = async (packet: Uint8Array) => errorOf(await c.roundTrip(packet)).message;
    expect(await message(body([]))).toBe('Invalid MsgPack - authentication request body');
    expect(
      await message(
        request(IprotoType.AUTH, 4, [
          [0x23, 'nobody'],
          [0x21, []],
        ]),
      ),
    ).toBe('Invalid MsgPack - authentication request body');
    expect(await message(body(['chap-sha1']))).toBe(
      'Invalid MsgPack - authentication request body',
    );
    expect(await message(body(['chap-sha1', 12345]))).toBe(
      'Invalid MsgPack - authentication scramble',
    );
    expect(await message(body(['chap-sha1', 'short']))).toBe(
      'Invalid MsgPack - invalid scramble size',
    );
    expect(await whoami(c)).toBe('guest');
  });

  it('the scramble is bound to the connection salt', async () => {
    const { s, c } = await setup();
    const other = await RawClient.connect(s.port);
    cleanup.push(() => other.close());
    const replayed = chapSha1Scramble('secret', other.greeting.salt);
    expect(errorOf(await c.roundTrip(auth(5, 'tester', replayed, 'bin'))).message).toBe(
      CREDENTIALS_MISMATCH_MESSAGE,
    );
  });

  it('failures from the handler other than credentials pass through (e.g. ER_LOADING)', async () => {
    const { s, c } = await setup();
    const { ClientError } = await import('@tarantype/core');
    s.handler.authenticate = () => {
      throw new ClientError(ErrorCode.ER_LOADING);
    };
    const error = errorOf(
      await c.roundTrip(auth(6, 'tester', chapSha1Scramble('secret', c.greeting.salt), 'bin')),
    );
    expect(error.code).toBe(ErrorCode.ER_LOADING);
    expect(error.message).toBe("Instance bootstrap hasn't finished yet");
  });
});
