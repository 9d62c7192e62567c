// Reference §3 (read_only replica, dynamic read_only, read_only master) and §6 (duplicate
// actions: repeated DDL on a writable replica, box.once, temporary and is_local spaces, a
// master restart) against tarantype processes; the expected texts are the reference's.
import { afterEach, describe, expect, it } from 'vitest';
import { type Client, Cluster, type Node, STANDARD_USERS, until } from './cluster.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

const READONLY = "Can't modify data because this instance is in read-only mode.";
const TIMEOUT = { replication_timeout: 0.3 };

/** m1 with a 'tester' space and one row, r2 its replica (read_only as asked). */
async function pair(
  label: string,
  readOnly: boolean,
): Promise<{ m1: Node; r2: Node; mc: Client; rc: Client }> {
  cluster = new Cluster(label);
  const m1 = cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: TIMEOUT });
  await m1.start();
  const mc = await m1.client();
  await mc.createSpace('tester');
  await mc.createIndex('tester', 'primary');
  await mc.insert('tester', [1, 'Tuple inserted on master']);
  const r2 = cluster.node('r2', 'tarantype', { replication: [m1.uri()], readOnly, cfg: TIMEOUT });
  await r2.start();
  const rc = await r2.client();
  return { m1, r2, mc, rc };
}

/** Waits until the replica's vclock covers the master's (component 0 is local: left out). */
async function caughtUp(mc: Client, rc: Client): Promise<void> {
  const target = (await mc.info()).vclock;
  await until('replica caught up', async () => {
    const v = (await rc.info()).vclock;
    return Object.entries(target).every(([id, lsn]) => id === '0' || (v[Number(id)] ?? 0) >= lsn);
  });
}

const readOnlyError = { code: 7, type: 'ClientError', message: READONLY };

describe('§3 read-only replica', () => {
  it('§3: every DML and DDL on a read_only replica fails with ER_READONLY; status stays running; rows still replicate; snapshot works', async () => {
    const { mc, rc } = await pair('s03', true);
    expect(await rc.info()).toMatchObject({ ro: true, status: 'running' });
    expect(await rc.select('tester')).toEqual([[1, 'Tuple inserted on master']]);
    await expect(rc.insert('tester', [2, 'on replica'])).rejects.toMatchObject(readOnlyError);
    await expect(rc.iproto.replace('tester', [1, 'x'])).rejects.toMatchObject(readOnlyError);
    await expect(rc.iproto.delete('tester', 0, [1])).rejects.toMatchObject(readOnlyError);
    await expect(
      rc.iproto.update('tester', 0, [1], [['=', 2, 'y']], { indexBase: 1 }),
    ).rejects.toMatchObject(readOnlyError);
    await expect(
      rc.iproto.upsert('tester', [1], [['=', 2, 'y']], { indexBase: 1 }),
    ).rejects.toMatchObject(readOnlyError);
    await expect(rc.createSpace('X')).rejects.toMatchObject(readOnlyError);
    await expect(rc.box('box.schema.user.create', ['u1'])).rejects.toMatchObject(readOnlyError);
    await rc.snapshot();
    await mc.insert('tester', [3, 'later on master']);
    await caughtUp(mc, rc);
    expect(await rc.select('tester')).toEqual([
      [1, 'Tuple inserted on master'],
      [3, 'later on master'],
    ]);
    expect((await rc.replication())[1]!.upstream!.status).toBe('follow');
  });

  it('§3c/§3d: read_only is dynamic on the replica and on the master', async () => {
    const { mc, rc } = await pair('s03c', true);
    await rc.cfg({ read_only: false });
    expect((await rc.info()).ro).toBe(false);
    expect(await rc.insert('tester', [4, 'on replica after read_only=false'])).toEqual([
      4,
      'on replica after read_only=false',
    ]);
    await rc.cfg({ read_only: true });
    await expect(rc.insert('tester', [5, 'again'])).rejects.toMatchObject(readOnlyError);
    await mc.cfg({ read_only: true });
    expect(await mc.info()).toMatchObject({ ro: true, status: 'running' });
    await expect(mc.insert('tester', [6, 'x'])).rejects.toMatchObject(readOnlyError);
    await mc.cfg({ read_only: false });
    expect(await mc.insert('tester', [6, 'x'])).toEqual([6, 'x']);
  });
});

describe('§6 duplicate actions', () => {
  it("§6a: repeating DDL on a writable replica: Space 'X' already exists (10), if_not_exists, index and user exist, duplicate key", async () => {
    const { mc, rc } = await pair('s06a', false);
    await mc.createSpace('X');
    await caughtUp(mc, rc);
    const [masterX] = await mc.eval<[number]>('return box.space.X.id');
    expect(await rc.eval('return box.space.X.id')).toEqual([masterX]);
    await expect(rc.createSpace('X')).rejects.toMatchObject({
      type: 'ClientError',
      code: 10,
      message: "Space 'X' already exists",
    });
    expect(
      await rc.eval(
        "local s, created = box.schema.space.create('X', {if_not_exists = true}) return s.id, created, s == box.space.X",
      ),
    ).toEqual([masterX, 'not created', true]);
    await mc.createIndex('X', 'primary');
    await caughtUp(mc, rc);
    await expect(rc.createIndex('X', 'primary')).rejects.toMatchObject({
      message: "Index 'primary' already exists",
    });
    expect(
      await rc.eval("return box.space.X:create_index('primary', {if_not_exists = true}).name"),
    ).toEqual(['primary']);
    await expect(rc.box('box.schema.user.create', ['replicator'])).rejects.toMatchObject({
      message: "User 'replicator' already exists",
    });
    expect(await rc.box('box.schema.user.create', ['replicator', { if_not_exists: true }])).toEqual(
      [],
    );
    await expect(rc.insert('tester', [1, 'dup'])).rejects.toMatchObject({
      code: 3,
      message: "Duplicate key exists in unique index 'primary' in space 'tester'",
    });
  });

  it('§6b: box.once stores once<key> in _schema, which replicates: the replica does not run it again', async () => {
    const { mc, rc } = await pair('s06b', false);
    expect(
      await mc.eval(
        "function f() box.schema.space.create('Y') end box.once('space_creator', f) return box.once('space_creator', f)",
      ),
    ).toEqual([]);
    expect(await mc.eval('return box.space.Y ~= nil')).toEqual([true]);
    await caughtUp(mc, rc);
    const schema = (rows: unknown[][]) => rows.filter((r) => r[0] !== 'cluster');
    expect(schema(await rc.select('_schema'))).toEqual(schema(await mc.select('_schema')));
    expect(await rc.select('_schema', ['oncespace_creator'], 'EQ')).toEqual([
      ['oncespace_creator'],
    ]);
    expect(await rc.eval("return box.once('space_creator', function() return 'ran' end)")).toEqual(
      [],
    );
    expect(await rc.eval("return box.once('other_key', function() return 'ran' end)")).toEqual([
      'ran',
    ]);
    expect(await rc.eval("return box.once('other_key', function() return 'ran' end)")).toEqual([]);
    await expect(rc.eval("return box.once('bad_args')")).rejects.toMatchObject({
      message: 'Illegal parameters, Usage: box.once(key, func, ...)',
    });
    // The replica's own once-row is not sent back to the master.
    await until(
      'downstream vclock has the replica row',
      async () => ((await mc.replication())[2]!.downstream?.vclock?.[2] ?? 0) > 0,
    );
    expect(await mc.select('_schema', ['onceother_key'], 'EQ')).toEqual([]);
  });

  it('§6c/§6d: temporary and is_local data never replicate; writable on a read_only replica; after a master restart temporary is empty, is_local kept', async () => {
    const { m1, mc, rc } = await pair('s06c', true);
    await mc.createSpace('temp', { temporary: true });
    await mc.createIndex('temp', 'pk');
    await mc.insert('temp', [1, 'temporary data']);
    await mc.createSpace('loc', { is_local: true });
    await mc.createIndex('loc', 'pk');
    await mc.insert('loc', [1, 'local data']);
    expect(
      await mc.eval(
        'return box.space.temp.temporary, box.space.temp.is_local, box.space.loc.temporary, box.space.loc.is_local',
      ),
    ).toEqual([true, false, false, true]);
    const [tempDef] = await mc.iproto.select('_space', 'name', ['temp'], { iterator: 'EQ' });
    const [locDef] = await mc.iproto.select('_space', 'name', ['loc'], { iterator: 'EQ' });
    expect((tempDef as unknown[])[5]).toEqual({ temporary: true });
    expect((locDef as unknown[])[5]).toEqual({ group_id: 1 });
    const mi = await mc.info();
    // is_local writes go to vclock component 0, not counted in box.info.lsn.
    expect(mi.vclock[0]).toBe(1);
    expect(mi.lsn).toBe(mi.vclock[1]);
    await caughtUp(mc, rc);
    expect(await rc.eval('return box.space.temp ~= nil, box.space.loc ~= nil')).toEqual([
      true,
      true,
    ]);
    expect(await rc.select('temp')).toEqual([]);
    expect(await rc.select('loc')).toEqual([]);
    expect((await rc.info()).ro).toBe(true);
    expect(await rc.insert('temp', [2, 'temp on read_only replica'])).toEqual([
      2,
      'temp on read_only replica',
    ]);
    expect(await rc.insert('loc', [2, 'local on read_only replica'])).toEqual([
      2,
      'local on read_only replica',
    ]);
    const rv = (await rc.info()).vclock;
    expect(rv[0]).toBe(1);
    expect(await mc.select('temp')).toEqual([[1, 'temporary data']]);
    expect(await mc.select('loc')).toEqual([[1, 'local data']]);
    // The peer's downstream.vclock leaves component 0 out.
    const downstream = (await mc.replication())[2]!.downstream!;
    expect(downstream.vclock![0]).toBeUndefined();
    const { 0: _local, ...replicated } = rv;
    expect(downstream.vclock).toEqual(replicated);

    // §6d: restart the master.
    await m1.restart();
    const mc2 = await m1.client();
    expect(await mc2.select('temp')).toEqual([]);
    expect(await mc2.select('loc')).toEqual([[1, 'local data']]);
    expect((await mc2.info()).vclock).toEqual(mi.vclock);
  });
});
