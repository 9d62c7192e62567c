// /metrics of a tarantype replica whose master is a real Tarantool 2.6: its vclock, upstream
// status and lag, and applied rows, against box.info of both instances.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_CFG, httpPort, scrape } from './http-helpers.js';
import {
  type Client,
  Cluster,
  needsTarantool,
  requireTarantool,
  STANDARD_USERS,
  until,
} from './replication/cluster.js';
import { FAST } from './replication/mesh-helpers.js';

const ROWS = 100;

describe.skipIf(needsTarantool.skip)('/metrics of a tarantype replica of Tarantool 2.6', () => {
  let cluster: Cluster;
  let master: Client;
  let replica: Client;
  let http: number;

  beforeAll(async () => {
    requireTarantool();
    cluster = new Cluster('http-metrics-mixed');
    const m = await cluster.node('m1', 'tarantool', { users: STANDARD_USERS, cfg: FAST }).start();
    master = await m.client();
    await master.createSpace('tester');
    await master.createIndex('tester', 'primary');
    const r = await cluster
      .node('r2', 'tarantype', {
        users: STANDARD_USERS,
        replication: [m.uri()],
        readOnly: true,
        cfg: { ...FAST, ...HTTP_CFG },
      })
      .start();
    replica = await r.client();
    http = await httpPort(r);
    await Promise.all(
      Array.from({ length: ROWS }, (_, i) => master.insert('tester', [i, 'x'.repeat(50)])),
    );
    const { lsn } = await master.info();
    await until('the replica caught up', async () => (await replica.info()).vclock[1] === lsn);
  }, 60_000);

  afterAll(async () => {
    await cluster?.cleanup();
  });

  it('vclock, upstream follow with its lag, applied rows and read-only', async () => {
    const metrics = await scrape(http);
    const info = await replica.info();
    const masterInfo = await master.info();
    expect(metrics.get('tnt_info_vclock', { id: '1' })).toBe(masterInfo.lsn);
    expect(metrics.get('tnt_info_vclock', { id: '1' })).toBe(info.vclock[1]);
    expect(info.replication[1]?.upstream?.status).toBe('follow');
    expect(metrics.get('tnt_replication_status', { id: '1', stream: 'upstream' })).toBe(1);
    const lag = metrics.get('tnt_replication_lag', { id: '1', stream: 'upstream' });
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(5);
    // The inserts came through SUBSCRIBE (the space was created before the join).
    expect(metrics.get('tarantype_applier_rows_total', { id: '1' })).toBeGreaterThanOrEqual(ROWS);
    expect(metrics.get('tnt_read_only')).toBe(1);
    expect(metrics.get('tnt_space_len', { name: 'tester', engine: 'memtx' })).toBe(ROWS);
  });
});
