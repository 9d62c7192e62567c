// The server's share of the first box.cfg{…} (from the CLI's options or typed at an
// unconfigured console), before box recovers or bootstraps. Layer: apps/server.
//   - 1.x option names (`logger`, `replication_source`, …) become their 2.6 names with
//     Tarantool's "Deprecated option logger, please use log instead" warning (load_cfg.lua's
//     translate_cfg); box.cfg.log then reads the file and box.cfg.logger is nil;
//   - `log` sends the server's log into that file from here on (Tarantool opens its log at the
//     first box.cfg), `log_level` sets the level;
//   - the banner Tarantool 2.6 writes first in its log: "C> Tarantool 2.6.0-…", "C> log level 5"
//     (ours names tarantype and the Tarantool it is compatible with).
// Values are validated (box's applyCfg, Tarantool's ER_CFG texts) before the log moves, so a
// refused box.cfg{} changes nothing and may be typed again.
import { closeSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { applyCfg, CFG_DEFAULTS } from '@tarantype/box';
import { ClientError, ErrorCode } from '@tarantype/core';
import type { LogStream, ServerLogger } from './logger.js';
import { VERSION } from './version.js';

/** 1.x names Tarantool 2.6 still takes at box.cfg (translate_cfg), with their 2.6 names. */
const DEPRECATED_NAMES: Readonly<Record<string, string>> = {
  logger: 'log',
  logger_nonblock: 'log_nonblock',
  replication_source: 'replication',
  snapshot_count: 'checkpoint_count',
  snapshot_period: 'checkpoint_interval',
  panic_on_wal_error: 'force_recovery',
};

/**
 * `options` with the deprecated names replaced; `warn` gets 2.6's warning for each. Both names
 * given is refused as 2.6 refuses it (ER_CFG "can not override a value for a deprecated option").
 */
export function translateDeprecatedCfg(
  options: Readonly<Record<string, unknown>>,
  warn: (message: string) => void = () => {},
): Record<string, unknown> {
  const cfg: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    const current = DEPRECATED_NAMES[name];
    if (current === undefined) {
      cfg[name] = value;
      continue;
    }
    warn(`Deprecated option ${name}, please use ${current} instead`);
    if (options[current] !== undefined && options[current] !== null)
      throw new ClientError(
        ErrorCode.ER_CFG,
        name,
        'can not override a value for a deprecated option',
      );
    // panic_on_wal_error = true is force_recovery = false (and the reverse).
    cfg[current] = name === 'panic_on_wal_error' ? value !== true : value;
  }
  return cfg;
}

/** strerror's texts for what opening a log file meets. */
const STRERROR: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EROFS: 'Read-only file system',
};

/** box.cfg.log's file: a path or 'file:<path>'; pipes and syslog are refused (ER_CFG). */
export function logFilePath(log: unknown): string | undefined {
  if (log === undefined || log === null || log === '') return undefined;
  const text = String(log);
  if (text.startsWith('pipe:') || text.startsWith('|') || text.startsWith('syslog:'))
    throw new ClientError(
      ErrorCode.ER_CFG,
      'log',
      'pipe and syslog destinations are not supported, use a file path',
    );
  return text.startsWith('file:') ? text.slice('file:'.length) : text;
}

/** The first lines of the log, as 2.6's "C> Tarantool 2.6.0-0-g47aa4e01e" and "C> log level 5". */
export function logBanner(logger: ServerLogger, logLevel: number): void {
  logger.crit(`tarantype ${VERSION} (Tarantool 2.6.0 compatible)`);
  logger.crit(`log level ${logLevel}`);
}

/**
 * Translates and validates the first box.cfg's options, moves the log and writes the banner.
 * Returns the options box.cfg is to apply. Throws ER_CFG (nothing changed) on a bad value.
 */
export async function prepareFirstCfg(
  options: Readonly<Record<string, unknown>>,
  logger: ServerLogger,
): Promise<Record<string, unknown>> {
  // As Tarantool: the warnings go where the log is before box.cfg (the terminal's stderr).
  const cfg = translateDeprecatedCfg(options, (warning) => logger.warn(warning));
  const config = applyCfg(cfg, CFG_DEFAULTS, false);
  const path = logFilePath(config.log);
  let fd: number | undefined;
  if (path !== undefined) {
    try {
      // Opened now so that a path that cannot be written is refused before anything starts.
      fd = (await open(path, 'a')).fd;
    } catch (error) {
      // 2.6 says "can't open log file: <path>: <strerror>" (and exits; a refusal is kinder).
      const code = (error as NodeJS.ErrnoException).code ?? '';
      throw new ClientError(
        ErrorCode.ER_CFG,
        'log',
        `can't open log file: ${path}: ${STRERROR[code] ?? (error as Error).message}`,
      );
    }
  }
  if (fd !== undefined) logger.redirect(logFile(fd));
  if (cfg.log_level !== undefined) logger.setLevel(config.log_level);
  logBanner(logger, config.log_level);
  return cfg;
}

/**
 * A log file written synchronously, as Tarantool writes its log: a line is in the file once
 * logged (a reader, or a crash right after, sees it) and there is nothing to flush at exit.
 */
function logFile(fd: number): LogStream {
  return {
    write(text: string) {
      writeSync(fd, text);
      return true;
    },
    end(callback?: () => void) {
      closeSync(fd);
      callback?.();
    },
  };
}
