// --config FILE.yaml: any box.cfg option at the top level, plus Tarantool 3 style declarative
// credentials applied idempotently at startup (after the --init module, so it may grant on
// spaces the module creates). Layer: apps/server.
//
//   listen: 3301
//   wal_mode: write
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
}

export function loadConfigFile(path: string): FileConfig {
  let document: unknown;
  try {
    document = parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read config ${path}: ${(error as Error).message}`);
  }
  if (document === null || document === undefined) return { cfg: {}, credentials: undefined };
  if (typeof document !== 'object' || Array.isArray(document))
    throw new Error(`config ${path}: expected a map of options`);
  const { credentials, ...cfg } = document as Record<string, unknown>;
  return { cfg, credentials: credentials as CredentialsConfig | undefined };
}

/**
 * Creates the users and roles, sets passwords and grants roles and privileges that are not
 * there yet. Never revokes. Returns what it changed (for the log).
 */
export async function applyCredentials(
  box: Box,
  credentials: CredentialsConfig,
  logger: Logger,
): Promise<string[]> {
  const changes: string[] = [];
  for (const [name, role] of Object.entries(credentials.roles ?? {})) {
    if (!box.schema.role.exists(name)) {
      await box.schema.role.create(name);
      changes.push(`created role ${name}`);
    }
    await grantAll(box, name, role, logger, changes);
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
    await grantAll(box, name, user, logger, changes);
  }
  return changes;
}

async function grantAll(
  box: Box,
  name: string,
  config: Omit<UserConfig, 'password'>,
  logger: Logger,
  changes: string[],
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
    for (const func of privilege.functions ?? []) targets.push(['function', func]);
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
