// Issue 10's topologies beyond the reference scenarios, with real processes: a star of several
// replicas of one master, manual failover (a replica promoted by reconfiguration, the old
// master back as its replica), a wiped master rebuilt from its replica, and wal_mode = 'none'
// refusing to be a master with 2.6's error.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, STANDARD_USERS, until } from './cluster.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

const FAST = { replication_timeout: 0.2, replication_connect_timeout: 3 };

describe('topologies', () => {
  it('a star: three replicas of one master receive every row; the master shows three downstreams', async () => {
    cluster = new Cluster('star');
    const master = await cluster
      .node('m', 'tarantype', { users: STANDARD_USERS, cfg: FAST })
      .start();
    const replicas = [];
    for (const name of ['r1', 'r2', 'r3'])
      replicas.push(
        await cluster
          .node(name, 'tarantype', { replication: [master.uri()], readOnly: true, cfg: FAST })
          .start(),
      );
    const mc = await master.client();
    await mc.createSpace('tester');
    await mc.createIndex('tester', 'primary');
    for (let i = 1; i <= 20; i++) await mc.insert('tester', [i, `row ${i}`]);
    const masterVclock = (await mc.info()).vclock;
    for (const replica of replicas) {
      const rc = await replica.client();
      await until(
        `${replica.name} has the rows`,
        async () => (await rc.select('tester')).length === 20,
      );
      expect(await rc.select('tester')).toEqual(await mc.select('tester'));
      expect((await rc.info()).vclock).toEqual(masterVclock);
    }
    const members = await mc.replication();
    const downstreams = Object.values(members).filter((m) => m.downstream?.status === 'follow');
    expect(downstreams).toHaveLength(3);
    expect(Object.keys(members).map(Number).sort()).toEqual([1, 2, 3, 4]);
  });

  it('manual failover: the replica is promoted, the old master comes back as its replica', async () => {
    cluster = new Cluster('failover');
    const m = await cluster.node('m', 'tarantype', { users: STANDARD_USERS, cfg: FAST }).start();
    const r = await cluster
      .node('r', 'tarantype', { replication: [m.uri()], readOnly: true, cfg: FAST })
      .start();
    const mc = await m.client();
    await mc.createSpace('tester');
    await mc.createIndex('tester', 'primary');
    await mc.insert('tester', [1, 'written on the old master']);
    const rc = await r.client();
    await until('replicated', async () => (await rc.select('tester')).length === 1);
    // The master goes away; the replica is promoted by reconfiguration.
    await m.stop();
    await rc.cfg({ read_only: false, replication: '' });
    expect((await rc.info()).ro).toBe(false);
    await rc.insert('tester', [2, 'written on the new master']);
    // The old master comes back as the new master's replica, with its own data and id.
    await m.restart('stop', { replication: [r.uri()], readOnly: true });
    const mc2 = await m.client();
    await until('the old master follows', async () => (await mc2.select('tester')).length === 2);
    expect(await mc2.select('tester')).toEqual([
      [1, 'written on the old master'],
      [2, 'written on the new master'],
    ]);
    const upstream = Object.values(await mc2.replication()).find((x) => x.upstream !== undefined);
    expect(upstream?.upstream?.status).toBe('follow');
    expect((await mc2.info()).id).toBe(1);
    expect((await mc2.info()).vclock).toEqual((await rc.info()).vclock);
  });

  it('a wiped master is rebuilt from its replica: it joins with a new uuid and id', async () => {
    cluster = new Cluster('rebuild');
    const m = await cluster.node('m', 'tarantype', { users: STANDARD_USERS, cfg: FAST }).start();
    const r = await cluster.node('r', 'tarantype', { replication: [m.uri()], cfg: FAST }).start();
    const mc = await m.client();
    await mc.createSpace('tester');
    await mc.createIndex('tester', 'primary');
    for (let i = 1; i <= 10; i++) await mc.insert('tester', [i]);
    const oldUuid = (await mc.info()).uuid;
    const rc = await r.client();
    await until('replicated', async () => (await rc.select('tester')).length === 10);
    await m.stop();
    m.wipe();
    await rc.cfg({ replication: '' });
    await m.restart('stop', { replication: [r.uri()] });
    const rebuilt = await m.client();
    expect(await rebuilt.select('tester')).toEqual(await rc.select('tester'));
    const info = await rebuilt.info();
    expect(info.uuid).not.toBe(oldUuid);
    expect(info.id).toBe(3);
    expect((await rc.cluster()).map(([id]) => id)).toEqual([1, 2, 3]);
  });

  it("refuses to be a master with wal_mode = 'none', as 2.6", async () => {
    cluster = new Cluster('walnone');
    const m = await cluster
      .node('m', 'tarantype', { users: STANDARD_USERS, cfg: { ...FAST, wal_mode: 'none' } })
      .start();
    const r = cluster.node('r', 'tarantype', {
      replication: [m.uri()],
      cfg: { ...FAST, replication_connect_timeout: 1 },
    });
    r.spawn();
    await r.waitLog(/Replication does not support wal_mode = 'none'/, 8000);
    await r.stop();
  });

  it('SIGHUP re-reads the config file: an unchanged URI keeps its applier, replication = [] leaves', async () => {
    cluster = new Cluster('sighup');
    const m = await cluster.node('m', 'tarantype', { users: STANDARD_USERS, cfg: FAST }).start();
    const r = await cluster
      .node('r', 'tarantype', { cfg: { ...FAST, replication: [m.uri()] } })
      .start();
    const rc = await r.client();
    await until('following', async () =>
      Object.values(await rc.replication()).some((x) => x.upstream?.status === 'follow'),
    );
    const configPath = join(r.dir, '..', 'r.config.json');
    const edit = (change: Record<string, unknown>) => {
      const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
      writeFileSync(configPath, JSON.stringify({ ...config, ...change }));
    };
    // A changed timeout, the same URI: the applier is kept (no new connection).
    let mark = r.mark();
    edit({ replication_timeout: 0.25 });
    process.kill(r.pid!, 'SIGHUP');
    await r.waitLog(/config reloaded: replication_timeout$/, 5000, mark);
    expect(await rc.cfgValue('replication_timeout')).toBe(0.25);
    expect(r.logSince(mark)).not.toMatch(/remote master|connecting to/);
    // A static option refuses the reload, loudly, and changes nothing.
    mark = r.mark();
    edit({ memtx_memory: 512 * 1024 * 1024, replication_timeout: 0.3, memtx_max_tuple_size: 'x' });
    process.kill(r.pid!, 'SIGHUP');
    await r.waitLog(/config reload refused, nothing changed: /, 5000, mark);
    expect(await rc.cfgValue('replication_timeout')).toBe(0.25);
    // replication = [] leaves the replica set.
    mark = r.mark();
    edit({ memtx_memory: undefined, memtx_max_tuple_size: undefined, replication: [] });
    process.kill(r.pid!, 'SIGHUP');
    await r.waitLog(/set 'replication' configuration option to \[\]/, 5000, mark);
    await until('left', async () =>
      Object.values(await rc.replication()).every((x) => x.upstream === undefined),
    );
  });
});
