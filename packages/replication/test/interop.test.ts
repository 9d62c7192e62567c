// Our relay and applier against real Tarantool 2.6 peers over TCP: our applier JOINs and
// follows a 2.6 master, and a 2.6 replica JOINs and follows our relay (served by the real
// iproto server, with a fake box whose read view is the recorded 2.6 JOIN of fixtures/).
// Needs `tarantool`: under CI=true its absence fails; elsewhere the suite is skipped and says so.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IprotoType, type Xrow } from '@tarantype/core';
import { createServer, type IprotoServer } from '@tarantype/iproto';
import { MemoryHandler } from '@tarantype/iproto/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { Applier, type ApplierState } from '../src/applier.js';
import { decodePacket, decodeVclockBody } from '../src/codec.js';
import { ReplicationServer } from '../src/relay.js';
import {
  bodyOf,
  FakeMaster,
  FakeReplica,
  insertBody,
  LogRecorder,
  sleep,
  until,
} from './fake-box.js';
import { frames } from './recording-checks.js';
import {
  hasTarantool,
  MASTER_UUID,
  REPLICA_UUID,
  REPLICASET_UUID,
  readLog,
  startTarantool,
  waitForFile,
} from './tarantool-pair.js';

const mustRun = process.env.CI === 'true';
if (!hasTarantool && !mustRun)
  console.warn('interop.test.ts skipped: `tarantool` (2.6) is not on PATH');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function track(child: ChildProcess): void {
  cleanups.push(async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
  });
}

/** Reads a JSON status file a Lua fiber rewrites every 50 ms. */
function status(dir: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const STATUS_FIBER = (peerId: number, side: 'upstream' | 'downstream') => `
local fiber, json = require('fiber'), require('json')
fiber.create(function()
  while true do
    local r = box.info.replication[${peerId}]
    local s = r and r.${side}
    local t = {}
    if box.space.tester then
      for _, tuple in box.space.tester:pairs() do table.insert(t, tuple:totable()) end
    end
    local f = io.open('status.tmp', 'w')
    f:write(json.encode({status = s and s.status, message = s and s.message,
      vclock = s and s.vclock, own = box.info.vclock, tester = t}))
    f:close()
    os.rename('status.tmp', 'status.json')
    fiber.sleep(0.05)
  end
end)
`;

/** A port nobody listens on right now (the kernel's pick, released at once). */
async function freePort(): Promise<number> {
  const { createServer: createNetServer } = await import('node:net');
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((r) => server.close(r));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

describe.skipIf(!hasTarantool && !mustRun)('interop with real Tarantool 2.6', () => {
  it('our applier joins and follows a 2.6 master', async () => {
    if (!hasTarantool) throw new Error('CI=true but `tarantool` is not installed');
    const dir = tempDir('tarantype-interop-master-');
    const master = startTarantool(
      dir,
      `
box.cfg{listen = '127.0.0.1:0', work_dir = ${JSON.stringify(dir)}, log = 'master.log',
  instance_uuid = '${MASTER_UUID}', replicaset_uuid = '${REPLICASET_UUID}',
  replication_timeout = 0.25, memtx_memory = 64 * 1024 * 1024, checkpoint_interval = 0}
box.schema.user.create('replicator', {password = 'password'})
box.schema.user.grant('replicator', 'replication')
local s = box.schema.space.create('tester')
s:create_index('primary')
s:insert{1, 'before join'}
local f = io.open('port', 'w'); f:write((tostring(box.info.listen):match(':(%d+)$'))); f:close()
${STATUS_FIBER(2, 'downstream')}
fiber.create(function()
  while not io.open('go') do fiber.sleep(0.02) end
  s:insert{2, 'single'}
  box.begin() s:insert{3, 'a'} s:insert{4, 'b'} s:replace{1, 'replaced'} box.commit()
end)
`,
    );
    track(master);
    const port = Number(await waitForFile(join(dir, 'port'), Date.now() + 10_000, 'the master'));
    const replica = new FakeReplica(REPLICA_UUID);
    const logs = new LogRecorder();
    const states: ApplierState[] = [];
    const applier = new Applier({
      uri: `replicator:password@127.0.0.1:${port}`,
      membership: replica,
      sink: replica,
      bootstrap: replica,
      replicationTimeoutS: () => 0.25,
      log: logs.log,
    });
    cleanups.push(() => applier.stop());
    applier.onStateChange((state) => states.push(state));
    applier.start();
    await applier.waitFor(['follow']);
    expect(states).toEqual([
      'connect',
      'connected',
      'auth',
      'ready',
      'initial_join',
      'final_join',
      'joined',
      'ready',
      'sync',
      'follow',
    ]);
    expect(replica.initialRows.length).toBeGreaterThan(400);
    expect(replica.replicasetUuid()).toBe(REPLICASET_UUID);
    expect(replica.instanceId()).toBe(2);
    expect(applier.ballot?.is_ro).toBe(false);
    expect(applier.masterId).toBe(1);
    // The _cluster registration arrived as final data and set the vclock.
    expect(replica.finalTransactions.flat().map((r) => bodyOf(r).tuple)).toContainEqual([
      2,
      REPLICA_UUID,
    ]);

    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'go'), '1');
    await until(() => replica.tuples.has('512:4'), 5000, 'the live rows');
    const live = replica.applied.map((tx) => tx.map((r) => r.type));
    expect(live).toEqual([
      [IprotoType.INSERT],
      [IprotoType.INSERT, IprotoType.INSERT, IprotoType.REPLACE],
    ]);
    expect(replica.tuples.get('512:1')).toEqual([1, 'replaced']);
    // Acks: the master's downstream vclock reaches ours; its status is follow.
    await until(
      () => {
        const s = status(dir);
        return (
          s?.status === 'follow' &&
          JSON.stringify(s.vclock) === JSON.stringify(replica.vclock().toObject())
        );
      },
      5000,
      'the master to see our acks',
    );
    // Heartbeats keep us following while the master idles (> 4 × replication_timeout).
    await sleep(1200);
    expect(applier.state).toBe('follow');
    expect(applier.info().lag).toBeLessThan(1);
    const masterLog = readLog(join(dir, 'master.log'));
    expect(masterLog).toContain(`joining replica ${REPLICA_UUID}`);
    expect(masterLog).toContain(`subscribed replica ${REPLICA_UUID}`);
    expect(logs.texts()).toContain(
      `remote master ${MASTER_UUID} at 127.0.0.1:${port} running Tarantool 2.6.0`,
    );
  }, 30_000);

  it("our applier rides out a 2.6 master's SIGKILL and restart (reference §2b A/B)", async () => {
    if (!hasTarantool) throw new Error('CI=true but `tarantool` is not installed');
    const dir = tempDir('tarantype-interop-restart-');
    const port = await freePort();
    const script = `
box.cfg{listen = '127.0.0.1:${port}', work_dir = ${JSON.stringify(dir)}, log = 'master.log',
  instance_uuid = '${MASTER_UUID}', replicaset_uuid = '${REPLICASET_UUID}',
  replication_timeout = 0.25, memtx_memory = 64 * 1024 * 1024, checkpoint_interval = 0}
box.once('init', function()
  box.schema.user.create('replicator', {password = 'password'})
  box.schema.user.grant('replicator', 'replication')
  box.schema.space.create('tester'):create_index('primary')
end)
box.space.tester:replace{box.space.tester:len() + 1, 'start'}
local f = io.open('up', 'w'); f:write('1'); f:close()
${STATUS_FIBER(2, 'downstream')}
`;
    let master = startTarantool(dir, script);
    track(master);
    await waitForFile(join(dir, 'up'), Date.now() + 10_000, 'the master');
    const replica = new FakeReplica(REPLICA_UUID);
    const states: ApplierState[] = [];
    const applier = new Applier({
      uri: `replicator:password@127.0.0.1:${port}`,
      membership: replica,
      sink: replica,
      bootstrap: replica,
      replicationTimeoutS: () => 0.25,
      log: () => {},
    });
    cleanups.push(() => applier.stop());
    applier.onStateChange((state) => states.push(state));
    applier.start();
    await applier.waitFor(['follow']);
    const exited = new Promise((r) => master.once('exit', r));
    process.kill(master.pid!, 'SIGKILL');
    await exited;
    await until(() => applier.state === 'disconnected', 5000, 'disconnected');
    expect(applier.info().message).toMatch(
      /^unexpected EOF when reading from socket, called on fd \d+, aka 127\.0\.0\.1:\d+, peer of 127\.0\.0\.1:\d+$/,
    );
    expect(applier.info().system_message).toBe('Broken pipe');
    await until(
      () => applier.info().system_message === 'Connection refused',
      5000,
      'refused reconnects',
    );
    const { rmSync: remove } = await import('node:fs');
    remove(join(dir, 'up'));
    master = startTarantool(dir, script);
    track(master);
    // Back in follow by itself, with the row the restarted master wrote; no second JOIN.
    await until(() => replica.tuples.has('512:2'), 10_000, 'the row written after the restart');
    await applier.waitFor(['follow']);
    expect(states.filter((s) => s === 'initial_join')).toHaveLength(1);
    expect(states.slice(states.indexOf('follow') + 1)[0]).toBe('disconnected');
    await until(
      () => JSON.stringify(status(dir)?.vclock) === JSON.stringify(replica.vclock().toObject()),
      5000,
      'the restarted master to see our acks',
    );
  }, 40_000);

  it('a 2.6 replica joins and follows our relay', async () => {
    if (!hasTarantool) throw new Error('CI=true but `tarantool` is not installed');
    // Our master: the recorded 2.6 JOIN as its read view, vclock where that recording started.
    const fixture = new Uint8Array(
      readFileSync(join(import.meta.dirname, 'fixtures', 'session.m2r.bin')),
    );
    const rows = frames(fixture.subarray(128)).map((f) => decodePacket(f.packet).row);
    const firstMarker = rows.findIndex(
      (r) =>
        r.type === IprotoType.OK && r.replica_id === 0 && r.body.length > 1 && r.body[1] === 0x26,
    );
    const initial: Xrow[] = [];
    for (let i = firstMarker + 1; rows[i]!.type === IprotoType.INSERT; i++)
      initial.push({ ...rows[i]!, body: rows[i]!.body.slice() });
    const fake = new FakeMaster(MASTER_UUID, REPLICASET_UUID);
    fake.initialRows = initial;
    fake.wal.vclock.assign(decodeVclockBody(rows[firstMarker]!.body));
    const handler = new MemoryHandler();
    (handler as { uuid: string }).uuid = MASTER_UUID;
    handler.createUser('replicator', 'password');
    handler.vclock = fake.vclock();
    const logs = new LogRecorder();
    const relay = new ReplicationServer({
      membership: fake,
      master: fake,
      joinSource: fake,
      rowSource: fake.wal,
      gc: fake,
      replicationTimeoutS: () => 0.25,
      log: logs.log,
    });
    const server: IprotoServer = createServer({
      handler,
      replication: relay,
      authFailureDelayMs: 0,
    });
    const address = await server.listen(0, '127.0.0.1');
    cleanups.push(async () => {
      await relay.close();
      await server.close();
    });

    const dir = tempDir('tarantype-interop-replica-');
    const replica = startTarantool(
      dir,
      `
box.cfg{listen = '127.0.0.1:0', work_dir = ${JSON.stringify(dir)}, log = 'replica.log',
  instance_uuid = '${REPLICA_UUID}', replication_timeout = 0.25,
  replication = 'replicator:password@127.0.0.1:${address.port}', memtx_memory = 64 * 1024 * 1024,
  checkpoint_interval = 0}
${STATUS_FIBER(1, 'upstream')}
`,
    );
    track(replica);
    await until(
      () => status(dir)?.status === 'follow',
      15_000,
      `the 2.6 replica to follow\n${readLog(join(dir, 'replica.log'))}`,
    );
    expect(fake.idOf(REPLICA_UUID)).toBe(2);
    expect(relay.downstream(REPLICA_UUID)?.status).toBe('follow');

    fake.wal.append(1, [{ body: insertBody(512, [10, 'from tarantype']) }]);
    fake.wal.append(1, [
      { body: insertBody(512, [11, 'tx']) },
      { type: IprotoType.REPLACE, body: insertBody(512, [1, 'replaced by tarantype']) },
    ]);
    await until(
      () => {
        const tester = status(dir)?.tester as unknown[][] | undefined;
        return tester?.some((t) => t[0] === 11) === true;
      },
      5000,
      'the rows on the 2.6 replica',
    );
    expect(status(dir)?.tester).toEqual([
      [1, 'replaced by tarantype'],
      [10, 'from tarantype'],
      [11, 'tx'],
    ]);
    // Its acks come back: our downstream vclock is its vclock.
    await until(
      () => relay.downstream(REPLICA_UUID)?.vclock?.toString() === fake.vclock().toString(),
      5000,
      'acks',
    );
    expect(fake.gcPositions.get(REPLICA_UUID)).toBe(fake.vclock().toString());
    // Our heartbeats keep it following through an idle period longer than 4 × timeout.
    await sleep(1200);
    expect(status(dir)?.status).toBe('follow');
    // The 2.6 replica is killed and restarted: it recovers locally and SUBSCRIBEs from its
    // own vclock with the same id, without a new JOIN; rows written meanwhile arrive.
    const replicaScript = readFileSync(join(dir, 'init.lua'), 'utf8');
    const exited = new Promise((r) => replica.once('exit', r));
    process.kill(replica.pid!, 'SIGKILL');
    await exited;
    await until(
      () => relay.downstream(REPLICA_UUID)?.status === 'stopped',
      5000,
      'downstream stopped',
    );
    expect(relay.downstream(REPLICA_UUID)?.message).toMatch(
      /^unexpected EOF when reading from socket/,
    );
    expect(relay.downstream(REPLICA_UUID)?.system_message).toBe('Broken pipe');
    fake.wal.append(1, [{ body: insertBody(512, [12, 'while it was down']) }]);
    const restarted = startTarantool(dir, replicaScript);
    track(restarted);
    await until(
      () => {
        const tester = status(dir)?.tester as unknown[][] | undefined;
        return tester?.some((t) => t[0] === 12) === true;
      },
      15_000,
      `the restarted 2.6 replica to catch up\n${readLog(join(dir, 'replica.log'))}`,
    );
    expect(relay.downstream(REPLICA_UUID)?.status).toBe('follow');
    expect(logs.texts().filter((line) => line.startsWith('joining replica'))).toHaveLength(1);
    expect(logs.texts().filter((line) => line.startsWith('subscribed replica'))).toHaveLength(2);
    expect(fake.idOf(REPLICA_UUID)).toBe(2);

    const replicaLog = readLog(join(dir, 'replica.log'));
    expect(replicaLog).toContain('initial data received');
    expect(replicaLog).toContain('final data received');
    expect(replicaLog).toContain('subscribed');
    expect(replicaLog).not.toMatch(/ E> /);
    expect(logs.texts()).toContain('final data sent.');
  }, 40_000);
});
