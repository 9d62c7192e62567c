// RELIABILITY.md scenarios #13, #20, #22 and #23 with real tarantype processes on 127.0.0.1:
// #13 a replica writes while its master is down, then replication resumes;
// #20 an instance lost its newest xlog and gets its own rows back from a peer (2.6: no
//     ID_FILTER in SUBSCRIBE while orphan, and the relay sends a subscriber's own rows it lacks);
// #22 a fresh replica joins a read-only master: 2.6.0 refuses it for good, checked against 2.6
//     by hand ("can't initialize storage: Can't modify data because this instance is in
//     read-only mode."); the retry of gh-6966 came in later versions;
// #23 a 32nd replica: ER_REPLICA_MAX with the id tried, as 2.6 ("Replica count limit reached: 32").
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, STANDARD_USERS, until, vclockOf } from './cluster.js';
import { allFollow, FAST, masterMaster } from './mesh-helpers.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

const READONLY = "Can't modify data because this instance is in read-only mode.";

describe('RELIABILITY.md #13, #20, #22, #23', () => {
  it('#13: a replica written while its master is down bumps its own component; replication resumes after the restart', async () => {
    cluster = new Cluster('s13');
    const m1 = await cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: FAST }).start();
    const mc = await m1.client();
    await mc.createSpace('tester');
    await mc.createIndex('tester', 'primary');
    await mc.insert('tester', [1, 'from m1']);
    const r2 = await cluster
      .node('r2', 'tarantype', { replication: [m1.uri()], cfg: FAST })
      .start();
    const rc = await r2.client();
    await until('replicated', async () => (await rc.select('tester')).length === 1);

    await m1.stop();
    // The replica is writable (read_only is off): its rows go to vclock component 2.
    await rc.insert('tester', [2, 'from r2 while m1 is down']);
    await rc.insert('tester', [3, 'from r2 while m1 is down']);
    const written = vclockOf((await rc.info()).vclock);
    expect(written[2]).toBe(2);

    await m1.start();
    const mc2 = await m1.client();
    await mc2.insert('tester', [4, 'from m1 after its restart']);
    await until(
      'the replica follows again and has the new row',
      async () =>
        (await rc.replication())[1]?.upstream?.status === 'follow' &&
        (await rc.select('tester')).length === 4,
      8000,
    );
    const after = vclockOf((await rc.info()).vclock);
    expect(after[2]).toBe(2);
    expect(after[1]).toBe(vclockOf((await mc2.info()).vclock)[1]);
    // The master does not replicate from r2: it has only its own rows.
    expect((await mc2.select('tester')).map((t) => t[0])).toEqual([1, 4]);
    expect((await rc.info()).status).toBe('running');
  });

  it('#20: an instance whose newest xlog was deleted gets its own rows back from its peer', async () => {
    cluster = new Cluster('s20');
    const [a, b] = await masterMaster(cluster, ['tarantype', 'tarantype']);
    for (let i = 1; i <= 5; i++) await b.client.insert('tester', [i, `b${i}`]);
    const bId = (await b.client.info()).id;
    await until('a has b rows', async () => (await a.client.select('tester')).length === 5);
    await b.node.stop();
    const xlogs = readdirSync(b.node.dir)
      .filter((f) => f.endsWith('.xlog'))
      .sort();
    // The rows of b's writes are in its newest xlog (no snapshot since): delete it.
    unlinkSync(join(b.node.dir, xlogs.at(-1)!));
    const mark = b.node.mark();
    await b.node.start();
    // Local recovery ended without b's rows; a's relay had them.
    expect(b.node.logSince(mark)).toMatch(
      new RegExp(`remote vclock \\{1: \\d+, ${bId}: 5\\} local vclock \\{1: \\d+\\}$`, 'm'),
    );
    const bc = await b.node.client();
    // Read-only until synced: at "ready" b has its rows back, or it is still an orphan.
    const atReady = await bc.info();
    if ((await bc.select('tester')).length < 5) expect(atReady.ro).toBe(true);
    await until(
      'b recovered its own rows from a',
      async () => (await bc.select('tester')).length === 5,
      8000,
    );
    expect(vclockOf((await bc.info()).vclock)[bId]).toBe(5);
    expect((await bc.info()).status).toBe('running');
    await allFollow([a, { node: b.node, client: bc }]);
    // New writes on b continue its component after the recovered rows, and reach a.
    await bc.insert('tester', [6, 'b6']);
    expect(vclockOf((await bc.info()).vclock)[bId]).toBe(6);
    await until('a has b6', async () => (await a.client.select('tester')).length === 6);
  });

  it('#22: a fresh replica of a read-only master is refused with ER_READONLY and exits 1', async () => {
    cluster = new Cluster('s22');
    const m1 = await cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: FAST }).start();
    const mc = await m1.client();
    await mc.cfg({ read_only: true });
    const r2 = cluster.node('r2', 'tarantype', {
      replication: [m1.uri()],
      cfg: { ...FAST, replication_connect_timeout: 2 },
    });
    r2.spawn();
    const code = await r2.exit(15_000);
    expect(code).toBe(1);
    expect(r2.log).toContain(READONLY);
  });

  it('#23: a 32nd replica is refused with ER_REPLICA_MAX, as is a _cluster row with id 32', async () => {
    cluster = new Cluster('s23');
    const m1 = await cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: FAST }).start();
    const mc = await m1.client();
    // Ids 2..31 taken: the replica set is full (ids 1..31; VCLOCK_MAX is 32).
    for (let id = 2; id <= 31; id++)
      await mc.insert('_cluster', [id, `aaaaaaaa-aaaa-4aaa-8aaa-${String(id).padStart(12, '0')}`]);
    await expect(
      mc.insert('_cluster', [32, 'aaaaaaaa-aaaa-4aaa-8aaa-000000000032']),
    ).rejects.toMatchObject({ code: 73, message: 'Replica count limit reached: 32' });
    const r = cluster.node('r', 'tarantype', {
      replication: [m1.uri()],
      cfg: { ...FAST, replication_connect_timeout: 2 },
    });
    r.spawn();
    expect(await r.exit(15_000)).toBe(1);
    expect(r.log).toContain('Replica count limit reached: 32');
    expect((await mc.cluster()).length).toBe(31);
  });
});
