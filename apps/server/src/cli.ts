// The `tarantype` command. Layer: apps/server (a thin CLI over Instance).
//   tarantype start [--listen 3301] [--data-dir ./data] [--replication a,b] [--read-only]
//                   [--wal-mode write] [--log-level 5] [--log-format plain|json]
//                   [--config FILE.yaml] [--init MODULE] [--admin SOCKET|PORT] [--no-console]
//   tarantype connect <socket|host:port>     (a console into a running instance's admin console)
// SIGTERM/SIGINT stop gracefully (in-flight requests finish, the xlog is closed) and exit 0; a
// start that fails exits 1. The exit code is this process's own (the bin is `node`, no wrapper),
// so a supervisor that runs `node_modules/.bin/tarantype` sees it; `npx` does not pass it on.
// Both exits are explicit (process.exit after the log is flushed): a timer or socket left open
// by an --init module must not keep a failed or stopped server alive.
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { Command, InvalidArgumentError } from 'commander';
import { type CredentialsConfig, loadConfigFile } from './config.js';
import { runConsoleClient, startInteractiveConsole } from './console.js';
import { CONSOLE_LANGUAGES, type ConsoleLanguage } from './console-session.js';
import { Instance } from './instance.js';
import { createLogger, type LogFormat } from './logger.js';

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected an integer');
  return n;
}

/**
 * box.cfg.log: Tarantool's forms are a file path, 'file:<path>', 'pipe:<command>' and
 * 'syslog:…'. The server writes to a file (appending, created if missing); pipe and syslog
 * are refused with Tarantool's option error rather than silently ignored.
 */
function logDestination(log: unknown): { destination?: NodeJS.WritableStream & Writable } {
  if (log === undefined || log === null || log === '') return {};
  const text = String(log);
  if (text.startsWith('pipe:') || text.startsWith('|') || text.startsWith('syslog:')) {
    throw new InvalidArgumentError(
      `Incorrect value for option 'log': pipe and syslog destinations are not supported, use a file path`,
    );
  }
  const path = text.startsWith('file:') ? text.slice('file:'.length) : text;
  return { destination: createWriteStream(path, { flags: 'a' }) };
}

/**
 * As `tarantool` with no instance file: with neither a port nor upstreams to serve and
 * someone at a console (the terminal or --admin), the first box.cfg{…} typed creates or
 * joins the database (the seed tutorial's first line), not the start.
 */
function startsUnconfigured(flags: StartFlags, cfg: Record<string, unknown>): boolean {
  const replication = cfg.replication;
  const hasReplication =
    replication !== undefined &&
    replication !== '' &&
    !(Array.isArray(replication) && replication.length === 0);
  const console = flags.console && process.stdin.isTTY === true;
  return (
    cfg.listen === undefined &&
    !hasReplication &&
    flags.init === undefined &&
    (console || flags.admin !== undefined)
  );
}

interface StartFlags {
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
  console: boolean;
  consoleLanguage?: string;
}

async function start(flags: StartFlags): Promise<void> {
  let cfg: Record<string, unknown> = {};
  let credentials: CredentialsConfig | undefined;
  if (flags.config !== undefined) ({ cfg, credentials } = loadConfigFile(flags.config));
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
  const format = (flags.logFormat ??
    (cfg.log_format as string | undefined) ??
    'plain') as LogFormat;
  if (format !== 'plain' && format !== 'json')
    throw new InvalidArgumentError(`--log-format must be plain or json, not '${format}'`);
  cfg.log_format = format;
  const consoleLanguage = (flags.consoleLanguage ?? 'lua') as ConsoleLanguage;
  if (!CONSOLE_LANGUAGES.includes(consoleLanguage))
    throw new InvalidArgumentError(
      `--console-language must be lua or js, not '${consoleLanguage}'`,
    );
  const destination = logDestination(cfg.log);
  const logger = createLogger({
    level: (cfg.log_level as number | undefined) ?? 5,
    format,
    ...destination,
  });
  // A log file is an asynchronous stream: end it (its last lines written) before exiting.
  // stderr needs nothing: Node writes it synchronously to files and pipes.
  const exit = (code: number): void => {
    const file = destination.destination;
    if (file === undefined) process.exit(code);
    else file.end(() => process.exit(code));
  };
  // Signals are handled from the start: a SIGTERM during recovery stops right after it.
  let instance: Instance | undefined;
  let pendingSignal: string | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (instance === undefined) {
      pendingSignal ??= signal;
      return;
    }
    if (stopping) return;
    stopping = true;
    logger.info(`got ${signal}`);
    instance.stop().then(
      () => exit(0),
      (error: Error) => {
        logger.error(`stop failed: ${error.message}`);
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    instance = await Instance.start({
      cfg,
      logger,
      ...(flags.admin === undefined ? {} : { admin: flags.admin }),
      ...(flags.init === undefined ? {} : { init: flags.init }),
      ...(credentials === undefined ? {} : { credentials }),
      consoleLanguage,
      unconfigured: startsUnconfigured(flags, cfg),
    });
  } catch (error) {
    logger.error(`cannot start: ${(error as Error).message}`);
    exit(1);
    return;
  }
  if (pendingSignal !== undefined) {
    stop(pendingSignal);
    return;
  }
  if (flags.console && process.stdin.isTTY === true) {
    await startInteractiveConsole(instance.consoleSession());
    stop('console exit');
  }
}

const program = new Command();
program
  .name('tarantype')
  .description("Tarantool's core rebuilt in TypeScript: a server Tarantool clients can talk to")
  .version('0.1.0');
program
  .command('start')
  .description('start an instance (recovers or bootstraps its data directory)')
  .option('--listen <uri>', 'binary protocol address: port or host:port (box.cfg.listen)')
  .option('--data-dir <dir>', 'directory for snapshots and xlogs (memtx_dir and wal_dir)')
  .option('--replication <uris>', 'comma-separated upstream URIs (box.cfg.replication)')
  .option('--read-only', 'start read-only (box.cfg.read_only)')
  .option('--wal-mode <mode>', 'none, write or fsync (box.cfg.wal_mode)')
  .option('--log-level <n>', "Tarantool's log level 0..7 (5 = info)", integer)
  .option('--log-format <format>', 'plain (Tarantool style) or json')
  .option('--config <file>', 'YAML file: any box.cfg option, plus credentials')
  .option('--init <module>', 'JS/TS module run at startup with { box, functions, logger }')
  .option('--admin <socket|port>', 'admin console listener (UNIX socket path, port or host:port)')
  .option('--no-console', 'no interactive console even on a terminal')
  .option(
    '--console-language <language>',
    "lua (as Tarantool) or js: the consoles' language",
    'lua',
  )
  .action(start);
program
  .command('connect')
  .description("open a console into a running instance's admin console or binary port")
  .argument(
    '<uri>',
    'admin console (UNIX socket path, port or host:port) or binary port ([user:password@]host:port)',
  )
  .action(async (uri: string) => {
    try {
      await runConsoleClient(uri);
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  });
await program.parseAsync(process.argv);
