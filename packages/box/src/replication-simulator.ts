// A deterministic simulator of a replica set (issue 15), in the style of TigerBeetle's VOPR: one
// seed decides a whole schedule — network delays, connection breaks, partitions, crashes and
// power losses, restarts, client writes — and replays it exactly. Layer: box, test support
// (exported as '@tarantype/box/testing'; the `simulator` chaos campaign and a seeded subset in
// box's tests run it).
//
// What is real and what is simulated. Each member runs the real relay (ReplicationServer) and
// real appliers (one per peer) of @tarantype/replication, and writes through the real WAL writer
// (Journal of @tarantype/wal) onto a PowerLossDisk over an in-memory file system; a restart
// recovers with the real xlog reader (XlogDir, XlogCursor) from whatever the disk kept. Between
// the replication ports and the WAL sits a small member modelled on replication's fake box (a
// space of unique keys and counters, the committed transactions as the relay's RowSource), not a
// full Box: Box.cfg writes a snapshot at bootstrap, locks its directory through node:fs, runs
// Lua and checkpoint timers on Node's clock, and costs milliseconds per start — a schedule
// restarts members many times, and the campaign needs thousands of schedules a minute. What
// this leaves out (box's write path, snapshots, JOIN) is covered by box's own tests and by the
// process-level campaigns; the simulator aims at the protocol: reconnects, duplicate and
// reordered connections, relays of a member that restarted, the filter of a subscriber's own
// rows, acks, timeouts.
//
// Time is virtual: the relay and the appliers take their clocks and timers from the world
// (the Timers port); nothing waits on Node's clock, and the only real asynchrony is promise
// and setImmediate ordering, which is deterministic. The network is a set of connections, each
// direction a FIFO (TCP never reorders within a connection) with seeded delays; a break resets
// a connection and each end learns of it after its own delay, so a relay may still serve the
// old connection of a replica that already subscribed on a new one. A partition holds the
// packets of one direction (or both) until it heals, and refuses new connections.
//
// Checked (CONSISTENCY.md, replicas): each origin's rows are applied once, in order, as the
// whole transactions the origin wrote; every vclock component only grows, across restarts too;
// every write acknowledged by a member survives its crashes (fsync members lose power; write
// members are killed, which keeps the page cache — a power loss in write mode may lose
// acknowledged writes, §1 of CONSISTENCY.md); the PrevVClock chain of each member's xlogs holds;
// after healing everything, every member has the same data and the same vclock.
import {
  ClientError,
  decode,
  ErrorCode,
  encode,
  type Hasher,
  IprotoType,
  loadHasher,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import { encodeGreeting, FrameDecoder, NEED_MORE } from '@tarantype/iproto';
import {
  Applier,
  type ApplierConnection,
  type GcConsumers,
  type JoinSource,
  type JoinView,
  type MasterStatus,
  type Membership,
  ReplicationServer,
  ReplicationSocketError,
  type RowSource,
  type TimerHandle,
  type Timers,
  type TransactionSink,
} from '@tarantype/replication';
import {
  type PacketLinkEnd,
  seededRandom,
  serveReplicationLink,
} from '@tarantype/replication/testing';
import {
  type FileHandle,
  type FileSystem,
  Journal,
  type OpenMode,
  XlogCursor,
  XlogDir,
} from '@tarantype/wal';
import { PowerLossDisk } from '@tarantype/wal/testing';

const REPLICASET_UUID = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const SPACE_ID = 512;
const PORT_BASE = 3300;
const WAL_DIR = '/sim/wal';
/** box.cfg.replication_timeout of the members of a schedule (virtual seconds): one of these. */
const REPLICATION_TIMEOUTS_S = [0.2, 1, 1, 1] as const;
/** A held packet (partition) is retried this often. */
const RETRANSMIT_MS = 50;

// {{{ world: clock, timers, trace

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/** Virtual time at the start of every schedule. */
const START_MS = 1_000_000;
const RECENT_LINES = 60;

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The virtual clock, its timers (the Timers port) and the trace every schedule hashes. */
class World implements Timers {
  nowMs = START_MS;
  private seq = 0;
  private timers: Timer[] = [];
  private hash = 0x811c9dc5;
  /** The last trace lines (printed with a failure), a ring. */
  private readonly ring: Array<string | undefined> = new Array(RECENT_LINES);
  private readonly ringTimes = new Float64Array(RECENT_LINES);
  private ringNext = 0;
  events = 0;

  constructor(readonly random: () => number) {}

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: Timer = {
      at: this.nowMs + Math.max(0, ms),
      seq: this.seq++,
      callback,
      cancelled: false,
    };
    // Sorted insert (few timers: a linear scan from the end is cheapest).
    let i = this.timers.length;
    while (i > 0) {
      const t = this.timers[i - 1]!;
      if (t.at < timer.at || (t.at === timer.at && t.seq < timer.seq)) break;
      i--;
    }
    this.timers.splice(i, 0, timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    if (handle !== undefined && handle !== null) (handle as Timer).cancelled = true;
  }

  /** Resolves after `ms` of virtual time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  trace(line: string): void {
    let h = this.hash;
    for (let i = 0; i < line.length; i++) h = Math.imul(h ^ line.charCodeAt(i), 0x01000193);
    this.hash = Math.imul(h ^ 0x0a, 0x01000193) >>> 0;
    this.ring[this.ringNext] = line;
    this.ringTimes[this.ringNext] = this.nowMs;
    this.ringNext = (this.ringNext + 1) % RECENT_LINES;
  }

  /** The last trace lines, oldest first, each after its virtual time in ms. */
  recent(): string[] {
    const out: string[] = [];
    for (let i = 0; i < RECENT_LINES; i++) {
      const at = (this.ringNext + i) % RECENT_LINES;
      const line = this.ring[at];
      if (line !== undefined) out.push(`${this.ringTimes[at]! - START_MS} ${line}`);
    }
    return out;
  }

  get traceHash(): string {
    return (this.hash >>> 0).toString(16).padStart(8, '0');
  }

  /**
   * Runs timers in order until `done()` holds (checked after the promises of each step have
   * settled), virtual time passes `untilMs`, or nothing is left to run. True when done() held.
   */
  async run(untilMs: number, done: () => boolean = () => false): Promise<boolean> {
    for (;;) {
      await settle();
      if (done()) return true;
      let timer = this.timers.shift();
      while (timer?.cancelled) timer = this.timers.shift();
      if (timer === undefined) {
        // Work may still be queued behind setImmediate (a WAL write): give it a few turns.
        for (let i = 0; i < 8 && this.timers.length === 0; i++) await settle();
        if (this.timers.length === 0) return done();
        continue;
      }
      if (timer.at > untilMs) {
        this.timers.unshift(timer);
        this.nowMs = Math.max(this.nowMs, untilMs);
        return done();
      }
      this.nowMs = Math.max(this.nowMs, timer.at);
      this.events++;
      timer.callback();
    }
  }
}

// }}}
// {{{ in-memory file system (the device under PowerLossDisk)

/** A file's bytes: handles keep it across a rename, as an fd keeps its inode. */
class MemoryInode {
  /** Capacity doubles, so appending is not quadratic. */
  data = new Uint8Array(0);
  size = 0;
  resize(size: number): void {
    if (size > this.data.length) {
      const grown = new Uint8Array(Math.max(size, this.data.length * 2, 1024));
      grown.set(this.data.subarray(0, this.size));
      this.data = grown;
    } else if (size < this.size) {
      this.data.fill(0, size, this.size);
    }
    this.size = size;
  }
}

const errno = (code: string, path: string) =>
  Object.assign(new Error(`${code}: ${path}`), { code });

class MemoryFile implements FileHandle {
  constructor(private readonly inode: MemoryInode) {}
  async write(data: Uint8Array, position: number): Promise<void> {
    const end = position + data.length;
    if (end > this.inode.size) this.inode.resize(end);
    this.inode.data.set(data, position);
  }
  async read(into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const n = Math.max(0, Math.min(length, this.inode.size - position));
    into.set(this.inode.data.subarray(position, position + n), offset);
    return n;
  }
  async datasync(): Promise<void> {}
  async truncate(length: number): Promise<void> {
    this.inode.resize(length);
  }
  async size(): Promise<number> {
    return this.inode.size;
  }
  async close(): Promise<void> {}
}

/** Files in a Map: the "device" a PowerLossDisk keeps its durable state on. */
class MemoryFileSystem implements FileSystem {
  private readonly files = new Map<string, MemoryInode>();
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    let inode = this.files.get(path);
    if (mode === 'create') {
      if (inode !== undefined) throw errno('EEXIST', path);
      inode = new MemoryInode();
      this.files.set(path, inode);
    }
    if (inode === undefined) throw errno('ENOENT', path);
    return new MemoryFile(inode);
  }
  async readdir(dir: string): Promise<string[]> {
    const prefix = `${dir}/`;
    return [...this.files.keys()]
      .filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
      .map((p) => p.slice(prefix.length))
      .sort();
  }
  async size(path: string): Promise<number | undefined> {
    return this.files.get(path)?.size;
  }
  async rename(from: string, to: string): Promise<void> {
    const inode = this.files.get(from);
    if (inode === undefined) throw errno('ENOENT', from);
    this.files.delete(from);
    this.files.set(to, inode);
  }
  async unlink(path: string): Promise<void> {
    if (!this.files.delete(path)) throw errno('ENOENT', path);
  }
  async mkdir(): Promise<void> {}
  async syncDir(): Promise<void> {}
}

/**
 * A mount whose writes and fdatasyncs take virtual time, so that a crash or a power loss can
 * fall between a write and its sync, or in the middle of a batch.
 */
class SlowFileSystem implements FileSystem {
  constructor(
    private readonly inner: FileSystem,
    private readonly world: World,
    private readonly latencyMs: number,
  ) {}
  private wait(): Promise<void> | undefined {
    if (this.latencyMs === 0) return undefined;
    return this.world.sleep(Math.floor(this.world.random() * this.latencyMs));
  }
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    return {
      write: async (data, position) => {
        await this.wait();
        return handle.write(data, position);
      },
      read: (into, offset, length, position) => handle.read(into, offset, length, position),
      datasync: async () => {
        await this.wait();
        return handle.datasync();
      },
      truncate: (length) => handle.truncate(length),
      size: () => handle.size(),
      close: () => handle.close(),
    };
  }
  readdir(dir: string): Promise<string[]> {
    return this.inner.readdir(dir);
  }
  size(path: string): Promise<number | undefined> {
    return this.inner.size(path);
  }
  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }
  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }
  mkdir(dir: string): Promise<void> {
    return this.inner.mkdir(dir);
  }
  async syncDir(dir: string): Promise<void> {
    await this.wait();
    return this.inner.syncDir(dir);
  }
}

// }}}
// {{{ network

const socketName = (from: number, to: number) => ({
  fd: 10 + to,
  local: `127.0.0.1:${40000 + from}`,
  peer: `127.0.0.1:${PORT_BASE + to}`,
});

/** One direction of a connection: packets in order, each after its seeded delay. */
class Direction {
  private readonly queue: Array<{ at: number; bytes: Uint8Array | undefined }> = [];
  private lastAt = 0;
  private pumping = false;
  private readonly decoder = new FrameDecoder();
  private waiter: (() => void) | undefined;
  /** The receiving end saw the close (FIN or reset). */
  ended = false;
  /** Bytes sent and not yet delivered: the sender's socket buffer. */
  private buffered = 0;
  private drainWaiters: Array<() => void> = [];

  constructor(
    private readonly net: Network,
    readonly from: number,
    readonly to: number,
    private readonly label: string,
  ) {}

  /**
   * Queues bytes (undefined: the close) for delivery after a delay, behind earlier ones. False
   * when the buffer is past the network's high-water mark, as socket.write() says "wait for
   * 'drain'" (the bytes are queued all the same).
   */
  send(bytes: Uint8Array | undefined): boolean {
    const at = Math.max(this.lastAt, this.net.world.nowMs + this.net.delayMs());
    this.lastAt = at;
    this.queue.push({ at, bytes: bytes?.slice() });
    this.buffered += bytes?.length ?? 0;
    this.pump();
    return this.buffered < this.net.highWaterBytes;
  }

  /** Resolves once the buffer is empty, or the connection closed ('drain' or 'close'). */
  drain(): Promise<void> {
    if (this.buffered === 0 || this.ended) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** The sender's socket closed: its drain() waiters wake ('close'). */
  releaseDrain(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /** A reset: what is in flight is lost; the receiver learns of it after a delay. */
  reset(): void {
    this.queue.length = 0;
    this.buffered = 0;
    this.send(undefined);
    this.releaseDrain();
  }

  private pump(): void {
    if (this.pumping || this.queue.length === 0) return;
    this.pumping = true;
    const head = this.queue[0]!;
    this.net.world.setTimeout(
      () => {
        this.pumping = false;
        if (this.queue[0] !== head) return this.pump();
        if (this.net.blocked(this.from, this.to)) {
          // Held by a partition: TCP retransmits until it heals (or a timeout closes it).
          head.at = this.net.world.nowMs + RETRANSMIT_MS;
          return this.pump();
        }
        this.queue.shift();
        this.buffered -= head.bytes?.length ?? 0;
        if (this.buffered === 0) this.releaseDrain();
        this.deliver(head.bytes);
        this.pump();
      },
      Math.max(0, head.at - this.net.world.nowMs),
    );
  }

  private deliver(bytes: Uint8Array | undefined): void {
    if (this.ended) return;
    if (bytes === undefined) {
      this.ended = true;
      this.net.world.trace(`${this.label} closed`);
    } else {
      this.net.world.trace(`${this.label} ${bytes.length}`);
      this.decoder.push(bytes);
    }
    const wake = this.waiter;
    this.waiter = undefined;
    wake?.();
  }

  /** Ends this direction at once on the receiving side (its own end closed it). */
  endLocally(): void {
    this.ended = true;
    this.queue.length = 0;
    this.buffered = 0;
    this.releaseDrain();
    const wake = this.waiter;
    this.waiter = undefined;
    wake?.();
  }

  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.ended) return undefined;
      const packet = this.decoder.next();
      if (packet instanceof ClientError) throw packet;
      if (packet !== NEED_MORE) return packet;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }
}

/** A TCP connection from member `from`'s applier to member `to`'s relay. */
class Connection {
  readonly toRelay: Direction;
  readonly toApplier: Direction;
  /** Closed by the applier's side (or reset). */
  applierClosed = false;
  relayClosed = false;

  constructor(
    readonly net: Network,
    readonly id: number,
    readonly from: number,
    readonly to: number,
  ) {
    this.toRelay = new Direction(net, from, to, `c${id} ${from}>${to}`);
    this.toApplier = new Direction(net, to, from, `c${id} ${to}>${from}`);
  }

  get broken(): boolean {
    return this.applierClosed || this.relayClosed;
  }

  /** The applier closes: its reads end now, the relay sees a FIN after the data in flight. */
  closeByApplier(): void {
    if (this.applierClosed) return;
    this.applierClosed = true;
    this.toApplier.endLocally();
    if (!this.relayClosed) this.toRelay.send(undefined);
  }

  closeByRelay(): void {
    if (this.relayClosed) return;
    this.relayClosed = true;
    this.toRelay.endLocally();
    if (!this.applierClosed) this.toApplier.send(undefined);
    this.toApplier.releaseDrain();
  }

  /** A reset (link failure, a crash): both ends learn of it, each after its own delay. */
  reset(): void {
    if (!this.applierClosed) this.toApplier.reset();
    if (!this.relayClosed) this.toRelay.reset();
    this.applierClosed = true;
    this.relayClosed = true;
  }

  applierEnd(): ApplierConnection {
    const name = socketName(this.from, this.to);
    return {
      socketName: name,
      readGreeting: async () => {
        throw new Error('unused: the connector reads the greeting');
      },
      readPacket: async () => {
        const packet = await this.toApplier.next();
        if (packet === undefined) throw ReplicationSocketError.eof(name);
        return packet;
      },
      write: (bytes) => {
        if (!this.applierClosed) this.toRelay.send(bytes);
      },
      close: () => this.closeByApplier(),
    };
  }

  relayEnd(): PacketLinkEnd {
    const connection = this;
    return {
      readPacket: () => this.toRelay.next(),
      write: (bytes) => {
        if (this.relayClosed) return false;
        return this.toApplier.send(bytes);
      },
      drain: () => (this.relayClosed ? Promise.resolve() : this.toApplier.drain()),
      close: () => this.closeByRelay(),
      get closed() {
        return connection.relayClosed || connection.toRelay.ended;
      },
    };
  }
}

class Network {
  private nextId = 1;
  readonly connections = new Set<Connection>();
  /** Directed pairs "a>b" whose packets are held. */
  private readonly partitions = new Set<string>();

  constructor(
    readonly world: World,
    private readonly maxDelayMs: number,
    /** Socket buffer size past which a write asks the relay to wait for drain. */
    readonly highWaterBytes: number,
  ) {}

  delayMs(): number {
    // Mostly fast, sometimes slow: a long tail of delays.
    const r = this.world.random();
    return r < 0.8 ? 1 + Math.floor(r * 10) : Math.floor(r * this.maxDelayMs);
  }

  blocked(from: number, to: number): boolean {
    return this.partitions.has(`${from}>${to}`);
  }

  partition(a: number, b: number, oneWay: boolean): void {
    this.partitions.add(`${a}>${b}`);
    if (!oneWay) this.partitions.add(`${b}>${a}`);
  }

  heal(a: number, b: number): void {
    this.partitions.delete(`${a}>${b}`);
    this.partitions.delete(`${b}>${a}`);
  }

  healAll(): void {
    this.partitions.clear();
  }

  get partitioned(): number {
    return this.partitions.size;
  }

  open(from: number, to: number): Connection {
    const connection = new Connection(this, this.nextId++, from, to);
    this.connections.add(connection);
    return connection;
  }

  /** Resets every connection between a and b (or touching a when b is undefined). */
  reset(a: number, b?: number): number {
    let count = 0;
    for (const c of this.connections) {
      const touches =
        b === undefined
          ? c.from === a || c.to === a
          : (c.from === a && c.to === b) || (c.from === b && c.to === a);
      if (!touches) continue;
      if (!c.broken) count++;
      c.reset();
      this.connections.delete(c);
    }
    return count;
  }

  forgetClosed(): void {
    for (const c of this.connections)
      if (c.applierClosed && c.relayClosed) this.connections.delete(c);
  }
}

// }}}
// {{{ members

/** A transaction as its origin wrote it: the lsns and the change of each row. */
interface OriginTransaction {
  readonly firstLsn: number;
  readonly lastLsn: number;
  readonly digest: string;
}

function rowDigest(rows: readonly Xrow[]): string {
  return rows.map((r) => `${r.lsn}:${r.type}:${Buffer.from(r.body).toString('base64')}`).join(',');
}

class Member
  implements Membership, MasterStatus, JoinSource, GcConsumers, TransactionSink, RowSource
{
  readonly instanceUuid: string;
  readonly disk = new PowerLossDisk(new MemoryFileSystem(), { innerSync: false });
  up = false;
  /** A restart is under way. */
  starting = false;
  generation = 0;
  private journal: Journal | undefined;
  /** Durable (committed) vclock. */
  private durable = new Vclock();
  /** Committed plus in flight: rows at or below it are skipped. */
  private promised = new Vclock();
  /** Committed transactions in WAL order: the relay's row source. */
  private committed: Xrow[][] = [];
  private followers: Array<() => void> = [];
  /** Unique keys and counters. */
  private data = new Map<string, number>();
  relay: ReplicationServer | undefined;
  private appliers: Applier[] = [];
  private stopping: Promise<unknown>[] = [];
  /** The durable vclock just before the last crash (what must survive it). */
  private mustSurvive = new Vclock();
  /** Writes this member acknowledged to its client: [lsn of its last row]. */
  acknowledged = 0;
  localWrites = 0;
  private nextKey = 0;

  constructor(
    readonly sim: Simulation,
    readonly id: number,
    readonly mode: 'write' | 'fsync',
  ) {
    this.instanceUuid = `${id.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
  }

  private get world(): World {
    return this.sim.world;
  }

  // --- Membership, MasterStatus, JoinSource, GcConsumers: a set bootstrapped with every member
  instanceId(): number {
    return this.id;
  }
  replicasetUuid(): string {
    return REPLICASET_UUID;
  }
  idOf(uuid: string): number | undefined {
    return this.sim.members.find((m) => m.instanceUuid === uuid)?.id;
  }
  async register(): Promise<number> {
    throw new Error('the simulated set is bootstrapped with every member registered');
  }
  checkReplicationAccess(): void {}
  isLoading(): boolean {
    return !this.up;
  }
  walMode(): 'none' | 'write' | 'fsync' {
    return this.mode;
  }
  checkRegistration(): void {}
  vclock(): Vclock {
    return this.durable.copy();
  }
  async openJoinView(): Promise<JoinView> {
    throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'simulator', 'JOIN');
  }
  /** The relay's GC consumer moves to a replica's ack: never past what that replica has durably. */
  advance(replicaUuid: string, vclock: Vclock): void {
    const replica = this.sim.members.find((m) => m.instanceUuid === replicaUuid);
    if (replica !== undefined && this.sim.hasLess(replica.durableVclock, vclock))
      this.sim.fail(
        `member ${this.id}: replica ${replica.id} acked ${vclock}, beyond its durable ${replica.durableVclock}`,
      );
  }
  drop(): void {}

  // --- RowSource
  async *follow(from: Vclock, signal: AbortSignal): AsyncIterable<readonly Xrow[]> {
    const committed = this.committed;
    let index = 0;
    while (!signal.aborted && this.committed === committed) {
      if (index < committed.length) {
        const rows = committed[index++]!.filter((row) => row.lsn > from.get(row.replica_id));
        if (rows.length > 0) yield rows;
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.followers.push(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  private commit(rows: Xrow[]): void {
    const origin = rows[0]!.replica_id;
    const last = rows[rows.length - 1]!.lsn;
    const before = this.durable.get(origin);
    if (last <= before) this.sim.fail(`member ${this.id}: vclock[${origin}] would go back`);
    else this.durable.follow(origin, last);
    for (const row of rows) this.applyData(row);
    this.committed.push(rows);
    const followers = this.followers;
    this.followers = [];
    for (const wake of followers) wake();
  }

  private applyData(row: Xrow): void {
    const map = decode(row.body) as Map<number, unknown>;
    const tuple = map.get(0x21) as [string, number];
    if (row.type === IprotoType.INSERT) {
      if (this.data.has(tuple[0]))
        this.sim.fail(`member ${this.id}: duplicate key ${tuple[0]} (a row applied twice)`);
      this.data.set(tuple[0], tuple[1]);
    } else {
      this.data.set(tuple[0], (this.data.get(tuple[0]) ?? 0) + tuple[1]);
    }
  }

  // --- TransactionSink
  async applyTransaction(rows: readonly Xrow[]): Promise<'applied' | 'skipped'> {
    if (!this.up) throw new ClientError(ErrorCode.ER_LOADING);
    const origin = rows[0]!.replica_id;
    const covered = this.promised.get(origin);
    const fresh = rows.filter((row) => row.lsn > covered);
    if (fresh.length === 0) return 'skipped';
    if (fresh.length !== rows.length)
      this.sim.fail(
        `member ${this.id}: transaction ${origin}:${rows[0]!.lsn}-${rows.at(-1)!.lsn} half covered by vclock ${covered}`,
      );
    if (fresh[0]!.lsn !== covered + 1)
      this.sim.fail(
        `member ${this.id}: gap in origin ${origin}: at ${covered}, got ${fresh[0]!.lsn}`,
      );
    const written = this.sim.origins.get(`${origin}:${fresh[0]!.lsn}`);
    if (
      written === undefined ||
      written.lastLsn !== fresh.at(-1)!.lsn ||
      written.digest !== rowDigest(fresh)
    )
      this.sim.fail(
        `member ${this.id}: transaction ${origin}:${fresh[0]!.lsn}-${fresh.at(-1)!.lsn} is not one its origin wrote`,
      );
    return this.write(fresh.slice());
  }

  private async write(rows: Xrow[]): Promise<'applied'> {
    const journal = this.journal;
    if (journal === undefined) throw new ClientError(ErrorCode.ER_LOADING);
    const origin = rows[0]!.replica_id;
    this.promised.set(origin, Math.max(this.promised.get(origin), rows.at(-1)!.lsn));
    const generation = this.generation;
    await journal.submit(rows);
    if (generation !== this.generation) throw new ClientError(ErrorCode.ER_LOADING);
    this.world.trace(`m${this.id} commit ${origin}:${rows[0]!.lsn}-${rows.at(-1)!.lsn}`);
    this.commit(rows);
    return 'applied';
  }

  /** A client transaction on this member: 1–3 rows of unique inserts and counter upserts. */
  clientWrite(): void {
    if (!this.up) return;
    const count = 1 + Math.floor(this.world.random() * 3);
    const first = this.promised.get(this.id) + 1;
    const rows: Xrow[] = [];
    for (let i = 0; i < count; i++) {
      const upsert = this.world.random() < 0.5;
      const tuple = upsert
        ? [`counter${Math.floor(this.world.random() * 4)}`, 1 + Math.floor(this.world.random() * 9)]
        : [`m${this.id}-${this.nextKey++}`, this.nextKey];
      rows.push({
        type: upsert ? IprotoType.UPSERT : IprotoType.INSERT,
        replica_id: this.id,
        group_id: 0,
        lsn: first + i,
        tsn: first,
        timestamp: this.world.nowMs / 1000,
        is_commit: i === count - 1,
        sync: 0,
        body: encode(
          new Map<number, unknown>([
            [0x10, SPACE_ID],
            [0x21, tuple],
          ]),
        ),
      });
    }
    this.sim.origins.set(`${this.id}:${first}`, {
      firstLsn: first,
      lastLsn: first + count - 1,
      digest: rowDigest(rows),
    });
    this.localWrites++;
    this.write(rows).then(
      () => {
        this.acknowledged++;
        this.sim.acknowledged.push({ member: this.id, lsn: first + count - 1 });
      },
      () => {},
    );
  }

  // --- lifecycle
  async start(): Promise<void> {
    const mount = this.disk.isPoweredOff ? await this.disk.reboot() : this.disk.mount();
    const fs = new SlowFileSystem(mount, this.world, this.sim.diskLatencyMs);
    await fs.mkdir(WAL_DIR);
    const recovered = await this.recover(fs);
    if (this.sim.hasLess(recovered.vclock, this.mustSurvive))
      this.sim.lose(
        `member ${this.id} (${this.mode}) recovered ${recovered.vclock} after a crash at ${this.mustSurvive}`,
      );
    this.generation++;
    this.durable = recovered.vclock.copy();
    this.promised = recovered.vclock.copy();
    this.journal = new Journal({
      fs,
      dir: WAL_DIR,
      hasher: this.sim.hasher,
      instanceUuid: this.instanceUuid,
      instanceId: this.id,
      vclock: recovered.vclock.copy(),
      ...(recovered.prevVclock === undefined ? {} : { prevVclock: recovered.prevVclock }),
      mode: this.mode,
      now: () => this.world.nowMs / 1000,
      batchBufferBytes: 4096,
      logger: {
        info: () => {},
        warn: (message) => this.world.trace(`m${this.id} wal warn ${message}`),
        error: (message) => this.world.trace(`m${this.id} wal error ${message}`),
      },
    });
    this.up = true;
    this.world.trace(`m${this.id} up at ${recovered.vclock}`);
    this.relay = new ReplicationServer({
      membership: this,
      master: this,
      joinSource: this,
      rowSource: this,
      gc: this,
      replicationTimeoutS: () => this.sim.replicationTimeoutS,
      log: (level, _fiber, message) => this.world.trace(`m${this.id} relay ${level} ${message}`),
      now: () => this.world.nowMs / 1000,
      monotonicMs: () => this.world.nowMs,
      timers: this.world,
    });
    this.appliers = this.sim.members
      .filter((peer) => peer !== this)
      .map(
        (peer) =>
          new Applier({
            uri: `replicator:secret@127.0.0.1:${PORT_BASE + peer.id}`,
            membership: this,
            sink: this,
            connect: (_host, port) => this.sim.connect(this.id, port - PORT_BASE),
            replicationTimeoutS: () => this.sim.replicationTimeoutS,
            connectTimeoutS: () => this.sim.replicationTimeoutS * 2,
            log: (level, _fiber, message) =>
              this.world.trace(`m${this.id}<${peer.id} ${level} ${message}`),
            now: () => this.world.nowMs / 1000,
            monotonicMs: () => this.world.nowMs,
            timers: this.world,
            transactionsInFlightMax: this.sim.transactionsInFlightMax,
          }),
      );
    for (const applier of this.appliers) applier.start();
  }

  /** Reads back what the disk kept, with the WAL's reader; checks the PrevVClock chain. */
  private async recover(
    fs: FileSystem,
  ): Promise<{ vclock: Vclock; prevVclock: Vclock | undefined }> {
    const dir = await XlogDir.scan(fs, WAL_DIR, 'XLOG', this.sim.hasher);
    await dir.removeInprogress();
    try {
      dir.checkContinuity();
    } catch (error) {
      this.sim.fail(`member ${this.id}: xlog chain broken: ${(error as Error).message}`);
    }
    const vclock = new Vclock();
    this.committed = [];
    this.data = new Map();
    for (const file of dir.files) {
      if (file.meta === undefined) continue;
      const cursor = await XlogCursor.open(fs, file.path, 'XLOG', this.sim.hasher, {
        chunkSizeBytes: 16 * 1024,
      });
      if (cursor === undefined) continue;
      try {
        for (;;) {
          const transaction = await cursor.next();
          if (transaction === undefined) break;
          const rows = transaction.rows.filter((r) => r.lsn > vclock.get(r.replica_id));
          if (rows.length === 0) continue;
          const rebuilt = rows.map((r) => ({ ...r, body: r.body.slice() }));
          for (const row of rebuilt) {
            vclock.follow(row.replica_id, row.lsn);
            this.applyData(row);
          }
          this.committed.push(rebuilt);
        }
      } finally {
        await cursor.close();
      }
    }
    return { vclock, prevVclock: dir.newest?.meta?.vclock };
  }

  /** kill -9 (write mode: the page cache survives) or a power loss (fsync mode). */
  crash(): void {
    if (!this.up) return;
    this.up = false;
    this.generation++;
    this.mustSurvive = this.durable.copy();
    this.world.trace(`m${this.id} crash at ${this.durable}`);
    for (const wake of this.followers) wake();
    this.followers = [];
    this.committed = [];
    if (this.mode === 'fsync' || this.sim.powerLossInWriteMode)
      this.disk.powerLoss(this.world.random);
    else this.disk.crashProcesses();
    const appliers = this.appliers;
    this.appliers = [];
    const relay = this.relay;
    this.relay = undefined;
    this.journal = undefined;
    this.stopping.push(
      ...appliers.map((a) => a.stop().catch(() => {})),
      relay?.close().catch(() => {}) ?? Promise.resolve(),
    );
    this.sim.net.reset(this.id);
  }

  /** Waits for the stopped relay and appliers of earlier lives. */
  async stopped(): Promise<void> {
    await Promise.allSettled(this.stopping);
    this.stopping = [];
  }

  get followingAll(): boolean {
    return this.up && this.appliers.every((a) => a.state === 'follow');
  }

  fingerprint(): string {
    return [...this.data.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  }

  get durableVclock(): Vclock {
    return this.durable;
  }

  async shutdown(): Promise<void> {
    this.up = false;
    this.generation++;
    for (const wake of this.followers) wake();
    await Promise.allSettled([
      ...this.appliers.map((a) => a.stop()),
      this.relay?.close() ?? Promise.resolve(),
    ]);
    await this.stopped();
  }
}

// }}}
// {{{ the schedule

export interface ScheduleOptions {
  /** 2 or 3 masters in a full mesh; default: chosen by the seed. */
  readonly members?: number;
  /** Fault and write events of the schedule; default: chosen by the seed (8–60, mostly few). */
  readonly events?: number;
  /**
   * Crashes of wal_mode 'write' members are power losses too, which CONSISTENCY.md does not
   * promise to survive: tests use it to see that the checks do catch lost writes.
   */
  readonly powerLossInWriteMode?: boolean;
}

export interface ScheduleResult {
  readonly seed: number;
  readonly members: number;
  /** Crashes, power losses, connection resets, partitions. */
  readonly faults: number;
  /** Writes acknowledged to a client, each checked on every member at the end. */
  readonly acknowledgedChecked: number;
  /** Acknowledged writes a crash lost (must be 0). */
  readonly lost: number;
  /** Members whose data or vclock differ from the others' after healing (must be 0). */
  readonly diverged: number;
  /** Restarts that failed (recovery threw): must be 0. */
  readonly failedStarts: number;
  /** Every failed check, one line each; empty when the schedule passed. */
  readonly failures: readonly string[];
  /** FNV-1a of the trace: equal for two runs of the same seed. */
  readonly traceHash: string;
  /** The last trace lines, for a failure report. */
  readonly recent: readonly string[];
  readonly simulatedMs: number;
  readonly steps: number;
}

class Simulation {
  readonly world: World;
  readonly net: Network;
  readonly members: Member[] = [];
  readonly origins = new Map<string, OriginTransaction>();
  readonly acknowledged: Array<{ member: number; lsn: number }> = [];
  readonly failures: string[] = [];
  lost = 0;
  faults = 0;
  failedStarts = 0;

  constructor(
    readonly seed: number,
    readonly hasher: Hasher,
    readonly powerLossInWriteMode: boolean,
  ) {
    this.world = new World(seededRandom(seed));
    this.net = new Network(
      this.world,
      5 + Math.floor(this.world.random() * 200),
      [256, 4096, 64 * 1024, 1 << 30][Math.floor(this.world.random() * 4)]!,
    );
    this.replicationTimeoutS =
      REPLICATION_TIMEOUTS_S[Math.floor(this.world.random() * REPLICATION_TIMEOUTS_S.length)]!;
    this.transactionsInFlightMax = [1, 1, 4, 64][Math.floor(this.world.random() * 4)]!;
    this.diskLatencyMs = [0, 1, 5, 20][Math.floor(this.world.random() * 4)]!;
  }

  /** replication_timeout (and twice it, replication_connect_timeout) of every member. */
  readonly replicationTimeoutS: number;
  /** The appliers' pipeline depth: 1 applies strictly one transaction after another. */
  readonly transactionsInFlightMax: number;
  /** Virtual time a write or an fdatasync takes (0: the disk is instant). */
  readonly diskLatencyMs: number;

  fail(what: string): void {
    if (this.failures.length < 20) this.failures.push(what);
    this.world.trace(`FAIL ${what}`);
  }

  lose(what: string): void {
    this.lost++;
    this.fail(`lost: ${what}`);
  }

  /** True when some component of `a` is below `b`'s (a lost write on that component). */
  hasLess(a: Vclock, b: Vclock): boolean {
    return b.entries().some(([id, lsn]) => a.get(id) < lsn);
  }

  async connect(from: number, to: number): Promise<ApplierConnection> {
    const peer = this.members[to - 1];
    const name = socketName(from, to);
    await this.world.sleep(this.net.delayMs());
    if (peer === undefined || !peer.up || peer.relay === undefined)
      throw ReplicationSocketError.connect(
        name,
        Object.assign(new Error('Connection refused'), { code: 'ECONNREFUSED', errno: 111 }),
      );
    if (this.net.blocked(from, to) || this.net.blocked(to, from)) {
      // SYN or SYN-ACK lost until the connect bound of the applier gives up.
      await this.world.sleep(this.replicationTimeoutS * 2000 + 1);
      throw ReplicationSocketError.connect(
        name,
        Object.assign(new Error('Connection timed out'), { code: 'ETIMEDOUT', errno: 110 }),
      );
    }
    const me = this.members[from - 1]!;
    if (!me.up) throw new ClientError(ErrorCode.ER_LOADING);
    const connection = this.net.open(from, to);
    this.world.trace(`c${connection.id} open ${from}>${to}`);
    void serveReplicationLink(connection.relayEnd(), peer.relay, name.local).catch(() => {});
    const end = connection.applierEnd();
    const greeting = encodeGreeting(peer.instanceUuid, new Uint8Array(32).fill(to));
    return { ...end, readGreeting: async () => greeting };
  }

  /** One seeded fault or write. */
  private event(): void {
    const r = this.world.random();
    const n = this.members.length;
    const a = 1 + Math.floor(this.world.random() * n);
    let b = 1 + Math.floor(this.world.random() * (n - 1));
    if (b >= a) b++;
    if (r < 0.55) {
      const burst = 1 + Math.floor(this.world.random() * 4);
      for (let i = 0; i < burst; i++) this.members[a - 1]!.clientWrite();
      this.world.trace(`m${a} writes ${burst}`);
    } else if (r < 0.7) {
      this.faults++;
      this.world.trace(`reset ${a}-${b}: ${this.net.reset(a, b)}`);
    } else if (r < 0.8) {
      this.faults++;
      const oneWay = this.world.random() < 0.5;
      this.net.partition(a, b, oneWay);
      this.world.trace(`partition ${a}${oneWay ? '>' : '-'}${b}`);
    } else if (r < 0.9) {
      this.net.heal(a, b);
      this.world.trace(`heal ${a}-${b}`);
    } else {
      const member = this.members[a - 1]!;
      if (!member.up) return;
      this.faults++;
      member.crash();
      const down = 20 + Math.floor(this.world.random() * 500);
      this.world.setTimeout(() => void this.restart(member), down);
    }
  }

  private async restart(member: Member): Promise<void> {
    if (member.up || member.starting) return;
    member.starting = true;
    try {
      await member.stopped();
      await member.start();
    } catch (error) {
      this.failedStarts++;
      this.fail(`member ${member.id} did not start: ${(error as Error).stack ?? error}`);
    } finally {
      member.starting = false;
    }
  }

  async run(options: ScheduleOptions): Promise<void> {
    const random = this.world.random;
    const count = options.members ?? 2 + Math.floor(random() * 2);
    for (let id = 1; id <= count; id++)
      this.members.push(new Member(this, id, random() < 0.5 ? 'fsync' : 'write'));
    for (const member of this.members) await member.start();
    // Mostly small schedules (a few writes and faults), some up to 60 events.
    const events = options.events ?? 8 + Math.floor(random() ** 3 * 52);
    // Events come every 20–250 ms on average: idle time costs heartbeats, not coverage.
    const windowMs = 100 + Math.floor(events * (20 + random() * 230));
    for (let i = 0; i < events; i++)
      this.world.setTimeout(() => this.event(), Math.floor(random() * windowMs));
    const start = this.world.nowMs;
    await this.world.run(start + windowMs);
    // Heal everything, bring every member back, run to quiescence.
    this.net.healAll();
    this.world.trace('heal all');
    for (const member of this.members)
      if (!member.up) this.world.setTimeout(() => void this.restart(member), 0);
    const converged = () => {
      this.net.forgetClosed();
      if (!this.members.every((m) => m.followingAll)) return false;
      const first = this.members[0]!.durableVclock;
      return this.members.every((m) => m.durableVclock.compare(first) === 0);
    };
    const quiet = await this.world.run(this.world.nowMs + 60_000, converged);
    if (!quiet) {
      this.fail(
        `no convergence in 60 s of simulated time: ${this.members
          .map((m) => `m${m.id} ${m.up ? 'up' : 'down'} ${m.durableVclock}`)
          .join(', ')}`,
      );
    }
    this.check(quiet);
    // Stopping needs the world to run (appliers sleep on its timers).
    let down = false;
    void Promise.all(this.members.map((m) => m.shutdown())).then(() => {
      down = true;
    });
    if (!(await this.world.run(this.world.nowMs + 10_000, () => down)))
      this.fail('members did not shut down within 10 s of simulated time');
  }

  diverged = 0;

  private check(quiet: boolean): void {
    const [first, ...rest] = this.members;
    const vclock = first!.durableVclock;
    const data = first!.fingerprint();
    for (const member of rest) {
      if (member.durableVclock.compare(vclock) !== 0 || member.fingerprint() !== data) {
        this.diverged++;
        if (quiet)
          this.fail(
            `member ${member.id} diverged: vclock ${member.durableVclock} vs ${vclock}${member.fingerprint() === data ? '' : ', data differs'}`,
          );
      }
    }
    // Every acknowledged write is on every member once the set converged.
    for (const ack of this.acknowledged)
      for (const member of this.members)
        if (member.durableVclock.get(ack.member) < ack.lsn) {
          this.lost++;
          this.fail(
            `lost: write ${ack.member}:${ack.lsn} acknowledged, missing on member ${member.id}`,
          );
        }
  }
}

let hasherPromise: Promise<Hasher> | undefined;

/** Runs the schedule of `seed`: the same seed runs the same schedule, event for event. */
export async function runSchedule(
  seed: number,
  options: ScheduleOptions = {},
): Promise<ScheduleResult> {
  hasherPromise ??= loadHasher();
  const sim = new Simulation(seed, await hasherPromise, options.powerLossInWriteMode === true);
  const started = sim.world.nowMs;
  try {
    await sim.run(options);
  } catch (error) {
    sim.fail(`the simulator threw: ${(error as Error).stack ?? error}`);
  }
  return {
    seed,
    members: sim.members.length,
    faults: sim.faults,
    acknowledgedChecked: sim.acknowledged.length,
    lost: sim.lost,
    diverged: sim.diverged,
    failedStarts: sim.failedStarts,
    failures: sim.failures,
    traceHash: sim.world.traceHash,
    recent: sim.world.recent(),
    simulatedMs: sim.world.nowMs - started,
    steps: sim.world.events,
  };
}

// }}}
