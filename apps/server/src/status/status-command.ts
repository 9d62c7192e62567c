// `tarantype status <uri> [--watch [seconds]] [--json] [--timeout seconds]`: the replica set as
// one member sees it (collect.ts), as a table (table.ts) or the model as JSON. Layer:
// apps/server (the CLI). Exit codes: 0 when the member given answered, 1 when it did not
// (one line on stderr), 2 for a usage mistake (cli.ts). With --watch the table is redrawn every
// N seconds until Ctrl-C (SIGINT/SIGTERM), which exits with the last round's code; a round
// that cannot reach the member prints its one line and the watch goes on.
import { parseUri } from '@tarantype/iproto';
import { type Command, InvalidArgumentError } from 'commander';
import {
  addressOf,
  collectStatus,
  remoteProbe,
  STATUS_TIMEOUT_MS_DEFAULT,
  UnreachableError,
} from './collect.js';
import type { ReplicaSetStatus } from './model.js';
import { renderStatusTable } from './table.js';

export interface StatusCommandOptions {
  /** Seconds between rounds; undefined: one round. */
  readonly watchSeconds?: number;
  readonly json: boolean;
  readonly timeoutMs?: number;
}

/** Thrown for a URI or option the command cannot use (exit 2). */
export class StatusUsageError extends Error {}

/** The default period of a bare --watch, in seconds. */
export const WATCH_SECONDS_DEFAULT = 2;

/** One round: the model, or UnreachableError when the member given does not answer. */
export function collectFrom(uri: string, timeoutMs: number): Promise<ReplicaSetStatus> {
  let parts: ReturnType<typeof parseUri>;
  try {
    parts = parseUri(uri);
  } catch (error) {
    throw new StatusUsageError((error as Error).message);
  }
  const address = addressOf(uri)!;
  const credentials = {
    timeoutMs,
    ...(parts.user === undefined ? {} : { user: parts.user }),
    ...(parts.password === undefined ? {} : { password: parts.password }),
  };
  return collectStatus(
    { address, probe: remoteProbe(uri, credentials) },
    (peer) => remoteProbe(peer, credentials),
    credentials,
  );
}

/** Runs the command; resolves with the exit code. */
export async function runStatusCommand(
  uri: string,
  options: StatusCommandOptions,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? STATUS_TIMEOUT_MS_DEFAULT;
  try {
    parseUri(uri);
  } catch (error) {
    throw new StatusUsageError((error as Error).message);
  }
  const round = async (): Promise<number> => {
    try {
      const status = await collectFrom(uri, timeoutMs);
      out.write(options.json ? `${JSON.stringify(status)}\n` : renderStatusTable(status));
      return 0;
    } catch (error) {
      if (!(error instanceof UnreachableError)) throw error;
      err.write(`tarantype status: ${error.message}\n`);
      return 1;
    }
  };
  if (options.watchSeconds === undefined) return round();
  const tty = (out as { isTTY?: boolean }).isTTY === true && !options.json;
  let code = 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!stopped) {
      // Redraw in place on a terminal; elsewhere (a pipe, --json) one frame after another.
      if (tty) out.write('\x1b[H\x1b[2J');
      code = await round();
      if (!tty && !options.json) out.write('\n');
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.watchSeconds! * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return code;
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
}

/** Adds `status` to the program (cli.ts): parsing here, one line there. */
export function addStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      'show the replica set as one member sees it: every member up or down, lag, vclock, WAL held',
    )
    .argument(
      '<uri>',
      "a member's binary port: [user:password@]host:port (a user who may CALL box.info)",
    )
    .option(
      '--watch [seconds]',
      `redraw every N seconds until Ctrl-C (default: ${WATCH_SECONDS_DEFAULT})`,
      positiveSeconds,
    )
    .option('--json', 'print the status model as JSON (one object per round)')
    .option(
      '--timeout <seconds>',
      `how long each member has to answer (default: ${STATUS_TIMEOUT_MS_DEFAULT / 1000})`,
      positiveSeconds,
    )
    .action(
      async (uri: string, flags: { watch?: number | true; json?: boolean; timeout?: number }) => {
        let code: number;
        try {
          code = await runStatusCommand(uri, {
            json: flags.json === true,
            ...(flags.watch === undefined
              ? {}
              : { watchSeconds: flags.watch === true ? WATCH_SECONDS_DEFAULT : flags.watch }),
            ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout * 1000 }),
          });
        } catch (error) {
          if (!(error instanceof StatusUsageError)) throw error;
          process.stderr.write(`tarantype status: ${error.message}\n`);
          code = 2;
        }
        // Explicit: no socket or timer of a round may keep the command alive.
        process.stdout.write('', () => process.exit(code));
      },
    );
}
