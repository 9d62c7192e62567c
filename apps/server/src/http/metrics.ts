// GET /metrics: the instance in Prometheus' text format (prom-client). Layer: apps/server (an
// HttpRoute of server.ts). Every value is read from the running instance when scraped
// (box.info(), box.stat(), box.info.memory(), the replica set, the GC consumers, the binary
// port's sockets); nothing is kept between scrapes but counters the instance itself counts.
// Each instance has its own prom-client Registry (never the global one), so several instances
// in one process each serve their own numbers.
//
// Names and labels are tarantool/metrics' (metrics/tarantool/*.lua) where Tarantool has the
// value: tnt_info_uptime, tnt_info_lsn, tnt_info_vclock{id}, tnt_read_only,
// tnt_replication_lag{id,stream}, tnt_replication_status{id,stream}, tnt_replication_lsn{id,type},
// tnt_stats_op_total{operation}, tnt_net_*, tnt_info_memory_*. What Tarantool does not report
// is prefixed tarantype_. Before box.cfg{} has finished the answer is 503 (nothing to read yet;
// /health says loading).
import { Gauge, Registry } from 'prom-client';
import type { Instance } from '../instance.js';
import type { HttpRoute } from './routes.js';

type Info = Record<string, unknown>;

interface MemberInfo {
  readonly id: number;
  readonly lsn: number;
  readonly upstream?: { status: string; lag?: number };
  readonly downstream?: { status: string; lag?: number; vclock?: Record<string, number> };
}

/** The instance's metrics: one private Registry whose collectors read the instance per scrape. */
export class InstanceMetrics {
  readonly registry = new Registry();
  /** box.info() taken once per scrape, shared by the collectors of that scrape. */
  private info: Info | undefined;

  constructor(private readonly instance: Instance) {
    this.registerInfo();
  }

  /** The text of one scrape, or undefined before box.cfg{} finished. */
  async scrape(): Promise<string | undefined> {
    if (!this.instance.configured) return undefined;
    this.info = this.instance.box.info();
    try {
      return await this.registry.metrics();
    } finally {
      this.info = undefined;
    }
  }

  private current(): Info {
    // scrape() sets it; a collect outside a scrape (getMetricsAsJSON in a test) reads afresh.
    return this.info ?? this.instance.box.info();
  }

  private gauge(
    name: string,
    help: string,
    labelNames: readonly string[],
    collect: (gauge: Gauge<string>, info: Info) => void,
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
        collect(this, self.current());
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
    this.gauge('tnt_replication_lag', 'Replication lag', ['id', 'stream'], (g, info) => {
      for (const member of members(info)) {
        if (member.upstream?.lag !== undefined)
          g.set({ id: String(member.id), stream: 'upstream' }, member.upstream.lag);
        if (member.downstream?.lag !== undefined)
          g.set({ id: String(member.id), stream: 'downstream' }, member.downstream.lag);
      }
    });
    this.gauge('tnt_replication_status', 'Replication status', ['id', 'stream'], (g, info) => {
      for (const member of members(info)) {
        if (member.upstream !== undefined)
          g.set(
            { id: String(member.id), stream: 'upstream' },
            member.upstream.status === 'follow' ? 1 : 0,
          );
        if (member.downstream !== undefined)
          g.set(
            { id: String(member.id), stream: 'downstream' },
            member.downstream.status === 'follow' ? 1 : 0,
          );
      }
    });
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
