// chap-sha1, Tarantool's only authentication mechanism in 2.6 (PROTOCOL.md §3). Layer: iproto.
//
//   client:  scramble = SHA1(password) XOR SHA1(salt[0..20) ‖ SHA1(SHA1(password)))
//   server:  stores hash2 = SHA1(SHA1(password)) (base64 in _user: {"chap-sha1": "..."});
//            accepts iff SHA1(SHA1(salt[0..20) ‖ hash2) XOR scramble) == hash2
//
// The server never sees the password and the scramble is useless with another salt.
// `authenticateChapSha1` applies the request-shape rules and the check in an order that does not
// tell an unknown user from a wrong password (rules A1–A6 in PROTOCOL.md): box calls it after
// looking the user up, then checks the Session privilege.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ClientError, ErrorCode, MsgpackReader, UserId } from '@tarantype/core';
import { SCRAMBLE_SIZE } from './limits.js';

/** The text Tarantool ≥ 2.11 gives code 47 (ER_CREDS_MISMATCH); see CredentialsError. */
export const CREDENTIALS_MISMATCH_MESSAGE = 'User not found or supplied credentials are invalid';

/**
 * The one error every failed credential check gets (unknown user, user without a password,
 * wrong password). Code 47 as in 2.6 (ER_PASSWORD_MISMATCH), with the later, uniform text of
 * ER_CREDS_MISMATCH instead of 2.6's "Incorrect password supplied for user '%s'", which named
 * the user and was paired with ER_NO_SUCH_USER for unknown ones (an oracle for valid names).
 * Clients (tarantool-driver, net.box) only display the text.
 */
export class CredentialsError extends ClientError {
  constructor() {
    super(ErrorCode.ER_PASSWORD_MISMATCH);
    this.message = CREDENTIALS_MISMATCH_MESSAGE;
  }
}

function sha1(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha1');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

const utf8 = new TextEncoder();

/** hash2 = SHA1(SHA1(password)), what a server stores. */
export function chapSha1Hash2(password: string): Uint8Array {
  return sha1(sha1(utf8.encode(password)));
}

/** base64(hash2): the value of `_user.auth["chap-sha1"]`. */
export function chapSha1Hash2Base64(password: string): string {
  return Buffer.from(chapSha1Hash2(password)).toString('base64');
}

/** The 20-byte scramble a client sends for `password` and the greeting's salt. */
export function chapSha1Scramble(password: string, salt: Uint8Array): Uint8Array {
  const hash1 = sha1(utf8.encode(password));
  const hash2 = sha1(hash1);
  const hash3 = sha1(salt.subarray(0, SCRAMBLE_SIZE), hash2);
  const scramble = new Uint8Array(SCRAMBLE_SIZE);
  for (let i = 0; i < SCRAMBLE_SIZE; i++) scramble[i] = hash1[i]! ^ hash3[i]!;
  return scramble;
}

/** True iff `scramble` proves knowledge of the password whose hash2 is stored. */
export function chapSha1Check(scramble: Uint8Array, salt: Uint8Array, hash2: Uint8Array): boolean {
  if (scramble.length !== SCRAMBLE_SIZE || hash2.length !== SCRAMBLE_SIZE) return false;
  const mask = sha1(salt.subarray(0, SCRAMBLE_SIZE), hash2);
  const candidate = new Uint8Array(SCRAMBLE_SIZE);
  for (let i = 0; i < SCRAMBLE_SIZE; i++) candidate[i] = mask[i]! ^ scramble[i]!;
  return timingSafeEqual(sha1(candidate), hash2);
}

/** What authentication needs to know about a stored user. */
export interface ChapSha1User {
  readonly id: number;
  readonly name: string;
  /** SHA1(SHA1(password)), or undefined for a user without a password (auth = {}). */
  readonly hash2: Uint8Array | undefined;
}

const ZERO_HASH = new Uint8Array(SCRAMBLE_SIZE);
const EMPTY_PASSWORD_HASH2 = chapSha1Hash2('');

function invalidMsgpack(what: string): ClientError {
  return new ClientError(ErrorCode.ER_INVALID_MSGPACK, what);
}

/**
 * Checks an AUTH request's tuple (`[mechanism, scramble]`, raw MessagePack) for `user`
 * (undefined = no such user). Returns normally on success, throws ClientError otherwise:
 *   A1 empty tuple: succeeds for guest whose password is empty or unset (how pools "log
 *      out"); for anyone else "Invalid MsgPack - authentication request body";
 *   A2 fewer than 2 parts → "authentication request body"; the mechanism is not checked;
 *   A3 scramble neither str nor bin → "authentication scramble";
 *   A4 scramble not 20 bytes → "invalid scramble size";
 *   A5 unknown user, user without password, wrong scramble → CredentialsError.
 * Shape errors come before the user is consulted, so no answer depends on whether it exists.
 */
export function authenticateChapSha1(
  tuple: Uint8Array,
  salt: Uint8Array,
  user: ChapSha1User | undefined,
): void {
  const reader = new MsgpackReader(tuple);
  const partCount = reader.readArrayHeader();
  if (partCount === 0) {
    if (user !== undefined && user.id === UserId.GUEST && isEmptyPassword(user.hash2)) return;
    throw invalidMsgpack('authentication request body');
  }
  if (partCount < 2) throw invalidMsgpack('authentication request body');
  reader.skip();
  const t = reader.peek();
  const isStr = (t & 0xe0) === 0xa0 || t === 0xd9 || t === 0xda || t === 0xdb;
  const isBin = t === 0xc4 || t === 0xc5 || t === 0xc6;
  if (!isStr && !isBin) throw invalidMsgpack('authentication scramble');
  const scramble = reader.readStrOrBinBytes();
  if (scramble.length !== SCRAMBLE_SIZE) throw invalidMsgpack('invalid scramble size');
  if (
    user === undefined ||
    user.hash2 === undefined ||
    !chapSha1Check(scramble, salt, user.hash2)
  ) {
    throw new CredentialsError();
  }
}

function isEmptyPassword(hash2: Uint8Array | undefined): boolean {
  if (hash2 === undefined) return true;
  return Buffer.from(hash2).equals(ZERO_HASH) || Buffer.from(hash2).equals(EMPTY_PASSWORD_HASH2);
}
