// --config FILE.yaml: any box.cfg option at the top level, plus Tarantool 3 style declarative
// credentials applied idempotently at startup (after the --init module, so it may grant on
// spaces and functions the module creates). A function the init module registers is not in
// _func (as a global Lua function of a Tarantool instance file is not), so a grant on it
// first creates its _func entry (box.schema.func.create), as a Tarantool user would.
// Layer: apps/server.
//
//   listen: 3301
//   wal_mode: write
//   http: 127.0.0.1:8081        (the HTTP endpoint: /metrics, /health; read at start only)
//   credentials:
//     users:
//       alice:
//         password: secret
//         roles: [super]
//         privileges:
//           - permissions: [read, write]
//             spaces: [tester]
//           - permissions: [execute]
//             universe: true
import { readFileSync } from 'node:fs';
import type { Box } from '@tarantype/box';
import type { Logger } from '@tarantype/wal';
import { parse } from 'yaml';

export interface PrivilegeConfig {
  readonly permissions: readonly string[];
  readonly universe?: boolean;
  readonly spaces?: readonly string[];
  readonly functions?: readonly string[];
}

export interface UserConfig {
  readonly password?: string;
  readonly roles?: readonly string[];
  readonly privileges?: readonly PrivilegeConfig[];
}

export interface CredentialsConfig {
  readonly users?: Readonly<Record<string, UserConfig>>;
  readonly roles?: Readonly<Record<string, Omit<UserConfig, 'password'>>>;
}

export interface FileConfig {
  readonly cfg: Record<string, unknown>;
  readonly credentials: CredentialsConfig | undefined;
  /** `http:` (a port or host:port): the HTTP endpoint, not a box.cfg option (http/server.ts). */
  readonly http: unknown;
}

/** Reads and checks the file; throws one line (the file, and what is wrong in it). */
export function loadConfigFile(path: string): FileConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      `cannot read config ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (error as Error).message}`,
    );
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    // The yaml package's message is "<what> at line L, column C:" and then the excerpt.
    const first = (error as Error).message.split('\n')[0]?.replace(/:$/, '');
    throw new Error(`config ${path}: invalid YAML: ${first}`);
  }
  if (document === null || document === undefined)
    return { cfg: {}, credentials: undefined, http: undefined };
  if (typeof document !== 'object' || Array.isArray(document))
    throw new Error(`config ${path}: expected a map of options`);
  const { credentials, http, ...cfg } = document as Record<string, unknown>;
  if (credentials !== undefined && credentials !== null)
    checkCredentials(credentials, `config ${path}: credentials`);
  return {
    cfg,
    credentials: (credentials ?? undefined) as CredentialsConfig | undefined,
    http: http ?? undefined,
  };
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): boolean {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

const PERMISSIONS = new Set([
  'read',
  'write',
  'execute',
  'session',
  'usage',
  'create',
  'drop',
  'alter',
  'reference',
  'trigger',
  'insert',
  'update',
  'delete',
]);

/** The shape of `credentials` (users/roles → password, roles, privileges); throws where not. */
function checkCredentials(credentials: unknown, where: string): void {
  if (!isMap(credentials)) throw new Error(`${where}: expected a map with users and roles`);
  for (const key of Object.keys(credentials))
    if (key !== 'users' && key !== 'roles')
      throw new Error(`${where}: unexpected key '${key}' (users or roles)`);
  for (const kind of ['users', 'roles'] as const) {
    const entries = credentials[kind];
    if (entries === undefined || entries === null) continue;
    if (!isMap(entries)) throw new Error(`${where}.${kind}: expected a map of names`);
    for (const [name, entry] of Object.entries(entries)) {
      const at = `${where}.${kind}.${name}`;
      if (entry === null) continue;
      if (!isMap(entry)) throw new Error(`${at}: expected a map`);
      for (const key of Object.keys(entry))
        if (!['roles', 'privileges', ...(kind === 'users' ? ['password'] : [])].includes(key))
          throw new Error(`${at}: unexpected key '${key}'`);
      if (entry.password !== undefined && typeof entry.password !== 'string')
        throw new Error(`${at}.password: expected a string`);
      if (entry.roles !== undefined && !isStringList(entry.roles))
        throw new Error(`${at}.roles: expected a list of role names`);
      if (entry.privileges === undefined) continue;
      if (!Array.isArray(entry.privileges)) throw new Error(`${at}.privileges: expected a list`);
      for (const [i, privilege] of entry.privileges.entries()) {
        const p = `${at}.privileges[${i}]`;
        if (!isMap(privilege) || !isStringList(privilege.permissions))
          throw new Error(`${p}: expected permissions: [read, write, …]`);
        for (const permission of privilege.permissions as string[])
          if (!PERMISSIONS.has(permission))
            throw new Error(`${p}: unknown permission '${permission}'`);
        for (const key of Object.keys(privilege))
          if (!['permissions', 'universe', 'spaces', 'functions'].includes(key))
            throw new Error(`${p}: unexpected key '${key}' (universe, spaces or functions)`);
        if (privilege.universe !== undefined && typeof privilege.universe !== 'boolean')
          throw new Error(`${p}.universe: expected true or false`);
        for (const key of ['spaces', 'functions'])
          if (privilege[key] !== undefined && !isStringList(privilege[key]))
            throw new Error(`${p}.${key}: expected a list of names`);
      }
    }
  }
}

/**
 * Creates the users and roles, sets passwords and grants roles and privileges that are not
 * there yet. Never revokes. Returns what it changed (for the log).
 */
export async function applyCredentials(
  box: Box,
  credentials: CredentialsConfig,
  logger: Logger,
  functions?: { get(name: string): unknown },
): Promise<string[]> {
  const changes: string[] = [];
  for (const [name, role] of Object.entries(credentials.roles ?? {})) {
    if (!box.schema.role.exists(name)) {
      await box.schema.role.create(name);
      changes.push(`created role ${name}`);
    }
    await grantAll(box, name, role, logger, changes, functions);
  }
  for (const [name, user] of Object.entries(credentials.users ?? {})) {
    if (!box.schema.user.exists(name)) {
      await box.schema.user.create(
        name,
        user.password === undefined ? {} : { password: user.password },
      );
      changes.push(`created user ${name}`);
    } else if (user.password !== undefined && name !== 'guest') {
      const { chapSha1Hash2 } = await import('@tarantype/box');
      if (box.catalog.access.userByName(name)?.chapSha1 !== chapSha1Hash2(user.password)) {
        await box.schema.user.passwd(name, user.password);
        changes.push(`changed the password of ${name}`);
      }
    }
    await grantAll(box, name, user, logger, changes, functions);
  }
  return changes;
}

async function grantAll(
  box: Box,
  name: string,
  config: Omit<UserConfig, 'password'>,
  logger: Logger,
  changes: string[],
  functions: { get(name: string): unknown } | undefined,
): Promise<void> {
  for (const role of config.roles ?? []) {
    const before = box.catalog.access.rolesOf(box.catalog.access.userByName(name)!.id).size;
    await box.schema.user.grant(name, role, undefined, undefined, { if_not_exists: true });
    if (box.catalog.access.rolesOf(box.catalog.access.userByName(name)!.id).size !== before)
      changes.push(`granted role ${role} to ${name}`);
  }
  for (const privilege of config.privileges ?? []) {
    const permissions = privilege.permissions.join(',');
    const targets: Array<[string, string | undefined]> = [];
    if (privilege.universe === true) targets.push(['universe', undefined]);
    for (const space of privilege.spaces ?? []) targets.push(['space', space]);
    for (const func of privilege.functions ?? []) {
      targets.push(['function', func]);
      if (box.catalog.funcs.get(func) === undefined && functions?.get(func) !== undefined) {
        await box.schema.func.create(func, { if_not_exists: true });
        changes.push(`created function ${func}`);
      }
    }
    for (const [type, object] of targets) {
      try {
        await box.schema.user.grant(name, permissions, type, object, { if_not_exists: true });
      } catch (error) {
        logger.warn(
          `credentials: cannot grant ${permissions} on ${type}${object === undefined ? '' : ` '${object}'`} to ${name}: ${(error as Error).message}`,
        );
      }
    }
  }
}
