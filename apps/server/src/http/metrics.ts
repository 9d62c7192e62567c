// GET /metrics: the instance in Prometheus' text format (prom-client). Layer: apps/server (an
// HttpRoute of server.ts). Gauges and counters are read from the running instance when scraped
// (box.info(), box.stat(), box.info.memory(), box.info.gc_wal(), the replica set's relays
// and appliers, the journal's stats, the binary port's sockets); only the
// histograms are fed as things happen, by the journal's observer (packages/wal Journal.observe).
// Each instance has its own prom-client Registry (never the global one), so several instances
// in one process each serve their own numbers.
//
// Names and labels are tarantool/metrics' (metrics/tarantool/{info,replicas,operations,network,
// memory,system}.lua) where tarantype has the value: tnt_info_uptime, tnt_info_lsn,
// tnt_info_vclock{id}, tnt_read_only, tnt_replication_lag{id,stream},
// tnt_replication_status{id,stream}, tnt_replication_lsn{id,type}, tnt_stats_op_total{operation},
// tnt_net_sent_total, tnt_net_received_total, tnt_net_connections_{total,current},
// tnt_info_memory_<key of box.info.memory()>, tnt_memory, tnt_cfg_current_time,
// tnt_space_{len,bsize,total_bsize}{name,engine}, tnt_space_index_bsize{name,index_name}. Not exported
// because tarantype has no such value: tnt_info_synchro_*, tnt_election_*, tnt_net_requests_*,
// tnt_memory_virt, slab, vinyl, fiber, LuaJIT and CPU metrics. What Tarantool does not report
// is prefixed tarantype_ (see TARANTYPE_METRICS below and OPERATING.md).
//
// Before box.cfg{} has finished the answer is 503: there is nothing to read yet (/health says
// loading, Prometheus records up = 0).
import { type Box, boxInfoGcWal } from '@tarantype/box';
import { SYSTEM_ID_MAX } from '@tarantype/core';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Instance } from '../instance.js';
import { healthOf } from './health.js';
import type { HttpRoute } from './routes.js';

type Info = Record<string, unknown>;

interface MemberInfo {
  readonly id: number;
  readonly uuid: string;
  readonly lsn: number;
  readonly upstream?: { status: string; lag?: number };
  readonly downstream?: { status: string; lag?: number; vclock?: Record<string, number> };
}

/** WAL write and fdatasync times, seconds: from a page-cache write (~20 µs) to a stalled disk. */
const WAL_LATENCY_BUCKETS_S = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];
/** Transactions per group-commit batch: powers of two up to a full queue of small rows. */
const WAL_BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

/** Every metric this module exports that tarantool/metrics has no name for. */
export const TARANTYPE_METRICS = [
  'tarantype_health',
  'tarantype_wal_write_seconds',
  'tarantype_wal_fsync_seconds',
  'tarantype_wal_batch_transactions',
  'tarantype_wal_writes_total',
  'tarantype_wal_rows_total',
  'tarantype_wal_bytes_total',
  'tarantype_wal_failed_batches_total',
  'tarantype_relay_rows_total',
  'tarantype_applier_rows_total',
  'tarantype_relay_output_bytes',
  'tarantype_gc_consumer_held_bytes',
  'tarantype_event_loop_stalls_total',
  'tarantype_event_loop_stall_seconds_total',
  'tarantype_event_loop_longest_stall_seconds',
] as const;

/** The instance's metrics: one private Registry whose collectors read the instance per scrape. */
export class InstanceMetrics {
  readonly registry = new Registry();
  /** box.info() taken once per scrape, shared by the collectors of that scrape. */
  private info: Info | undefined;
  /** box.info.memory() of the scrape under way. */
  private memory: Record<string, number> | undefined;
  /** The scrape under way (scrape() chains the next one after it). */
  private scrapes: Promise<unknown> = Promise.resolve();
  private readonly walWrite: Histogram;
  private readonly walSync: Histogram;
  private readonly walBatch: Histogram;

  constructor(private readonly instance: Instance) {
    this.registerInfo();
    this.registerReplication();
    this.registerStats();
    this.registerSpaces();
    this.registerWalCounters();
    this.registerGc();
    this.registerWatchdog();
    const registers = [this.registry];
    this.walWrite = new Histogram({
      name: 'tarantype_wal_write_seconds',
      help: "Time of one WAL batch's write() (group commit), seconds",
      buckets: WAL_LATENCY_BUCKETS_S,
      registers,
    });
    this.walSync = new Histogram({
      name: 'tarantype_wal_fsync_seconds',
      help: "Time of one WAL batch's fdatasync (wal_mode fsync), seconds",
      buckets: WAL_LATENCY_BUCKETS_S,
      registers,
    });
    this.walBatch = new Histogram({
      name: 'tarantype_wal_batch_transactions',
      help: 'Transactions per WAL batch (group-commit batch size)',
      buckets: WAL_BATCH_BUCKETS,
      registers,
    });
    // The journal exists once box.cfg{} opened the box; batches before that (bootstrap) are
    // not observed. The journal closes with the box, which ends the observation.
    instance.boxReady.then((box) => this.observeJournal(box));
  }

  /**
   * The text of one scrape, or undefined before box.cfg{} finished. Scrapes run one at a time:
   * the collectors of one share its box.info() (a second scraper, or a curl during a
   * Prometheus scrape, waits for the first).
   */
  scrape(): Promise<string | undefined> {
    const next = this.scrapes.then(() => this.scrapeNow());
    this.scrapes = next.catch(() => undefined);
    return next;
  }

  private async scrapeNow(): Promise<string | undefined> {
    if (!this.instance.configured) return undefined;
    this.info = this.box.info();
    this.memory = this.box.infoMemory();
    this.registerMemory(this.memory);
    try {
      return await this.registry.metrics();
    } finally {
      this.info = undefined;
      this.memory = undefined;
    }
  }

  private observeJournal(box: Box): void {
    box.journal.observe({
      batchWritten: (sample) => {
        this.walWrite.observe(sample.writeMs / 1000);
        if (sample.syncMs !== undefined) this.walSync.observe(sample.syncMs / 1000);
        this.walBatch.observe(sample.transactions);
      },
    });
  }

  private get box(): Box {
    return this.instance.box;
  }

  private current(): Info {
    // scrape() sets it; a collect outside a scrape (getMetricsAsJSON) reads afresh.
    return this.info ?? this.box.info();
  }

  /** A gauge whose values are all set anew at each scrape by `collect`. */
  private gauge(
    name: string,
    help: string,
    labelNames: readonly string[],
    collect: (gauge: Gauge<string>, info: Info) => void | Promise<void>,
  ): void {
    const self = this;
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        // A member that left, or a consumer dropped, must not linger with its last value.
        this.reset();
        return collect(this, self.current());
      },
    });
  }

  /** A counter read from a total the instance keeps (as tarantool/metrics' set_counter). */
  private counter(
    name: string,
    help: string,
    labelNames: readonly string[],
    collect: (set: (labels: Record<string, string>, value: number) => void, info: Info) => void,
  ): void {
    const self = this;
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        collect((labels, value) => this.inc(labels, value), self.current());
      },
    });
  }

  private registerInfo(): void {
    this.gauge('tnt_info_uptime', 'Tarantool uptime', [], (g, info) =>
      g.set(info.uptime as number),
    );
    this.gauge('tnt_info_lsn', 'Tarantool lsn', [], (g, info) => g.set(info.lsn as number));
    this.gauge('tnt_info_vclock', 'VClock', ['id'], (g, info) => {
      for (const [id, lsn] of Object.entries(info.vclock as Record<string, number>))
        g.set({ id }, lsn);
    });
    this.gauge('tnt_read_only', 'Is instance read only', [], (g, info) =>
      g.set(info.ro === true ? 1 : 0),
    );
    // Whole seconds, as tarantool/metrics' clock.time() + 0ULL.
    this.gauge('tnt_cfg_current_time', 'Tarantool cfg time', [], (g) =>
      g.set(Math.floor(Date.now() / 1000)),
    );
    this.gauge(
      'tarantype_health',
      'The /health word: 1 for the current one (ok, read-only, orphan, loading, stopping)',
      ['state'],
      (g) => g.set({ state: healthOf(this.instance).state }, 1),
    );
    this.gauge('tnt_memory', 'Tarantool instance memory usage', [], (g) =>
      g.set(process.memoryUsage().rss),
    );
  }

  /**
   * tnt_info_memory_<key>, one gauge per key of box.info.memory() as tarantool/metrics makes
   * them; the keys are read from the instance at the first scrape.
   */
  private registerMemory(memory: Readonly<Record<string, number>>): void {
    for (const key of Object.keys(memory)) {
      const name = `tnt_info_memory_${key}`;
      if (this.registry.getSingleMetric(name) !== undefined) continue;
      this.gauge(name, `Memory ${key}`, [], (g) => {
        const value = (this.memory ?? this.box.infoMemory())[key];
        if (value !== undefined) g.set(value);
      });
    }
  }

  private registerReplication(): void {
    this.gauge('tnt_replication_lag', 'Replication lag', ['id', 'stream'], (g, info) => {
      for (const member of members(info)) {
        const id = String(member.id);
        if (member.upstream?.lag !== undefined && Number.isFinite(member.upstream.lag))
          g.set({ id, stream: 'upstream' }, member.upstream.lag);
        if (member.downstream?.lag !== undefined)
          g.set({ id, stream: 'downstream' }, member.downstream.lag);
      }
    });
    this.gauge('tnt_replication_status', 'Replication status', ['id', 'stream'], (g, info) => {
      for (const member of members(info)) {
        const id = String(member.id);
        if (member.upstream !== undefined)
          g.set({ id, stream: 'upstream' }, member.upstream.status === 'follow' ? 1 : 0);
        if (member.downstream !== undefined)
          g.set({ id, stream: 'downstream' }, member.downstream.status === 'follow' ? 1 : 0);
      }
    });
    // metrics/tarantool/replicas.lua: on a read-only instance, how far each origin's rows here
    // are behind what box.info.replication says of it; on a writable one, how many of its own
    // rows each downstream has not acked.
    this.gauge('tnt_replication_lsn', 'lsn for instance', ['type', 'id'], (g, info) => {
      const vclock = info.vclock as Record<string, number>;
      const replication = info.replication as Record<string, MemberInfo>;
      if (info.ro === true) {
        for (const [id, lsn] of Object.entries(vclock)) {
          const member = replication[id];
          if (member !== undefined) g.set({ type: 'replica', id }, member.lsn - lsn);
        }
        return;
      }
      for (const member of Object.values(replication)) {
        const acked = member.downstream?.vclock?.[String(info.id)];
        if (acked !== undefined)
          g.set({ type: 'master', id: String(member.id) }, (info.lsn as number) - acked);
      }
    });
    this.counter(
      'tarantype_relay_rows_total',
      'Rows the relay sent to each replica since this instance started',
      ['id'],
      (set, info) => {
        for (const member of members(info)) {
          const rows = this.box.replicaSet.relay.rowsSent(member.uuid);
          if (rows !== undefined) set({ id: String(member.id) }, rows);
        }
      },
    );
    this.gauge(
      'tarantype_relay_output_bytes',
      "Bytes of output each relay holds: rows queued plus the socket's bytes the kernel has not taken",
      ['id'],
      (g, info) => {
        for (const member of members(info)) {
          const bytes = this.box.replicaSet.relay.outputBytes(member.uuid);
          if (bytes !== undefined) g.set({ id: String(member.id) }, bytes);
        }
      },
    );
    this.counter(
      'tarantype_applier_rows_total',
      "Rows applied from each upstream since its applier started (box.cfg's replication)",
      ['id'],
      (set, info) => {
        for (const member of members(info)) {
          const rows = this.box.replicaSet.upstreamRowsApplied(member.uuid);
          if (rows !== undefined) set({ id: String(member.id) }, rows);
        }
      },
    );
  }

  /**
   * metrics/tarantool/spaces.lua: user spaces only (id above box.schema.SYSTEM_ID_MAX, not
   * temporary, no leading underscore) with at least a primary index. bsize is the tuples'
   * bytes, total_bsize adds every index's.
   */
  private registerSpaces(): void {
    const spaces = () =>
      Object.values(this.box.space).filter(
        (space) =>
          space.id > SYSTEM_ID_MAX &&
          !space.temporary &&
          !space.name.startsWith('_') &&
          space.index[0] !== undefined,
      );
    this.gauge('tnt_space_len', 'Space length', ['name', 'engine'], (g) => {
      for (const space of spaces()) g.set({ name: space.name, engine: space.engine }, space.len());
    });
    this.gauge('tnt_space_bsize', 'Space bsize', ['name', 'engine'], (g) => {
      for (const space of spaces())
        g.set({ name: space.name, engine: space.engine }, space.bsize());
    });
    this.gauge('tnt_space_index_bsize', 'Index bsize', ['name', 'index_name'], (g) => {
      for (const space of spaces())
        for (const [key, index] of Object.entries(space.index))
          if (/^\d+$/.test(key)) g.set({ name: space.name, index_name: index.name }, index.bsize());
    });
    this.gauge('tnt_space_total_bsize', 'Space total bsize', ['name', 'engine'], (g) => {
      for (const space of spaces()) {
        let total = space.bsize();
        for (const [key, index] of Object.entries(space.index))
          if (/^\d+$/.test(key)) total += index.bsize();
        g.set({ name: space.name, engine: space.engine }, total);
      }
    });
  }

  private registerStats(): void {
    this.counter('tnt_stats_op_total', 'Total amount of operations', ['operation'], (set) => {
      for (const [name, { total }] of Object.entries(this.box.stat()))
        set({ operation: name.toLowerCase() }, total);
    });
    const net = () => this.instance.net.stats();
    this.counter('tnt_net_sent_total', 'Totally sent in bytes', [], (set) =>
      set({}, net().sentBytes),
    );
    this.counter('tnt_net_received_total', 'Totally received in bytes', [], (set) =>
      set({}, net().receivedBytes),
    );
    this.counter('tnt_net_connections_total', 'Connections total amount', [], (set) =>
      set({}, net().connectionsTotal),
    );
    this.gauge('tnt_net_connections_current', 'Current connections amount', [], (g) =>
      g.set(net().connectionsCurrent),
    );
  }

  private registerWalCounters(): void {
    const stats = () => this.box.journal.stats;
    const counters: ReadonlyArray<[string, string, () => number]> = [
      ['tarantype_wal_writes_total', 'WAL batches written (write() calls)', () => stats().writes],
      ['tarantype_wal_rows_total', 'Rows written to the WAL', () => stats().rows],
      ['tarantype_wal_bytes_total', 'Bytes written to xlog files', () => stats().bytes],
      [
        'tarantype_wal_failed_batches_total',
        'WAL batches that failed (ER_WAL_IO, their transactions rolled back)',
        () => stats().failedBatches,
      ],
    ];
    for (const [name, help, read] of counters)
      this.counter(name, help, [], (set) => set({}, read()));
  }

  /** The event-loop watchdog's counts (watchdog.ts): stalls above box.cfg.too_long_threshold. */
  private registerWatchdog(): void {
    const stats = () => this.instance.watchdog.stats;
    this.counter(
      'tarantype_event_loop_stalls_total',
      'Event-loop stalls longer than box.cfg.too_long_threshold (each logged as "event loop stalled for N s")',
      [],
      (set) => set({}, stats().stalls),
    );
    this.counter(
      'tarantype_event_loop_stall_seconds_total',
      'Seconds the event loop spent in those stalls',
      [],
      (set) => set({}, stats().stalledSeconds),
    );
    this.gauge(
      'tarantype_event_loop_longest_stall_seconds',
      'The longest event-loop stall since the instance started, seconds',
      [],
      (g) => g.set(stats().longestSeconds),
    );
  }

  private registerGc(): void {
    this.gauge(
      'tarantype_gc_consumer_held_bytes',
      'Bytes of xlog files kept for each WAL GC consumer (box.info.gc_wal()): whole files, from the one holding its first row not yet passed to the newest',
      ['name'],
      async (g) => {
        // box.info.gc_wal(): the same bytes `tarantype status` shows as "wal held".
        if (this.box.gcConsumers.list().length === 0) return;
        const gcWal = (await boxInfoGcWal(this.box)) as {
          consumers: Array<{ name: string; wal_bytes: number }>;
        };
        for (const consumer of gcWal.consumers) g.set({ name: consumer.name }, consumer.wal_bytes);
      },
    );
  }
}

/** box.info.replication's members other than this instance. */
function members(info: Info): MemberInfo[] {
  const replication = info.replication as Record<string, MemberInfo>;
  return Object.values(replication).filter((member) => member.id !== info.id);
}

export function metricsRoutes(instance: Instance): HttpRoute[] {
  const metrics = new InstanceMetrics(instance);
  return [
    {
      method: 'GET',
      path: '/metrics',
      async handle(_req, res) {
        const text = await metrics.scrape();
        if (text === undefined) {
          res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end('loading: box.cfg{} has not finished\n');
          return;
        }
        res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
        res.end(text);
      },
    },
  ];
}
