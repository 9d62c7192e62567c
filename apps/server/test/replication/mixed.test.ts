// Mixed replica sets (issue 13): a Tarantool 2.6 master with several spaces, secondary indexes,
// users, grants and 10k rows → a tarantype replica; a tarantype master → a 2.6 replica; a
// master-master pair across both with a duplicate-key conflict and replication_skip_conflict.
// Each test writes every row type the master writes (INSERT, REPLACE, UPDATE with several
// ops, UPSERT's insert and update branches, DELETE, multi-statement transactions, NOP where
// the master can write one), restarts the master (SIGTERM, then SIGKILL), and ends with both
// sides' box.info.replication agreeing and every space compared row by row.
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Client,
  Cluster,
  type InfoView,
  needsTarantool,
  requireTarantool,
  STANDARD_USERS,
  until,
} from './cluster.js';
import { masterMaster } from './mesh-helpers.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

const FAST = {
  replication_timeout: 0.2,
  replication_connect_timeout: 2,
  replication_sync_timeout: 5,
};
const ROWS = 10_000;

/** The schema both masters get: three spaces, unique and non-unique, multi-part indexes. */
const SCHEMA_LUA = `
local a = box.schema.space.create('accounts', {format = {{'id', 'unsigned'}, {'name', 'string'}, {'grp', 'unsigned'}, {'balance', 'unsigned'}}})
a:create_index('primary', {parts = {{1, 'unsigned'}}})
a:create_index('by_name', {parts = {{2, 'string'}}, unique = true})
a:create_index('by_grp', {parts = {{3, 'unsigned'}, {2, 'string'}}, unique = false})
local t = box.schema.space.create('tags')
t:create_index('primary', {parts = {{1, 'string'}, {2, 'unsigned'}}})
t:create_index('by_n', {parts = {{2, 'unsigned'}}, unique = false})
local e = box.schema.space.create('events')
e:create_index('primary')
box.schema.user.create('bob', {password = 'pw'})
box.schema.user.grant('bob', 'read,write', 'space', 'accounts')
box.schema.user.grant('bob', 'read', 'space', 'tags')
box.schema.role.create('auditor')
box.schema.role.grant('auditor', 'read', 'space', 'events')
box.schema.user.grant('bob', 'execute', 'role', 'auditor')
`;

/** 2.6: the schema and 10k rows in a few transactions. */
async function seedTarantool(c: Client): Promise<void> {
  await c.eval(SCHEMA_LUA);
  await c.eval(`
    for b = 0, ${ROWS / 1000 - 1} do
      box.begin()
      for i = b * 1000 + 1, b * 1000 + 1000 do
        box.space.accounts:insert{i, 'name' .. i, i % 10, i * 3}
      end
      box.commit()
    end
    for i = 1, 200 do box.space.tags:insert{'t' .. (i % 7), i} end
    for i = 1, 100 do box.space.events:insert{i, 'e' .. i} end
  `);
}

/** tarantype: the same schema through the box API's Lua names, rows pipelined over iproto. */
async function seedTarantype(c: Client): Promise<void> {
  const call = (name: string, args: unknown[]) => c.iproto.call(name, args, { timeoutMs: 10_000 });
  await call('box.schema.space.create', [
    'accounts',
    {
      format: [
        { name: 'id', type: 'unsigned' },
        { name: 'name', type: 'string' },
        { name: 'grp', type: 'unsigned' },
        { name: 'balance', type: 'unsigned' },
      ],
    },
  ]);
  await call('box.space.accounts:create_index', ['primary', { parts: [[1, 'unsigned']] }]);
  await call('box.space.accounts:create_index', [
    'by_name',
    { parts: [[2, 'string']], unique: true },
  ]);
  await call('box.space.accounts:create_index', [
    'by_grp',
    {
      parts: [
        [3, 'unsigned'],
        [2, 'string'],
      ],
      unique: false,
    },
  ]);
  await call('box.schema.space.create', ['tags', {}]);
  await call('box.space.tags:create_index', [
    'primary',
    {
      parts: [
        [1, 'string'],
        [2, 'unsigned'],
      ],
    },
  ]);
  await call('box.space.tags:create_index', ['by_n', { parts: [[2, 'unsigned']], unique: false }]);
  await call('box.schema.space.create', ['events', {}]);
  await call('box.space.events:create_index', ['primary', {}]);
  await call('box.schema.user.create', ['bob', { password: 'pw' }]);
  await call('box.schema.user.grant', ['bob', 'read,write', 'space', 'accounts']);
  await call('box.schema.user.grant', ['bob', 'read', 'space', 'tags']);
  await call('box.schema.role.create', ['auditor']);
  await call('box.schema.role.grant', ['auditor', 'read', 'space', 'events']);
  await call('box.schema.user.grant', ['bob', 'execute', 'role', 'auditor']);
  const writes: Promise<unknown>[] = [];
  for (let i = 1; i <= ROWS; i++) {
    writes.push(c.insert('accounts', [i, `name${i}`, i % 10, i * 3]));
    if (writes.length === 500) await Promise.all(writes.splice(0));
  }
  for (let i = 1; i <= 200; i++) writes.push(c.insert('tags', [`t${i % 7}`, i]));
  for (let i = 1; i <= 100; i++) writes.push(c.insert('events', [i, `e${i}`]));
  await Promise.all(writes);
}

/**
 * Every row type through iproto (both kinds): INSERT, REPLACE, UPDATE with several ops,
 * (iproto field numbers are 0-based) UPSERT on a missing key (insert branch) and on an existing key (update branch), DELETE.
 * `base` keeps rounds apart.
 */
async function liveWrites(c: Client, base: number): Promise<void> {
  const k = ROWS + base;
  await c.insert('accounts', [k, `live${k}`, 1, 5]);
  await c.iproto.replace('accounts', [k, `live${k}`, 2, 6]);
  await c.iproto.replace('accounts', [base, `replaced${base}`, 3, 7]);
  await c.iproto.update(
    'accounts',
    'primary',
    [base + 1],
    [
      ['+', 3, 10],
      ['=', 2, 9],
      ['!', 4, 'extra'],
    ],
  );
  await c.iproto.update(
    'accounts',
    'by_name',
    [`name${base + 2}`],
    [
      ['-', 3, 1],
      ['=', 1, `renamed${base + 2}`],
    ],
  );
  await c.iproto.upsert('accounts', [k + 1, `upserted${k + 1}`, 4, 0], [['+', 3, 1]]);
  await c.iproto.upsert('accounts', [k + 1, 'ignored', 4, 0], [['+', 3, 100]]);
  await c.iproto.upsert('events', [base, 'ev'], [['=', 1, `ev${base}`]]);
  await c.iproto.delete('accounts', 'primary', [base + 3]);
  await c.iproto.delete('tags', 'primary', [`t${base % 7}`, base]);
  await c.insert('tags', ['live', base]);
}

/** A multi-statement transaction (2.6: box.begin in EVAL). */
async function transaction(c: Client, base: number): Promise<void> {
  await c.eval(
    `
    local base = ...
    box.begin()
    box.space.accounts:insert{${ROWS} + 2000 + base, 'tx' .. base, 7, 70}
    box.space.accounts:update({base + 4}, {{'+', 4, 1000}})
    box.space.events:replace{base + 1000, 'tx'}
    box.space.tags:delete{'t' .. ((base + 5) % 7), base + 5}
    box.commit()
  `,
    [base],
  );
}

/**
 * A NOP written by 2.6: a before_replace trigger that returns the old tuple turns the
 * statement into IPROTO_NOP (it keeps its LSN). The trigger is local: the replica never has it.
 */
async function nop(c: Client, key: number): Promise<void> {
  await c.eval(
    `
    local key = ...
    local s = box.space.events
    local f = s:before_replace(function(old, new) return old end)
    s:replace{key, 'never'}
    s:before_replace(nil, f)
  `,
    [key],
  );
}

/** The spaces a comparison covers: every user space, and the system spaces of the schema. */
async function spaceIds(c: Client): Promise<number[]> {
  const rows = (await c.iproto.select(281, 0, [], {
    iterator: 'ALL',
    timeoutMs: 5000,
  })) as unknown[][];
  return rows.map((r) => Number(r[0])).filter((id) => id >= 512);
}

async function selectAll(c: Client, space: number): Promise<string[]> {
  const rows = await c.iproto.select(space, 0, [], { iterator: 'ALL', timeoutMs: 10_000 });
  return rows.map((r) => JSON.stringify(r));
}

/** Every user space and _space/_index/_user/_priv of user objects, row by row, equal. */
async function expectSameData(a: Client, b: Client): Promise<void> {
  const [ia, ib] = [await spaceIds(a), await spaceIds(b)];
  expect(ib).toEqual(ia);
  expect(ia.length).toBeGreaterThanOrEqual(3);
  for (const id of ia) {
    const [ra, rb] = [await selectAll(a, id), await selectAll(b, id)];
    expect(rb.length, `space ${id} row count`).toBe(ra.length);
    for (let i = 0; i < ra.length; i++)
      if (ra[i] !== rb[i]) expect(rb[i], `space ${id} row ${i}`).toBe(ra[i]);
  }
  const userRows = async (c: Client, space: number) =>
    (await selectAll(c, space)).filter((r) => {
      const id = Number(JSON.parse(r)[0]);
      return space === 280 || space === 288 ? id >= 512 : true;
    });
  // _space and _index of user spaces; _user; _priv.
  for (const sys of [280, 288, 304, 312])
    expect(await userRows(b, sys)).toEqual(await userRows(a, sys));
}

function vclockWithout0(v: Record<number, number>): Record<number, number> {
  const { 0: _, ...rest } = v;
  return rest;
}

/**
 * Both sides' box.info.replication agree: the same ids and uuids, the same vclock, the
 * members' lsns are the vclock's; `upstreamOf` lists who follows whom.
 */
async function expectAgreement(
  sides: readonly Client[],
  follows: ReadonlyArray<[follower: number, source: number]>,
): Promise<InfoView[]> {
  let infos: InfoView[] = [];
  await until(
    'the same vclock and follow/follow on every link',
    async () => {
      infos = await Promise.all(sides.map((c) => c.info()));
      const v0 = JSON.stringify(vclockWithout0(infos[0]!.vclock));
      const state = () => JSON.stringify(infos.map((i) => [i.id, i.vclock, i.replication]));
      if (!infos.every((i) => JSON.stringify(vclockWithout0(i.vclock)) === v0))
        throw new Error(`vclocks differ: ${state()}`);
      for (const [f, s] of follows) {
        const fi = infos[f]!;
        const si = infos[s]!;
        const ack = si.replication[fi.id]?.downstream?.vclock;
        if (
          fi.replication[si.id]?.upstream?.status !== 'follow' ||
          si.replication[fi.id]?.downstream?.status !== 'follow' ||
          ack === undefined ||
          JSON.stringify(vclockWithout0(ack)) !== v0
        )
          throw new Error(`link ${f}→${s} not follow/follow/acked: ${state()}`);
      }
      return true;
    },
    15_000,
    50,
  );
  const members = (i: InfoView) =>
    Object.values(i.replication)
      .map((m) => [m.id, m.uuid, m.lsn])
      .sort((x, y) => Number(x[0]) - Number(y[0]));
  for (const i of infos) {
    expect(members(i)).toEqual(members(infos[0]!));
    for (const m of Object.values(i.replication))
      expect(m.lsn, `member ${m.id} lsn`).toBe(i.vclock[m.id] ?? 0);
    expect(i.cluster.uuid).toBe(infos[0]!.cluster.uuid);
    expect(i.status).toBe('running');
  }
  return infos;
}

async function rowCount(c: Client, space: string): Promise<number> {
  return (await c.select(space)).length;
}

describe.skipIf(needsTarantool.skip)('mixed replica sets with Tarantool 2.6', () => {
  it('2.6 master (3 spaces, secondary indexes, users, 10k rows) → tarantype replica: join, every row type, NOP, multi-statement tx, SIGTERM and SIGKILL restarts', async () => {
    requireTarantool();
    cluster = new Cluster('mixed-26-master');
    const master = await cluster
      .node('m', 'tarantool', { users: STANDARD_USERS, cfg: FAST })
      .start();
    const mc = await master.client();
    await seedTarantool(mc);
    const replica = await cluster
      .node('r', 'tarantype', { users: STANDARD_USERS, replication: [master.uri()], cfg: FAST })
      .start(30_000);
    let rc = await replica.client();
    expect(await rowCount(rc, 'accounts')).toBe(ROWS);
    await liveWrites(mc, 10);
    await transaction(mc, 20);
    const before = (await mc.info()).vclock[1]!;
    await nop(mc, 5000);
    expect((await mc.info()).vclock[1]).toBe(before + 1);
    await expectAgreement([mc, rc], [[1, 0]]);
    await expectSameData(mc, rc);
    // The NOP kept its LSN on both sides and wrote nothing.
    expect(await rc.select('events', [5000], 'EQ')).toEqual([]);

    let m = replica.mark();
    for (const how of ['stop', 'kill'] as const) {
      await master.restart(how);
      const mc2 = await master.client();
      await liveWrites(mc2, 40 + (how === 'kill' ? 10 : 0));
      await transaction(mc2, 60 + (how === 'kill' ? 10 : 0));
      await replica.waitLog(/subscribed$/, 10_000, m);
      m = replica.mark();
      rc = await replica.client();
      await expectAgreement([mc2, rc], [[1, 0]]);
      await expectSameData(mc2, rc);
    }
    expect(await rowCount(rc, 'accounts')).toBeGreaterThan(ROWS);
  }, 90_000);

  it('tarantype master (3 spaces, secondary indexes, users, 10k rows) → 2.6 replica: join, every row type, SIGTERM and SIGKILL restarts', async () => {
    requireTarantool();
    cluster = new Cluster('mixed-tt-master');
    const master = await cluster
      .node('m', 'tarantype', { users: STANDARD_USERS, cfg: FAST })
      .start();
    let mc = await master.client();
    await seedTarantype(mc);
    const replica = await cluster
      // No users of its own: the harness's box.once would write local rows (a {2: n} vclock
      // component the master never sees); alice and replicator come with the join.
      .node('r', 'tarantool', { replication: [master.uri()], cfg: FAST })
      .start(30_000);
    const rc = await replica.client();
    expect(await rowCount(rc, 'accounts')).toBe(ROWS);
    await liveWrites(mc, 10);
    // A multi-statement transaction from tarantype (no box.begin over the wire): dropping a
    // space with two indexes, a grant and rows is one transaction of several rows.
    const call = (name: string, args: unknown[]) => mc.iproto.call(name, args);
    await call('box.schema.space.create', ['scratch', {}]);
    await call('box.space.scratch:create_index', ['primary', {}]);
    await call('box.space.scratch:create_index', ['second', { parts: [[2, 'string']] }]);
    await call('box.schema.user.grant', ['bob', 'read', 'space', 'scratch']);
    for (let i = 1; i <= 5; i++) await mc.insert('scratch', [i, `s${i}`]);
    await until('scratch on the replica', async () => (await rc.select('scratch')).length === 5);
    await call('box.space.scratch:drop', []);
    await expectAgreement([mc, rc], [[1, 0]]);
    await expectSameData(mc, rc);

    let m = replica.mark();
    for (const how of ['stop', 'kill'] as const) {
      await master.restart(how);
      mc = await master.client();
      await liveWrites(mc, 40 + (how === 'kill' ? 10 : 0));
      await replica.waitLog(/subscribed$/, 10_000, m);
      m = replica.mark();
      await expectAgreement([mc, rc], [[1, 0]]);
      await expectSameData(mc, rc);
    }
  }, 90_000);
});

describe.skipIf(needsTarantool.skip)('master-master across 2.6 and tarantype', () => {
  it('2.6 m1 ⇄ tarantype m2: writes on both, a duplicate-key conflict stops both, replication_skip_conflict resumes, SIGTERM/SIGKILL restarts', async () => {
    requireTarantool();
    cluster = new Cluster('mixed-mm');
    const [a, b] = await masterMaster(cluster, ['tarantool', 'tarantype'], FAST);
    const [c1, c2] = [a.client, b.client];
    await seedTarantool(c1);
    await until(
      'the schema and rows on m2',
      async () => (await rowCount(c2, 'accounts')) === ROWS,
      15_000,
    );
    // Every row type from both sides, on keys of their own.
    await liveWrites(c1, 10);
    await transaction(c1, 20);
    await liveWrites(c2, 110);
    await expectAgreement(
      [c1, c2],
      [
        [0, 1],
        [1, 0],
      ],
    );
    await expectSameData(c1, c2);

    // A duplicate key: both links cut, the same primary key written on each side.
    await c1.cfg({ replication: [] });
    await c2.cfg({ replication: [] });
    const key = ROWS + 5000;
    await c1.insert('accounts', [key, 'from m1', 1, 1]);
    await c2.insert('accounts', [key, 'from m2', 2, 2]);
    await c1.cfg({ replication: [b.node.uri()] });
    await c2.cfg({ replication: [a.node.uri()] });
    const dup = "Duplicate key exists in unique index 'primary' in space 'accounts'";
    await until(
      'both stopped on the duplicate key',
      async () => {
        const [r1, r2] = [await c1.replication(), await c2.replication()];
        return r1[2]?.upstream?.status === 'stopped' && r2[1]?.upstream?.status === 'stopped';
      },
      8000,
    );
    expect((await c1.replication())[2]?.upstream?.message).toBe(dup);
    expect((await c2.replication())[1]?.upstream?.message).toBe(dup);
    expect(b.node.log).toMatch(
      /E> ER_TUPLE_FOUND: Duplicate key exists in unique index 'primary' in space 'accounts'$/m,
    );

    // replication_skip_conflict on both, links restarted: each keeps its own row (a NOP for
    // the other's), both follow; one side's replace makes them agree again.
    for (const [c, peer] of [
      [c1, b],
      [c2, a],
    ] as const) {
      await c.cfg({ replication_skip_conflict: true });
      await c.cfg({ replication: [] });
      await c.cfg({ replication: [peer.node.uri()] });
    }
    await expectAgreement(
      [c1, c2],
      [
        [0, 1],
        [1, 0],
      ],
    );
    expect(await c1.select('accounts', [key], 'EQ')).toEqual([[key, 'from m1', 1, 1]]);
    expect(await c2.select('accounts', [key], 'EQ')).toEqual([[key, 'from m2', 2, 2]]);
    await c1.iproto.replace('accounts', [key, 'settled', 3, 3]);
    await expectAgreement(
      [c1, c2],
      [
        [0, 1],
        [1, 0],
      ],
    );
    await expectSameData(c1, c2);

    // m1 (2.6) SIGTERM, then m2 (tarantype) SIGKILL; writes on both after each.
    await a.node.restart('stop', { replication: [b.node.uri()] });
    let d1 = await a.node.client();
    await liveWrites(d1, 200);
    await liveWrites(c2, 300);
    await expectAgreement(
      [d1, c2],
      [
        [0, 1],
        [1, 0],
      ],
    );
    await b.node.restart('kill');
    const d2 = await b.node.client();
    d1 = await a.node.client();
    await transaction(d1, 400);
    await liveWrites(d2, 500);
    await expectAgreement(
      [d1, d2],
      [
        [0, 1],
        [1, 0],
      ],
    );
    await expectSameData(d1, d2);
  }, 90_000);
});

/**
 * What 2.6 writes and tarantype does not model: [name, Lua on the 2.6 master, the refused
 * thing as ER_UNSUPPORTED names it (before " in a row from replica 1 lsn N")].
 */
const REFUSED: ReadonlyArray<readonly [string, string, string]> = [
  [
    'vinyl space',
    `box.schema.space.create('v', {engine = 'vinyl'}):create_index('pk')`,
    "engine 'vinyl' (space 'v', id 512)",
  ],
  ['sequence', `box.schema.sequence.create('seq')`, "sequences (sequence 'seq', id 1)"],
  [
    'auto-increment index',
    `box.schema.space.create('ai'):create_index('pk', {sequence = true})`,
    "sequences (sequence 'ai_seq', id 1)",
  ],
  [
    'SQL view',
    `box.schema.space.create('base', {format = {{'id', 'unsigned'}}}):create_index('pk')
     box.execute([[CREATE VIEW "vv" AS SELECT * FROM "base"]])`,
    "SQL views (space 'vv', id 513)",
  ],
  [
    'SQL-created table',
    `box.execute([[CREATE TABLE t2 (id INT PRIMARY KEY, a TEXT)]])`,
    "SQL-created tables (space 'T2', id 512): field 'ID' has 'nullable_action'",
  ],
  [
    'functional index',
    `box.schema.func.create('fk', {body = 'function(t) return {t[2]} end', is_deterministic = true, is_sandboxed = true})
     local s = box.schema.space.create('f') s:create_index('pk')
     s:create_index('fi', {parts = {{1, 'unsigned'}}, func = 'fk'})`,
    "functional indexes (index 'fi' of space 'f', id 512)",
  ],
  [
    'multikey index',
    `local s = box.schema.space.create('mk') s:create_index('pk')
     s:create_index('m', {parts = {{field = 2, type = 'unsigned', path = '[*]'}}, unique = false})`,
    "multikey indexes (index 'm' of space 'mk', id 512): path '[*]'",
  ],
  [
    'JSON path index',
    `local s = box.schema.space.create('jp') s:create_index('pk')
     s:create_index('j', {parts = {{field = 2, type = 'string', path = 'a.b'}}})`,
    "JSON path indexes (index 'j' of space 'jp', id 512): path 'a.b'",
  ],
  [
    'collation',
    `box.schema.space.create('co'):create_index('pk', {parts = {{1, 'string', collation = 'unicode_ci'}}})`,
    "collations (index 'pk' of space 'co', id 512)",
  ],
  [
    'RTREE index',
    `local s = box.schema.space.create('rt') s:create_index('pk')
     s:create_index('r', {type = 'rtree', unique = false, parts = {{2, 'array'}}})`,
    "index type 'RTREE' (index 'r' of space 'rt', id 512)",
  ],
];

describe.skipIf(needsTarantool.skip)('what a tarantype replica of a 2.6 master refuses', () => {
  it.each(REFUSED)(
    '%s: ER_UNSUPPORTED naming the row and the space, the upstream stopped',
    async (name, lua, what) => {
      requireTarantool();
      cluster = new Cluster(`mixed-refuse-${name}`);
      const master = await cluster
        .node('m', 'tarantool', { users: STANDARD_USERS, cfg: FAST })
        .start();
      const mc = await master.client();
      const replica = await cluster
        .node('r', 'tarantype', { users: STANDARD_USERS, replication: [master.uri()], cfg: FAST })
        .start(30_000);
      const rc = await replica.client();
      const before = (await mc.info()).vclock[1]!;
      const mark = replica.mark();
      await mc.eval(lua);
      const after = (await mc.info()).vclock[1]!;
      const upstream = await until(
        'the upstream stopped',
        async () => {
          const up = (await rc.replication())[1]?.upstream;
          return up?.status === 'stopped' ? up : undefined;
        },
        8000,
      );
      const m = /^tarantype does not support (.*) in a row from replica 1 lsn (\d+)$/.exec(
        upstream.message ?? '',
      );
      expect(m, upstream.message).not.toBeNull();
      expect(m![1]).toBe(what);
      const lsn = Number(m![2]);
      expect(lsn).toBeGreaterThan(before);
      expect(lsn).toBeLessThanOrEqual(after);
      const log = replica.logSince(mark);
      expect(log).toMatch(
        new RegExp(`E> error applying row: \\{type: '[A-Z]+', replica_id: 1, lsn: ${lsn}, `, 'm'),
      );
      expect(log).toContain(`E> ER_UNSUPPORTED: ${upstream.message}\n`);
      // Nothing from the refused row on is applied, and the applier does not move on by itself
      // (rows before it may still be becoming durable when the status is read: let them).
      await new Promise((r) => setTimeout(r, 500));
      const vclock = (await rc.info()).vclock;
      expect(vclock[1]).toBeLessThan(lsn);
      await new Promise((r) => setTimeout(r, 500));
      expect((await rc.replication())[1]?.upstream?.status).toBe('stopped');
      expect((await rc.info()).vclock[1]).toBe(vclock[1]);
    },
    30_000,
  );

  it('a vinyl space in the initial join: the replica does not start, naming the space', async () => {
    requireTarantool();
    cluster = new Cluster('mixed-refuse-join');
    const master = await cluster
      .node('m', 'tarantool', { users: STANDARD_USERS, cfg: FAST })
      .start();
    const mc = await master.client();
    await mc.eval(
      `box.schema.space.create('v', {engine = 'vinyl'}):create_index('pk') box.space.v:insert{1} box.snapshot()`,
    );
    const replica = cluster.node('r', 'tarantype', {
      users: STANDARD_USERS,
      replication: [master.uri()],
      cfg: FAST,
    });
    replica.spawn();
    expect(await replica.exit(15_000)).toBe(1);
    const message =
      "tarantype does not support engine 'vinyl' (space 'v', id 512) in a row of the initial join (space id 280)";
    expect(replica.log).toContain(`E> ER_UNSUPPORTED: ${message}\n`);
    expect(replica.log).toContain(`E> cannot start: ${message}\n`);
  }, 30_000);
});
