// UUID text helpers: instance and replica set ids travel as 36-character strings (§5, pitfall 10).
import { randomUUID } from 'node:crypto';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(text: string): boolean {
  return UUID_PATTERN.test(text);
}

/** A new random (version 4) UUID in lowercase text form. */
export function newUuid(): string {
  return randomUUID();
}

export const NIL_UUID = '00000000-0000-0000-0000-000000000000';
