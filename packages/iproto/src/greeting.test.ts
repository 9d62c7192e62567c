import { ClientError } from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import { decodeGreeting, encodeGreeting, newSalt } from './greeting.js';

const uuid = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';

describe('greeting', () => {
  it('has the observed layout of a real 2.6.0 (spec §2)', () => {
    const salt = new Uint8Array(
      Buffer.from('TMyeRceKpYyWlIdNKlm77WPSA4g8s1BWTFcZl6K0lm0=', 'base64'),
    );
    const text = Buffer.from(encodeGreeting(uuid, salt)).toString('latin1');
    expect(text).toBe(
      `Tarantool 2.6.0 (Binary) ${uuid}  \n` +
        `TMyeRceKpYyWlIdNKlm77WPSA4g8s1BWTFcZl6K0lm0=${' '.repeat(19)}\n`,
    );
  });

  it('round-trips', () => {
    const salt = newSalt();
    const greeting = decodeGreeting(encodeGreeting(uuid, salt));
    expect(greeting).toEqual({
      version: '2.6.0',
      versionId: 0x020600,
      protocol: 'Binary',
      instanceUuid: uuid,
      salt,
    });
  });

  it('parses versions with a suffix and greetings without a UUID', () => {
    const line1 = 'Tarantool 1.6.6-123-gabc (Binary)'.padEnd(63, ' ');
    const line2 = Buffer.from(new Uint8Array(20)).toString('base64').padEnd(63, ' ');
    const greeting = decodeGreeting(new Uint8Array(Buffer.from(`${line1}\n${line2}\n`, 'latin1')));
    expect(greeting.version).toBe('1.6.6');
    expect(greeting.instanceUuid).toBeUndefined();
  });

  it('rejects what is not a greeting', () => {
    const good = Buffer.from(encodeGreeting(uuid, newSalt()));
    const bad = (mutate: (b: Buffer) => void) => {
      const copy = Buffer.from(good);
      mutate(copy);
      return () => decodeGreeting(new Uint8Array(copy));
    };
    expect(bad((b) => (b[63] = 0x20))).toThrow(ClientError);
    expect(bad((b) => b.write('Redis', 0))).toThrow(ClientError);
    expect(bad((b) => b.write('AAAA'.padEnd(63, ' '), 64))).toThrow(/salt/);
    expect(() => decodeGreeting(new Uint8Array(100))).toThrow(ClientError);
  });
});
