// The 128-byte greeting a server writes on accept (PROTOCOL.md §2). Layer: iproto, no I/O.
//
//   bytes 0..63    "Tarantool <major>.<minor>.<patch> (Binary) <instance uuid>", spaces, '\n' at 63
//   bytes 64..127  base64(32-byte salt) (44 chars), spaces, '\n' at 127
//
// The salt is per connection and random (CSPRNG); chap-sha1 uses its first 20 bytes. The
// parser follows Tarantool's greeting_decode: it is what our client uses on real Tarantool too.
import { randomBytes } from 'node:crypto';
import { ClientError, ErrorCode, TARANTOOL_VERSION } from '@tarantype/core';
import { GREETING_SIZE, SALT_SIZE, SCRAMBLE_SIZE } from './limits.js';

const LINE_SIZE = GREETING_SIZE / 2;

export interface Greeting {
  /** "major.minor.patch" of the server. */
  readonly version: string;
  /** (major << 16) | (minor << 8) | patch, as Tarantool's version_id(). */
  readonly versionId: number;
  /** "Binary" for iproto. */
  readonly protocol: string;
  /** The server's instance UUID (absent before 1.6.7). */
  readonly instanceUuid: string | undefined;
  /** Decoded salt (32 bytes from Tarantool and from us). */
  readonly salt: Uint8Array;
}

/** A fresh random salt for one connection. */
export function newSalt(): Uint8Array {
  return new Uint8Array(randomBytes(SALT_SIZE));
}

/** The 128 greeting bytes. */
export function encodeGreeting(
  instanceUuid: string,
  salt: Uint8Array,
  version: string = TARANTOOL_VERSION,
): Uint8Array {
  const line1 = `Tarantool ${version} (Binary) ${instanceUuid}`;
  const line2 = Buffer.from(salt).toString('base64');
  if (line1.length > LINE_SIZE - 1 || line2.length > LINE_SIZE - 1) {
    throw new RangeError('greeting line longer than 63 bytes');
  }
  const out = Buffer.alloc(GREETING_SIZE, 0x20);
  out.write(line1, 0, 'latin1');
  out[LINE_SIZE - 1] = 0x0a;
  out.write(line2, LINE_SIZE, 'latin1');
  out[GREETING_SIZE - 1] = 0x0a;
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

function invalidGreeting(what: string): ClientError {
  return new ClientError(ErrorCode.ER_PROTOCOL, `Invalid greeting: ${what}`);
}

/** Parses a greeting; throws ClientError(ER_PROTOCOL) if it is not one. */
export function decodeGreeting(bytes: Uint8Array): Greeting {
  if (bytes.length < GREETING_SIZE) throw invalidGreeting('shorter than 128 bytes');
  if (bytes[LINE_SIZE - 1] !== 0x0a || bytes[GREETING_SIZE - 1] !== 0x0a)
    throw invalidGreeting('no line ends');
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, GREETING_SIZE);
  const line1 = buffer.toString('latin1', 0, LINE_SIZE - 1).trimEnd();
  const match = /^Tarantool (\d+)\.(\d+)\.(\d+)[^ ]* \(([^)]+)\)(?: ([0-9a-fA-F-]{36}))?/.exec(
    line1,
  );
  if (match === null) throw invalidGreeting(`unexpected first line '${line1}'`);
  const [major, minor, patch] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const saltText = buffer.toString('latin1', LINE_SIZE, GREETING_SIZE - 1).trim();
  const salt = new Uint8Array(Buffer.from(saltText, 'base64'));
  if (salt.length < SCRAMBLE_SIZE) throw invalidGreeting('salt shorter than 20 bytes');
  return {
    version: `${major}.${minor}.${patch}`,
    versionId: (major << 16) | (minor << 8) | patch,
    protocol: match[4]!,
    instanceUuid: match[5],
    salt,
  };
}
