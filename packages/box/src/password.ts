// chap-sha1 password hashes as Tarantool stores them in _user: base64(sha1(sha1(password))).
// Layer: box. The iproto layer verifies scrambles against this stored value.
import { createHash } from 'node:crypto';

export const CHAP_SHA1 = 'chap-sha1';

export function sha1(data: Uint8Array | string): Buffer {
  return createHash('sha1').update(data).digest();
}

/** The value stored under auth['chap-sha1'] in _user. */
export function chapSha1Hash2(password: string): string {
  return sha1(sha1(password)).toString('base64');
}
