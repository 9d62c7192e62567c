import { ClientError, ErrorCode, encode, UserId } from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import {
  authenticateChapSha1,
  CREDENTIALS_MISMATCH_MESSAGE,
  CredentialsError,
  chapSha1Check,
  chapSha1Hash2,
  chapSha1Hash2Base64,
  chapSha1Scramble,
} from './chap-sha1.js';

const salt = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);

describe('chap-sha1', () => {
  it('hash2 matches the values Tarantool 2.6 stores in _user (spec §3.1)', () => {
    expect(chapSha1Hash2Base64('secret')).toBe('FOZVZ6vbUTXQz9mnCzAywXmknuc=');
    expect(chapSha1Hash2Base64('')).toBe('vhvewKp0tNyweZQ+cFKAlsyphfg=');
  });

  it('a scramble checks against its hash2 and salt only', () => {
    const scramble = chapSha1Scramble('secret', salt);
    expect(scramble.length).toBe(20);
    expect(chapSha1Check(scramble, salt, chapSha1Hash2('secret'))).toBe(true);
    expect(chapSha1Check(scramble, salt, chapSha1Hash2('Secret'))).toBe(false);
    const otherSalt = salt.map((b) => b ^ 1);
    expect(chapSha1Check(scramble, otherSalt, chapSha1Hash2('secret'))).toBe(false);
    // Only the first 20 salt bytes count.
    const tail = Uint8Array.from(salt);
    tail[25] = tail[25]! ^ 0xff;
    expect(chapSha1Check(scramble, tail, chapSha1Hash2('secret'))).toBe(true);
    expect(chapSha1Check(scramble.subarray(0, 19), salt, chapSha1Hash2('secret'))).toBe(false);
  });

  it('utf-8 passwords', () => {
    const scramble = chapSha1Scramble('пароль🔑', salt);
    expect(chapSha1Check(scramble, salt, chapSha1Hash2('пароль🔑'))).toBe(true);
  });
});

describe('authenticateChapSha1 (rules A1–A5)', () => {
  const tester = { id: 32, name: 'tester', hash2: chapSha1Hash2('secret') };
  const guest = { id: UserId.GUEST, name: 'guest', hash2: chapSha1Hash2('') };
  const tuple = (scramble: unknown, mechanism: unknown = 'chap-sha1') =>
    encode([mechanism, scramble]);
  const message = (f: () => void) => {
    try {
      f();
    } catch (error) {
      return (error as ClientError).message;
    }
    return 'ok';
  };

  it('accepts a correct scramble with any mechanism name, as str or bin', () => {
    const scramble = chapSha1Scramble('secret', salt);
    expect(message(() => authenticateChapSha1(tuple(scramble), salt, tester))).toBe('ok');
    expect(message(() => authenticateChapSha1(tuple(scramble, 'md5'), salt, tester))).toBe('ok');
    expect(message(() => authenticateChapSha1(tuple(scramble, 42), salt, tester))).toBe('ok');
    const asStr = new Uint8Array([0x92, 0xa9, ...Buffer.from('chap-sha1'), 0xb4, ...scramble]);
    expect(message(() => authenticateChapSha1(asStr, salt, tester))).toBe('ok');
  });

  it('guest with an empty tuple (A1)', () => {
    expect(message(() => authenticateChapSha1(encode([]), salt, guest))).toBe('ok');
    expect(
      message(() =>
        authenticateChapSha1(encode([]), salt, { ...guest, hash2: new Uint8Array(20) }),
      ),
    ).toBe('ok');
    expect(
      message(() =>
        authenticateChapSha1(encode([]), salt, { ...guest, hash2: chapSha1Hash2('x') }),
      ),
    ).toBe('Invalid MsgPack - authentication request body');
    expect(message(() => authenticateChapSha1(encode([]), salt, tester))).toBe(
      'Invalid MsgPack - authentication request body',
    );
    expect(message(() => authenticateChapSha1(encode([]), salt, undefined))).toBe(
      'Invalid MsgPack - authentication request body',
    );
  });

  it('shape errors before credentials (A2–A4)', () => {
    expect(message(() => authenticateChapSha1(encode(['chap-sha1']), salt, tester))).toBe(
      'Invalid MsgPack - authentication request body',
    );
    expect(message(() => authenticateChapSha1(tuple(7), salt, undefined))).toBe(
      'Invalid MsgPack - authentication scramble',
    );
    expect(message(() => authenticateChapSha1(tuple(new Uint8Array(19)), salt, undefined))).toBe(
      'Invalid MsgPack - invalid scramble size',
    );
    expect(message(() => authenticateChapSha1(tuple('x'.repeat(21)), salt, tester))).toBe(
      'Invalid MsgPack - invalid scramble size',
    );
  });

  it('one CredentialsError for unknown user, no password, wrong password (A5)', () => {
    const wrong = chapSha1Scramble('nope', salt);
    for (const user of [undefined, { ...tester, hash2: undefined }, tester]) {
      let caught: unknown;
      try {
        authenticateChapSha1(tuple(wrong), salt, user);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(CredentialsError);
      expect(caught).toBeInstanceOf(ClientError);
      expect((caught as ClientError).code).toBe(ErrorCode.ER_PASSWORD_MISMATCH);
      expect((caught as ClientError).message).toBe(CREDENTIALS_MISMATCH_MESSAGE);
    }
  });
});
