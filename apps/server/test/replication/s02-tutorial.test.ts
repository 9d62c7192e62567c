// Reference §2 (the two-terminal tutorial, seed 6.10) with tarantype processes driven over
// Tarantool 2.6's net.box: the master goes away and comes back while the replica keeps
// working, then the master follows the replica too. replication_timeout is 0.3 s here, so
// every retry line reads "will retry every 0.30 second" (2.6's default 1 s would say 1.00).
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Cluster,
  expectInOrder,
  needsTarantool,
  poll,
  requireTarantool,
  type Seen,
  STANDARD_USERS,
  stateLine,
  UUID,
  until,
} from './cluster.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

const TIMEOUT = { replication_timeout: 0.3 };

/** A net.box session as the seed's user types it: connect as alice, run `body`, print results. */
function netbox(port: number, body: string): string {
  return `
local net = require('net.box')
local json = require('json')
local c = net.connect('alice:secret@127.0.0.1:${port}', {wait_connected = true, connect_timeout = 5})
assert(c:is_connected(), 'not connected: ' .. tostring(c.error))
local function say(v) print(json.encode(v)) end
${body}
c:close()`;
}

describe.skipIf(needsTarantool.skip)('§2 the two-terminal tutorial over net.box', () => {
  it('§2: the replica keeps working while the master is down, re-subscribes, then the master follows it', async () => {
    requireTarantool();
    cluster = new Cluster('s02');
    const m1 = cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: TIMEOUT });
    await m1.start();
    const r2 = cluster.node('r2', 'tarantype', { replication: [m1.uri()], cfg: TIMEOUT });
    await r2.start();

    // Terminal 1: the space, an index created with net.box's {} (an empty msgpack array), a row.
    expect(
      await cluster.netbox(
        netbox(
          m1.port,
          `
c:call('box.schema.space.create', {'tester'})
c:call('box.space.tester:create_index', {'primary', {}})
say(c.space.tester:insert{1, 'Tuple inserted on Terminal #1'})
say(c.space.tester:select({0}, {iterator = 'GE'}))`,
        ),
      ),
    ).toEqual(['[1,"Tuple inserted on Terminal #1"]', '[[1,"Tuple inserted on Terminal #1"]]']);

    // Terminal 2: the replica has it, and takes a write of its own.
    const rc = await r2.client();
    await until('tester on the replica', async () => (await rc.select('tester')).length === 1);
    expect(
      await cluster.netbox(
        netbox(
          r2.port,
          `
say(c:call('box.space._cluster:select', {{0}, {iterator = 'GE'}}))
say(c.space.tester:select({1}, {iterator = 'GE'}))
say(c.space.tester:insert{2, 'Tuple inserted on Terminal #2'})`,
        ),
      ),
    ).toEqual([
      expect.stringMatching(new RegExp(`^\\[\\[1,"${UUID}"\\],\\[2,"${UUID}"\\]\\]$`)),
      '[[1,"Tuple inserted on Terminal #1"]]',
      '[2,"Tuple inserted on Terminal #2"]',
    ]);

    // Terminal 1: the master is killed (SIGKILL; the reference's os.exit() is §2b A). The
    // replica's upstream: disconnected, EOF, then refused connects.
    const mark = r2.mark();
    await m1.kill();
    await r2.waitLog(
      /applier\/replicator@127\.0\.0\.1:\d+ I> will retry every 0\.30 second$/,
      3000,
      mark,
    );
    expectInOrder(r2.logSince(mark), [
      new RegExp(`applier/replicator@127\\.0\\.0\\.1:${m1.port} I> can't read row$`),
      new RegExp(
        `applier/replicator@127\\.0\\.0\\.1:${m1.port} .*!> SystemError unexpected EOF when reading from socket, called on fd \\d+, aka 127\\.0\\.0\\.1:\\d+, peer of 127\\.0\\.0\\.1:${m1.port}: Broken pipe$`,
      ),
      /I> will retry every 0\.30 second$/,
    ]);
    const down = await until('refused connects', async () => {
      const u = (await rc.replication())[1]!.upstream!;
      return u.system_message === 'Connection refused' ? u : undefined;
    });
    expect(down).toMatchObject({
      status: 'disconnected',
      peer: `replicator@127.0.0.1:${m1.port}`,
      message: expect.stringMatching(/^connect, called on fd \d+, aka 127\.0\.0\.1:\d+$/),
    });
    expect(typeof down.lag).toBe('number');
    expect(await rc.info()).toMatchObject({ status: 'running', ro: false });
    expect(await rc.insert('tester', [3, 'Another'])).toEqual([3, 'Another']);

    // Terminal 1: tarantool, box.cfg{listen}: the replica is back in follow by itself.
    const back = r2.mark();
    await m1.start();
    await until(
      'follow',
      async () => (await rc.replication())[1]!.upstream?.status === 'follow',
      3000,
    );
    const applier = `applier/replicator@127\\.0\\.0\\.1:${m1.port}`;
    expectInOrder(r2.logSince(back), [
      new RegExp(`${applier} I> authenticated$`),
      new RegExp(`${applier} I> subscribed$`),
      /I> remote vclock \{1: (\d+)\} local vclock \{1: \1, 2: 2\}$/,
      new RegExp(`applierw/replicator@127\\.0\\.0\\.1:${m1.port} C> leaving orphan mode$`),
    ]);
    const mc = await m1.client();
    // The master does not get the replica's rows: it does not follow the replica.
    expect(await mc.select('tester')).toEqual([[1, 'Tuple inserted on Terminal #1']]);

    // box.cfg{replication = 'replicator:password@localhost:3302'} on the master, over net.box.
    const cfgMark = m1.mark();
    await cluster.netbox(netbox(m1.port, `c:call('box.cfg', {{replication = '${r2.uri()}'}})`));
    expect(await mc.select('tester')).toEqual([
      [1, 'Tuple inserted on Terminal #1'],
      [2, 'Tuple inserted on Terminal #2'],
      [3, 'Another'],
    ]);
    expectInOrder(m1.logSince(cfgMark), [
      /I> connecting to 1 replicas$/,
      new RegExp(
        `applier/replicator@127\\.0\\.0\\.1:${r2.port} I> remote master ${UUID} at 127\\.0\\.0\\.1:${r2.port} running Tarantool 2\\.6\\.0$`,
      ),
      /I> connected to 1 replicas$/,
      /I> synchronizing with 1 replicas$/,
      /I> replica set sync complete$/,
      /C> leaving orphan mode$/,
    ]);
    // The password is hidden. Known difference: tarantype logs this line before connecting,
    // 2.6 after the sync.
    expect(m1.logSince(cfgMark)).toMatch(
      new RegExp(
        `I> set 'replication' configuration option to \\["replicator@127\\.0\\.0\\.1:${r2.port}"\\]$`,
        'm',
      ),
    );
    const mi = await mc.info();
    expect(mi.replication[2]!.upstream).toMatchObject({
      status: 'follow',
      peer: `replicator@127.0.0.1:${r2.port}`,
    });
    await until('downstream follow with the replica vclock', async () => {
      const d = (await mc.replication())[2]!.downstream;
      return d?.status === 'follow' && JSON.stringify(d.vclock) === JSON.stringify(mi.vclock);
    });
    expect(mi.vclock[2]).toBe(2);
    expect((await rc.info()).vclock).toEqual(mi.vclock);

    // Terminal 2: os.exit(). The master's relay sees EOF, its applier can't read a row.
    const exitMark = m1.mark();
    await r2.stop();
    await m1.waitLog(/C> exiting the relay loop$/, 3000, exitMark);
    expect(m1.logSince(exitMark)).toMatch(
      new RegExp(
        `relay/127\\.0\\.0\\.1:\\d+ .*!> SystemError unexpected EOF when reading from socket, called on fd \\d+, aka 127\\.0\\.0\\.1:${m1.port}, peer of 127\\.0\\.0\\.1:\\d+: Broken pipe$`,
        'm',
      ),
    );
    await m1.waitLog(
      new RegExp(`applier/replicator@127\\.0\\.0\\.1:${r2.port} I> can't read row$`),
      3000,
      exitMark,
    );
  });
});

/**
 * Checks the upstream states polled after the first (the EOF) while the master is down: each
 * a refused connect, and returns those. A poll may also catch the applier during its next
 * attempt: 'connect', still carrying the last error. 2.6's connect(2) to a closed loopback
 * port fails before a poll can see it; Node reports even that failure an event-loop turn
 * later, which a loaded machine stretches.
 */
function refusedRetries(seen: readonly Seen[]): Seen[] {
  for (let i = 1; i < seen.length; i++) {
    const { state } = seen[i]!;
    if (state.startsWith('connect | '))
      expect(state.slice('connect'.length)).toBe(seen[i - 1]!.state.replace(/^\w+/, ''));
    else
      expect(state).toMatch(
        /^disconnected \| connect, called on fd \d+, aka 127\.0\.0\.1:\d+ \| Connection refused$/,
      );
  }
  return seen.slice(1).filter((s) => s.state.startsWith('disconnected | '));
}

describe('§2b status transitions polled every 20 ms', () => {
  it('§2b A/B/C/C2: master exit, restart, replica exit and restart: the reference sequences', async () => {
    cluster = new Cluster('s02b');
    const m1 = cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: TIMEOUT });
    await m1.start();
    const r2 = cluster.node('r2', 'tarantype', { replication: [m1.uri()], cfg: TIMEOUT });
    await r2.start();
    const rc = await r2.client();
    const upstream = async () => stateLine((await rc.replication())[1]?.upstream);

    // A. The master exits.
    await m1.stop();
    // The replica may not have read the EOF yet when the poll starts: skip a leading follow.
    const a = (await poll(upstream, { forMs: 2000 })).filter((x) => !x.state.startsWith('follow'));
    expect(a[0]!.state).toMatch(
      new RegExp(
        `^disconnected \\| unexpected EOF when reading from socket, called on fd \\d+, aka 127\\.0\\.0\\.1:\\d+, peer of 127\\.0\\.0\\.1:${m1.port} \\| Broken pipe$`,
      ),
    );
    const refused = refusedRetries(a);
    // One refused connect per replication_timeout (0.3 s; 2.6's default 1 s would give 2, and
    // a mean gap of 1000 ms). The bounds leave room for a loaded machine.
    expect(refused.length).toBeGreaterThanOrEqual(3);
    expect(refused.length).toBeLessThanOrEqual(8);
    const gaps = refused.slice(1).map((s, i) => s.t - refused[i]!.t);
    const mean = gaps.reduce((x, y) => x + y, 0) / gaps.length;
    expect(mean).toBeGreaterThan(250);
    expect(mean).toBeLessThan(650);
    expect(await rc.info()).toMatchObject({ status: 'running', ro: false });

    // B. The master restarts: follow again within one retry period.
    m1.spawn();
    const b = await poll(upstream, { forMs: 5000, stopWhen: (s) => s.startsWith('follow') });
    expect(b.at(-1)!.state).toBe('follow | nil | nil');
    // The applier's way back passes connect, connected, auth, ready and sync (2.6's states); a
    // 20 ms poll catches some of them on a loaded machine.
    for (const s of b.slice(0, -1))
      expect(s.state).toMatch(/^(disconnected|connect|connected|auth|ready|sync) \| /);
    await m1.ready();
    const mc = await m1.client();

    // C. The replica exits: the master's downstream is stopped, not removed.
    expect(stateLine((await mc.replication())[2]!.downstream)).toBe('follow | nil | nil');
    await r2.stop();
    const c = await poll(async () => stateLine((await mc.replication())[2]?.downstream), {
      forMs: 2000,
      stopWhen: (s) => s.startsWith('stopped'),
    });
    expect(c.at(-1)!.state).toMatch(
      new RegExp(
        `^stopped \\| unexpected EOF when reading from socket, called on fd \\d+, aka 127\\.0\\.0\\.1:${m1.port}, peer of 127\\.0\\.0\\.1:\\d+ \\| Broken pipe$`,
      ),
    );
    expect(c.at(-1)!.t).toBeLessThan(1500);
    const member = (await mc.replication())[2]!;
    expect(member).toMatchObject({ id: 2, lsn: 0 });
    expect(Object.keys(member.downstream!)).toEqual(['status', 'message', 'system_message']);

    // C2. The replica restarts: local recovery, then SUBSCRIBE with the same id (no new join).
    const mark = m1.mark();
    await r2.start();
    expect((await (await r2.client()).info()).id).toBe(2);
    await until(
      'downstream follow',
      async () => (await mc.replication())[2]!.downstream?.status === 'follow',
    );
    expect(m1.logSince(mark)).not.toMatch(/joining replica/);
    expect(m1.logSince(mark)).toMatch(/subscribed replica/);
  });

  it.skipIf(needsTarantool.skip)(
    '§2b A/B with a Tarantool 2.6 master: the tarantype replica sees its exit and restart as a 2.6 replica does',
    async () => {
      requireTarantool();
      cluster = new Cluster('s02b-26');
      const m1 = cluster.node('m1', 'tarantool', { users: STANDARD_USERS, cfg: TIMEOUT });
      await m1.start();
      const r2 = cluster.node('r2', 'tarantype', { replication: [m1.uri()], cfg: TIMEOUT });
      await r2.start();
      const rc = await r2.client();
      const upstream = async () => stateLine((await rc.replication())[1]?.upstream);
      expect(await upstream()).toBe('follow | nil | nil');
      const mark = r2.mark();
      await m1.stop();
      const a = (await poll(upstream, { forMs: 1000 })).filter(
        (x) => !x.state.startsWith('follow'),
      );
      expect(a[0]!.state).toMatch(
        new RegExp(
          `^disconnected \\| unexpected EOF when reading from socket, called on fd \\d+, aka 127\\.0\\.0\\.1:\\d+, peer of 127\\.0\\.0\\.1:${m1.port} \\| Broken pipe$`,
        ),
      );
      refusedRetries(a);
      expectInOrder(r2.logSince(mark), [
        /I> can't read row$/,
        /!> SystemError unexpected EOF when reading from socket, .*: Broken pipe$/,
        /I> will retry every 0\.30 second$/,
      ]);
      m1.spawn();
      const b = await poll(upstream, { forMs: 5000, stopWhen: (s) => s.startsWith('follow') });
      expect(b.at(-1)!.state).toBe('follow | nil | nil');
      // While 2.6 recovers it answers ER_LOADING: "loading | Instance bootstrap hasn't finished yet".
      for (const s of b.slice(0, -1))
        expect(s.state).toMatch(
          /^(disconnected \| connect|connect|connected|auth|ready|sync|loading \| Instance bootstrap hasn't finished yet)/,
        );
      await m1.ready();
      const mc = await m1.client();
      await mc.insert('_schema', ['after restart']);
      await until(
        'row after the restart',
        async () => (await rc.select('_schema', ['after restart'], 'EQ')).length === 1,
      );
    },
  );

  it.skipIf(needsTarantool.skip)(
    '§2b A/B/C with a Tarantool 2.6 replica of a tarantype master: it reconnects, and the relay reports its exit',
    async () => {
      requireTarantool();
      cluster = new Cluster('s02b-26r');
      const m1 = cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: TIMEOUT });
      await m1.start();
      const r2 = cluster.node('r2', 'tarantool', { replication: [m1.uri()], cfg: TIMEOUT });
      await r2.start();
      const rc = await r2.client();
      const upstream = async () => stateLine((await rc.replication())[1]?.upstream);
      expect(await upstream()).toBe('follow | nil | nil');
      await m1.stop();
      const a = (await poll(upstream, { forMs: 1000 })).filter(
        (x) => !x.state.startsWith('follow'),
      );
      expect(a[0]!.state).toMatch(
        /^disconnected \| unexpected EOF when reading from socket, .* \| Broken pipe$/,
      );
      expect(a.at(-1)!.state).toMatch(
        /^disconnected \| connect, called on fd \d+, aka 127\.0\.0\.1:\d+ \| Connection refused$/,
      );
      await m1.start();
      await until(
        '2.6 replica follows again',
        async () => (await upstream()) === 'follow | nil | nil',
        5000,
      );
      const mc = await m1.client();
      await mc.insert('_schema', ['after restart']);
      await until(
        'row on the 2.6 replica',
        async () => (await rc.select('_schema', ['after restart'], 'EQ')).length === 1,
      );
      const rv = (await rc.info()).vclock;
      await until('downstream vclock = the 2.6 replica vclock', async () => {
        const d = (await mc.replication())[2]!.downstream;
        return d?.status === 'follow' && JSON.stringify(d.vclock) === JSON.stringify(rv);
      });
      await r2.stop();
      const stopped = await until('downstream stopped', async () => {
        const d = (await mc.replication())[2]!.downstream;
        return d?.status === 'stopped' ? d : undefined;
      });
      expect(stateLine(stopped)).toMatch(
        new RegExp(
          `^stopped \\| unexpected EOF when reading from socket, called on fd \\d+, aka 127\\.0\\.0\\.1:${m1.port}, peer of 127\\.0\\.0\\.1:\\d+ \\| Broken pipe$`,
        ),
      );
    },
  );

  it('§2b D: a SIGSTOPped master is dropped after 4 × replication_timeout, then followed again after SIGCONT', async () => {
    cluster = new Cluster('s02b-d');
    const m1 = cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: TIMEOUT });
    await m1.start();
    const r2 = cluster.node('r2', 'tarantype', { replication: [m1.uri()], cfg: TIMEOUT });
    await r2.start();
    const rc = await r2.client();
    const mark = r2.mark();
    m1.pause();
    const d = await poll(async () => stateLine((await rc.replication())[1]?.upstream), {
      forMs: 2500,
    });
    m1.resume();
    expect(d[0]!.state).toBe('follow | nil | nil');
    const timedOut = d.find((s) => s.state.startsWith('disconnected'));
    expect(timedOut?.state).toBe('disconnected | timed out | Connection timed out');
    // 4 × 0.3 s = 1.2 s (the default 1 s would take 4 s and fail here).
    expect(timedOut!.t).toBeGreaterThan(1000);
    expect(timedOut!.t).toBeLessThan(1800);
    const after = d.slice(d.indexOf(timedOut!) + 1);
    expect(after[0]?.state).toBe('connect | timed out | Connection timed out');
    expectInOrder(r2.logSince(mark), [
      /I> can't read row$/,
      /!> SystemError timed out: Connection timed out$/,
      /I> will retry every 0\.30 second$/,
    ]);
    await until(
      'follow after SIGCONT',
      async () => (await rc.replication())[1]!.upstream?.status === 'follow',
      4000,
    );
  });

  it("§2b E: box.cfg{replication = ''} takes the replica out: no upstream, [] in box.cfg, the master's downstream stopped", async () => {
    cluster = new Cluster('s02b-e');
    const m1 = cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: TIMEOUT });
    await m1.start();
    const r2 = cluster.node('r2', 'tarantype', { replication: [m1.uri()], cfg: TIMEOUT });
    await r2.start();
    const [mc, rc] = [await m1.client(), await r2.client()];
    await rc.cfg({ replication: '' });
    const ri = await rc.info();
    expect(ri.replication).toEqual({
      1: { id: 1, uuid: (await mc.info()).uuid, lsn: ri.vclock[1] ?? 0 },
      2: { id: 2, uuid: ri.uuid, lsn: 0 },
    });
    expect(await rc.cfgValue('replication')).toEqual([]);
    const stopped = await until('downstream stopped', async () => {
      const ds = (await mc.replication())[2]!.downstream;
      return ds?.status === 'stopped' ? ds : undefined;
    });
    expect(stopped.message).toMatch(
      new RegExp(
        `^unexpected EOF when reading from socket, called on fd \\d+, aka 127\\.0\\.0\\.1:${m1.port}, peer of 127\\.0\\.0\\.1:\\d+$`,
      ),
    );
    expect(stopped.system_message).toBe('Broken pipe');
    expect(m1.log).toMatch(/C> exiting the relay loop$/m);
  });
});

describe('§2c starting a replica while its master is down', () => {
  it('§2c: an already-joined replica returns from box.cfg after replication_connect_timeout as an orphan, and recovers once the master is up', async () => {
    cluster = new Cluster('s02c');
    const m1 = cluster.node('m1', 'tarantype', { users: STANDARD_USERS, cfg: TIMEOUT });
    await m1.start();
    const cfg = { ...TIMEOUT, replication_connect_timeout: 1.5 };
    const r2 = cluster.node('r2', 'tarantype', { replication: [m1.uri()], cfg });
    await r2.start();
    const mc = await m1.client();
    await mc.createSpace('tester');
    await mc.createIndex('tester', 'primary');
    const joined = await r2.client();
    const target = (await mc.info()).vclock[1];
    await until(
      'the replica has the space',
      async () => (await joined.info()).vclock[1] === target,
    );
    await r2.stop();
    await m1.stop();

    const started = Date.now();
    const mark = r2.mark();
    await r2.start();
    const took = Date.now() - started;
    // The start waited for replication_connect_timeout (1.5 s; 2.6's default is 30 s).
    expect(took).toBeGreaterThan(1400);
    expect(took).toBeLessThan(6000);
    const rc = await r2.client();
    expect(await rc.info()).toMatchObject({ status: 'orphan', ro: true });
    expect((await rc.replication())[1]!.upstream).toBeUndefined();
    await expect(rc.insert('tester', [1, 'x'])).rejects.toThrow(
      "Can't modify data because this instance is in read-only mode.",
    );
    const applier = `applier/replicator@127\\.0\\.0\\.1:${m1.port}`;
    expectInOrder(r2.logSince(mark), [
      /I> connecting to 1 replicas$/,
      new RegExp(`${applier} I> can't connect to master$`),
      new RegExp(
        `${applier} .*!> SystemError connect, called on fd \\d+, aka 127\\.0\\.0\\.1:\\d+: Connection refused$`,
      ),
      new RegExp(`${applier} I> will retry every 0\\.30 second$`),
      /C> failed to connect to 1 out of 1 replicas$/,
      /I> synchronizing with 1 replicas$/,
      /C> failed to synchronize with 1 out of 1 replicas$/,
      /C> entering orphan mode$/,
    ]);

    // The master comes back: the replica leaves orphan mode by itself.
    const back = r2.mark();
    await m1.start();
    await until(
      'running again',
      async () => {
        const i = await rc.info();
        return (
          i.status === 'running' &&
          i.ro === false &&
          i.replication[1]!.upstream?.status === 'follow'
        );
      },
      5000,
    );
    expectInOrder(r2.logSince(back), [
      new RegExp(
        `${applier} I> remote master ${UUID} at 127\\.0\\.0\\.1:${m1.port} running Tarantool 2\\.6\\.0$`,
      ),
      new RegExp(`${applier} I> authenticated$`),
      new RegExp(`${applier} I> subscribed$`),
      /C> leaving orphan mode$/,
    ]);
    expect(await rc.insert('tester', [1, 'x'])).toEqual([1, 'x']);
  });

  it('§2c: a replica that never joined fails after replication_connect_timeout with ER_CFG and exits 1, creating no files', async () => {
    cluster = new Cluster('s02c-fresh');
    const dead = await cluster.deadPort();
    const r3 = cluster.node('r3', 'tarantype', {
      replication: [`replicator:password@127.0.0.1:${dead}`],
      cfg: { ...TIMEOUT, replication_connect_timeout: 1 },
    });
    const started = Date.now();
    r3.spawn();
    const code = await r3.exit(10_000);
    const took = Date.now() - started;
    expect(code).toBe(1);
    expect(took).toBeGreaterThan(900);
    expect(took).toBeLessThan(5000);
    expect(r3.log).toMatch(/C> failed to connect to 1 out of 1 replicas$/m);
    // Known difference: 2.6 says "F> can't initialize storage: …", tarantype "E> cannot start: …".
    expect(r3.log).toMatch(
      /E> cannot start: Incorrect value for option 'replication': failed to connect to one or more replicas$/m,
    );
    expect(readdirSync(r3.dir).filter((f) => /\.(snap|xlog)$/.test(f))).toEqual([]);
  });
});
