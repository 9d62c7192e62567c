// The backpressure scenario (issue 15, RELIABILITY.md #14/#15) with real processes, shared by
// backpressure.test.ts (a few seconds) and the chaos campaign (scripts/chaos/backpressure.ts,
// longer pauses and more rows): a tarantype master and replica; the replica is SIGSTOPped, the
// master takes a write load of ~1 KiB rows meanwhile, and its memory is sampled the whole time;
// then SIGCONT, and the replica must catch up with every row.
//
// The load replaces a fixed set of keys over and over, so the master's data stays small while
// its WAL grows by the whole load. It runs twice: first with the replica reading (the warm-up:
// what the load costs the heap whatever the replicas do), then with the replica stopped; what
// the second peak has above the first is what the stopped replica costs. What bounds it (PROTOCOL.md §4.3 "Backpressure"): the relay
// stops taking rows once it holds RELAY_OUTPUT_HIGH_WATER_BYTES (queued + the socket's unsent
// bytes), its follower's in-memory feed is dropped past LIVE_FEED_BYTES_MAX and the rows are
// read from the xlog files again later. Both constants are read from the built packages, so the
// bounds follow the code.
import { readFileSync } from 'node:fs';
import { LIVE_FEED_BYTES_MAX } from '@tarantype/wal';
import { HTTP_CFG, httpPort, scrape } from '../http-helpers.js';
import { type Client, type Cluster, type Node, STANDARD_USERS, sleep, until } from './cluster.js';

/** The replication package's relay bound (apps/server does not depend on it directly). */
export async function relayOutputHighWaterBytes(): Promise<number> {
  const url = new URL('../../../../packages/replication/dist/limits.js', import.meta.url);
  const limits = (await import(url.href)) as { RELAY_OUTPUT_HIGH_WATER_BYTES: number };
  return limits.RELAY_OUTPUT_HIGH_WATER_BYTES;
}

export interface BackpressureOptions {
  /** Rows written while the replica is stopped. */
  readonly rows: number;
  /** Rows of the warm-up load (as fast as it goes, replica reading); default `rows`. */
  readonly warmRows?: number;
  /** Bytes of padding per row (the row's body is this plus a few bytes). */
  readonly rowBytes: number;
  /** Distinct keys the rows replace (the data the master keeps). */
  readonly keys: number;
  /** Spread the stopped-replica load over at least this long, ms (0: as fast as it goes). */
  readonly spreadMs?: number;
  /** How long the replica stays stopped after the load, ms (the load itself comes first). */
  readonly extraPauseMs: number;
  /** box.cfg.replication_timeout of both: the relay drops the link after 4 × this of no acks. */
  readonly replicationTimeoutS: number;
  /** Concurrent requests of the load (group commit batches them). */
  readonly window: number;
  readonly log?: (line: string) => void;
}

export interface BackpressureResult {
  readonly rssBeforeBytes: number;
  /** Peak RSS of the warm-up: the same load with the replica reading. */
  readonly rssWarmPeakBytes: number;
  readonly rssPeakBytes: number;
  readonly relayPeakBytes: number;
  readonly samples: number;
  readonly loadMs: number;
  readonly catchUpMs: number;
  readonly masterLsn: number;
  readonly replicaLsn: number;
  /** The relay bound the run was checked against: high water + one transaction. */
  readonly relayBoundBytes: number;
  /** How far the stopped run's RSS peak may exceed the warm-up's: relay + live feed bounds + slack. */
  readonly rssGrowthBoundBytes: number;
  readonly problems: readonly string[];
}

/** The process' resident set from /proc (what the kernel charges it). */
export function vmRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/**
 * What the bounds do not count: the live feed's limit counts row bodies, not the Xrow objects
 * and the WAL batch buffers they are views of, and two runs of the same load differ in when V8
 * collects and how the allocator returns pages. Measured on the 2-core test machine, 100 000
 * rows of 1000 B: the stopped run peaked 20-31 MiB above its warm-up with the bounds in place
 * (bound 52 MiB), and 86 MiB above it with the relay's wait for drain taken out (the relay then
 * held 90 MiB).
 */
export const RSS_SLACK_BYTES = 32 * 1024 * 1024;

interface Peaks {
  readonly rssPeak: number;
  readonly relayPeak: number;
  readonly samples: number;
}

/** Samples the master's RSS (/proc) and its relay's held bytes (/metrics) every 50 ms until stop(). */
function sampler(pid: number, http: number): { stop(): Promise<Peaks> } {
  let running = true;
  let rssPeak = 0;
  let relayPeak = 0;
  let samples = 0;
  const loop = (async () => {
    while (running) {
      rssPeak = Math.max(rssPeak, vmRssBytes(pid));
      const metrics = await scrape(http);
      relayPeak = Math.max(relayPeak, metrics.get('tarantype_relay_output_bytes', { id: '2' }));
      samples++;
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { rssPeak, relayPeak, samples };
    },
  };
}

/** One run. Everything it starts is the cluster's (cleanup() stops it). */
export async function runBackpressure(
  cluster: Cluster,
  options: BackpressureOptions,
): Promise<BackpressureResult> {
  const log = options.log ?? (() => {});
  const highWater = await relayOutputHighWaterBytes();
  const cfg = { ...HTTP_CFG, replication_timeout: options.replicationTimeoutS };
  const m = await cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg }).start();
  const r = await cluster
    .node('r2', 'tarantype', {
      users: STANDARD_USERS,
      cfg: { replication_timeout: options.replicationTimeoutS },
      replication: [m.uri()],
      readOnly: true,
    })
    .start(30_000);
  const http = await httpPort(m);
  const mc = await m.client();
  const rc = await r.client();
  await mc.createSpace('load');
  await mc.createIndex('load', 'primary');
  const pad = 'x'.repeat(options.rowBytes);
  // One row per key first: the data is in place before the measured part.
  await write(mc, 0, options.keys, options.keys, pad, options.window);
  await caughtUp(mc, rc, 30_000);
  const pid = requirePid(m);
  const rssBefore = vmRssBytes(pid);

  // Warm-up: the same load with the replica reading. Its peak is what the load costs the heap
  // and the allocator whatever the replicas do; the stopped replica may add only the bounds.
  const warm = sampler(pid, http);
  const warmRows = options.warmRows ?? options.rows;
  await write(mc, options.keys, warmRows, options.keys, pad, options.window);
  await caughtUp(mc, rc, 60_000);
  const warmed = await warm.stop();
  log(`warm-up: master RSS peak ${(warmed.rssPeak / 1048576).toFixed(1)} MiB`);

  // One transaction = one row: its frame is the body plus the header (< 64 bytes).
  const relayBound = highWater + options.rowBytes + 128;
  const rssGrowthBound = relayBound + LIVE_FEED_BYTES_MAX + RSS_SLACK_BYTES;
  const paused = sampler(pid, http);
  r.pause();
  const loadStart = performance.now();
  let loadMs = 0;
  let measured: Peaks;
  try {
    await write(mc, options.keys + warmRows, options.rows, options.keys, pad, options.window, {
      spreadMs: options.spreadMs ?? 0,
      log,
    });
    loadMs = performance.now() - loadStart;
    log(`load: ${options.rows} rows of ${options.rowBytes} B in ${loadMs.toFixed(0)} ms`);
    await sleep(options.extraPauseMs);
  } finally {
    measured = await paused.stop();
    r.resume();
  }
  const rssPeak = measured.rssPeak;
  const relayPeak = measured.relayPeak;
  const samples = measured.samples;
  const catchUpStart = performance.now();
  const masterLsn = (await mc.info()).lsn;
  await caughtUp(mc, rc, 120_000);
  const catchUpMs = performance.now() - catchUpStart;
  const replicaLsn = (await rc.info()).vclock[1] ?? 0;

  const problems: string[] = [];
  if (relayPeak > relayBound) problems.push(`relay held ${relayPeak} B, bound ${relayBound} B`);
  if (rssPeak - warmed.rssPeak > rssGrowthBound)
    problems.push(
      `master RSS peaked ${rssPeak - warmed.rssPeak} B above the warm-up's while the replica was stopped, bound ${rssGrowthBound} B`,
    );
  if (samples < 3) problems.push(`only ${samples} memory samples`);
  if (replicaLsn !== masterLsn) problems.push(`replica at ${replicaLsn}, master at ${masterLsn}`);
  // Every key has its last value on the replica.
  const [masterRows, replicaRows] = [await mc.select('load'), await rc.select('load')];
  if (JSON.stringify(masterRows) !== JSON.stringify(replicaRows))
    problems.push('the replica has other tuples than the master');
  if (masterRows.length !== options.keys)
    problems.push(`master has ${masterRows.length} keys, expected ${options.keys}`);
  return {
    rssBeforeBytes: rssBefore,
    rssWarmPeakBytes: warmed.rssPeak,
    rssPeakBytes: rssPeak,
    relayPeakBytes: relayPeak,
    samples,
    loadMs,
    catchUpMs,
    masterLsn,
    replicaLsn,
    relayBoundBytes: relayBound,
    rssGrowthBoundBytes: rssGrowthBound,
    problems,
  };
}

function requirePid(node: Node): number {
  if (node.pid === undefined) throw new Error(`${node.name} has no pid`);
  return node.pid;
}

/**
 * Rows `from`..`from + count - 1` as replaces of key `i % keys`, `window` in flight; with
 * `spreadMs`, no faster than count rows in that time (a steady load over a long pause).
 */
async function write(
  client: Client,
  from: number,
  count: number,
  keys: number,
  pad: string,
  window: number,
  pace: { spreadMs: number; log: (line: string) => void } = { spreadMs: 0, log: () => {} },
): Promise<void> {
  let next = from;
  const end = from + count;
  const started = performance.now();
  let lastLog = started;
  const worker = async () => {
    while (next < end) {
      const i = next++;
      if (pace.spreadMs > 0) {
        // Row i is due at its share of the spread.
        const dueMs = ((i - from) / count) * pace.spreadMs;
        const waitMs = started + dueMs - performance.now();
        if (waitMs > 1) await sleep(waitMs);
        if (performance.now() - lastLog > 5000) {
          lastLog = performance.now();
          pace.log(`load: ${i - from} of ${count} rows written`);
        }
      }
      await client.iproto.replace('load', [i % keys, i, pad], { timeoutMs: 60_000 });
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
}

async function caughtUp(master: Client, replica: Client, timeoutMs: number): Promise<void> {
  const { lsn } = await master.info();
  await until(
    `the replica caught up with lsn ${lsn}`,
    async () => {
      const info = await replica.info();
      return info.vclock[1] === lsn && info.replication[1]?.upstream?.status === 'follow';
    },
    timeoutMs,
  );
}
