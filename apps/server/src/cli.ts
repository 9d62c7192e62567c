// The `tarantype` command. Layer: apps/server (a thin CLI over Instance).
//   tarantype start [--listen 3301] [--data-dir ./data] [--replication a,b] [--read-only]
//                   [--wal-mode write] [--log-level 5] [--log-format plain|json]
//                   [--config FILE.yaml] [--init MODULE] [--admin SOCKET|PORT] [--no-console]
//                   [--http [HOST:]PORT]
//   tarantype connect <socket|host:port>     (a console into a running instance's admin console)
//   tarantype status <uri> [--watch [s]] [--json]   (the replica set as one member sees it)
//   tarantype check <uri> <uri>… [--batch-size n]  (compare members' spaces: check.ts)
// SIGTERM/SIGINT stop gracefully (in-flight requests finish, the xlog is closed) and exit 0; a
// start that fails exits 1; a usage mistake (a bad option or config file) prints one line and
// exits 2 before anything is touched (start-options.ts). The exit code is this process's own (the bin is `node`, no wrapper),
// so a supervisor that runs `node_modules/.bin/tarantype` sees it; `npx` does not pass it on.
// Both exits are explicit (process.exit after the log is flushed): a timer or socket left open
// by an --init module must not keep a failed or stopped server alive.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { addCheckCommand } from './check.js';
import { loadConfigFile } from './config.js';
import { runConsoleClient, startInteractiveConsole } from './console.js';
import { Instance } from './instance.js';
import { createLogger } from './logger.js';
import { ProgressRenderer } from './progress.js';
import {
  checkStartOptions,
  type StartFlags,
  type StartOptions,
  UsageError,
} from './start-options.js';
import { addStatusCommand } from './status/status-command.js';
import { VERSION } from './version.js';

function integer(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isInteger(n))
    throw new InvalidArgumentError('expected an integer');
  return n;
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

/** Options the command line sets: a reload of the file leaves them as the flags said. */
function flagOptions(flags: StartFlags): Set<string> {
  const set = new Set<string>();
  if (flags.listen !== undefined) set.add('listen');
  if (flags.dataDir !== undefined) {
    set.add('memtx_dir');
    set.add('wal_dir');
  }
  if (flags.replication !== undefined) set.add('replication');
  if (flags.readOnly === true) set.add('read_only');
  if (flags.walMode !== undefined) set.add('wal_mode');
  if (flags.logLevel !== undefined) set.add('log_level');
  if (flags.logFormat !== undefined) set.add('log_format');
  return set;
}

/**
 * The config file's box.cfg options that differ from the running ones, applied as one
 * box.cfg{}; resolves with their names. Credentials are not re-applied (they are applied at
 * every start).
 */
async function reloadConfig(instance: Instance, flags: StartFlags): Promise<string[]> {
  const { cfg } = loadConfigFile(flags.config!);
  const fixed = flagOptions(flags);
  if (!instance.configured) throw new Error('the instance has no box.cfg{} yet');
  const current = instance.box.cfgValues as unknown as Record<string, unknown>;
  const changes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(cfg)) {
    if (fixed.has(name)) continue;
    const now = current[name];
    const same =
      name === 'replication'
        ? JSON.stringify(normalizeUris(value)) === JSON.stringify(now)
        : JSON.stringify(value) === JSON.stringify(now) || String(value) === String(now);
    if (!same) changes[name] = value;
  }
  if (Object.keys(changes).length === 0) return [];
  await instance.reconfigure(changes);
  return Object.keys(changes);
}

function normalizeUris(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((uri) => String(uri).trim()).filter((uri) => uri !== '');
}

async function start(flags: StartFlags): Promise<void> {
  // Every option is checked before the data directory is touched: a mistake is one line, exit 2.
  let checked: StartOptions;
  try {
    checked = await checkStartOptions(flags);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`tarantype start: ${error.message}\n`);
    process.exit(2);
  }
  const { cfg, credentials, format, consoleLanguage, http } = checked;
  // stderr until the first box.cfg, which opens box.cfg.log (first-cfg.ts), as Tarantool.
  // Progress of recovery, joins and checkpoints: bars when stderr is a terminal (the log's
  // lines then go above them), else log lines (progress.ts).
  const tty = process.stderr.isTTY === true;
  const progress = new ProgressRenderer({ stream: process.stderr, tty });
  const logger = createLogger({
    level: (cfg.log_level as number | undefined) ?? 5,
    format,
    ...(tty ? { destination: progress.logStream } : {}),
  });
  progress.attach(logger);
  // A log file is an asynchronous stream: end it (its last lines written) before exiting.
  const exit = (code: number): void => {
    logger.close().then(() => process.exit(code));
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
  // SIGHUP re-reads the config file and applies it as a box.cfg{} of its options (an unchanged
  // replication URI keeps its applier; a static option refuses the whole reload, loudly).
  process.on('SIGHUP', () => {
    if (instance === undefined || stopping) return;
    if (flags.config === undefined) {
      logger.warn('got SIGHUP: no --config file to reload');
      return;
    }
    logger.info(`got SIGHUP: reloading ${flags.config}`);
    reloadConfig(instance, flags).then(
      (names) =>
        logger.info(
          `config reloaded: ${names.length === 0 ? 'nothing changed' : names.join(', ')}`,
        ),
      (error: Error) => logger.error(`config reload refused, nothing changed: ${error.message}`),
    );
  });
  try {
    instance = await Instance.start({
      cfg,
      logger,
      ...(flags.admin === undefined ? {} : { admin: flags.admin }),
      ...(flags.init === undefined ? {} : { init: flags.init }),
      ...(credentials === undefined ? {} : { credentials }),
      ...(http === undefined ? {} : { http }),
      consoleLanguage,
      unconfigured: startsUnconfigured(flags, cfg),
      onProgress: progress.sink,
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
// Usage mistakes commander finds itself (unknown option, missing or non-integer argument) exit
// 2 like the ones checkStartOptions finds; --help and --version exit 0.
program.exitOverride();
program
  .name('tarantype')
  .description("Tarantool's core rebuilt in TypeScript: a server Tarantool clients can talk to")
  .version(VERSION);
program
  .command('start')
  .description('start an instance (recovers or bootstraps its data directory)')
  .option(
    '--listen <uri>',
    'binary protocol address: port or host:port (box.cfg.listen) (default: none; on a terminal the first box.cfg{} typed configures the instance)',
  )
  .option(
    '--data-dir <dir>',
    'directory for snapshots and xlogs (memtx_dir and wal_dir) (default: the current directory)',
  )
  .option(
    '--replication <uris>',
    'comma-separated upstream URIs (box.cfg.replication) (default: none)',
  )
  .option('--read-only', 'start read-only (box.cfg.read_only) (default: false)')
  .option('--wal-mode <mode>', 'none, write or fsync (box.cfg.wal_mode) (default: write)')
  .option('--log-level <n>', "Tarantool's log level 0..7, 5 = info (default: 5)", integer)
  .option('--log-format <format>', 'plain (Tarantool style) or json (default: plain)')
  .option(
    '--config <file>',
    'YAML file: any box.cfg option, plus credentials; flags override it (default: none)',
  )
  .option(
    '--init <module>',
    'JS/TS module run at startup with { box, functions, logger } (default: none)',
  )
  .option(
    '--admin <socket|port>',
    'admin console listener: UNIX socket path, port or host:port (default: none)',
  )
  .option(
    '--http <[host:]port>',
    'HTTP endpoint for /metrics (Prometheus) and /health; a bare port listens on 127.0.0.1 (default: none)',
  )
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
addStatusCommand(program);
addCheckCommand(program);
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CommanderError)) throw error;
  // commander printed its one line already.
  process.exit(error.exitCode === 0 ? 0 : 2);
}
