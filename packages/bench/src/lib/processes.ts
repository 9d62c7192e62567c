// Process and port helpers shared by the suites that start servers (server, replication,
// replication-mesh): a free loopback port, a bounded stop of a child, and a vclock read from
// either server's box.info (2.6 sends Lua sequences, tarantype maps or objects).
import type { ChildProcess } from 'node:child_process';
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
