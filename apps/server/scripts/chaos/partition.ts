// The partition campaign (issue 15, "network faults"): three tarantype masters in a full mesh,
// every replication link through a fault proxy, writing while seeded random partitions (one-way,
// two-way, one node isolated), link slowdowns, connection resets, SIGKILLs and restarts happen.
// Layer: apps/server scripts (a Campaign of `npm run chaos`; a seeded subset runs in npm test).
//
// Topology: node i's box.cfg.replication lists proxies[i][j] (j ≠ i), each forwarding to node j.
// Rows of node j reach node i only through proxies[i][j] (the 'to-client' direction, j's relay
// → i's applier) and i's subscribe requests and ACKs go the other way; a partition "a → b"
// blocks every byte from a to b on both proxies between them.
//
// Workload (every write recorded as invoke/ok/fail/info): unique inserts into `items` (each
// master inserts keys only it owns: id × 10⁹ + n), upserts '+1' on 10 shared `counters`
// (commutative: every order gives the same sum), and, on master 1 only, a read/write register
// (`register`, key 1) from two concurrent clients. wal_mode = 'fsync', so a SIGKILL loses no
// acknowledged write of the killed master (CONSISTENCY.md: kill -9 keeps the page cache in
// any case; fsync makes the promise hold for power loss too, which this campaign does not test).
//
// One round: a partition, ≥ 100 writes on every master during it (120: two phases of 60; a
// master killed in the second phase writes its 60 after its restart, still partitioned), heal
// (sometimes with every connection reset), then convergence and checks:
// - every member has the same vclock (component 0, local rows, left out as Tarantool does) and
//   the same rows: through our client (`box.info`), through `tarantype check` (checkMembers,
//   per-space digests) and through an independent client, Tarantool's own net.box (a Lua script
//   printing per-space row counts and md5 digests and each vclock, compared here);
// - set: every acknowledged insert is present on the master that acknowledged it (and so on
//   all), no row exists that no client tried to insert;
// - counters: acknowledged ≤ value ≤ acknowledged + unknown (timeouts, killed connections);
// - vclock components of every member only grow from round to round;
// - at the end, the register history of master 1 is linearizable between its restarts
//   (register-linearizability.ts), and each restart kept its last acknowledged write. Across a
//   SIGKILL of m1 the whole history need not be: without MVCC a read may see a write still on
//   its way to the WAL (as 2.6, gh-10844) that the kill then loses; a progress line says
//   whether that happened.
// - every upstream follows again after heal (a liveness failure, reported apart from
//   divergence: a restart that lists its own URI greets before recovery with a random
//   instance UUID, and a peer whose connection a partition held keeps that UUID).
// Replay: round i runs seed + i; `SEED=<that> ROUNDS=1` replays its schedule on a fresh mesh.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RemoteError } from '@tarantype/iproto';
import { checkMembers } from '../../src/check.js';
import {
  type Client,
  Cluster,
  hasTarantool,
  type InfoView,
  type Node,
  STANDARD_USERS,
  sleep,
  until,
  vclockOf,
} from '../../test/replication/cluster.js';
import { FaultProxy } from '../../test/replication/fault-proxy.js';
import { resumeEarlySubscribers } from '../../test/replication/mesh-helpers.js';
import {
  checkRegister,
  type HistoryEvent,
} from '../../test/replication/register-linearizability.js';
import type { Campaign, CampaignOptions, CampaignResult } from './campaign.js';

const MASTERS = 3;
const COUNTERS = 10;
/** Writes per master per phase; two phases per partition: ≥ 100 writes on every side. */
const WRITES_PER_PHASE = 60;
/** Issue 15's floor: writes on every side during every partition. */
const WRITES_DURING_PARTITION_MIN = 100;
/** Concurrent request lanes per master. */
const LANES = 4;
const REQUEST_TIMEOUT_MS = 5000;
/** Register operations per client per round (two clients on master 1). */
const REGISTER_OPS_PER_ROUND = 150;
const CONVERGE_TIMEOUT_MS = 45_000;
/** How long an upstream may take to follow once every vclock agrees (a reconnect or two). */
const FOLLOW_GRACE_MS = 10_000;
const ITEM_KEY_BASE = 1_000_000_000;
const CFG = {
  replication_timeout: 0.5,
  replication_connect_timeout: 10,
  replication_sync_timeout: 5,
  wal_mode: 'fsync',
};

/** mulberry32: a small seeded PRNG (uniform in [0, 1)). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = 'ok' | 'fail' | 'info';

/** A server's refusal means the write did not happen; anything else (timeout, lost link) is unknown. */
const outcomeOf = (error: unknown): Outcome => (error instanceof RemoteError ? 'fail' : 'info');

/** One partition: ordered pairs [from, to] whose bytes are blocked. */
export interface Partition {
  readonly label: string;
  readonly blocked: ReadonlyArray<readonly [number, number]>;
}

function choosePartition(random: () => number): Partition {
  const pick = (n: number) => Math.floor(random() * n);
  const a = pick(MASTERS);
  const b = (a + 1 + pick(MASTERS - 1)) % MASTERS;
  const kind = pick(3);
  if (kind === 0) return { label: `one-way m${a + 1} → m${b + 1}`, blocked: [[a, b]] };
  if (kind === 1)
    return {
      label: `two-way m${a + 1} ↔ m${b + 1}`,
      blocked: [
        [a, b],
        [b, a],
      ],
    };
  const others = [0, 1, 2].filter((i) => i !== a);
  return {
    label: `m${a + 1} isolated`,
    blocked: others.flatMap((o) => [[a, o] as const, [o, a] as const]),
  };
}

/** What the campaign's clients did, for the checks. */
class Ledger {
  /** items key → outcome of its insert (ok wins over info if retried: never retried here). */
  readonly items = new Map<number, { master: number; outcome: Outcome }>();
  readonly counterOk = new Array<number>(COUNTERS + 1).fill(0);
  readonly counterUnknown = new Array<number>(COUNTERS + 1).fill(0);
  readonly register: HistoryEvent[] = [];
  readonly nextItem = new Array<number>(MASTERS).fill(0);
  /** Events of the run at positions of the register history (kills, restarts, rounds). */
  readonly notes: Array<{ readonly at: number; readonly note: string }> = [];
  /**
   * The register history cut at each restart of m1: where each segment starts and the value
   * read (quiescent) right after the restart. Without MVCC a read may see a write still on its
   * way to the WAL (2.6's behaviour, gh-10844), and SIGKILL may lose that write; so the
   * history is linearizable within each segment, and across a restart only acknowledged
   * writes are promised (checkRegisterSegments).
   */
  readonly segments: Array<{ readonly start: number; readonly initial: number | null }> = [
    { start: 0, initial: null },
  ];
  nextProcess = 1;
  nextRegisterValue = 1;
  acknowledged = 0;
  attemptedThisRound = new Array<number>(MASTERS).fill(0);
}

/** The mesh: nodes, their proxies and a client per live node. */
class Mesh {
  readonly nodes: Node[] = [];
  /** proxies[i][j]: node i's link to node j (undefined on the diagonal). */
  readonly proxies: Array<Array<FaultProxy | undefined>> = [];
  readonly clients: Array<Client | undefined> = [];
  constructor(readonly cluster: Cluster) {}

  static async start(cluster: Cluster, opened: FaultProxy[]): Promise<Mesh> {
    const mesh = new Mesh(cluster);
    const ports: number[] = [];
    for (let i = 0; i < MASTERS; i++) ports.push(await cluster.deadPort());
    for (let i = 0; i < MASTERS; i++) {
      const row: Array<FaultProxy | undefined> = [];
      for (let j = 0; j < MASTERS; j++) {
        const proxy = i === j ? undefined : await FaultProxy.start({ targetPort: ports[j]! });
        if (proxy !== undefined) opened.push(proxy);
        row.push(proxy);
      }
      mesh.proxies.push(row);
    }
    for (let i = 0; i < MASTERS; i++) {
      // Itself too, directly (as the reference's full mesh): the bootstrap leader's ballot
      // counts only listed instances, and with none listing itself none would lead.
      const replication = mesh.proxies[i]!.map(
        (p) => `replicator:password@127.0.0.1:${p === undefined ? ports[i]! : p.port}`,
      );
      mesh.nodes.push(
        cluster.node(`m${i + 1}`, 'tarantype', {
          users: STANDARD_USERS,
          replication,
          port: ports[i]!,
          cfg: CFG,
        }),
      );
    }
    // A fresh mesh bootstraps together (one bootstrap leader, mesh-bootstrap.test.ts).
    for (const node of mesh.nodes) node.spawn();
    await Promise.all(mesh.nodes.map((node) => node.ready(60_000)));
    for (let i = 0; i < MASTERS; i++) mesh.clients[i] = await mesh.nodes[i]!.client();
    // 2.6's bootstrap race (mesh-helpers.ts): the campaign tests partitions, not bootstrap.
    await resumeEarlySubscribers(mesh.nodes.map((node, i) => ({ node, client: mesh.client(i) })));
    // Restarts must not wait for partitioned peers (nor turn orphan and read-only): quorum 0.
    for (const node of mesh.nodes)
      node.options = { ...node.options, cfg: { ...CFG, replication_connect_quorum: 0 } };
    return mesh;
  }

  client(i: number): Client {
    const c = this.clients[i];
    if (c === undefined) throw new Error(`m${i + 1} has no client (not running)`);
    return c;
  }

  partition(p: Partition): void {
    for (const [from, to] of p.blocked) {
      this.proxies[to]![from]!.partition('to-client');
      this.proxies[from]![to]!.partition('to-target');
    }
  }

  heal(reset: boolean): void {
    for (const row of this.proxies)
      for (const p of row) {
        p?.heal();
        if (reset) p?.reset();
      }
  }

  async kill(i: number): Promise<void> {
    this.clients[i] = undefined;
    await this.nodes[i]!.kill();
  }

  /** Starts a killed node again; false (after a second try) when it would not come up. */
  async restart(
    i: number,
    failures: string[],
    beforeServing?: (client: Client) => Promise<void>,
  ): Promise<number> {
    let failed = 0;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.nodes[i]!.start(60_000);
        const client = await this.nodes[i]!.client();
        await beforeServing?.(client);
        this.clients[i] = client;
        return failed;
      } catch (error) {
        failed += 1;
        failures.push(
          `m${i + 1} failed to start: ${(error as Error).message}\n${this.nodes[i]!.log.slice(-3000)}`,
        );
        await this.nodes[i]!.kill().catch(() => {});
      }
    }
    throw new Error(`m${i + 1} would not start twice in a row`);
  }
}

async function item(mesh: Mesh, ledger: Ledger, master: number, round: number): Promise<void> {
  const key = (master + 1) * ITEM_KEY_BASE + ledger.nextItem[master]!++;
  ledger.items.set(key, { master, outcome: 'info' });
  try {
    await mesh
      .client(master)
      .iproto.insert('items', [key, round], { timeoutMs: REQUEST_TIMEOUT_MS });
    ledger.items.set(key, { master, outcome: 'ok' });
    ledger.acknowledged += 1;
  } catch (error) {
    ledger.items.set(key, { master, outcome: outcomeOf(error) });
  }
}

async function increment(
  mesh: Mesh,
  ledger: Ledger,
  master: number,
  counter: number,
): Promise<void> {
  try {
    await mesh.client(master).iproto.upsert('counters', [counter, 0], [['+', 2, 1]], {
      indexBase: 1,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    ledger.counterOk[counter]! += 1;
    ledger.acknowledged += 1;
  } catch (error) {
    if (outcomeOf(error) === 'info') ledger.counterUnknown[counter]! += 1;
  }
}

/** `count` writes on master `i` (inserts and upserts alternating), LANES at a time. */
async function writes(
  mesh: Mesh,
  ledger: Ledger,
  i: number,
  count: number,
  round: number,
): Promise<void> {
  let issued = 0;
  const lane = async () => {
    while (issued < count && mesh.clients[i] !== undefined) {
      const n = issued++;
      ledger.attemptedThisRound[i]! += 1;
      if (n % 2 === 0) await item(mesh, ledger, i, round);
      else await increment(mesh, ledger, i, 1 + (n % COUNTERS));
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
}

/** Two register clients on master 1 until `stop()` says so: reads and writes, recorded. */
async function registerWorkload(
  mesh: Mesh,
  ledger: Ledger,
  stop: () => boolean,
  random: () => number,
): Promise<void> {
  const worker = async () => {
    let process = ledger.nextProcess++;
    // Bounded per round: a round that waits for a restart must not grow the history (and the
    // checker's search) without limit.
    for (let n = 0; n < REGISTER_OPS_PER_ROUND && !stop(); n++) {
      const client = mesh.clients[0];
      if (client === undefined) {
        await sleep(20);
        continue;
      }
      const isWrite = random() < 0.5;
      const value = ledger.nextRegisterValue++;
      ledger.register.push(
        isWrite
          ? { process, type: 'invoke', f: 'write', value }
          : { process, type: 'invoke', f: 'read' },
      );
      try {
        if (isWrite) {
          await client.iproto.replace('register', [1, value], { timeoutMs: REQUEST_TIMEOUT_MS });
          ledger.register.push({ process, type: 'ok', f: 'write' });
          ledger.acknowledged += 1;
        } else {
          const rows = await client.iproto.select<unknown[]>('register', 0, [1], {
            timeoutMs: REQUEST_TIMEOUT_MS,
          });
          ledger.register.push({
            process,
            type: 'ok',
            f: 'read',
            value: rows[0] === undefined ? null : Number(rows[0][1]),
          });
        }
      } catch (error) {
        const outcome = outcomeOf(error);
        ledger.register.push({ process, type: outcome, f: isWrite ? 'write' : 'read' });
        // After an unknown outcome the process is retired (the checker's rule).
        if (outcome === 'info') process = ledger.nextProcess++;
      }
    }
  };
  await Promise.all([worker(), worker()]);
}

export interface RoundPlan {
  readonly partition: Partition;
  /** Killed during the second phase, restarted while still partitioned. */
  readonly victim: number | undefined;
  readonly killAfterMs: number;
  /** A link slowed (bytes/s) or delayed during the partition, on top of it. */
  readonly slowLink:
    | {
        readonly from: number;
        readonly to: number;
        readonly delayMs: number;
        readonly bytesPerSecond: number;
      }
    | undefined;
  readonly resetOnHeal: boolean;
}

export function planRound(seed: number): RoundPlan {
  const random = prng(seed);
  const partition = choosePartition(random);
  const victim = random() < 0.4 ? Math.floor(random() * MASTERS) : undefined;
  const killAfterMs = 20 + Math.floor(random() * 200);
  const slow = random() < 0.3;
  const from = Math.floor(random() * MASTERS);
  const to = (from + 1 + Math.floor(random() * (MASTERS - 1))) % MASTERS;
  return {
    partition,
    victim,
    killAfterMs,
    slowLink: slow
      ? {
          from,
          to,
          delayMs: 5 + Math.floor(random() * 50),
          bytesPerSecond: 20_000 + Math.floor(random() * 200_000),
        }
      : undefined,
    resetOnHeal: random() < 0.3,
  };
}

interface Tally {
  faults: number;
  acknowledgedChecked: number;
  lost: number;
  diverged: number;
  failedStarts: number;
  readonly failures: string[];
}

/** Runs one round's faults and writes; resolves when the mesh is healed. */
async function runRound(
  mesh: Mesh,
  ledger: Ledger,
  round: number,
  plan: RoundPlan,
  tally: Tally,
): Promise<void> {
  ledger.attemptedThisRound.fill(0);
  mesh.partition(plan.partition);
  tally.faults += 1;
  if (plan.slowLink !== undefined) {
    const p = mesh.proxies[plan.slowLink.to]![plan.slowLink.from]!;
    p.delay(plan.slowLink.delayMs, 'to-client');
    p.slow(plan.slowLink.bytesPerSecond, 'to-client');
    tally.faults += 1;
  }
  let stopRegister = false;
  const register = registerWorkload(mesh, ledger, () => stopRegister, prng(round * 7919 + 1));
  const all = (count: number) =>
    Promise.all(
      mesh.nodes.map((_n, i) =>
        mesh.clients[i] === undefined ? undefined : writes(mesh, ledger, i, count, round),
      ),
    );
  await all(WRITES_PER_PHASE);
  if (plan.victim === undefined) await all(WRITES_PER_PHASE);
  else {
    const victim = plan.victim;
    const phase = all(WRITES_PER_PHASE);
    await sleep(plan.killAfterMs);
    ledger.notes.push({
      at: ledger.register.length,
      note: `round ${round}: SIGKILL m${victim + 1}`,
    });
    await mesh.kill(victim);
    ledger.notes.push({
      at: ledger.register.length,
      note: `round ${round}: m${victim + 1} killed`,
    });
    tally.faults += 1;
    await phase;
    // m1 holds the register: read it before any register client is back (quiescent), as the
    // state the next segment of the history starts from.
    tally.failedStarts += await mesh.restart(victim, tally.failures, async (client) => {
      if (victim !== 0) return;
      const rows = await client.iproto.select<unknown[]>('register', 0, [1], {
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      ledger.segments.push({
        start: ledger.register.length,
        initial: rows[0] === undefined ? null : Number(rows[0][1]),
      });
    });
    ledger.notes.push({
      at: ledger.register.length,
      note: `round ${round}: m${victim + 1} restarted`,
    });
    // The victim's side of the partition writes again, after its restart.
    const left = Math.max(0, 2 * WRITES_PER_PHASE - ledger.attemptedThisRound[victim]!);
    await writes(mesh, ledger, victim, Math.max(left, WRITES_PER_PHASE), round);
  }
  stopRegister = true;
  await register;
  await checkPartitionHeld(mesh, plan.partition, round, tally);
  mesh.heal(plan.resetOnHeal);
  if (plan.resetOnHeal) tally.faults += 1;
}

/**
 * Before heal: where no path of unblocked links leads from a to b (one node isolated, or a
 * one-way cut whose detour is cut too), b has not seen a's writes of this partition. This
 * proves the proxies cut what they were told to, not only that the mesh converged.
 */
async function checkPartitionHeld(
  mesh: Mesh,
  p: Partition,
  round: number,
  tally: Tally,
): Promise<void> {
  const blocked = new Set(p.blocked.map(([a, b]) => `${a}>${b}`));
  const open = (a: number, b: number) => a !== b && !blocked.has(`${a}>${b}`);
  const reaches = (a: number, b: number) =>
    open(a, b) || [0, 1, 2].some((c) => c !== a && c !== b && open(a, c) && open(c, b));
  const infos = await Promise.all(mesh.nodes.map((_n, i) => mesh.client(i).info()));
  for (const [a, b] of p.blocked) {
    if (reaches(a, b)) continue;
    const id = infos[a]!.id;
    const seen = infos[b]!.vclock[id] ?? 0;
    const own = infos[a]!.vclock[id] ?? 0;
    if (seen >= own)
      tally.failures.push(
        `round ${round}: partition ${p.label} leaked: m${b + 1} has m${a + 1}'s rows up to lsn ${seen} (m${a + 1} is at ${own})`,
      );
  }
}

interface Convergence {
  /** Each member's vclock without component 0, when they all agree; else undefined. */
  readonly vclocks: Record<number, number>[] | undefined;
  /** Set when, at the deadline, some upstream did not follow (data may still agree). */
  readonly notFollowing?: string;
}

/**
 * Waits until every upstream follows and the vclocks (without component 0) agree. Equal
 * vclocks with an upstream that does not follow is a liveness failure, not a divergence.
 */
async function converge(mesh: Mesh): Promise<Convergence> {
  let last: Record<number, number>[] = [];
  let follow = false;
  let states = '';
  const same = () => last.every((v) => JSON.stringify(v) === JSON.stringify(last[0]));
  let sameSince: number | undefined;
  try {
    await until(
      'convergence',
      async () => {
        const infos = await Promise.all(mesh.nodes.map((_n, i) => mesh.client(i).info()));
        last = infos.map((info) => withoutLocal(info.vclock));
        states = infos.map((info, i) => memberState(info, i, last[i]!)).join('; ');
        follow = infos.every((info) =>
          Object.values(info.replication)
            .filter((r) => r.id !== info.id)
            .every((r) => r.upstream?.status === 'follow'),
        );
        if (!same()) sameSince = undefined;
        else sameSince ??= Date.now();
        // Rows agree: an upstream that still does not follow gets a shorter grace.
        return same() && (follow || Date.now() - sameSince! > FOLLOW_GRACE_MS);
      },
      CONVERGE_TIMEOUT_MS,
      100,
    );
    if (!follow)
      return {
        vclocks: last,
        notFollowing: `an upstream does not follow ${FOLLOW_GRACE_MS} ms after the vclocks agree: ${states}`,
      };
    return { vclocks: last };
  } catch {
    const detail = `after ${CONVERGE_TIMEOUT_MS} ms: ${states}`;
    if (!same()) return { vclocks: undefined, notFollowing: `vclocks differ ${detail}` };
    return { vclocks: last, notFollowing: `an upstream does not follow ${detail}` };
  }
}

function memberState(info: InfoView, i: number, vclock: Record<number, number>): string {
  const upstreams = Object.values(info.replication)
    .filter((r) => r.id !== info.id)
    .map((r) => {
      const u = r.upstream;
      if (u === undefined) return `${r.id}: no upstream`;
      return `${r.id}: ${u.status}${u.message === undefined ? '' : ` (${u.message})`} via ${u.peer}`;
    });
  return `m${i + 1} (id ${info.id}, ${info.uuid}, ${info.status}) ${JSON.stringify(vclock)} [${upstreams.join(', ')}]`;
}

function withoutLocal(v: Record<number, number>): Record<number, number> {
  const { 0: _local, ...rest } = v;
  return rest;
}

/** Tarantool's net.box reads every member: per-space row count and md5, and the vclock. */
async function netboxDigests(mesh: Mesh): Promise<string[][]> {
  const uris = mesh.nodes.map((n) => `alice:secret@${n.address}`);
  const script = `
local netbox = require('net.box')
local digest = require('digest')
local msgpack = require('msgpack')
local json = require('json')
for i, uri in ipairs(${JSON.stringify(uris).replace('[', '{').replace(/\]$/, '}')}) do
  local c = netbox.connect(uri, {connect_timeout = 10})
  assert(c:is_connected(), 'net.box cannot connect to ' .. uri)
  for _, name in ipairs({'items', 'counters', 'register'}) do
    local rows = c.space[name]:select({}, {iterator = 'ALL', timeout = 30})
    local parts = {}
    for k, t in ipairs(rows) do parts[k] = msgpack.encode(t) end
    print(i .. ' ' .. name .. ' ' .. #rows .. ' ' .. digest.md5_hex(table.concat(parts)))
  end
  print(i .. ' vclock ' .. json.encode(c:call('box.info', {}, {timeout = 10}).vclock))
  c:close()
end`;
  const lines = await mesh.cluster.netbox(script, 60_000);
  const perMember: string[][] = mesh.nodes.map(() => []);
  for (const line of lines) {
    const [index, ...rest] = line.split(' ');
    const member = perMember[Number(index) - 1];
    if (member === undefined) continue;
    if (rest[0] === 'vclock')
      member.push(
        `vclock ${JSON.stringify(withoutLocal(vclockOf(JSON.parse(rest.slice(1).join(' ')))))}`,
      );
    else member.push(rest.join(' '));
  }
  return perMember;
}

/** The checks after a healed round; adds to the tally. */
async function checkRound(
  mesh: Mesh,
  ledger: Ledger,
  round: number,
  seed: number,
  previous: Record<number, number>[],
  tally: Tally,
): Promise<Record<number, number>[]> {
  const fail = (what: string) =>
    tally.failures.push(`round ${round} (SEED=${seed} ROUNDS=1): ${what}`);
  const convergence = await converge(mesh);
  const vclocks = convergence.vclocks;
  if (convergence.notFollowing !== undefined) fail(convergence.notFollowing);
  if (vclocks === undefined) {
    tally.diverged += 1;
    return previous;
  }
  vclocks.forEach((v, i) => {
    for (const [id, lsn] of Object.entries(previous[i] ?? {}))
      if ((v[Number(id)] ?? 0) < lsn)
        fail(`m${i + 1} vclock component ${id} went back: ${lsn} → ${v[Number(id)] ?? 0}`);
  });
  // tarantype check: per-space digests through our own client.
  const report = await checkMembers(mesh.nodes.map((n) => `alice:secret@${n.address}`));
  if (!report.equal) {
    tally.diverged += report.spaces.filter((s) => !s.equal).length;
    fail(
      `tarantype check: ${report.spaces
        .filter((s) => !s.equal)
        .map((s) => `${s.name}: ${s.difference}`)
        .join('; ')}`,
    );
  }
  // An independent client: Tarantool's net.box.
  if (hasTarantool) {
    const views = await netboxDigests(mesh);
    for (let i = 1; i < views.length; i++)
      if (JSON.stringify(views[i]) !== JSON.stringify(views[0])) {
        tally.diverged += 1;
        fail(
          `net.box sees m${i + 1} differ from m1: ${JSON.stringify(views[i])} vs ${JSON.stringify(views[0])}`,
        );
      }
  }
  await checkWorkload(mesh, ledger, round, fail, tally);
  return vclocks;
}

/** Set and counter workloads: read on every member and compared with the ledger. */
async function checkWorkload(
  mesh: Mesh,
  ledger: Ledger,
  round: number,
  fail: (what: string) => void,
  tally: Tally,
): Promise<void> {
  for (let i = 0; i < MASTERS; i++) {
    const present = new Set(
      (
        await mesh
          .client(i)
          .iproto.select<unknown[]>('items', 0, [], { iterator: 'ALL', timeoutMs: 30_000 })
      ).map((t) => Number(t[0])),
    );
    let missing = 0;
    for (const [key, { master, outcome }] of ledger.items)
      if (outcome === 'ok' && !present.has(key)) {
        missing += 1;
        if (master === i) tally.lost += 1;
        if (missing <= 3) fail(`m${i + 1} lacks item ${key}, acknowledged by m${master + 1}`);
      }
    if (missing > 0 && i > 0) tally.diverged += 1;
    for (const key of present) {
      const entry = ledger.items.get(key);
      if (entry === undefined || entry.outcome === 'fail')
        fail(`m${i + 1} has item ${key} that no acknowledged or unknown insert wrote`);
    }
    const counters = await mesh
      .client(i)
      .iproto.select<unknown[]>('counters', 0, [], { iterator: 'ALL', timeoutMs: 30_000 });
    for (const t of counters) {
      const k = Number(t[0]);
      const value = Number(t[1]);
      const ok = ledger.counterOk[k] ?? 0;
      const unknown = ledger.counterUnknown[k] ?? 0;
      if (value < ok) {
        tally.lost += ok - value;
        fail(`m${i + 1} counter ${k} = ${value} < ${ok} acknowledged increments`);
      } else if (value > ok + unknown)
        fail(
          `m${i + 1} counter ${k} = ${value} > ${ok} acknowledged + ${unknown} unknown increments`,
        );
    }
  }
  void round;
}

async function setup(cluster: Cluster, opened: FaultProxy[]): Promise<Mesh> {
  const mesh = await Mesh.start(cluster, opened);
  const infos = await Promise.all(mesh.nodes.map((_n, i) => mesh.client(i).info()));
  const leader = mesh.client(infos.findIndex((info) => info.id === 1));
  for (const space of ['items', 'counters', 'register']) {
    await leader.createSpace(space);
    await leader.createIndex(space, 'primary');
  }
  // The counters exist before any upsert: an upsert on a missing key inserts its tuple and
  // ignores its operations, which would not commute.
  for (let k = 1; k <= COUNTERS; k++) await leader.insert('counters', [k, 0]);
  const converged = await converge(mesh);
  if (converged.notFollowing !== undefined)
    throw new Error(`the fresh mesh: ${converged.notFollowing}`);
  return mesh;
}

/**
 * The register workload of m1: each segment between restarts of m1 linearizable from the value
 * read after the restart; and across each restart, that value is the last acknowledged write
 * of the segment before or a write invoked after it (an acknowledged write is never lost).
 * Returns the acknowledged writes lost.
 */
function checkRegisterSegments(ledger: Ledger, failures: string[], seed: number): number {
  let lost = 0;
  ledger.segments.forEach((segment, k) => {
    const next = ledger.segments[k + 1];
    const events = ledger.register.slice(segment.start, next?.start);
    const result = checkRegister(events, segment.initial);
    if (result.valid !== true)
      failures.push(
        `register segment ${k + 1}/${ledger.segments.length} of m1 (${events.length} events from ${segment.start}) is ${result.valid === false ? `not linearizable: stuck at ${result.stuckAt} after ${result.linearized} operations` : 'unknown (search budget exceeded)'} (SEED=${seed})`,
      );
    if (next === undefined) return;
    // The acknowledged write that completed last, and every write invoked after it.
    let lastAckAt = -1;
    let lastAckValue: number | null = segment.initial;
    const open = new Map<number, number>();
    events.forEach((e, at) => {
      if (e.f !== 'write') return;
      if (e.type === 'invoke') open.set(e.process, at);
      else if (e.type === 'ok') {
        lastAckAt = open.get(e.process) ?? at;
        lastAckValue = (events[lastAckAt]?.value as number | undefined) ?? null;
      }
    });
    const later = new Set(
      events
        .filter((e, at) => e.type === 'invoke' && e.f === 'write' && at > lastAckAt)
        .map((e) => e.value),
    );
    if (next.initial !== lastAckValue && !later.has(next.initial)) {
      lost += 1;
      failures.push(
        `register of m1 after restart ${k + 1} is ${next.initial}: the acknowledged write of ${lastAckValue} is lost (SEED=${seed})`,
      );
    }
  });
  return lost;
}

export async function runPartitionCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const started = Date.now();
  const tally: Tally = {
    faults: 0,
    acknowledgedChecked: 0,
    lost: 0,
    diverged: 0,
    failedStarts: 0,
    failures: [],
  };
  const cluster = new Cluster('chaos-partition');
  const proxies: FaultProxy[] = [];
  const ledger = new Ledger();
  let rounds = 0;
  try {
    const mesh = await setup(cluster, proxies);
    let vclocks: Record<number, number>[] = [];
    for (let round = 0; round < options.rounds; round++) {
      if (Date.now() - started > options.deadlineMs) break;
      const seed = options.seed + round;
      const plan = planRound(seed);
      options.progress(
        `partition round ${round + 1}/${options.rounds} (SEED=${seed}): ${plan.partition.label}${plan.victim === undefined ? '' : `, SIGKILL m${plan.victim + 1}`}${plan.slowLink === undefined ? '' : `, slow m${plan.slowLink.from + 1} → m${plan.slowLink.to + 1}`}${plan.resetOnHeal ? ', reset on heal' : ''}`,
      );
      const before = ledger.acknowledged;
      await runRound(mesh, ledger, round, plan, tally);
      ledger.attemptedThisRound.forEach((n, i) => {
        if (n < WRITES_DURING_PARTITION_MIN)
          tally.failures.push(`round ${round}: only ${n} writes on m${i + 1} during the partition`);
      });
      vclocks = await checkRound(mesh, ledger, round, seed, vclocks, tally);
      tally.acknowledgedChecked += ledger.acknowledged - before;
      rounds += 1;
      options.progress(
        `  writes attempted per master: ${ledger.attemptedThisRound.join(', ')}; acknowledged so far ${ledger.acknowledged}; failures ${tally.failures.length}`,
      );
      if (tally.diverged > 0) break; // later rounds would only repeat it
    }
    tally.lost += checkRegisterSegments(ledger, tally.failures, options.seed);
    const register = checkRegister(ledger.register);
    if (ledger.segments.length > 1)
      options.progress(
        `register of m1 over the whole run, across ${ledger.segments.length - 1} SIGKILLs of m1: ${register.valid === true ? 'linearizable' : register.valid === false ? `not linearizable (stuck at ${register.stuckAt} after ${register.linearized} operations: a read of a write the kill lost)` : 'unknown'}`,
      );
    if (register.valid !== true && ledger.segments.length === 1) {
      // The history and where m1 was killed and restarted in it, for a look by hand.
      const path = join(tmpdir(), `tarantype-partition-register-${options.seed}.json`);
      writeFileSync(path, JSON.stringify({ notes: ledger.notes, history: ledger.register }));
      tally.failures.push(
        `register history of m1 (${ledger.register.length} events, written to ${path}) is ${register.valid === false ? `not linearizable: stuck at ${register.stuckAt} after ${register.linearized} operations` : 'unknown (search budget exceeded)'} (SEED=${options.seed})`,
      );
    }
  } catch (error) {
    tally.failures.push(
      `campaign aborted in round ${rounds + 1} (SEED=${options.seed + rounds} ROUNDS=1): ${(error as Error).stack ?? String(error)}`,
    );
  } finally {
    await cluster.cleanup();
    // The proxies' listeners would keep the process alive.
    await Promise.all(proxies.map((p) => p.close()));
  }
  return { campaign: 'partition', seed: options.seed, rounds, ...tally };
}

export const campaign: Campaign = {
  name: 'partition',
  round:
    'a partition of a 3-master mesh (one-way, two-way or one isolated; kills, restarts) with ≥ 100 writes per master, healed and checked',
  fullRounds: 50,
  run: runPartitionCampaign,
};
