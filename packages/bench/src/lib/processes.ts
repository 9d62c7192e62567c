// Process and port helpers shared by the suites that start servers (server, replication,
// replication-mesh): a free loopback port, a bounded stop of a child, and a vclock read from
// either server's box.info (2.6 sends Lua sequences, tarantype maps or objects).
// Also: CPU seconds of a process over all its threads, its resident set (from /proc), and the
// one way the suites start a `tarantype start` server.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The tarantype CLI of this checkout. */
const TARANTYPE_CLI = new URL('../../../../apps/server/bin/tarantype.js', import.meta.url).pathname;

/** What a suite asks of `tarantype start` (always on 127.0.0.1, without a console). */
export interface TarantypeStart {
  readonly port: number;
  readonly dataDir: string;
  readonly init?: string;
  /** box.cfg.replication: one URI. */
  readonly replication?: string;
  readonly readOnly?: boolean;
  readonly walMode?: string;
  readonly logLevel?: number;
}

/** Spawns `tarantype start` with `start`'s options. */
export function spawnTarantype(start: TarantypeStart, options: SpawnOptions): ChildProcess {
  const args = [
    TARANTYPE_CLI,
    'start',
    '--listen',
    `127.0.0.1:${start.port}`,
    '--data-dir',
    start.dataDir,
  ];
  if (start.walMode !== undefined) args.push('--wal-mode', start.walMode);
  if (start.init !== undefined) args.push('--init', start.init);
  if (start.replication !== undefined) args.push('--replication', start.replication);
  if (start.readOnly === true) args.push('--read-only');
  if (start.logLevel !== undefined) args.push('--log-level', String(start.logLevel));
  args.push('--no-console');
  return spawn(process.execPath, args, options);
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** A port nothing listens on right now (bound on 127.0.0.1, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(graceMs)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exited;
}

/** A vclock as id → lsn, whatever shape it came in (a Lua sequence from 2.6, a map, an object). */
export function vclockOf(value: unknown): Map<number, number> {
  const out = new Map<number, number>();
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries())
      if (v !== null && v !== undefined) out.set(i + 1, Number(v));
  } else if (value instanceof Map) for (const [k, v] of value) out.set(Number(k), Number(v));
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) out.set(Number(k), Number(v));
  return out;
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on every Linux port). */
const USER_HZ = 100;

/**
 * CPU seconds (utime + stime) a process has used, summed over every thread it has now
 * (/proc/<pid>/task/<tid>/stat, fields 14 and 15): worker threads of Node (libuv's pool, V8's
 * GC helpers) and of Tarantool (wal, iproto) count. Undefined when the process is gone.
 */
export function processCpuSeconds(pid: number): number | undefined {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let ticks = 0;
  for (const tid of tasks) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    // The command name (field 2) is in parentheses and may hold spaces: split after its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / USER_HZ;
}

/** VmRSS of a process in bytes (/proc/<pid>/status), undefined when it is gone. */
export function residentBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kilobytes = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kilobytes === undefined ? undefined : Number(kilobytes) * 1024;
  } catch {
    return undefined;
  }
}
