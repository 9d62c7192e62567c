// Network benchmarks (issue: iproto and the server): Tarantool 2.6 (../shared/bench/
// tt-server.lua) and the tarantype server, driven by the same load generator
// (../shared/bench/netload.lua, net.box) in the same run, alternating A B per measurement:
// ping, insert, replace, select, update and mixed 80/20 at 1, 10, 100 and 1000 requests in
// flight, wal_mode write and none. Reports ops/s, p99 latency and server CPU per operation,
// and the ratios (target: ≥ 1.0x Tarantool's ops/s at 100 in flight, p99 ≤ Tarantool's).
// Needs `tarantool` (it is the load generator too); without it the suite says so.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchFigure, BenchScale, BenchSuite } from '../harness.js';
import { freePort, spawnTarantype } from '../lib/processes.js';
import { hasTarantool, runTarantoolJson, sharedBenchDir } from '../lib/tarantool.js';

interface Scale {
  readonly modes: readonly string[];
  readonly ops: readonly string[];
  readonly concurrency: readonly number[];
  readonly durationSeconds: number;
  readonly keys: number;
}

const SCALES: Record<BenchScale, Scale> = {
  small: {
    modes: ['write'],
    ops: ['ping', 'select'],
    concurrency: [10],
    durationSeconds: 0.3,
    keys: 1000,
  },
  large: {
    modes: ['write', 'none'],
    ops: ['ping', 'insert', 'replace', 'select', 'update', 'mixed'],
    concurrency: [1, 10, 100, 1000],
    durationSeconds: 3,
    keys: 100000,
  },
};

const ROOT = new URL('../../../../', import.meta.url).pathname;
const INIT = join(ROOT, 'packages', 'bench', 'fixtures', 'bench-server-init.mjs');

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`server exited with ${child.exitCode} before listening`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} did not open`);
}

export interface Server {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
}

/** tt-server.lua (real Tarantool) on a free port, with `mode` as wal_mode; data under `root`. */
export async function startTarantool(root: string, mode: string): Promise<Server> {
  const port = await freePort();
  const child = spawn('tarantool', [join(sharedBenchDir(), 'tt-server.lua')], {
    env: {
      ...process.env,
      LISTEN: `127.0.0.1:${port}`,
      WAL_MODE: mode,
      WORK_DIR: join(root, `tt-${mode}`),
    },
    stdio: 'ignore',
  });
  await waitForPort(port, child);
  return { name: 'Tarantool 2.6', port, child };
}

/** The tarantype server with the same schema (fixtures/bench-server-init.mjs). */
export async function startTarantype(root: string, mode: string): Promise<Server> {
  const port = await freePort();
  const child = spawnTarantype(
    { port, dataDir: join(root, `tp-${mode}`), walMode: mode, init: INIT, logLevel: 2 },
    { stdio: 'ignore' },
  );
  await waitForPort(port, child);
  return { name: 'tarantype', port, child };
}

// The built program (from src/ under vitest as from dist/: both sit two levels below the package).
const CEILING_SERVER = new URL('../../dist/ceiling/net-server.js', import.meta.url).pathname;

/**
 * The Node ceiling of the network path (src/ceiling/net-server.ts): a minimal iproto server
 * doing only the unavoidable work of netload.lua's requests, WAL in write mode, under `root`.
 */
export async function startCeiling(root: string): Promise<Server> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [CEILING_SERVER, '--port', String(port), '--dir', await mkdtemp(join(root, 'ceiling-'))],
    { stdio: 'ignore' },
  );
  await waitForPort(port, child);
  return { name: 'Node ceiling', port, child };
}

export async function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
}

export interface Load {
  readonly ops_per_s: number;
  /** Operations in the measured window. */
  readonly ops: number;
  /** Requests that failed (netload.lua counts them and keeps the first message). */
  readonly errors: number;
  readonly firstError?: string;
  readonly p99_us: number;
  readonly server_cpu_us_per_op?: number;
}

/** One netload.lua run (net.box) against `server`: `op` at `concurrency` in flight. */
export async function load(
  server: Server,
  op: string,
  concurrency: number,
  scale: {
    readonly durationSeconds: number;
    readonly keys: number;
    readonly warmupSeconds?: number;
    /** First key of OP=insert (netload.lua's default derives it from the clock's second). */
    readonly key0?: number;
  },
): Promise<Load> {
  const result = await runTarantoolJson(
    'netload.lua',
    [`127.0.0.1:${server.port}`, op, '0', String(concurrency)],
    {
      DURATION: String(scale.durationSeconds),
      WARMUP: String(scale.warmupSeconds ?? 0.3),
      KEYS: String(scale.keys),
      SERVER_PID: String(server.child.pid),
      ...(scale.key0 === undefined ? {} : { KEY0: String(scale.key0) }),
    },
  );
  const cpu = result.server_cpu_us_per_op as number | undefined;
  return {
    ops_per_s: result.ops_per_s as number,
    ops: result.ops as number,
    errors: result.errors as number,
    ...(typeof result.first_error === 'string' ? { firstError: result.first_error } : {}),
    p99_us: result.p99_us as number,
    ...(cpu === undefined ? {} : { server_cpu_us_per_op: cpu }),
  };
}

export default {
  name: 'server',
  async run(scaleName: BenchScale) {
    const scale = SCALES[scaleName];
    if (!hasTarantool) {
      return {
        suite: 'server (tarantool not installed: the load generator is net.box, nothing measured)',
        figures: [{ name: 'skipped', value: 1, unit: '' }],
        checksum: 0,
      };
    }
    const root = await mkdtemp(join(tmpdir(), 'tarantype-bench-server-'));
    const figures: BenchFigure[] = [];
    let checksum = 0;
    try {
      for (const mode of scale.modes) {
        const tt = await startTarantool(root, mode);
        const tp = await startTarantype(root, mode).catch(async (error) => {
          await stop(tt);
          throw error;
        });
        try {
          for (const op of scale.ops) {
            for (const concurrency of scale.concurrency) {
              const theirs = await load(tt, op, concurrency, scale);
              const ours = await load(tp, op, concurrency, scale);
              checksum += Math.round(ours.ops_per_s) + Math.round(theirs.ops_per_s);
              const target = concurrency === 100 ? '≥ 1.0' : undefined;
              figures.push({
                name: `${mode} ${op} @${concurrency}: tarantype (Tarantool ${Math.round(theirs.ops_per_s).toLocaleString('en-US')})`,
                value: ours.ops_per_s,
                unit: 'ops/s',
                ratio: {
                  value: ours.ops_per_s / theirs.ops_per_s,
                  against: 'Tarantool',
                  ...(target === undefined ? {} : { target }),
                },
              });
              figures.push({
                name: `${mode} ${op} @${concurrency}: p99 (Tarantool ${Math.round(theirs.p99_us)} µs)`,
                value: ours.p99_us,
                unit: 'µs',
                ratio: {
                  value: theirs.p99_us / ours.p99_us,
                  against: "Tarantool's p99 / ours",
                  ...(concurrency === 100 ? { target: '≥ 1.0' } : {}),
                },
              });
              if (
                ours.server_cpu_us_per_op !== undefined &&
                theirs.server_cpu_us_per_op !== undefined
              ) {
                figures.push({
                  name: `${mode} ${op} @${concurrency}: server CPU per op (Tarantool ${theirs.server_cpu_us_per_op.toFixed(1)} µs)`,
                  value: ours.server_cpu_us_per_op,
                  unit: 'µs',
                });
              }
            }
          }
        } finally {
          await stop(tp);
          await stop(tt);
        }
      }
      return {
        suite: 'server: net.box load against Tarantool 2.6 and tarantype, same run',
        figures,
        checksum,
      };
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
} satisfies BenchSuite;
