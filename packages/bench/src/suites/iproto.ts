// iproto round trips: the @tarantype/iproto client against the @tarantype/iproto server with a
// trivial handler (the protocol path only: framing, decode, dispatch, encode, sockets), and the
// same client against a real Tarantool 2.6 when `tarantool` is on PATH, in the same run.
// Operations: PING, and SELECT by primary key of one small tuple [1, <32-byte string>, 2],
// at 1, 10, 100 and 1000 requests in flight on one connection.
//
// When this module runs from compiled JavaScript, our server runs in a worker thread, so that
// like Tarantool it has its own event loop and core (the machine has 2: one for the client, one
// for the server). From TypeScript sources (vitest) it runs in-process. Figures are ops/s; the
// ratio is ours / Tarantool's in the same run. The checksum counts completed operations and
// sums the first field of every selected tuple.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  connect,
  createServer,
  type IprotoClient,
  type IprotoHandler,
  type SessionUser,
} from '@tarantype/iproto';
import type { BenchFigure, BenchScale, BenchSuite } from '../harness.js';

const SPACE_ID = 512;
const TUPLE = [1, 'abcdefghijklmnopqrstuvwxyz012345', 2];
const CONCURRENCY = [1, 10, 100, 1000] as const;
const WORKER_ROLE = 'tarantype-iproto-bench-server';

/** The smallest handler: PING answered by the server, SELECT returns one pre-encoded tuple. */
function trivialHandler(): IprotoHandler<SessionUser> {
  const guest = { id: 0, name: 'guest' };
  // [1, "abc…345", 2] as MessagePack, encoded once.
  const tuple = new Uint8Array([0x93, 0x01, 0xd9, 0x20, ...Buffer.from(TUPLE[1] as string), 0x02]);
  const notUsed = () => {
    throw new Error('not used by the benchmark');
  };
  return {
    instanceUuid: () => '00000000-0000-4000-8000-000000000001',
    schemaVersion: () => 1,
    guestUser: () => guest,
    authenticate: () => guest,
    select: () => [tuple],
    insert: notUsed,
    replace: notUsed,
    update: notUsed,
    delete: notUsed,
    upsert: notUsed,
    call: () => [],
  };
}

// Worker-thread entry: serve on an ephemeral port and report it.
if (!isMainThread && (workerData as { role?: string } | null)?.role === WORKER_ROLE) {
  const server = createServer({ handler: trivialHandler() });
  void server.listen(0, '127.0.0.1').then(({ port }) => parentPort?.postMessage({ port }));
}

interface Target {
  readonly name: string;
  readonly port: number;
  stop(): Promise<void>;
}

async function startOurs(): Promise<Target> {
  if (import.meta.url.endsWith('.js')) {
    const worker = new Worker(new URL(import.meta.url), { workerData: { role: WORKER_ROLE } });
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('message', (message: { port: number }) => resolve(message.port));
      worker.once('error', reject);
    });
    return { name: 'tarantype', port, stop: () => worker.terminate().then(() => undefined) };
  }
  const server = createServer({ handler: trivialHandler() });
  const { port } = await server.listen(0, '127.0.0.1');
  return { name: 'tarantype (in-process)', port, stop: () => server.close({ timeoutMs: 1000 }) };
}

const TARANTOOL_SCRIPT = (dir: string) => `
box.cfg{work_dir = ${JSON.stringify(dir)}, wal_mode = 'none', log = 'tarantool.log', checkpoint_interval = 0}
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})
local s = box.schema.space.create('bench', {id = ${SPACE_ID}, if_not_exists = true})
s:create_index('pk', {if_not_exists = true})
s:replace{${TUPLE[0]}, '${TUPLE[1]}', ${TUPLE[2]}}
box.cfg{listen = '127.0.0.1:0'}
local f = io.open('port', 'w'); f:write(tostring(box.info.listen):match(':(%d+)$')); f:close()
`;

/** Starts Tarantool 2.6 if it is installed; undefined otherwise. */
async function startTarantool(): Promise<Target | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'tarantype-bench-iproto-'));
  writeFileSync(join(dir, 'server.lua'), TARANTOOL_SCRIPT(dir));
  const child = spawn('tarantool', ['server.lua'], { cwd: dir, stdio: 'ignore' });
  const failed = new Promise<undefined>((resolve) => child.once('error', () => resolve(undefined)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const ready = (async () => {
    for (let i = 0; i < 500; i++) {
      try {
        const port = Number(readFileSync(join(dir, 'port'), 'utf8'));
        if (port > 0) return port;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return undefined;
  })();
  const port = await Promise.race([ready, failed]);
  if (port === undefined) {
    if (child.pid !== undefined) await stop();
    else rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return { name: 'Tarantool 2.6', port, stop };
}

interface Counters {
  operations: number;
  fieldSum: number;
}

/**
 * Ops/s of `op` run by `concurrency` loops for `durationMs`, after an idle pause (the other
 * server's threads and this process's garbage from the previous run settle) and a warm-up.
 */
async function measure(
  op: () => Promise<unknown>,
  concurrency: number,
  durationMs: number,
  counters: Counters,
): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, Math.min(300, durationMs / 5)));
  const warmUntil = performance.now() + Math.min(300, durationMs / 4);
  const loop = async (deadline: number, count: boolean) => {
    let done = 0;
    while (performance.now() < deadline) {
      const result = await op();
      if (count && Array.isArray(result))
        counters.fieldSum += (result[0] as number[] | undefined)?.[0] ?? 0;
      done++;
    }
    return done;
  };
  await Promise.all(Array.from({ length: concurrency }, () => loop(warmUntil, false)));
  const started = performance.now();
  const deadline = started + durationMs;
  const counts = await Promise.all(Array.from({ length: concurrency }, () => loop(deadline, true)));
  const elapsed = performance.now() - started;
  const total = counts.reduce((a, b) => a + b, 0);
  counters.operations += total;
  return total / (elapsed / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

type Operation = 'ping' | 'select';

async function run(
  client: IprotoClient,
  operation: Operation,
  concurrency: number,
  durationMs: number,
  counters: Counters,
): Promise<number> {
  const op =
    operation === 'ping'
      ? () => client.ping()
      : () => client.select(SPACE_ID, 0, [1], { limit: 1 });
  return measure(op, concurrency, durationMs, counters);
}

const suite: BenchSuite = {
  name: 'iproto',
  async run(scale: BenchScale) {
    const durationMs = scale === 'small' ? 60 : 1500;
    const repetitions = scale === 'small' ? 1 : 3;
    const counters: Counters = { operations: 0, fieldSum: 0 };
    const ours = await startOurs();
    const tarantool = await startTarantool();
    const figures: BenchFigure[] = [];
    try {
      const oursClient = await connect({ port: ours.port });
      const ttClient =
        tarantool === undefined ? undefined : await connect({ port: tarantool.port });
      try {
        for (const operation of ['ping', 'select'] as const) {
          for (const concurrency of CONCURRENCY) {
            // Alternate the two servers (A B A B …) and keep medians: the machine is noisy.
            const a: number[] = [];
            const b: number[] = [];
            for (let r = 0; r < repetitions; r++) {
              a.push(await run(oursClient, operation, concurrency, durationMs, counters));
              if (ttClient !== undefined)
                b.push(await run(ttClient, operation, concurrency, durationMs, counters));
            }
            const name = `${operation}, ${concurrency} in flight`;
            const value = median(a);
            if (b.length === 0) {
              figures.push({ name: `${ours.name} ${name}`, value, unit: 'ops/s' });
              continue;
            }
            const reference = median(b);
            figures.push({
              name: `${ours.name} ${name}`,
              value,
              unit: 'ops/s',
              ratio: {
                value: value / reference,
                against: `${tarantool!.name} (${Math.round(reference)} ops/s)`,
              },
            });
          }
        }
      } finally {
        await oursClient.close();
        await ttClient?.close();
      }
    } finally {
      await ours.stop();
      await tarantool?.stop();
    }
    return { suite: 'iproto', figures, checksum: counters.operations + counters.fieldSum };
  },
};

export default suite;
