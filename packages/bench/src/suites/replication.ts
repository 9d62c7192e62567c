// Replication benchmarks (issue: replication part 1), Tarantool 2.6 and tarantype side by side in
// the same run, each pair of the same kind (2.6 master → 2.6 replica, tarantype → tarantype):
// - join: a master holding N tuples {i, 32-byte string, i*2}; a fresh replica joins; the time
//   between its "connecting to 1 replicas" and "replica set sync complete" log lines (both
//   servers print both), plus process start → ready for tarantype. Target ≤ 1.0× Tarantool's.
// - steady state: `bench_load` on the master (100 concurrent writers, one insert per
//   transaction), while this process samples the replica's box.info every 100 ms (vclock →
//   replicated rows/s, upstream.lag) and probes 50 times a second: insert on the master, then,
//   once acknowledged, read the replica every PROBE_POLL_MS until the row is visible (commit →
//   visible, the same client and method for both servers). Targets: rows/s ≥ 1.0×, lag p99 ≤ Tarantool's.
// The masters: ../shared/bench/tt-server.lua (PRELOAD, bench_load) and the tarantype server
// with fixtures/bench-replication-init.mjs (the same schema, PRELOAD and bench_load). The 2.6
// replica is fixtures/tt-replica-listen.lua. Without `tarantool` (or ../shared/bench) tarantype
// is measured alone and the report says so.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type IprotoClient } from '@tarantype/iproto';
import { type BenchFigure, type BenchScale, type BenchSuite, percentile } from '../harness.js';
import { freePort, sleep, spawnTarantype, stopProcess, vclockOf } from '../lib/processes.js';
import { hasTarantool, sharedBenchDir } from '../lib/tarantool.js';

/**
 * Pause between two reads of the replica while a probe is not visible yet. Without one the
 * poll is a load of its own, and a self-scaling one: the later the row arrives, the more
 * selects the replica serves meanwhile (while tarantype's replica lagged, writing the spinning
 * poll's replies was 12% of its CPU profile; 3% with the pause). 1 ms bounds the probe's
 * resolution, far below either p99.
 */
const PROBE_POLL_MS = 1;

export interface Scale {
  readonly joinTuples: readonly number[];
  readonly steadySeconds: number;
  readonly writers: number;
}

const SCALES: Record<BenchScale, Scale> = {
  small: { joinTuples: [2000], steadySeconds: 0.5, writers: 10 },
  large: { joinTuples: [100_000, 1_000_000], steadySeconds: 5, writers: 100 },
};

const ROOT = new URL('../../../../', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'packages', 'bench', 'fixtures');
const MASTER_INIT = join(FIXTURES, 'bench-replication-init.mjs');
const TT_REPLICA = join(FIXTURES, 'tt-replica-listen.lua');

/** A process of the run: its output is kept (tarantype logs to stderr) for log timestamps. */
export class Proc {
  output = '';
  readonly exited: Promise<number | null>;
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile?: string,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  async log(): Promise<string> {
    if (this.logFile === undefined) return this.output;
    return existsSync(this.logFile) ? readFile(this.logFile, 'utf8') : '';
  }

  async waitForLog(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await this.log();
      const match = pattern.exec(text);
      if (match !== null) return match[0];
      if (this.child.exitCode !== null)
        throw new Error(`${this.name} exited with ${this.child.exitCode}:\n${text.slice(-2000)}`);
      if (Date.now() > deadline)
        throw new Error(
          `${this.name}: no ${pattern} within ${timeoutMs} ms:\n${text.slice(-2000)}`,
        );
      await sleep(20);
    }
  }

  stop(): Promise<void> {
    return stopProcess(this.child);
  }
}

/** "2026-12-01 10:41:39.752" at the start of the first line containing `text`, in ms. */
function logTime(log: string, text: string): number {
  const line = log.split('\n').find((l) => l.includes(text));
  const stamp = line?.match(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d+)/);
  if (stamp === null || stamp === undefined) throw new Error(`no log line with '${text}'`);
  return Date.parse(`${stamp[1]}T${stamp[2]}`);
}

/** Join time from the replica's log: "connecting to" → "replica set sync complete". */
export function joinSecondsFromLog(log: string): number {
  return (logTime(log, 'replica set sync complete') - logTime(log, 'connecting to')) / 1000;
}

export interface Pair {
  readonly kind: 'Tarantool 2.6' | 'tarantype';
  readonly masterPort: number;
  readonly master: Proc;
}

export async function startMaster(
  kind: Pair['kind'],
  root: string,
  preload: number,
  tag: string,
): Promise<Pair> {
  const port = await freePort();
  const dir = join(root, `${kind === 'tarantype' ? 'tp' : 'tt'}-master-${tag}`);
  const env = { ...process.env, PRELOAD: String(preload) };
  let master: Proc;
  if (kind === 'tarantype') {
    master = new Proc(
      'tarantype master',
      spawnTarantype(
        { port, dataDir: dir, init: MASTER_INIT },
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
  } else {
    master = new Proc(
      'Tarantool master',
      spawn('tarantool', [join(sharedBenchDir(), 'tt-server.lua')], {
        env: { ...env, LISTEN: `127.0.0.1:${port}`, WORK_DIR: dir },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
      join(dir, 'tt.log'),
    );
  }
  await master.waitForLog(kind === 'tarantype' ? /ready to accept requests/ : /bound to/, 600_000);
  if (kind === 'Tarantool 2.6') {
    // tt-server.lua writes WORK_DIR/ready once the schema exists and it listens.
    while (!existsSync(join(dir, 'ready'))) await sleep(20);
  }
  return { kind, masterPort: port, master };
}

export async function startReplica(
  pair: Pair,
  root: string,
  tag: string,
): Promise<{ replica: Proc; port: number }> {
  const port = await freePort();
  const dir = join(root, `${pair.kind === 'tarantype' ? 'tp' : 'tt'}-replica-${tag}`);
  const masterUri = `127.0.0.1:${pair.masterPort}`;
  let replica: Proc;
  if (pair.kind === 'tarantype') {
    replica = new Proc(
      'tarantype replica',
      spawnTarantype(
        { port, dataDir: dir, replication: masterUri, readOnly: true },
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
  } else {
    replica = new Proc(
      'Tarantool replica',
      spawn('tarantool', [TT_REPLICA], {
        env: { ...process.env, MASTER: masterUri, LISTEN: `127.0.0.1:${port}`, WORK_DIR: dir },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
      join(dir, 'tt.log'),
    );
  }
  await replica.waitForLog(/replica set sync complete/, 600_000);
  return { replica, port };
}

/** The component of `id` in a vclock as either server encodes it. */
function component(vclock: unknown, id: number): number {
  return vclockOf(vclock).get(id) ?? 0;
}

function field(value: unknown, name: string): unknown {
  if (value instanceof Map) return value.get(name);
  if (value !== null && typeof value === 'object') return (value as Record<string, unknown>)[name];
  return undefined;
}

/** upstream.lag of the replica's first upstream, in seconds. */
function upstreamLag(info: unknown): number | undefined {
  const replication = field(info, 'replication');
  const members =
    replication instanceof Map
      ? [...replication.values()]
      : Array.isArray(replication)
        ? replication
        : Object.values((replication ?? {}) as Record<string, unknown>);
  for (const member of members) {
    const lag = field(field(member, 'upstream'), 'lag');
    if (typeof lag === 'number') return lag;
  }
  return undefined;
}

export interface Steady {
  readonly rowsPerSecond: number;
  readonly lagP50Ms: number;
  readonly lagP99Ms: number;
  readonly visibleP50Us: number;
  readonly visibleP99Us: number;
  readonly probes: number;
}

export async function steady(
  masterPort: number,
  replicaPort: number,
  scale: Scale,
): Promise<Steady> {
  const master = await connect(`127.0.0.1:${masterPort}`);
  const replica = await connect(`127.0.0.1:${replicaPort}`);
  const prober = await connect(`127.0.0.1:${masterPort}`);
  try {
    const [info] = (await master.call('box.info')) as [unknown];
    const masterId = Number(field(info, 'id'));
    const start = component(
      field(((await replica.call('box.info')) as [unknown])[0], 'vclock'),
      masterId,
    );
    let running = true;
    const lags: number[] = [];
    const visible: number[] = [];
    const sampler = (async () => {
      while (running) {
        await sleep(100);
        const lag = upstreamLag(((await replica.call('box.info')) as [unknown])[0]);
        if (lag !== undefined) lags.push(lag * 1000);
      }
    })();
    const probes = (async () => {
      for (let seq = 1; running; seq++) {
        await prober.insert('probe', [seq, Date.now()]);
        const acked = performance.now();
        while ((await replica.select('probe', 0, [seq])).length === 0) {
          if (performance.now() - acked > 10_000) throw new Error(`probe ${seq} never arrived`);
          await sleep(PROBE_POLL_MS);
        }
        visible.push((performance.now() - acked) * 1000);
        await sleep(20);
      }
    })();
    // Either loop may fail while the load runs (a probe that never arrives): its error is kept
    // for the end, since a rejection nobody awaits yet would end the process.
    const loops = Promise.allSettled([sampler, probes]);
    const began = performance.now();
    let target: number;
    let seconds: number;
    try {
      const [result] = (await master.call('bench_load', [scale.steadySeconds, scale.writers], {
        timeoutMs: (scale.steadySeconds + 120) * 1000,
      })) as [unknown];
      target = component(field(result, 'vclock'), masterId);
      // Catch-up: until the replica holds every row the master committed.
      for (;;) {
        const now = component(
          field(((await replica.call('box.info')) as [unknown])[0], 'vclock'),
          masterId,
        );
        if (now >= target) break;
        if (performance.now() - began > (scale.steadySeconds + 120) * 1000)
          throw new Error(`the replica did not catch up (${now} of ${target})`);
        await sleep(1);
      }
      seconds = (performance.now() - began) / 1000;
    } finally {
      running = false;
    }
    for (const outcome of await loops) if (outcome.status === 'rejected') throw outcome.reason;
    lags.sort((a, b) => a - b);
    visible.sort((a, b) => a - b);
    return {
      rowsPerSecond: (target - start) / seconds,
      lagP50Ms: percentile(lags, 50),
      lagP99Ms: percentile(lags, 99),
      visibleP50Us: percentile(visible, 50),
      visibleP99Us: percentile(visible, 99),
      probes: visible.length,
    };
  } finally {
    await Promise.all([master.close(), replica.close(), prober.close()]);
  }
}

export async function countBench(port: number): Promise<number> {
  const client: IprotoClient = await connect(`127.0.0.1:${port}`);
  try {
    const [count] = (await client.call('box.space.bench:len')) as [number];
    return count;
  } finally {
    await client.close();
  }
}

export default {
  name: 'replication',
  async run(scaleName: BenchScale) {
    const scale = SCALES[scaleName];
    const kinds: Pair['kind'][] = hasTarantool ? ['Tarantool 2.6', 'tarantype'] : ['tarantype'];
    const root = await mkdtemp(join(tmpdir(), 'tarantype-bench-replication-'));
    const figures: BenchFigure[] = [];
    let checksum = 0;
    const procs: Proc[] = [];
    try {
      for (const tuples of scale.joinTuples) {
        const joinSeconds = new Map<Pair['kind'], number>();
        for (const kind of kinds) {
          const pair = await startMaster(kind, root, tuples, `join-${tuples}`);
          procs.push(pair.master);
          const spawned = performance.now();
          const { replica, port } = await startReplica(pair, root, `join-${tuples}`);
          procs.push(replica);
          const total = (performance.now() - spawned) / 1000;
          const seconds = joinSecondsFromLog(await replica.log());
          const count = await countBench(port);
          if (count !== tuples)
            throw new Error(`${kind} replica holds ${count} of ${tuples} tuples`);
          checksum += count;
          joinSeconds.set(kind, seconds);
          if (kind === 'tarantype')
            figures.push({
              name: `join ${tuples.toLocaleString('en-US')} tuples: tarantype process start → ready`,
              value: total,
              unit: 's',
            });
          await replica.stop();
          await pair.master.stop();
        }
        const ours = joinSeconds.get('tarantype')!;
        const theirs = joinSeconds.get('Tarantool 2.6');
        figures.push({
          name: `join ${tuples.toLocaleString('en-US')} tuples: tarantype${theirs === undefined ? '' : ` (Tarantool ${theirs.toFixed(2)} s)`}`,
          value: ours,
          unit: 's',
          ...(theirs === undefined
            ? {}
            : { ratio: { value: ours / theirs, against: 'Tarantool', target: '≤ 1.0' } }),
        });
      }
      const results = new Map<Pair['kind'], Steady>();
      for (const kind of kinds) {
        const pair = await startMaster(kind, root, 0, 'steady');
        procs.push(pair.master);
        const { replica, port } = await startReplica(pair, root, 'steady');
        procs.push(replica);
        results.set(kind, await steady(pair.masterPort, port, scale));
        await replica.stop();
        await pair.master.stop();
      }
      const ours = results.get('tarantype')!;
      const theirs = results.get('Tarantool 2.6');
      checksum += Math.round(ours.rowsPerSecond) + ours.probes;
      const with_ = (text: string) => (theirs === undefined ? '' : ` (Tarantool ${text})`);
      figures.push(
        {
          name: `steady, ${scale.writers} writers: replicated rows/s${with_(Math.round(theirs?.rowsPerSecond ?? 0).toLocaleString('en-US'))}`,
          value: ours.rowsPerSecond,
          unit: 'rows/s',
          ...(theirs === undefined
            ? {}
            : {
                ratio: {
                  value: ours.rowsPerSecond / theirs.rowsPerSecond,
                  against: 'Tarantool',
                  target: '≥ 1.0',
                },
              }),
        },
        {
          name: `steady: upstream.lag p50${with_(`${theirs?.lagP50Ms.toFixed(2)} ms`)}`,
          value: ours.lagP50Ms,
          unit: 'ms',
          // The applier's lag is now − row timestamp at millisecond resolution: a row applied
          // within the millisecond it was written reads 0, which is a true figure.
          canBeZero: true,
        },
        {
          name: `steady: upstream.lag p99${with_(`${theirs?.lagP99Ms.toFixed(2)} ms`)}`,
          value: ours.lagP99Ms,
          unit: 'ms',
          canBeZero: true,
          // 2.6 computes upstream.lag from its event loop's cached time and reports negative
          // values under load: a ratio against those would mean nothing.
          ...(theirs === undefined || !(theirs.lagP99Ms > 0) || !(ours.lagP99Ms > 0)
            ? {}
            : {
                ratio: {
                  value: theirs.lagP99Ms / ours.lagP99Ms,
                  against: "Tarantool's p99 / ours",
                  target: '≥ 1.0',
                },
              }),
        },
        {
          name: `steady: commit → visible on the replica p50${with_(`${Math.round(theirs?.visibleP50Us ?? 0)} µs`)}`,
          value: ours.visibleP50Us,
          unit: 'µs',
        },
        {
          name: `steady: commit → visible on the replica p99${with_(`${Math.round(theirs?.visibleP99Us ?? 0)} µs`)}`,
          value: ours.visibleP99Us,
          unit: 'µs',
          ...(theirs === undefined
            ? {}
            : {
                ratio: {
                  value: theirs.visibleP99Us / ours.visibleP99Us,
                  against: "Tarantool's p99 / ours",
                  target: '≥ 1.0',
                },
              }),
        },
      );
      return {
        suite: hasTarantool
          ? 'replication: Tarantool 2.6 pair and tarantype pair, same run'
          : 'replication: tarantype alone (tarantool or ../shared/bench not found: no side-by-side figures)',
        figures,
        checksum,
      };
    } finally {
      await Promise.all(procs.map((p) => p.stop()));
      await rm(root, { recursive: true, force: true });
    }
  },
} satisfies BenchSuite;
