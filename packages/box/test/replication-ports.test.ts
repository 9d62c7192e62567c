// box's replication ports against real files: the TransactionSink keeps foreign rows' origin
// and bytes in the WAL, skips covered rows, applies a row raced by two appliers once and
// nothing past a hole; the JoinSource is a consistent view without temporary and is_local
// spaces that pins the WAL; Membership registers in _cluster; replica GC consumers survive a
// restart and leave with their _cluster row.
import { readdir } from 'node:fs/promises';
import {
  type ClientError,
  decode,
  ER_CASCADE_ROLLBACK,
  ErrorCode,
  encode,
  encodeTupleBody,
  IprotoType,
  loadHasher,
  makeXrow,
  type Xrow,
} from '@tarantype/core';
import type { BootstrapTarget } from '@tarantype/replication';
import { NodeFileSystem, XlogCursor } from '@tarantype/wal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Box, BoxRuntime } from '../src/index.js';
import { open, tempDir, tester } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const boxes: Box[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  for (const box of boxes.splice(0)) await box.close().catch(() => {});
  await cleanup();
});

async function start(options: Record<string, unknown> = {}, runtime: BoxRuntime = {}) {
  const result = await open(dir, options, runtime);
  boxes.push(result.box);
  return result;
}

async function restart(box: Box) {
  await box.close();
  boxes.splice(boxes.indexOf(box), 1);
  return start();
}

/** One row of origin `replicaId` inserting `tuple` into `spaceId`. */
function foreignInsert(replicaId: number, lsn: number, spaceId: number, tuple: unknown[]): Xrow {
  const row = makeXrow(IprotoType.INSERT, encodeTupleBody(spaceId, encode(tuple)));
  row.replica_id = replicaId;
  row.lsn = lsn;
  row.tsn = lsn;
  row.timestamp = 1700000000.5;
  return row;
}

async function walRows(box: Box): Promise<Xrow[]> {
  const hasher = await loadHasher();
  const fs = new NodeFileSystem();
  const rows: Xrow[] = [];
  for (const name of (await readdir(box.walDir)).filter((n) => n.endsWith('.xlog')).sort()) {
    const cursor = await XlogCursor.open(fs, `${box.walDir}/${name}`, 'XLOG', hasher);
    if (cursor === undefined) continue;
    for (let tx = await cursor.next(); tx !== undefined; tx = await cursor.next())
      rows.push(...tx.rows.map((row) => ({ ...row, body: row.body.slice() })));
    await cursor.close();
  }
  return rows;
}

describe('TransactionSink', () => {
  it('logs foreign rows with their replica_id, lsn, timestamp and body bytes, and recovers them', async () => {
    let { box } = await start();
    const space = await tester(box);
    const sink = box.replicationPorts;
    const row = foreignInsert(2, 7, space.id, [1, 'from replica 2']);
    const body = row.body.slice();
    expect(await sink.applyTransaction([row])).toBe('applied');
    expect(sink.vclock().get(2)).toBe(7);
    const logged = (await walRows(box)).find((r) => r.replica_id === 2)!;
    expect(logged).toMatchObject({
      replica_id: 2,
      lsn: 7,
      type: IprotoType.INSERT,
      timestamp: 1700000000.5,
    });
    expect(Buffer.from(logged.body).equals(Buffer.from(body))).toBe(true);
    ({ box } = await restart(box));
    expect(box.space.tester!.select()).toEqual([[1, 'from replica 2']]);
    expect(box.info().vclock).toMatchObject({ 2: 7 });
  });

  it('applies a multi-row transaction as one WAL entry, all or nothing', async () => {
    const { box } = await start();
    const space = await tester(box);
    await space.insert([3, 'local']);
    const rows = [1, 2, 3].map((i) => foreignInsert(2, i, space.id, [i, `r${i}`]));
    rows[0]!.is_commit = false;
    rows[1]!.is_commit = false;
    for (const r of rows) r.tsn = 1;
    const error = (await box.replicationPorts
      .applyTransaction(rows)
      .catch((e) => e)) as ClientError;
    expect(error.code).toBe(ErrorCode.ER_TUPLE_FOUND);
    expect(box.space.tester!.select()).toEqual([[3, 'local']]);
    expect(box.replicationPorts.vclock().get(2)).toBe(0);
    const ok = [1, 2].map((i) => foreignInsert(2, i, space.id, [i, `r${i}`]));
    ok[0]!.is_commit = false;
    for (const r of ok) r.tsn = 1;
    expect(await box.replicationPorts.applyTransaction(ok)).toBe('applied');
    const logged = (await walRows(box)).filter((r) => r.replica_id === 2);
    expect(logged.map((r) => [r.lsn, r.tsn, r.is_commit])).toEqual([
      [1, 1, false],
      [2, 1, true],
    ]);
  });

  it('skips rows the vclock covers and applies a row raced by two appliers once', async () => {
    const { box } = await start();
    const space = await tester(box);
    const sink = box.replicationPorts;
    // Two appliers (a mesh) deliver origin 3's lsn 1 at the same moment: one applies it.
    const [a, b] = await Promise.all([
      sink.applyTransaction([foreignInsert(3, 1, space.id, [1, 'x'])]),
      sink.applyTransaction([foreignInsert(3, 1, space.id, [1, 'x'])]),
    ]);
    expect([a, b].sort()).toEqual(['applied', 'skipped']);
    expect(await sink.applyTransaction([foreignInsert(3, 1, space.id, [1, 'x'])])).toBe('skipped');
    expect(box.space.tester!.select()).toEqual([[1, 'x']]);
    expect((await walRows(box)).filter((r) => r.replica_id === 3)).toHaveLength(1);
  });

  it('applies nothing past a hole: a failed transaction fails the ones of its origin given after it', async () => {
    const { box } = await start();
    const space = await tester(box);
    await space.insert([1, 'local']);
    const sink = box.replicationPorts;
    const first = sink.applyTransaction([foreignInsert(2, 1, space.id, [1, 'dup'])]);
    const second = sink.applyTransaction([foreignInsert(2, 2, space.id, [2, 'after the hole'])]);
    const results = await Promise.allSettled([first, second]);
    expect((results[0] as PromiseRejectedResult).reason.code).toBe(ErrorCode.ER_TUPLE_FOUND);
    expect((results[1] as PromiseRejectedResult).reason.code).toBe(ER_CASCADE_ROLLBACK);
    expect(box.space.tester!.get([2])).toBeUndefined();
    expect(sink.vclock().get(2)).toBe(0);
    // The upstream re-sends from the hole: accepted again.
    await box.space.tester!.delete([1]);
    expect(await sink.applyTransaction([foreignInsert(2, 1, space.id, [1, 'dup'])])).toBe(
      'applied',
    );
    expect(await sink.applyTransaction([foreignInsert(2, 2, space.id, [2, 'after'])])).toBe(
      'applied',
    );
  });

  it('applies on a read-only instance (a replica applies what its master did)', async () => {
    const { box } = await start();
    const space = await tester(box);
    await box.cfg({ read_only: true });
    expect(await box.replicationPorts.applyTransaction([foreignInsert(2, 1, space.id, [5])])).toBe(
      'applied',
    );
    expect(box.space.tester!.get([5])).toEqual([5]);
  });

  it('refuses rows with a replica_id outside 1..31 or mixed origins with a typed error', async () => {
    const { box } = await start();
    const space = await tester(box);
    for (const rows of [
      [foreignInsert(32, 1, space.id, [1])],
      [foreignInsert(0, 1, space.id, [1])],
      [foreignInsert(2, 1, space.id, [1]), foreignInsert(3, 1, space.id, [2])],
      [foreignInsert(2, 0, space.id, [1])],
    ]) {
      const error = (await box.replicationPorts
        .applyTransaction(rows)
        .catch((e) => e)) as ClientError;
      expect(error.code).toBe(ErrorCode.ER_PROTOCOL);
    }
    expect(box.space.tester!.select()).toEqual([]);
  });
});

describe('JoinSource', () => {
  it('is a view at one vclock without temporary and is_local spaces, holding the WAL', async () => {
    const { box } = await start();
    const space = await tester(box);
    await space.insert([1, 'a']);
    const temp = await box.schema.space.create('temp', { temporary: true });
    await temp.createIndex('primary');
    await temp.insert([1]);
    const local = await box.schema.space.create('loc', { is_local: true });
    await local.createIndex('primary');
    await local.insert([1]);
    const view = await box.replicationPorts.openJoinView();
    await space.insert([2, 'after the view']);
    expect(view.vclock.get(1)).toBe((box.info().lsn as number) - 1);
    expect(box.infoGc().consumers).toEqual([
      expect.objectContaining({ name: 'join 1', vclock: view.vclock.toObject() }),
    ]);
    const rows: Xrow[] = [];
    for await (const batch of view.rows()) rows.push(...batch);
    view.release();
    expect(box.infoGc().consumers).toEqual([]);
    expect(rows.every((r) => r.type === IprotoType.INSERT && r.lsn === 0)).toBe(true);
    const bodies = rows.map(
      (r) => decode(r.body) as Map<number, unknown> | Record<string, unknown>,
    );
    const spaceIds = bodies.map((b) => (b instanceof Map ? b.get(0x10) : undefined) as number);
    expect(spaceIds).toEqual([...spaceIds].sort((x, y) => x - y));
    const ids = new Set(spaceIds);
    expect(ids.has(space.id)).toBe(true);
    expect(ids.has(temp.id)).toBe(false);
    expect(ids.has(local.id)).toBe(false);
    const testerTuples = bodies
      .filter((b) => b instanceof Map && b.get(0x10) === space.id)
      .map((b) => (b as Map<number, unknown>).get(0x21));
    expect(testerTuples).toEqual([[1, 'a']]);
  });
});

describe('Membership and replica GC consumers', () => {
  it('registers replicas with the lowest free id and refuses users without the replication role', async () => {
    const { box } = await start();
    const ports = box.replicationPorts;
    expect(ports.instanceId()).toBe(1);
    const uuid = '11111111-2222-4333-8444-555555555555';
    expect(await ports.register(uuid)).toBe(2);
    expect(await ports.register(uuid)).toBe(2);
    expect(ports.idOf(uuid)).toBe(2);
    expect(box.space._cluster!.select()).toEqual([
      [1, box.instanceUuid],
      [2, uuid],
    ]);
    await box.schema.user.create('norepl', { password: 'x' });
    const norepl = box.catalog.access.userByName('norepl')!.id;
    expect(() => ports.checkReplicationAccess(norepl)).toThrow(
      "Read access to universe '' is denied for user 'norepl'",
    );
    await box.schema.user.create('repl', { password: 'x' });
    await box.schema.user.grant('repl', 'replication');
    expect(() =>
      ports.checkReplicationAccess(box.catalog.access.userByName('repl')!.id),
    ).not.toThrow();
  });

  it('keeps a replica GC consumer across a restart and drops it with its _cluster row', async () => {
    let { box } = await start();
    const uuid = '11111111-2222-4333-8444-555555555555';
    await box.replicationPorts.register(uuid);
    const acked = box.replicationPorts.vclock();
    box.replicationPorts.advance(uuid, acked);
    ({ box } = await restart(box));
    expect(box.infoGc().consumers).toEqual([
      expect.objectContaining({ name: `replica ${uuid}`, vclock: acked.toObject() }),
    ]);
    await box.space._cluster!.delete([2]);
    expect(box.infoGc().consumers).toEqual([]);
    ({ box } = await restart(box));
    expect(box.infoGc().consumers).toEqual([]);
  });
});

describe('joining a replica set (BootstrapTarget)', () => {
  it('refuses an initial-join row the body codec refuses, at once and without a retry', async () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      // No tuple at all.
      [encode(new Map([[0x10, 512]])), /Missing mandatory field 'tuple' in request/],
      // A tuple that is not an array (xrow_decode_dml's type check).
      [
        encode(
          new Map<number, unknown>([
            [0x10, 512],
            [0x21, 5],
          ]),
        ),
        /Invalid MsgPack - packet body/,
      ],
    ];
    for (const [body, message] of cases) {
      const { dir: joinDir, cleanup } = await tempDir();
      try {
        let attempts = 0;
        const join = async (target: BootstrapTarget) => {
          attempts++;
          target.loadInitial([{ ...makeXrow(IprotoType.INSERT, body), lsn: 1 }]);
        };
        await expect(open(joinDir, {}, { join })).rejects.toThrow(message);
        expect(attempts).toBe(1);
      } finally {
        await cleanup();
      }
    }
  });

  it('fills an empty instance from a master through the ports, snapshots, and restarts as the same member', async () => {
    const { dir: masterDir, cleanup: cleanMaster } = await tempDir();
    try {
      const { box: master } = await open(masterDir);
      boxes.push(master);
      const space = await tester(master);
      for (let i = 1; i <= 50; i++) await space.insert([i, `row ${i}`]);
      const local = await master.schema.space.create('loc', { is_local: true });
      await local.createIndex('primary');
      await local.insert([1, 'stays on the master']);
      const ports = master.replicationPorts;
      const join = async (target: BootstrapTarget, uuid: string) => {
        const view = await ports.openJoinView();
        try {
          for await (const batch of view.rows()) target.loadInitial(batch);
          await target.initialLoaded(view.vclock);
          // Written on the master while the replica loads: part of the final data.
          await space.insert([51, 'during the join']);
          await ports.register(uuid);
          const end = ports.vclock();
          const controller = new AbortController();
          const seen = view.vclock.copy();
          for await (const rows of ports.follow(view.vclock, controller.signal)) {
            const replicated = rows.filter((row) => row.replica_id !== 0);
            if (replicated.length > 0) await target.applyFinal(replicated);
            for (const row of rows) seen.set(row.replica_id, row.lsn);
            if (end.isLessOrEqual(seen)) break;
          }
          await target.finish(end);
        } finally {
          view.release();
        }
      };
      const { box: replica } = await start({}, { join });
      expect(replica.instanceId).toBe(2);
      expect(replica.catalog.replicasetUuid).toBe(master.catalog.replicasetUuid);
      expect(replica.info().vclock).toEqual(master.info().vclock);
      expect(replica.space.tester!.select()).toEqual(master.space.tester!.select());
      expect(replica.space.tester!.count()).toBe(51);
      expect(replica.space.loc!.select()).toEqual([]);
      expect((await readdir(dir)).filter((n) => n.endsWith('.snap'))).toEqual([
        `${String(master.info().signature).padStart(20, '0')}.snap`,
      ]);
      // The replica follows: a master row arrives through the sink.
      await space.insert([52, 'after the join']);
      const controller = new AbortController();
      for await (const rows of ports.follow(replica.replicationPorts.vclock(), controller.signal)) {
        const replicated = rows.filter((row) => row.replica_id === 1);
        if (replicated.length > 0) await replica.replicationPorts.applyTransaction(replicated);
        break;
      }
      // Restart: local recovery, same uuid and id, no new join.
      const uuid = replica.instanceUuid;
      const restarted = (await restart(replica)).box;
      expect(restarted.instanceUuid).toBe(uuid);
      expect(restarted.instanceId).toBe(2);
      expect(restarted.space.tester!.count()).toBe(52);
      expect(restarted.info().vclock).toEqual(master.info().vclock);
    } finally {
      await cleanMaster();
    }
  });
});
