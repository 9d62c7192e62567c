// `tarantype start`'s options checked before anything acts: the config file and its YAML, the
// listen and admin URIs and their ports, every box.cfg value (wal_mode, log_level,
// log_format, replication URIs … with box's ER_CFG texts), the log file's directory, the data
// directory and the --init module (loaded here, so a missing file or a syntax error is caught
// too). Nothing here creates or writes the data directory. A mistake is a UsageError: the CLI
// prints its one line and exits 2. Layer: apps/server.
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { applyCfg, CFG_DEFAULTS } from '@tarantype/box';
import { type CredentialsConfig, loadConfigFile } from './config.js';
import { CONSOLE_LANGUAGES, type ConsoleLanguage } from './console-session.js';
import { logFilePath, translateDeprecatedCfg } from './first-cfg.js';
import { type HttpAddress, parseHttpAddress } from './http/server.js';
import { loadInitModule } from './init-module.js';
import { parseListen } from './instance.js';
import type { LogFormat } from './logger.js';

/** A mistake in the command line or the config file (exit code 2, one line). */
export class UsageError extends Error {}

export interface StartFlags {
  listen?: string;
  dataDir?: string;
  replication?: string;
  readOnly?: boolean;
  walMode?: string;
  logLevel?: number;
  logFormat?: string;
  config?: string;
  init?: string;
  admin?: string;
  http?: string;
  console: boolean;
  consoleLanguage?: string;
}

export interface StartOptions {
  /** box.cfg options: the config file's, then the flags over them. */
  readonly cfg: Record<string, unknown>;
  readonly credentials: CredentialsConfig | undefined;
  readonly format: LogFormat;
  readonly consoleLanguage: ConsoleLanguage;
  /** --http, else the config file's `http:`; undefined: no HTTP endpoint. */
  readonly http: HttpAddress | undefined;
}

/** Why `uri` cannot be a TCP listen address (host:port or a port), or undefined if it can. */
export function listenProblem(uri: string): string | undefined {
  let where: ReturnType<typeof parseListen>;
  try {
    where = parseListen(uri);
  } catch {
    return 'expected host:service or /unix.socket';
  }
  if ('path' in where) return 'UNIX sockets are not supported for the binary port yet';
  if (where.port > 65535) return `port ${where.port} is out of range (0..65535)`;
  return undefined;
}

function adminProblem(uri: string): string | undefined {
  let where: ReturnType<typeof parseListen>;
  try {
    where = parseListen(uri);
  } catch {
    return 'expected a UNIX socket path, a port or host:port';
  }
  if ('path' in where) {
    const dir = dirname(resolve(where.path));
    if (!isDirectory(dir)) return `directory ${dir} does not exist`;
    return undefined;
  }
  if (where.port > 65535) return `port ${where.port} is out of range (0..65535)`;
  return undefined;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Checks every option; throws UsageError (nothing touched) or returns what to start with. */
export async function checkStartOptions(flags: StartFlags): Promise<StartOptions> {
  let cfg: Record<string, unknown> = {};
  let credentials: CredentialsConfig | undefined;
  let fileHttp: unknown;
  if (flags.config !== undefined) {
    try {
      ({ cfg, credentials, http: fileHttp } = loadConfigFile(flags.config));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const from = (option: string, flag: string | undefined) =>
    flag !== undefined ? flag : `${option} in ${flags.config}`;
  if (flags.listen !== undefined) cfg.listen = flags.listen;
  if (flags.dataDir !== undefined) {
    cfg.memtx_dir = flags.dataDir;
    cfg.wal_dir = flags.dataDir;
  }
  if (flags.replication !== undefined)
    cfg.replication = flags.replication
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '');
  if (flags.readOnly === true) cfg.read_only = true;
  if (flags.walMode !== undefined) cfg.wal_mode = flags.walMode;
  if (flags.logLevel !== undefined) cfg.log_level = flags.logLevel;
  if (flags.logFormat !== undefined) cfg.log_format = flags.logFormat;

  // Every box.cfg value, with box's own rules and texts ("Incorrect value for option …").
  let config: ReturnType<typeof applyCfg>;
  try {
    config = applyCfg(translateDeprecatedCfg(cfg), CFG_DEFAULTS, false);
  } catch (error) {
    const flag = /option '(\w+)'/.exec((error as Error).message)?.[1];
    const which = flag === undefined ? undefined : FLAG_OF[flag];
    const given = which !== undefined && flags[which[1]] !== undefined;
    throw new UsageError(
      `${given ? `${which[0]}: ` : flags.config !== undefined ? `config ${flags.config}: ` : ''}${(error as Error).message}`,
    );
  }
  if (config.listen !== undefined) {
    const problem = listenProblem(config.listen);
    if (problem !== undefined)
      throw new UsageError(
        `${from('listen', flags.listen && '--listen')}: '${config.listen}': ${problem}`,
      );
  }
  let http: HttpAddress | undefined;
  const httpValue = flags.http ?? fileHttp;
  if (httpValue !== undefined) {
    try {
      http = parseHttpAddress(httpValue);
    } catch (error) {
      throw new UsageError(
        `${from('http', flags.http === undefined ? undefined : '--http')}: ${(error as Error).message}`,
      );
    }
  }
  if (flags.admin !== undefined) {
    const problem = adminProblem(flags.admin);
    if (problem !== undefined) throw new UsageError(`--admin: '${flags.admin}': ${problem}`);
  }
  for (const [option, dir] of [
    ['memtx_dir', config.memtx_dir],
    ['wal_dir', config.wal_dir],
  ] as const) {
    if (exists(dir) && !isDirectory(dir))
      throw new UsageError(
        `${from(option, flags.dataDir && '--data-dir')}: '${dir}' is not a directory`,
      );
  }
  let logFile: string | undefined;
  try {
    logFile = logFilePath(config.log);
  } catch (error) {
    throw new UsageError(`${from('log', undefined)}: ${(error as Error).message}`);
  }
  if (logFile !== undefined) {
    if (isDirectory(logFile))
      throw new UsageError(`${from('log', undefined)}: '${logFile}' is a directory`);
    if (!isDirectory(dirname(resolve(logFile))))
      throw new UsageError(
        `${from('log', undefined)}: directory ${dirname(resolve(logFile))} does not exist`,
      );
  }
  const consoleLanguage = (flags.consoleLanguage ?? 'lua') as ConsoleLanguage;
  if (!CONSOLE_LANGUAGES.includes(consoleLanguage))
    throw new UsageError(`--console-language must be lua or js, not '${consoleLanguage}'`);
  if (flags.init !== undefined) {
    try {
      await loadInitModule(flags.init);
    } catch (error) {
      throw new UsageError(`--init: ${(error as Error).message}`);
    }
  }
  cfg.log_format = config.log_format;
  return { cfg, credentials, format: config.log_format, consoleLanguage, http };
}

/** The flag that sets a box.cfg option (to name it in the message). */
const FLAG_OF: Readonly<Record<string, readonly [string, keyof StartFlags]>> = {
  listen: ['--listen', 'listen'],
  memtx_dir: ['--data-dir', 'dataDir'],
  wal_dir: ['--data-dir', 'dataDir'],
  replication: ['--replication', 'replication'],
  wal_mode: ['--wal-mode', 'walMode'],
  log_level: ['--log-level', 'logLevel'],
  log_format: ['--log-format', 'logFormat'],
};
