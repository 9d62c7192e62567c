// Users, roles and privileges as Tarantool 2.6 keeps them in _user and _priv (spec §6.2), and
// the access checks made on every request of a session. Layer: box.
// The cache here is rebuilt from the system spaces' triggers (alter.ts), so it is the same
// after recovery and on replicas. Effective access = the user's own grants plus those of every
// role granted to it, transitively (roles are _priv rows with object_type 'role'). Universe
// grants apply to every object; the owner of a space has every privilege on it.
import { AccessDeniedError, ClientError, ErrorCode, Privilege, UserId } from '@tarantype/core';

export interface UserDef {
  readonly id: number;
  readonly owner: number;
  readonly name: string;
  readonly type: 'user' | 'role';
  /** Stored chap-sha1 hash2 (base64), when the user has a password. */
  readonly chapSha1?: string;
}

export interface PrivRow {
  readonly grantor: number;
  readonly grantee: number;
  readonly objectType: string;
  readonly objectId: number | string;
  readonly privilege: number;
}

export const PRIVILEGE_NAMES: ReadonlyArray<readonly [number, string]> = [
  [Privilege.READ, 'Read'],
  [Privilege.WRITE, 'Write'],
  [Privilege.EXECUTE, 'Execute'],
  [Privilege.SESSION, 'Session'],
  [Privilege.USAGE, 'Usage'],
  [Privilege.CREATE, 'Create'],
  [Privilege.DROP, 'Drop'],
  [Privilege.ALTER, 'Alter'],
  [Privilege.REFERENCE, 'Reference'],
  [Privilege.TRIGGER, 'Trigger'],
  [Privilege.INSERT, 'Insert'],
  [Privilege.UPDATE, 'Update'],
  [Privilege.DELETE, 'Delete'],
  [Privilege.GRANT, 'Grant'],
  [Privilege.REVOKE, 'Revoke'],
];

/** "Read", "Write" … of the lowest bit of `bits` (for ER_ACCESS_DENIED). */
export function accessName(bits: number): string {
  for (const [bit, name] of PRIVILEGE_NAMES) if ((bits & bit) !== 0) return name;
  return 'Unknown';
}

/** Parses Tarantool's privilege list "read,write" / "read, write, execute" / "all" into bits. */
export function parsePrivileges(text: string): number {
  let bits = 0;
  for (const raw of text.split(',')) {
    const word = raw.trim().toLowerCase();
    if (word === '') continue;
    if (word === 'all') {
      bits |= Privilege.ALL;
      continue;
    }
    const found = PRIVILEGE_NAMES.find(([, name]) => name.toLowerCase() === word);
    if (found === undefined) throw new ClientError(ErrorCode.ER_UNSUPPORTED_PRIV, 'universe', word);
    bits |= found[0];
  }
  if (bits === 0) throw new ClientError(ErrorCode.ER_GRANT, 'empty privilege list');
  return bits >>> 0;
}

/** Lowercase names of the bits, as ER_PRIV_GRANTED texts print them ("read,write"). */
export function privilegeText(bits: number): string {
  return PRIVILEGE_NAMES.filter(([bit]) => (bits & bit) !== 0)
    .map(([, name]) => name.toLowerCase())
    .join(',');
}

export class AccessControl {
  readonly users = new Map<number, UserDef>();
  private readonly byName = new Map<string, UserDef>();
  private readonly privs = new Map<string, PrivRow>();
  /** Effective grants per user id, recomputed lazily after any change. */
  private effective = new Map<number, Map<string, number>>();
  /** Universe bits per user id (cleared whenever `effective` is). */
  private universeCache = new Map<number, number>();

  static privKey(grantee: number, objectType: string, objectId: number | string): string {
    return `${grantee}\u0000${objectType}\u0000${objectId}`;
  }

  userByName(name: string): UserDef | undefined {
    return this.byName.get(name);
  }

  privRow(grantee: number, objectType: string, objectId: number | string): PrivRow | undefined {
    return this.privs.get(AccessControl.privKey(grantee, objectType, objectId));
  }

  privRows(): Iterable<PrivRow> {
    return this.privs.values();
  }

  /** _user trigger: a row was inserted, replaced or deleted. */
  replaceUser(old: UserDef | undefined, next: UserDef | undefined): void {
    if (old !== undefined) {
      this.users.delete(old.id);
      this.byName.delete(old.name);
    }
    if (next !== undefined) {
      this.users.set(next.id, next);
      this.byName.set(next.name, next);
    }
    this.effective = new Map();
    this.universeCache = new Map();
  }

  /** _priv trigger. */
  replacePriv(old: PrivRow | undefined, next: PrivRow | undefined): void {
    if (old !== undefined)
      this.privs.delete(AccessControl.privKey(old.grantee, old.objectType, old.objectId));
    if (next !== undefined)
      this.privs.set(AccessControl.privKey(next.grantee, next.objectType, next.objectId), next);
    this.effective = new Map();
    this.universeCache = new Map();
  }

  /** Roles granted to `userId`, transitively (cycle-safe). */
  rolesOf(userId: number): Set<number> {
    const roles = new Set<number>();
    const stack = [userId];
    while (stack.length > 0) {
      const id = stack.pop()!;
      for (const row of this.privs.values()) {
        if (row.grantee !== id || row.objectType !== 'role') continue;
        const role = Number(row.objectId);
        if (!roles.has(role) && role !== userId) {
          roles.add(role);
          stack.push(role);
        }
      }
    }
    return roles;
  }

  /** Privilege bits `userId` holds on an object, counting universe grants and roles. */
  granted(userId: number, objectType: string, objectId: number | string): number {
    if (userId === UserId.ADMIN) return Privilege.ALL;
    let table = this.effective.get(userId);
    if (table === undefined) {
      table = new Map();
      const ids = [userId, ...this.rolesOf(userId)];
      for (const row of this.privs.values()) {
        if (!ids.includes(row.grantee)) continue;
        const key = `${row.objectType}\u0000${row.objectId}`;
        table.set(key, (table.get(key) ?? 0) | row.privilege);
      }
      this.effective.set(userId, table);
    }
    const universe = table.get('universe\u00000') ?? 0;
    if (objectType === 'universe') return universe >>> 0;
    return (universe | (table.get(`${objectType}\u0000${objectId}`) ?? 0)) >>> 0;
  }

  userName(userId: number): string {
    return this.users.get(userId)?.name ?? String(userId);
  }

  /** Throws AccessDeniedError unless `userId` has all of `bits` on the object. */
  check(
    userId: number,
    bits: number,
    objectType: string,
    objectId: number | string,
    objectName: string,
    ownerId?: number,
  ): void {
    if (userId === UserId.ADMIN) return;
    if (ownerId !== undefined && ownerId === userId) return;
    // Fast path for the request path: universe grants (cached per user) often cover it.
    let universe = this.universeCache.get(userId);
    if (universe === undefined) {
      universe = this.granted(userId, 'universe', 0);
      this.universeCache.set(userId, universe);
    }
    if ((universe & bits) >>> 0 === bits >>> 0) return;
    const have = this.granted(userId, objectType, objectId);
    const missing = bits & ~have;
    if (missing !== 0)
      throw new AccessDeniedError(
        accessName(missing),
        objectType,
        objectName,
        this.userName(userId),
      );
  }

  /** Session + Usage on universe: what AUTH and every request require (2.6). */
  checkSession(userId: number): void {
    if (userId === UserId.ADMIN) return;
    const universe = this.granted(userId, 'universe', 0);
    for (const bit of [Privilege.SESSION, Privilege.USAGE]) {
      if ((universe & bit) === 0)
        throw new AccessDeniedError(accessName(bit), 'universe', '', this.userName(userId));
    }
  }
}
