// Records real Tarantool 2.6 replication traffic: a master and a replica (two `tarantool`
// processes in temporary directories, ephemeral ports) with a recording TCP proxy between them,
// plus a probe connection speaking our codec to the master. Used by capture.test.ts (which
// records into a temporary directory and checks what it got) and by `RECORD_FIXTURES=1` runs,
// which rewrite test/fixtures/ (see its README). Every child is killed by its PID at the end.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const hasTarantool: boolean = (() => {
  try {
    return spawnSync('tarantool', ['--version'], { timeout: 5000 }).status === 0;
  } catch {
    return false;
  }
})();

export const MASTER_UUID = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
export const REPLICASET_UUID = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
export const REPLICA_UUID = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';
/** replication_timeout of both instances: heartbeats every 100 ms keep the capture short. */
export const CAPTURE_REPLICATION_TIMEOUT_S = 0.1;

/** One TCP connection through the proxy: the bytes of each direction, in order. */
export interface RecordedConnection {
  masterToReplica: Uint8Array;
  replicaToMaster: Uint8Array;
}

export interface Recording {
  readonly connections: RecordedConnection[];
  /** What the master log said, for debugging a failed capture. */
  readonly masterLog: string;
  readonly replicaLog: string;
}

const MASTER_LUA = (dir: string) => `
box.cfg{listen = '127.0.0.1:0', work_dir = ${JSON.stringify(dir)}, log = 'master.log',
  instance_uuid = '${MASTER_UUID}', replicaset_uuid = '${REPLICASET_UUID}',
  replication_timeout = ${CAPTURE_REPLICATION_TIMEOUT_S}, memtx_memory = 64 * 1024 * 1024,
  checkpoint_interval = 0}
box.schema.user.create('replicator', {password = 'password'})
box.schema.user.grant('replicator', 'replication')
local s = box.schema.space.create('tester')
s:create_index('primary', {parts = {1, 'unsigned'}})
s:insert{1, 'initial'}
local l = box.schema.space.create('loc', {is_local = true})
l:create_index('primary')
local f = io.open('port', 'w'); f:write((tostring(box.info.listen):match(':(%d+)$'))); f:close()
local fiber = require('fiber')
fiber.create(function()
  while not (box.info.replication[2] and box.info.replication[2].downstream and
             box.info.replication[2].downstream.status == 'follow') do fiber.sleep(0.02) end
  fiber.sleep(0.35)                         -- idle: heartbeats and acks only
  s:insert{2, 'single'}                     -- one-row transaction
  box.begin()                               -- multi-row transaction: TSN / FLAGS
  s:insert{3, 'multi'}
  s:replace{4, 'multi'}
  s:update({1}, {{'=', 2, 'updated'}})
  box.commit()
  s:upsert({5, 'upsert'}, {{'=', 2, 'x'}})
  s:delete{2}
  l:insert{1, 'local'}                      -- is_local: never replicated
  box.schema.space.create('ddl')            -- DDL is DML on system spaces
  fiber.sleep(0.35)
  local d = io.open('done', 'w'); d:write('1'); d:close()
end)
`;

const REPLICA_LUA = (dir: string, proxyPort: number) => `
box.cfg{listen = '127.0.0.1:0', work_dir = ${JSON.stringify(dir)}, log = 'replica.log',
  instance_uuid = '${REPLICA_UUID}', replication_timeout = ${CAPTURE_REPLICATION_TIMEOUT_S},
  replication = 'replicator:password@127.0.0.1:${proxyPort}', memtx_memory = 64 * 1024 * 1024,
  checkpoint_interval = 0}
`;

export function startTarantool(dir: string, script: string): ChildProcess {
  writeFileSync(join(dir, 'init.lua'), script);
  return spawn('tarantool', [join(dir, 'init.lua')], { cwd: dir, stdio: 'ignore' });
}

export async function waitForFile(path: string, deadline: number, what: string): Promise<string> {
  while (Date.now() < deadline) {
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      if (text !== '') return text;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** A TCP proxy to `targetPort` that keeps every byte of each connection. */
function startProxy(
  targetPort: number,
): Promise<{ server: Server; port: number; connections: RecordedConnection[]; sockets: Socket[] }> {
  const connections: RecordedConnection[] = [];
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = netConnect({ host: '127.0.0.1', port: targetPort });
    sockets.push(client, upstream);
    const m2r: Buffer[] = [];
    const r2m: Buffer[] = [];
    const record: RecordedConnection = {
      masterToReplica: new Uint8Array(),
      replicaToMaster: new Uint8Array(),
    };
    connections.push(record);
    client.on('data', (chunk: Buffer) => {
      r2m.push(chunk);
      record.replicaToMaster = Buffer.concat(r2m);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      m2r.push(chunk);
      record.masterToReplica = Buffer.concat(m2r);
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      resolve({ server, port, connections, sockets });
    });
  });
}

/** Raw bytes exchanged by `probe` with the master on a direct connection. */
export interface ProbeRecording {
  masterToClient: Uint8Array;
  clientToMaster: Uint8Array;
}

/**
 * Runs the pair: master up, proxy, replica joins and subscribes through the proxy, the master
 * writes the live rows, then everything stops. `probe` runs against the master (directly)
 * once the replica follows, with a raw socket; its bytes are returned too.
 */
export async function recordPair(
  probe: (port: number) => Promise<ProbeRecording>,
  timeoutMs = 30_000,
): Promise<Recording & { probe: ProbeRecording }> {
  const deadline = Date.now() + timeoutMs;
  const masterDir = mkdtempSync(join(tmpdir(), 'tarantype-repl-master-'));
  const replicaDir = mkdtempSync(join(tmpdir(), 'tarantype-repl-replica-'));
  const children: ChildProcess[] = [];
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  try {
    const master = startTarantool(masterDir, MASTER_LUA(masterDir));
    children.push(master);
    const masterPort = Number(await waitForFile(join(masterDir, 'port'), deadline, 'the master'));
    proxy = await startProxy(masterPort);
    const replica = startTarantool(replicaDir, REPLICA_LUA(replicaDir, proxy.port));
    children.push(replica);
    await waitForFile(join(masterDir, 'done'), deadline, 'the master to write its rows');
    const probeRecording = await probe(masterPort);
    // Let the last acks and a heartbeat or two pass through.
    await new Promise((r) => setTimeout(r, 250));
    return {
      connections: proxy.connections.map((c) => ({ ...c })),
      masterLog: readLog(join(masterDir, 'master.log')),
      replicaLog: readLog(join(replicaDir, 'replica.log')),
      probe: probeRecording,
    };
  } catch (error) {
    const logs = `master log:\n${readLog(join(masterDir, 'master.log'))}\nreplica log:\n${readLog(join(replicaDir, 'replica.log'))}`;
    throw new Error(`${(error as Error).message}\n${logs}`);
  } finally {
    for (const child of children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
    }
    if (proxy !== undefined) {
      for (const socket of proxy.sockets) socket.destroy();
      await new Promise((r) => proxy!.server.close(r));
    }
    rmSync(masterDir, { recursive: true, force: true });
    rmSync(replicaDir, { recursive: true, force: true });
  }
}
