// /metrics of real processes during replication: a tarantype master and replica, each serving
// HTTP (the config file's `http:` key), scraped while rows flow and compared with box.info of
// the same instance (lsn, every vclock component, replication status, lag present), the row
// counters against the rows written, and the WAL histograms against the journal's counters.
// The Grafana dashboard's queries are checked against the same scrapes: every metric name the
// dashboard reads must be exported, so the dashboard cannot rot.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_CFG, httpPort, type Scrape, scrape } from './http-helpers.js';
import {
  type Client,
  Cluster,
  type InfoView,
  type Node,
  STANDARD_USERS,
  until,
} from './replication/cluster.js';
import { FAST } from './replication/mesh-helpers.js';

const ROWS = 200;
/** Grafana's reference to the dashboard's data source variable (not a JS template). */
const DATASOURCE_VARIABLE = ['$', '{datasource}'].join('');
const FAMILIES = fileURLToPath(
  new URL('./fixtures/tarantool-metrics-families.txt', import.meta.url),
);
const DASHBOARD = fileURLToPath(new URL('../grafana/tarantype-replicaset.json', import.meta.url));

let cluster: Cluster;
let master: { node: Node; client: Client; http: number };
let replica: { node: Node; client: Client; http: number };

beforeAll(async () => {
  cluster = new Cluster('http-metrics');
  const cfg = { ...FAST, ...HTTP_CFG };
  const m = await cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg }).start();
  const r = await cluster
    .node('r2', 'tarantype', { users: STANDARD_USERS, cfg, replication: [m.uri()], readOnly: true })
    .start();
  master = { node: m, client: await m.client(), http: await httpPort(m) };
  replica = { node: r, client: await r.client(), http: await httpPort(r) };
  await master.client.createSpace('tester');
  await master.client.createIndex('tester', 'primary');
  // Concurrent inserts: some land in one WAL batch (group commit).
  await Promise.all(
    Array.from({ length: ROWS }, (_, i) => master.client.insert('tester', [i, 'x'.repeat(100)])),
  );
  const { lsn } = await master.client.info();
  await until('the replica caught up', async () => {
    const info = await replica.client.info();
    return info.vclock[1] === lsn && info.replication[1]?.upstream?.status === 'follow';
  });
  // The master's downstream has the replica's ack of the last row (lag measured).
  await until('the master saw the ack', async () => {
    const d = (await master.client.replication())[2]?.downstream;
    return d?.vclock?.[1] === lsn && d.lag !== undefined;
  });
}, 60_000);

afterAll(async () => {
  await cluster?.cleanup();
});

/** box.info, then a scrape, then box.info again: a value equal in both is what the scrape saw. */
async function settled(side: {
  client: Client;
  http: number;
}): Promise<{ info: InfoView; metrics: Scrape }> {
  const before = await side.client.info();
  const metrics = await scrape(side.http);
  const after = await side.client.info();
  expect(after.vclock).toEqual(before.vclock);
  return { info: after, metrics };
}

describe('/metrics during replication', () => {
  it('the master: lsn, vclock, read_only, downstream status and lag as its box.info says', async () => {
    const { info, metrics } = await settled(master);
    expect(metrics.get('tnt_info_lsn')).toBe(info.lsn);
    expect(info.lsn).toBeGreaterThanOrEqual(ROWS);
    const ids = Object.keys(info.vclock);
    expect(
      metrics
        .all('tnt_info_vclock')
        .map((s) => s.labels.id)
        .sort(),
    ).toEqual(ids.sort());
    for (const id of ids)
      expect(metrics.get('tnt_info_vclock', { id })).toBe(info.vclock[Number(id)]);
    expect(metrics.get('tnt_read_only')).toBe(0);
    expect(info.ro).toBe(false);
    expect(metrics.get('tarantype_health', { state: 'ok' })).toBe(1);
    const downstream = info.replication[2]!.downstream!;
    expect(downstream.status).toBe('follow');
    expect(metrics.get('tnt_replication_status', { id: '2', stream: 'downstream' })).toBe(1);
    // The master has no upstream: no such series.
    expect(metrics.all('tnt_replication_status', { stream: 'upstream' })).toEqual([]);
    const lag = metrics.get('tnt_replication_lag', { id: '2', stream: 'downstream' });
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(5);
    // Every own row acked by the replica.
    expect(metrics.get('tnt_replication_lsn', { type: 'master', id: '2' })).toBe(0);
    expect(Math.abs(metrics.get('tnt_info_uptime') - (info.uptime as number))).toBeLessThanOrEqual(
      1,
    );
    expect(metrics.types.get('tnt_info_vclock')).toBe('gauge');
  });

  it('the replica: read-only, upstream follow with a lag, the same vclock as the master', async () => {
    const { info, metrics } = await settled(replica);
    const masterInfo = await master.client.info();
    expect(metrics.get('tnt_read_only')).toBe(1);
    expect(metrics.get('tarantype_health', { state: 'read-only' })).toBe(1);
    expect(metrics.get('tnt_info_lsn')).toBe(info.lsn);
    expect(metrics.get('tnt_info_vclock', { id: '1' })).toBe(masterInfo.lsn);
    expect(metrics.get('tnt_info_vclock', { id: '1' })).toBe(info.vclock[1]);
    const upstream = info.replication[1]!.upstream!;
    expect(upstream.status).toBe('follow');
    expect(metrics.get('tnt_replication_status', { id: '1', stream: 'upstream' })).toBe(1);
    const lag = metrics.get('tnt_replication_lag', { id: '1', stream: 'upstream' });
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(5);
    expect(metrics.get('tnt_replication_lsn', { type: 'replica', id: '1' })).toBe(
      info.replication[1]!.lsn - info.vclock[1]!,
    );
  });

  it('row counters: what the relay sent is what the applier applied, at least the rows written', async () => {
    const sent = (await scrape(master.http)).get('tarantype_relay_rows_total', { id: '2' });
    const applied = (await scrape(replica.http)).get('tarantype_applier_rows_total', { id: '1' });
    expect(sent).toBe(applied);
    // The space, its index and the inserts came after the join: all through SUBSCRIBE.
    expect(sent).toBeGreaterThanOrEqual(ROWS + 2);
    const metrics = await scrape(master.http);
    expect(metrics.types.get('tarantype_relay_rows_total')).toBe('counter');
    expect(metrics.get('tnt_stats_op_total', { operation: 'insert' })).toBeGreaterThanOrEqual(ROWS);
  });

  it('WAL: one histogram sample per batch, batch sizes adding up to the transactions', async () => {
    const metrics = await scrape(master.http);
    const writes = metrics.get('tarantype_wal_writes_total');
    expect(writes).toBeGreaterThan(0);
    expect(metrics.get('tarantype_wal_write_seconds_count')).toBe(writes);
    expect(metrics.get('tarantype_wal_batch_transactions_count')).toBe(writes);
    expect(metrics.get('tarantype_wal_write_seconds_bucket', { le: '+Inf' })).toBe(writes);
    // Every observed batch wrote at least one transaction; rows ≥ transactions.
    const transactions = metrics.get('tarantype_wal_batch_transactions_sum');
    expect(transactions).toBeGreaterThanOrEqual(writes);
    expect(metrics.get('tarantype_wal_rows_total')).toBeGreaterThanOrEqual(transactions);
    // Concurrent inserts were grouped: fewer batches than inserts.
    expect(writes).toBeLessThan(ROWS);
    // wal_mode write: no fdatasync.
    expect(metrics.get('tarantype_wal_fsync_seconds_count')).toBe(0);
    expect(metrics.get('tarantype_wal_failed_batches_total')).toBe(0);
  });

  it("GC: the replica's consumer holds the xlog bytes after its vclock", async () => {
    const metrics = await scrape(master.http);
    const gc = await master.client.gc();
    const replicaUuid = (await replica.client.info()).uuid;
    const names = (gc.consumers as Array<{ name: string }>).map((c) => c.name);
    expect(names).toContain(`replica ${replicaUuid}`);
    expect(
      metrics
        .all('tarantype_gc_consumer_held_bytes')
        .map((s) => s.labels.name)
        .sort(),
    ).toEqual(names.sort());
    // The replica acked everything: it holds the newest xlog (the file being written), which
    // has every row of this test in it.
    const held = metrics.get('tarantype_gc_consumer_held_bytes', {
      name: `replica ${replicaUuid}`,
    });
    expect(held).toBeGreaterThan(ROWS * 100);
    // The same bytes box.info.gc_wal() reports (tarantype status' "wal held").
    const [gcWal] =
      await master.client.iproto.call<[{ consumers: Array<Record<string, unknown>> }]>(
        'box.info.gc_wal',
      );
    const own = gcWal.consumers.find((c) => c.name === `replica ${replicaUuid}`);
    expect(own?.wal_bytes).toBe(held);
  });

  it('net: the binary port counts the connections open now and the bytes through it', async () => {
    const metrics = await scrape(master.http);
    // This test's client and the replica's applier at least.
    expect(metrics.get('tnt_net_connections_current')).toBeGreaterThanOrEqual(2);
    expect(metrics.get('tnt_net_connections_total')).toBeGreaterThanOrEqual(
      metrics.get('tnt_net_connections_current'),
    );
    expect(metrics.get('tnt_net_received_total')).toBeGreaterThan(ROWS * 100);
    const again = await scrape(master.http);
    expect(again.get('tnt_net_sent_total')).toBeGreaterThanOrEqual(
      metrics.get('tnt_net_sent_total'),
    );
  });

  it('concurrent scrapes each get every metric with its value', async () => {
    const scrapes = await Promise.all(Array.from({ length: 5 }, () => scrape(master.http)));
    const { info } = await settled(master);
    const memory = (
      await master.client.iproto.call<[Record<string, number>]>('box.info.memory')
    )[0];
    for (const metrics of scrapes) {
      expect([...metrics.names].sort()).toEqual([...scrapes[0]!.names].sort());
      expect(metrics.get('tnt_info_lsn')).toBe(info.lsn);
      expect(metrics.get('tnt_info_memory_data')).toBe(memory.data);
      expect(metrics.get('tnt_info_memory_data')).toBeGreaterThan(ROWS * 100);
      expect(metrics.all('tarantype_gc_consumer_held_bytes')).toHaveLength(1);
    }
  });

  it("every tnt_ family has tarantool/metrics' type and label names (as Tarantool 2.6 exports them)", async () => {
    const reference = new Map<string, { type: string; labels: string }>();
    for (const line of readFileSync(FAMILIES, 'utf8').split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const [name, type, labels] = line.split(' ');
      reference.set(name!, { type: type!, labels: labels! });
    }
    const exported = new Map<string, { type: string; labels: Set<string> }>();
    for (const metrics of [await scrape(master.http), await scrape(replica.http)])
      for (const sample of metrics.samples) {
        if (!sample.name.startsWith('tnt_')) continue;
        const family = exported.get(sample.name) ?? {
          type: metrics.types.get(sample.name) ?? '?',
          labels: new Set<string>(),
        };
        family.labels.add(Object.keys(sample.labels).sort().join(',') || '-');
        exported.set(sample.name, family);
      }
    const ours = [...exported].map(([name, f]) => [name, f.type, [...f.labels].sort().join('|')]);
    const theirs = [...exported.keys()].map((name) => [
      name,
      reference.get(name)?.type,
      reference.get(name)?.labels,
    ]);
    expect(ours).toEqual(theirs);
    // The user space of this test is exported per space, as tarantool/metrics does.
    const metrics = await scrape(master.http);
    expect(metrics.get('tnt_space_len', { name: 'tester', engine: 'memtx' })).toBe(ROWS);
    expect(
      metrics.get('tnt_space_index_bsize', { name: 'tester', index_name: 'primary' }),
    ).toBeGreaterThan(0);
    expect(metrics.get('tnt_space_total_bsize', { name: 'tester' })).toBe(
      metrics.get('tnt_space_bsize', { name: 'tester' }) +
        metrics.get('tnt_space_index_bsize', { name: 'tester', index_name: 'primary' }),
    );
    expect(exported.size).toBeGreaterThanOrEqual(20);
  });

  it('every metric the Grafana dashboard queries is in a real scrape', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as unknown;
    const queries: string[] = [];
    const walk = (value: unknown, key?: string): void => {
      if (typeof value === 'string') {
        if (key === 'expr' || key === 'query' || key === 'definition') queries.push(value);
      } else if (Array.isArray(value)) for (const item of value) walk(item);
      else if (value !== null && typeof value === 'object')
        for (const [k, v] of Object.entries(value)) walk(v, k);
    };
    walk(dashboard);
    const referenced = new Set<string>();
    for (const query of queries)
      for (const m of query.matchAll(/\b(?:tnt|tarantype)_[a-z0-9_]+/g)) referenced.add(m[0]);
    // The panels the task calls for are there (a dashboard that lost them would still pass).
    for (const name of [
      'tnt_replication_lag',
      'tnt_replication_status',
      'tnt_info_lsn',
      'tnt_info_vclock',
      'tnt_stats_op_total',
      'tarantype_wal_write_seconds_bucket',
      'tarantype_gc_consumer_held_bytes',
    ])
      expect(referenced).toContain(name);
    const exported = new Set([
      ...(await scrape(master.http)).names,
      ...(await scrape(replica.http)).names,
    ]);
    const missing = [...referenced].filter((name) => !exported.has(name));
    expect(missing).toEqual([]);
    // Every panel has a query and a data source that is the dashboard's variable.
    const panels = (dashboard as { panels: Array<Record<string, unknown>> }).panels;
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      expect((panel.targets as unknown[]).length, String(panel.title)).toBeGreaterThan(0);
      expect(panel.datasource).toEqual({ type: 'prometheus', uid: DATASOURCE_VARIABLE });
    }
  });
});
