// `tarantype status` across a mixed pair: a tarantype master and a Tarantool 2.6 replica.
// 2.6 sends box.info.replication and vclocks as Lua sequences and has no box.info.gc_wal: the
// model reads both shapes, and WAL held is unknown (null), not 0, on the 2.6 member. And a
// tarantype pair whose replication URI names the replication user: peers are asked with the
// operator's login.
import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReplicaSetStatus } from '../../src/status/model.js';
import { Cluster, needsTarantool, requireTarantool, STANDARD_USERS, until } from './cluster.js';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/tarantype.js');

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

function statusJson(uri: string): Promise<ReplicaSetStatus> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [BIN, 'status', uri, '--json'],
      { timeout: 15_000 },
      (error, stdout, stderr) =>
        error === null
          ? done(JSON.parse(stdout) as ReplicaSetStatus)
          : fail(new Error(`${error.message}\n${stderr}`)),
    );
  });
}

describe('tarantype status with a Tarantool 2.6 member', () => {
  it.skipIf(needsTarantool.skip)('reads both members from either side', async () => {
    requireTarantool();
    cluster = new Cluster('status-mixed');
    const m1 = await cluster
      .node('m1', 'tarantype', { users: STANDARD_USERS, cfg: { replication_timeout: 0.3 } })
      .start();
    const r2 = await cluster
      .node('r2', 'tarantool', {
        users: STANDARD_USERS,
        replication: [m1.uri()],
        cfg: { replication_timeout: 0.3 },
      })
      .start();
    const [mc, rc] = [await m1.client(), await r2.client()];
    await until(
      'r2 follows',
      async () => (await rc.replication())[1]?.upstream?.status === 'follow',
    );
    const [mi, ri] = [await mc.info(), await rc.info()];
    // Asked on the 2.6 replica: it names its master in its upstream's peer.
    const fromReplica = await statusJson(r2.uri('alice'));
    expect(fromReplica.members.map((m) => [m.id, m.status, m.source])).toEqual([
      [1, 'up', 'contacted'],
      [2, 'up', 'queried'],
    ]);
    expect(fromReplica.members[0]!.vclock).toEqual(mi.vclock);
    expect(fromReplica.members[1]!.vclock).toEqual(ri.vclock);
    expect(fromReplica.members[0]!.wal_held_bytes).toBeNull();
    expect(fromReplica.members[0]!.upstream?.status).toBe('follow');
    // Asked on the tarantype master: the replica has no address it knows; its relay says up.
    const fromMaster = await statusJson(m1.uri('alice'));
    expect(fromMaster.members.map((m) => [m.id, m.status, m.source])).toEqual([
      [1, 'up', 'queried'],
      [2, 'up', 'seen'],
    ]);
    expect(fromMaster.members[1]!.downstream?.status).toBe('follow');
    expect(fromMaster.members[1]!.wal_held_bytes).toBeGreaterThan(0);
  });

  it("asks peers with the operator's login, not the replication user of a URI", async () => {
    cluster = new Cluster('status-login');
    const m1 = await cluster
      .node('m1', 'tarantype', { users: STANDARD_USERS, cfg: { replication_timeout: 0.3 } })
      .start();
    // The replica's box.cfg.replication names `replicator`, who may not CALL box.info.
    const r2 = await cluster
      .node('r2', 'tarantype', {
        users: STANDARD_USERS,
        replication: [m1.uri()],
        readOnly: true,
        cfg: { replication_timeout: 0.3 },
      })
      .start();
    const rc = await r2.client();
    await until(
      'r2 follows',
      async () => (await rc.replication())[1]?.upstream?.status === 'follow',
    );
    const mi = await (await m1.client()).info();
    const status = await statusJson(r2.uri('alice'));
    expect(status.members.map((m) => [m.id, m.status, m.source, m.error])).toEqual([
      [1, 'up', 'contacted', null],
      [2, 'up', 'queried', null],
    ]);
    expect(status.members[0]!.vclock).toEqual(mi.vclock);
  });
});
