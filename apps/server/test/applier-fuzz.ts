// Replication-stream fuzzing of a live tarantype REPLICA (issue 15, "protocol fuzzing"): its
// applier talks to a fake master over a real socket. Layer: apps/server tests (part of the
// `fuzz` campaign of `npm run chaos`, and a seeded subset in npm test).
//
// The fake master is a man in the middle: every connection of the replica is forwarded to a
// real tarantype master (greeting, AUTH, VOTE, JOIN — so the replica bootstraps from real data)
// until the replica sends SUBSCRIBE. That request is answered by the fake master itself (the
// master's id, a vclock, the replica set uuid — sometimes a bad vclock or a foreign uuid), and
// the stream that follows is ours: one round is one SUBSCRIBE session carrying a batch of rows,
// valid (INSERTs into `rfuzz`, single- and multi-row transactions, heartbeats) and mutated:
// lsn going back, lsn gaps, replica ids ≥ 32 / unregistered / the replica's own, bad tsn or
// flags, truncated rows, garbage after a valid row, bit flips, a header that is not a map.
// Then the fake master closes and the replica reconnects (replication_timeout 0.1 s); a
// replica whose applier stopped on an error is restarted with box.cfg{replication = …}.
// Rules checked after every round: the replica process is alive, answers a PING on a fresh
// connection within PING_TIMEOUT_MS, has RSS below RSS_LIMIT_BYTES; a round of valid rows only
// leaves its vclock[master] at the last lsn sent; a round whose first row comes from replica id
// ≥ 32 stops its applier with ER_UNKNOWN_REPLICA "… is not registered …" (PROTOCOL.md R9).
// At the end the `known` tuples it got by JOIN are exactly there, and again after a restart.
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { MsgpackReader, MsgpackWriter } from '@tarantype/core';
import { type Client, Cluster, type Node, STANDARD_USERS, until } from './replication/cluster.js';

export const APPLIER_KNOWN_TUPLES = 200;
const PING_TIMEOUT_MS = 1000;
const RSS_LIMIT_BYTES = 1024 * 1024 * 1024;
const SUBSCRIBE_WAIT_MS = 15_000;
/** Keys of fake rows start here, above every `known` key. */
const FAKE_KEY_BASE = 1_000_000;

const int = (r: () => number, n: number) => Math.floor(r() * n);
const pick = <X>(r: () => number, xs: readonly X[]): X => xs[int(r, xs.length)]!;

/** Splits a byte stream into iproto frames (any uint length prefix, as a reader must accept). */
class Frames {
  private pending: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      if (this.pending.length === 0) return out;
      const reader = new MsgpackReader(this.pending);
      let length: number;
      try {
        length = reader.readUint();
      } catch {
        return out; // incomplete prefix (the replica never sends a bad one)
      }
      const end = reader.offset + length;
      if (this.pending.length < end) return out;
      out.push(this.pending.subarray(0, end));
      this.pending = this.pending.subarray(end);
    }
  }
}

/** The request type and sync of one frame. */
function headerOf(frame: Buffer): { type: number; sync: number } {
  const reader = new MsgpackReader(frame);
  reader.readUint();
  const n = reader.readMapHeader();
  let type = -1;
  let sync = 0;
  for (let i = 0; i < n; i++) {
    const key = reader.readUint();
    if (key === 0) type = reader.readUint();
    else if (key === 1) sync = reader.readUint();
    else reader.skip();
  }
  return { type, sync };
}

function framed(write: (w: MsgpackWriter) => void): Uint8Array {
  const w = new MsgpackWriter(256);
  w.uint32Fixed(0); // 0xce + u32, patched below
  write(w);
  const bytes = w.toBytes();
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(1, bytes.length - 5);
  return bytes;
}

interface Row {
  type: number;
  replicaId: number;
  lsn: number;
  /** The first lsn of a multi-row transaction (the header carries lsn − tsn, PROTOCOL.md §2.2). */
  tsn?: number;
  /** Written instead of lsn − tsn (a bad delta). */
  tsnDelta?: number;
  commit?: boolean;
  space: number;
  key: number;
}

function rowBytes(row: Row): Uint8Array {
  return framed((w) => {
    const entries = 4 + (row.tsn === undefined ? 0 : 1) + (row.commit === undefined ? 0 : 1);
    w.mapHeader(entries);
    w.uint(0);
    w.uint(row.type);
    w.uint(2);
    w.uint(row.replicaId);
    w.uint(3);
    w.uint(row.lsn);
    w.uint(4);
    w.double(Date.now() / 1000);
    if (row.tsn !== undefined) {
      w.uint(8);
      w.uint(row.tsnDelta ?? row.lsn - row.tsn);
    }
    if (row.commit !== undefined) {
      w.uint(9);
      w.uint(row.commit ? 1 : 0);
    }
    w.mapHeader(2);
    w.uint(0x10);
    w.uint(row.space);
    w.uint(0x21);
    w.arrayHeader(2);
    w.uint(row.key);
    w.str(`fake-${row.lsn}`);
  });
}

function heartbeat(masterId: number): Uint8Array {
  return framed((w) => {
    w.mapHeader(3);
    w.uint(0);
    w.uint(0);
    w.uint(2);
    w.uint(masterId);
    w.uint(4);
    w.double(Date.now() / 1000);
  });
}

function subscribeReply(
  sync: number,
  masterId: number,
  vclock: ReadonlyArray<readonly [number, number | bigint]> | 'array',
  uuid: string,
): Uint8Array {
  return framed((w) => {
    w.mapHeader(sync === 0 ? 2 : 3);
    w.uint(0);
    w.uint(0);
    if (sync !== 0) {
      w.uint(1);
      w.uint(sync);
    }
    w.uint(2);
    w.uint(masterId);
    w.mapHeader(2);
    w.uint(0x26);
    if (vclock === 'array') {
      w.arrayHeader(2);
      w.uint(1);
      w.uint(2);
    } else {
      w.mapHeader(vclock.length);
      for (const [id, lsn] of vclock) {
        w.uint(id);
        if (typeof lsn === 'bigint') w.bigint(lsn);
        else w.uint(lsn);
      }
    }
    w.uint(0x25);
    w.str(uuid);
  });
}

export type RoundKind =
  | 'valid'
  | 'lsn-back'
  | 'lsn-gap'
  | 'replica-id-32+'
  | 'replica-id-unregistered'
  | 'replica-id-own'
  | 'bad-tsn'
  | 'no-commit'
  | 'truncated-row'
  | 'garbage-after-row'
  | 'bitflip'
  | 'header-not-map'
  | 'bad-subscribe-vclock'
  | 'foreign-replicaset';

interface Session {
  readonly client: Socket;
  readonly sync: number;
  readonly acks: { count: number };
}

/** The man in the middle: forwards to the real master until SUBSCRIBE, then hands us the socket. */
class FakeMaster {
  private server: Server | undefined;
  port = 0;
  private waiting: ((s: Session) => void) | undefined;
  private readonly queued: Session[] = [];
  private readonly sockets = new Set<Socket>();
  subscribes = 0;
  /**
   * Set: every SUBSCRIBE is answered at once (this vclock) and kept alive with heartbeats, as
   * a quiet master (while the replica boots or restarts). Unset: SUBSCRIBEs go to next().
   */
  private idle: { masterId: number; uuid: string; lsn: () => number } | undefined;
  private readonly idleSessions = new Set<Socket>();

  constructor(private readonly masterPort: number) {}

  serveIdle(masterId: number, uuid: string, lsn: () => number): void {
    this.idle = { masterId, uuid, lsn };
    for (const s of this.queued.splice(0)) this.serve(s);
  }

  /** Ends idle mode: its sessions are closed, so the replica's next SUBSCRIBE comes to next(). */
  stopIdle(): void {
    this.idle = undefined;
    for (const s of this.idleSessions) s.destroy();
    this.idleSessions.clear();
  }

  private serve(session: Session): void {
    const idle = this.idle!;
    const { client } = session;
    // A SUBSCRIBE queued while no round waited may come from a connection closed since: its
    // 'close' is over, and a heartbeat interval set now would never be cleared.
    if (client.destroyed) return;
    this.idleSessions.add(client);
    client.write(
      subscribeReply(session.sync, idle.masterId, [[idle.masterId, idle.lsn()]], idle.uuid),
    );
    const timer = setInterval(() => client.write(heartbeat(idle.masterId)), 30);
    client.on('close', () => {
      clearInterval(timer);
      this.idleSessions.delete(client);
    });
  }

  async start(): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    const upstream = tcpConnect({ host: '127.0.0.1', port: this.masterPort });
    this.sockets.add(upstream);
    const frames = new Frames();
    let subscribed = false;
    const acks = { count: 0 };
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      upstream.destroy();
      this.sockets.delete(client);
    });
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      if (!subscribed) client.destroy();
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!subscribed) client.write(chunk);
    });
    client.on('data', (chunk: Buffer) => {
      if (subscribed) {
        acks.count += frames.push(chunk).length;
        return;
      }
      for (const frame of frames.push(chunk)) {
        if (subscribed) {
          acks.count++;
          continue;
        }
        const { type, sync } = headerOf(frame);
        if (type === 66) {
          subscribed = true;
          this.subscribes++;
          upstream.destroy();
          const session = { client, sync, acks };
          if (this.idle !== undefined) this.serve(session);
          else if (this.waiting !== undefined) {
            const w = this.waiting;
            this.waiting = undefined;
            w(session);
          } else this.queued.push(session);
        } else upstream.write(frame);
      }
    });
  }

  /** The next SUBSCRIBE of the replica. */
  next(timeoutMs: number): Promise<Session | undefined> {
    const queued = this.queued.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve(undefined);
      }, timeoutMs);
      this.waiting = (s) => {
        clearTimeout(timer);
        resolve(s);
      };
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) =>
      this.server === undefined ? r() : this.server.close(() => r()),
    );
  }
}

function rssBytes(pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return line === null ? 0 : Number(line[1]) * 1024;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function pingWithin(node: Node): Promise<string | undefined> {
  const started = performance.now();
  const socket = tcpConnect({ host: '127.0.0.1', port: node.port });
  socket.on('error', () => undefined);
  let got = Buffer.alloc(0);
  const ok = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      const first = got.length < 128;
      got = Buffer.concat([got, chunk]);
      if (first && got.length >= 128)
        socket.write(
          framed((w) => {
            w.mapHeader(2);
            w.uint(0);
            w.uint(64);
            w.uint(1);
            w.uint(9);
          }),
        );
      if (got.length >= 128 + 5 + 23) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  socket.destroy();
  return ok
    ? undefined
    : `replica: no PING reply within ${PING_TIMEOUT_MS} ms (${(performance.now() - started).toFixed(0)} ms)`;
}

export interface ApplierFuzzOptions {
  readonly seed: number;
  readonly rounds: number;
  readonly deadlineMs: number;
  readonly progress?: (line: string) => void;
}

export interface ApplierFuzzResult {
  rounds: number;
  frames: number;
  mutated: number;
  knownChecked: number;
  lost: number;
  diverged: number;
  failedStarts: number;
  failures: string[];
  byKind: Record<string, number>;
  maxRssBytes: number;
}

function knownTuple(i: number): unknown[] {
  return [i, `known-${i}`];
}

async function checkKnown(client: Client): Promise<{ lost: number; diverged: number }> {
  const rows = (await client.select('known')) as unknown[][];
  const have = new Map(
    rows.filter((t) => Number(t[0]) < FAKE_KEY_BASE).map((t) => [Number(t[0]), t]),
  );
  let lost = 0;
  let diverged = 0;
  for (let i = 1; i <= APPLIER_KNOWN_TUPLES; i++) {
    const t = have.get(i);
    if (t === undefined) lost++;
    else if (JSON.stringify(t) !== JSON.stringify(knownTuple(i))) diverged++;
    have.delete(i);
  }
  return { lost, diverged: diverged + have.size };
}

/** mulberry32 */
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

export async function runApplierFuzz(options: ApplierFuzzOptions): Promise<ApplierFuzzResult> {
  const r = prng(options.seed ^ 0x5eed);
  const started = performance.now();
  const progress = options.progress ?? (() => {});
  const replay = `SEED=${options.seed} CAMPAIGNS=fuzz npm run chaos (the applier rounds; or SEED=${options.seed} vitest run test/iproto-fuzz.test.ts)`;
  const result: ApplierFuzzResult = {
    rounds: 0,
    frames: 0,
    mutated: 0,
    knownChecked: 0,
    lost: 0,
    diverged: 0,
    failedStarts: 0,
    failures: [],
    byKind: {},
    maxRssBytes: 0,
  };
  const cluster = new Cluster('applier-fuzz');
  let fake: FakeMaster | undefined;
  try {
    const master = cluster.node('master', 'tarantype', { users: STANDARD_USERS });
    await master.start(30_000);
    const m = await master.client();
    await m.createSpace('rfuzz');
    await m.createIndex('rfuzz', 'pk', { parts: [1, 'unsigned'] });
    await m.createSpace('known');
    await m.createIndex('known', 'pk', { parts: [1, 'unsigned'] });
    for (let i = 1; i <= APPLIER_KNOWN_TUPLES; i++) await m.insert('known', knownTuple(i));
    const minfo = await m.info();
    const masterId = minfo.id;
    const clusterUuid = minfo.cluster.uuid;
    const spaceRow = (await m.iproto.select(281, 2, ['rfuzz'], { iterator: 'EQ' })) as unknown[][];
    const space = Number(spaceRow[0]![0]);
    fake = new FakeMaster(master.port);
    await fake.start();
    const uri = `replicator:password@127.0.0.1:${fake.port}`;
    const replica = cluster.node('replica', 'tarantype', {
      users: STANDARD_USERS,
      replication: [uri],
      cfg: { replication_timeout: 0.1, replication_connect_timeout: 5 },
    });
    // The replica JOINs through the fake master (real data), then subscribes to a quiet one.
    let lsn = 0;
    fake.serveIdle(masterId, clusterUuid, () => lsn);
    replica.spawn();
    await replica.ready(60_000);
    const rc = await replica.client();
    const rinfo = await rc.info();
    const ownId = rinfo.id;
    const vclockOfReplica = async () => Number((await rc.info()).vclock[masterId] ?? 0);
    lsn = await vclockOfReplica();
    fake.stopIdle();
    let session: Session | undefined;
    let subscribed = false;
    // A mutated row can be applied with another key than the one it was sent with (a bit flip
    // in its tuple: SEED=3 put key 1000935 at lsn 679): later rows' keys start above every key
    // the replica has, or the valid row of lsn 935 fails with ER_TUPLE_FOUND, as on 2.6.
    let keyOffset = 0;
    while (result.rounds < options.rounds && performance.now() - started < options.deadlineMs) {
      const round = result.rounds++;
      let restarting: Promise<unknown> | undefined;
      if (session === undefined) {
        // An applier stopped by the last round's error is started again (box.cfg returns only
        // once it subscribed: not awaited here, the SUBSCRIBE is answered below).
        const status = (await rc.info()).replication[masterId]?.upstream?.status;
        if (status === 'stopped' || status === undefined) {
          restarting = rc
            .cfg({ replication: [] })
            .then(() => rc.cfg({ replication: [uri] }))
            .catch((error: unknown) => error);
        }
        session = await fake.next(SUBSCRIBE_WAIT_MS);
        subscribed = false;
      }
      if (session === undefined) {
        result.failures.push(
          `round ${round}: the replica did not subscribe within ${SUBSCRIBE_WAIT_MS} ms${restarting === undefined ? '' : ' after box.cfg{replication}'}\n  replay: ${replay}`,
        );
        break;
      }
      const kind = pick<RoundKind>(r, [
        'valid',
        'valid',
        'valid',
        'lsn-back',
        'lsn-gap',
        'replica-id-32+',
        'replica-id-unregistered',
        'replica-id-own',
        'bad-tsn',
        'no-commit',
        'truncated-row',
        'garbage-after-row',
        'bitflip',
        'header-not-map',
        'bad-subscribe-vclock',
        'foreign-replicaset',
      ]);
      result.byKind[kind] = (result.byKind[kind] ?? 0) + 1;
      // What the replica has now: the stream resumes from its vclock.
      const have = await vclockOfReplica();
      // As a real master, resend from there: rows of a refused round are sent again (another
      // lsn than covered + 1 would be refused as a hole after a failed row, write-path.ts).
      lsn = have;
      const parts: Uint8Array[] = [];
      if (!subscribed) {
        const vclock =
          kind === 'bad-subscribe-vclock'
            ? pick<ReadonlyArray<readonly [number, number | bigint]> | 'array'>(r, [
                [[40, 5]],
                [[masterId, 2n ** 60n]],
                [[0xffff_ffff, 1]],
                'array',
              ])
            : ([[masterId, lsn]] as const);
        const uuid =
          kind === 'foreign-replicaset' ? 'dddddddd-dddd-4ddd-8ddd-dddddddddddd' : clusterUuid;
        parts.push(subscribeReply(session.sync, masterId, vclock, uuid));
        result.frames++;
      }
      parts.push(heartbeat(masterId));
      result.frames++;
      const rows: Uint8Array[] = [];
      const valid = 1 + int(r, 20);
      const row = (extra: Partial<Row> = {}): Uint8Array =>
        rowBytes({
          type: 2,
          replicaId: masterId,
          lsn: ++lsn,
          space,
          key: FAKE_KEY_BASE + keyOffset + lsn,
          ...extra,
        });
      for (let i = 0; i < valid; i++) {
        if (r() < 0.3) {
          // A multi-row transaction.
          const n = 2 + int(r, 3);
          const first = lsn + 1;
          for (let j = 0; j < n; j++) rows.push(row({ tsn: first, commit: j === n - 1 }));
        } else rows.push(row());
      }
      const lastValid = lsn;
      let mutated =
        kind !== 'valid' && kind !== 'bad-subscribe-vclock' && kind !== 'foreign-replicaset';
      switch (kind) {
        case 'lsn-back':
          rows.push(
            rowBytes({
              type: 2,
              replicaId: masterId,
              lsn: Math.max(1, lsn - 1 - int(r, 5)),
              space,
              key: FAKE_KEY_BASE + lsn + 1000,
            }),
          );
          break;
        case 'lsn-gap':
          lsn += 10 + int(r, 1000);
          rows.push(row());
          break;
        case 'replica-id-32+':
          // Alone in its round so the rule is checkable: the first row's origin is ≥ 32.
          rows.length = 0;
          rows.push(
            rowBytes({ type: 2, replicaId: 32 + int(r, 1000), lsn: 1, space, key: FAKE_KEY_BASE }),
          );
          break;
        case 'replica-id-unregistered':
          rows.push(
            rowBytes({
              type: 2,
              replicaId: 20 + int(r, 11),
              lsn: 1 + int(r, 5),
              space,
              key: FAKE_KEY_BASE + 2,
            }),
          );
          break;
        case 'replica-id-own':
          rows.push(
            rowBytes({
              type: 2,
              replicaId: ownId,
              lsn: 1 + int(r, 1000),
              space,
              key: FAKE_KEY_BASE + 3,
            }),
          );
          break;
        case 'bad-tsn': {
          const first = lsn + 1;
          // A delta above the lsn, then a transaction whose first row is not its tsn.
          rows.push(row({ tsn: first, tsnDelta: lsn + 10 }), row({ tsn: first - 3, commit: true }));
          break;
        }
        case 'no-commit': {
          const first = lsn + 1;
          rows.push(row({ tsn: first }), row({ tsn: first }));
          rows.push(row()); // a single-row transaction inside it: interleaving
          break;
        }
        case 'truncated-row': {
          const b = row();
          rows.push(b.subarray(0, 1 + int(r, b.length - 1)));
          break;
        }
        case 'garbage-after-row': {
          const b = row();
          const g = Uint8Array.from({ length: 1 + int(r, 30) }, () => int(r, 256));
          rows.push(b, g);
          break;
        }
        case 'bitflip': {
          const b = new Uint8Array(row());
          for (let i = 0; i < 1 + int(r, 3); i++) b[5 + int(r, b.length - 5)]! ^= 1 << int(r, 8);
          rows.push(b);
          break;
        }
        case 'header-not-map':
          rows.push(
            framed((w) => {
              w.arrayHeader(2);
              w.uint(2);
              w.uint(++lsn);
            }),
          );
          break;
        default:
          mutated = kind === 'bad-subscribe-vclock' || kind === 'foreign-replicaset';
      }
      result.frames += rows.length;
      if (mutated) result.mutated++;
      parts.push(...rows);
      if (session.client.destroyed) {
        // The replica went away before its round (a timeout of its own): a new round.
        session = undefined;
        continue;
      }
      session.client.write(Buffer.concat(parts));
      // Let the applier work, then end the session (as a master that goes away).
      const acksBefore = session.acks.count;
      await until(
        'an ack or a close',
        () => session!.client.destroyed || session!.acks.count > acksBefore,
        3000,
        10,
      ).catch(() => undefined);
      await sleep(50);
      const client = session.client;
      client.end();
      setTimeout(() => client.destroy(), 500).unref();
      session = undefined;
      // The replica as a whole.
      if (!replica.running) {
        result.failures.push(
          `round ${round} (${kind}): the replica died: exit ${replica.exitCode ?? replica.exitSignal}\n  replay: ${replay}`,
        );
        break;
      }
      const pong = await pingWithin(replica);
      if (pong !== undefined)
        result.failures.push(`round ${round} (${kind}): ${pong}\n  replay: ${replay}`);
      const rss = rssBytes(replica.pid!);
      result.maxRssBytes = Math.max(result.maxRssBytes, rss);
      if (rss > RSS_LIMIT_BYTES)
        result.failures.push(
          `round ${round}: replica RSS ${(rss / 2 ** 20).toFixed(0)} MiB\n  replay: ${replay}`,
        );
      // Checkable outcomes.
      if (kind === 'valid' && !subscribed) {
        const now = await until(
          'the valid rows applied',
          async () => {
            const v = await vclockOfReplica();
            return v >= lastValid ? v : undefined;
          },
          5000,
        ).catch(() => undefined);
        if (now === undefined || now !== lastValid)
          result.failures.push(
            `round ${round} (valid rows to lsn ${lastValid}): the replica's vclock[${masterId}] is ${await vclockOfReplica()}\n  replay: ${replay}`,
          );
      }
      if (kind === 'replica-id-32+' && !subscribed) {
        const upstream = await until(
          'the applier stopped',
          async () => {
            const u = (await rc.info()).replication[masterId]?.upstream;
            return u?.status === 'stopped' ? u : undefined;
          },
          5000,
        ).catch(() => undefined);
        if (upstream === undefined || !/is not registered/.test(upstream.message ?? ''))
          result.failures.push(
            `round ${round} (a row from replica id ≥ 32): the applier is ${upstream === undefined ? 'not stopped' : `stopped with "${upstream.message}"`}, expected ER_UNKNOWN_REPLICA\n  replay: ${replay}`,
          );
      }
      subscribed = false;
      await restarting;
      if (mutated) {
        const [last] = (await rc.iproto.select('rfuzz', 0, [], {
          iterator: 'LE',
          limit: 1,
          timeoutMs: 5000,
        })) as unknown[][];
        const covered = await vclockOfReplica();
        const top = last === undefined ? 0 : Number(last[0]);
        if (top >= FAKE_KEY_BASE + keyOffset + covered + 1)
          keyOffset = top - FAKE_KEY_BASE - covered;
      }
      if (result.rounds % 10 === 0)
        progress(
          `applier fuzz: ${result.rounds}/${options.rounds} rounds, ${result.frames} frames, ${result.failures.length} failures`,
        );
      if (result.failures.length > 20) break;
    }
    // The JOINed data intact, then a clean restart, then intact again.
    const before = await checkKnown(rc);
    result.knownChecked += APPLIER_KNOWN_TUPLES;
    result.lost += before.lost;
    result.diverged += before.diverged;
    const lastVclock = await vclockOfReplica();
    // The quiet master restarts it at what it has (rows of a mutated last round may be missing).
    lsn = lastVclock;
    fake.serveIdle(masterId, clusterUuid, () => lsn);
    try {
      await replica.restart('stop');
      const rc2 = await replica.client();
      const after = await checkKnown(rc2);
      result.knownChecked += APPLIER_KNOWN_TUPLES;
      result.lost += after.lost;
      result.diverged += after.diverged;
      const v = Number((await rc2.info()).vclock[masterId] ?? 0);
      if (v < lastVclock) {
        result.lost += lastVclock - v;
        result.failures.push(
          `after the restart the replica's vclock[${masterId}] went back from ${lastVclock} to ${v}\n  replay: ${replay}`,
        );
      }
    } catch (error) {
      result.failedStarts++;
      result.failures.push(
        `the replica's restart failed: ${(error as Error).message}\n  replay: ${replay}`,
      );
    }
    return result;
  } finally {
    await fake?.close();
    await cluster.cleanup();
  }
}
