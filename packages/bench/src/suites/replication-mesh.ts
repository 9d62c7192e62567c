// Three-master mesh benchmark (issue: replication part 2), Tarantool 2.6 and tarantype side by
// side in the same run, each mesh of one kind: m1 starts the replica set, m2 and m3 join it,
// then every one lists the other two (box.cfg{replication}). `bench_load` runs on all three at
// once (`writers` concurrent writers each, one insert per transaction, disjoint keys) while
// this process samples each instance's vclock; figures:
// - rows/s applied per instance: rows (its own and replicated, the vclock's signature without
//   component 0) applied between the start and the end of the writers, per second, averaged
//   over the three instances. Target ≥ 1.0× Tarantool's.
// - time to converge: from the moment the last writer stopped until every instance's vclock
//   covers every row written (polled every 5 ms). Target ≤ 1.0× Tarantool's.
// The masters: fixtures/tt-mesh-master.lua (2.6) and the tarantype server with
// fixtures/bench-replication-init.mjs (the same schema and bench_load). Without `tarantool`
// tarantype is measured alone and the report says so.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type IprotoClient } from '@tarantype/iproto';
import type { BenchFigure, BenchScale, BenchSuite } from '../harness.js';
import { freePort, sleep, spawnTarantype, stopProcess, vclockOf } from '../lib/processes.js';

interface Scale {
  readonly seconds: number;
  readonly writers: number;
}

const SCALES: Record<BenchScale, Scale> = {
  small: { seconds: 0.5, writers: 10 },
  large: { seconds: 5, writers: 100 },
};

const ROOT = new URL('../../../../', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'packages', 'bench', 'fixtures');
const TARANTYPE_INIT = join(FIXTURES, 'bench-replication-init.mjs');
const TT_MASTER = join(FIXTURES, 'tt-mesh-master.lua');
const hasTarantool = spawnSync('tarantool', ['--version'], { stdio: 'ignore' }).status === 0;

type Kind = 'Tarantool 2.6' | 'tarantype';

/** One master process and a client of it. */
interface Master {
  readonly child: ChildProcess;
  readonly port: number;
  readonly dir: string;
  output: string;
  client?: IprotoClient;
}

async function startMaster(kind: Kind, root: string, name: string, join?: number): Promise<Master> {
  const port = await freePort();
  const dir = `${root}/${name}`;
  const source = join === undefined ? '' : `127.0.0.1:${join}`;
  const child =
    kind === 'tarantype'
      ? spawnTarantype(
          {
            port,
            dataDir: dir,
            init: TARANTYPE_INIT,
            ...(source === '' ? {} : { replication: source }),
          },
          { stdio: ['ignore', 'pipe', 'pipe'] },
        )
      : spawn('tarantool', [TT_MASTER], {
          env: { ...process.env, LISTEN: `127.0.0.1:${port}`, WORK_DIR: dir, REPLICATION: source },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  const master: Master = { child, port, dir, output: '' };
  child.stdout?.on('data', (c: Buffer) => (master.output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (master.output += c.toString()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready =
      kind === 'tarantype'
        ? master.output.includes('ready to accept requests')
        : existsSync(`${dir}/ready`);
    if (ready) break;
    if (child.exitCode !== null) throw new Error(`${kind} ${name} exited:\n${master.output}`);
    if (Date.now() > deadline) throw new Error(`${kind} ${name} did not start:\n${master.output}`);
    await sleep(20);
  }
  master.client = await connect(`127.0.0.1:${port}`);
  return master;
}

async function stopMaster(master: Master): Promise<void> {
  master.client?.destroy();
  await stopProcess(master.child);
}

async function vclock(kind: Kind, client: IprotoClient): Promise<Map<number, number>> {
  if (kind === 'tarantype') {
    const [info] = (await client.call('box.info')) as [Record<string, unknown>];
    return vclockOf(info.vclock);
  }
  const [v] = (await client.eval('return box.info.vclock')) as [unknown];
  return vclockOf(v);
}

/** Rows of every origin (component 0 left out). */
const signature = (v: Map<number, number>) =>
  [...v].reduce((sum, [id, lsn]) => (id === 0 ? sum : sum + lsn), 0);
const covers = (v: Map<number, number>, target: Map<number, number>) =>
  [...target].every(([id, lsn]) => id === 0 || (v.get(id) ?? 0) >= lsn);

interface MeshResult {
  readonly rowsPerSecond: number;
  readonly convergeMs: number;
  readonly rows: number;
}

async function runMesh(kind: Kind, scale: Scale): Promise<MeshResult> {
  const root = await mkdtemp(join(tmpdir(), `mesh-bench-${kind === 'tarantype' ? 'tp' : 'tt'}-`));
  const masters: Master[] = [];
  try {
    masters.push(await startMaster(kind, root, 'm1'));
    masters.push(await startMaster(kind, root, 'm2', masters[0]!.port));
    masters.push(await startMaster(kind, root, 'm3', masters[0]!.port));
    // The full mesh: each lists the other two.
    for (const m of masters) {
      const uris = masters.filter((o) => o !== m).map((o) => `127.0.0.1:${o.port}`);
      if (kind === 'tarantype') await m.client!.call('box.cfg', [{ replication: uris }]);
      else await m.client!.eval('box.cfg{replication = ...}', [uris]);
    }
    // Start when every instance has everything (the schema from m1).
    const start = await Promise.all(masters.map((m) => vclock(kind, m.client!)));
    const t0 = performance.now();
    const loads = masters.map((m, i) =>
      m.client!.call('bench_load', [scale.seconds, scale.writers, 1e12 + i * 1e10], {
        timeoutMs: (scale.seconds + 120) * 1000,
      }),
    );
    const results = (await Promise.all(loads)) as Array<[unknown]>;
    const stoppedAt = performance.now();
    const atStop = await Promise.all(masters.map((m) => vclock(kind, m.client!)));
    const loadSeconds = (stoppedAt - t0) / 1000;
    // What was written: each origin's own component after its writers stopped.
    const target = new Map<number, number>();
    for (const v of atStop)
      for (const [id, lsn] of v) target.set(id, Math.max(target.get(id) ?? 0, lsn));
    let converged: number | undefined;
    const deadline = Date.now() + 300_000;
    while (converged === undefined) {
      const now = await Promise.all(masters.map((m) => vclock(kind, m.client!)));
      if (now.every((v) => covers(v, target))) converged = performance.now();
      else if (Date.now() > deadline) throw new Error(`${kind} mesh did not converge`);
      else await sleep(5);
    }
    const applied = masters.map((_, i) => signature(atStop[i]!) - signature(start[i]!));
    let rows = 0;
    for (const [r] of results) {
      const value = r as { rows?: number } | Map<string, number>;
      rows += value instanceof Map ? Number(value.get('rows')) : Number(value.rows);
    }
    return {
      rowsPerSecond: applied.reduce((a, b) => a + b, 0) / masters.length / loadSeconds,
      convergeMs: Math.max(0.001, converged - stoppedAt),
      rows,
    };
  } finally {
    await Promise.all(masters.map(stopMaster));
    await rm(root, { recursive: true, force: true });
  }
}

const suite: BenchSuite = {
  name: 'replication-mesh',
  async run(scaleName) {
    const scale = SCALES[scaleName];
    const figures: BenchFigure[] = [];
    const label = `3 masters × ${scale.writers} writers, ${scale.seconds} s`;
    const ours = await runMesh('tarantype', scale);
    const theirs = hasTarantool ? await runMesh('Tarantool 2.6', scale) : undefined;
    figures.push({
      name: `mesh rows/s applied per instance (${label})`,
      value: ours.rowsPerSecond,
      unit: 'rows/s',
      ...(theirs === undefined
        ? {}
        : {
            ratio: {
              value: ours.rowsPerSecond / theirs.rowsPerSecond,
              against: `Tarantool 2.6 (${Math.round(theirs.rowsPerSecond)} rows/s)`,
              target: '≥ 1.0',
            },
          }),
    });
    figures.push({
      name: `mesh time to converge after the writers stop (${label})`,
      value: ours.convergeMs,
      unit: 'ms',
      ...(theirs === undefined
        ? {}
        : {
            ratio: {
              value: ours.convergeMs / theirs.convergeMs,
              against: `Tarantool 2.6 (${theirs.convergeMs.toFixed(1)} ms)`,
              target: '≤ 1.0',
            },
          }),
    });
    if (theirs === undefined)
      figures.push({ name: 'Tarantool 2.6 not installed: tarantype alone', value: 1, unit: '' });
    return { suite: 'replication-mesh', figures, checksum: ours.rows + (theirs?.rows ?? 0) };
  },
};

export default suite;
