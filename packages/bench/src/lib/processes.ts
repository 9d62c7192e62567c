// Process and port helpers shared by the suites that start servers (server, replication,
// replication-mesh): a free loopback port, a bounded stop of a child, and a vclock read from
// either server's box.info (2.6 sends Lua sequences, tarantype maps or objects).
// Also: CPU seconds of a process over all its threads, and its resident set (from /proc).
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

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
