// A TCP proxy that injects network faults between two processes on 127.0.0.1: delay, a slow
// link (bytes/s), a blackhole (bytes accepted and discarded), partitions (bytes held, as a
// network that drops packets while TCP keeps retransmitting them), connection resets (RST) and
// heal. Layer: apps/server tests (the partition campaign and replication tests put one in front
// of every replication link).
//
// Each accepted connection ("client") gets its own connection to the target; bytes flow in two
// directions, 'to-target' (client → target) and 'to-client' (target → client), each through a
// Pipe: a FIFO of chunks, each released at its arrival time + delay, paced by the slow-link
// rate, never reordered. Faults are per direction and apply to live and future connections:
// - partition: nothing is forwarded and the source socket is paused, so the kernel's buffers
//   fill and the sender sees TCP backpressure, as behind a firewall that drops packets; on heal
//   the held bytes go through in order (unless an endpoint gave up and closed meanwhile). An end
//   or close from the source is held too: a partition lets no FIN or RST through.
// - drop: bytes are read and discarded (counted in `dropped`); the stream the receiver sees has
//   a hole once healed, which is the point of a blackhole.
// - reset: every current connection is destroyed with an RST on both sides, now.
// What it does not do: reorder or duplicate bytes (TCP never would), or refuse new connections
// (a partitioned link accepts the connection and then passes nothing, as a SYN that never gets
// an answer looks to the application: a timeout).
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export type Direction = 'to-target' | 'to-client';
export type Directions = Direction | 'both';

/** Bytes queued in a pipe above which its source socket is paused (bounded memory). */
const PIPE_QUEUE_BYTES_MAX = 1024 * 1024;
/** The slow-link pacer's granularity: it sends what the rate allows about this often. */
const PACE_INTERVAL_MS = 10;

interface LinkFaults {
  delayMs: number;
  /** undefined: unlimited. */
  bytesPerSecond: number | undefined;
  partitioned: boolean;
  dropped: boolean;
}

type Entry =
  | { readonly kind: 'data'; readonly bytes: Buffer; readonly readyAt: number }
  | { readonly kind: 'end' | 'destroy'; readonly readyAt: number };

const directionsOf = (d: Directions): Direction[] =>
  d === 'both' ? ['to-target', 'to-client'] : [d];

/** One direction of one connection: source socket → queue → destination socket. */
class Pipe {
  private readonly queue: Entry[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingDrain = false;
  /** When the pacer last granted bytes, and how many it may still send. */
  private paceAt = 0;
  private budget = 0;
  private finished = false;
  /** The source was reset (ECONNRESET): the destination gets an RST too, not a FIN. */
  private sourceReset = false;

  constructor(
    private readonly source: Socket,
    private readonly destination: Socket,
    private readonly faults: LinkFaults,
    private readonly counters: { forwarded: number; dropped: number },
  ) {
    source.on('data', (chunk: Buffer) => {
      if (this.faults.dropped) {
        this.counters.dropped += chunk.length;
        return;
      }
      this.push({ kind: 'data', bytes: chunk, readyAt: Date.now() + this.faults.delayMs });
    });
    source.on('end', () => this.push({ kind: 'end', readyAt: Date.now() + this.faults.delayMs }));
    source.on('close', () =>
      this.push({ kind: 'destroy', readyAt: Date.now() + this.faults.delayMs }),
    );
    source.on('error', (error: NodeJS.ErrnoException) => {
      // 'close' follows and is queued like any other event.
      if (error.code === 'ECONNRESET' || error.code === 'ECONNREFUSED') this.sourceReset = true;
    });
    destination.on('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
  }

  private push(entry: Entry): void {
    if (this.finished) return;
    this.queue.push(entry);
    if (entry.kind === 'data') {
      this.queuedBytes += entry.bytes.length;
      if (this.queuedBytes > PIPE_QUEUE_BYTES_MAX) this.source.pause();
    }
    this.pump();
  }

  /** Discards what is queued (a drop that starts now also swallows bytes not yet sent). */
  discardQueued(): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const entry = this.queue[i]!;
      if (entry.kind !== 'data') continue;
      this.counters.dropped += entry.bytes.length;
      this.queuedBytes -= entry.bytes.length;
      this.queue.splice(i, 1);
    }
  }

  /** Forwards what the faults allow now; re-arms a timer for what they allow later. */
  pump(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.faults.partitioned) {
      this.source.pause();
      return;
    }
    while (this.queue.length > 0 && !this.waitingDrain && !this.finished) {
      const head = this.queue[0]!;
      const now = Date.now();
      if (head.readyAt > now) {
        this.arm(head.readyAt - now);
        return;
      }
      if (head.kind !== 'data') {
        this.queue.shift();
        this.finish(head.kind);
        return;
      }
      let bytes = head.bytes;
      const rate = this.faults.bytesPerSecond;
      if (rate !== undefined) {
        this.budget = Math.min(
          this.budget + ((now - this.paceAt) * rate) / 1000,
          Math.max(1, (rate * PACE_INTERVAL_MS) / 1000),
        );
        this.paceAt = now;
        const allowed = Math.floor(this.budget);
        if (allowed < 1) {
          this.arm(PACE_INTERVAL_MS);
          return;
        }
        if (allowed < bytes.length) {
          this.queue[0] = { kind: 'data', bytes: bytes.subarray(allowed), readyAt: head.readyAt };
          bytes = bytes.subarray(0, allowed);
        } else this.queue.shift();
        this.budget -= bytes.length;
      } else this.queue.shift();
      this.queuedBytes -= bytes.length;
      this.counters.forwarded += bytes.length;
      if (!this.destination.destroyed && !this.destination.write(bytes)) this.waitingDrain = true;
    }
    if (this.queuedBytes <= PIPE_QUEUE_BYTES_MAX / 2 && !this.finished) this.source.resume();
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, ms);
  }

  private finish(kind: 'end' | 'destroy'): void {
    if (kind === 'end') {
      if (!this.destination.destroyed) this.destination.end();
      return;
    }
    this.finished = true;
    this.queue.length = 0;
    if (this.sourceReset) resetSocket(this.destination);
    else this.destination.destroy();
  }

  stop(): void {
    this.finished = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

/**
 * RST when the socket is a live TCP connection; a plain destroy otherwise (still connecting,
 * or its FIN still on the way: libuv cannot reset a stream while its shutdown is pending,
 * uv_tcp_close_reset fails with EINVAL, and node then drops the handle without closing it;
 * found by `npm run chaos`, which saw such sockets open at the end of the partition campaign).
 */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded && !socket.writableFinished) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

interface Connection {
  readonly client: Socket;
  readonly target: Socket;
  readonly pipes: Record<Direction, Pipe>;
}

export interface FaultProxyOptions {
  readonly targetPort: number;
  readonly targetHost?: string;
}

export class FaultProxy {
  /** Bytes forwarded and dropped per direction, over every connection so far. */
  readonly counters: Record<Direction, { forwarded: number; dropped: number }> = {
    'to-target': { forwarded: 0, dropped: 0 },
    'to-client': { forwarded: 0, dropped: 0 },
  };
  /** Connections accepted so far. */
  accepted = 0;
  private readonly faults: Record<Direction, LinkFaults> = {
    'to-target': { delayMs: 0, bytesPerSecond: undefined, partitioned: false, dropped: false },
    'to-client': { delayMs: 0, bytesPerSecond: undefined, partitioned: false, dropped: false },
  };
  private readonly connections = new Set<Connection>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly target: { readonly host: string; readonly port: number },
  ) {}

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const target = { host: options.targetHost ?? '127.0.0.1', port: options.targetPort };
    let proxy: FaultProxy | undefined;
    const server = createServer({ pauseOnConnect: true }, (client) => proxy!.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy = new FaultProxy(server, (server.address() as { port: number }).port, target);
    return proxy;
  }

  /** Live connections (each a client socket and its target socket). */
  get connectionCount(): number {
    return this.connections.size;
  }

  private accept(client: Socket): void {
    this.accepted += 1;
    const target = tcpConnect({ port: this.target.port, host: this.target.host });
    target.pause();
    client.setNoDelay(true);
    target.setNoDelay(true);
    const connection: Connection = {
      client,
      target,
      pipes: {
        'to-target': new Pipe(client, target, this.faults['to-target'], this.counters['to-target']),
        'to-client': new Pipe(target, client, this.faults['to-client'], this.counters['to-client']),
      },
    };
    this.connections.add(connection);
    let closed = 0;
    const onClose = () => {
      closed += 1;
      if (closed === 2) {
        this.connections.delete(connection);
        connection.pipes['to-target'].stop();
        connection.pipes['to-client'].stop();
      }
    };
    client.on('close', onClose);
    target.on('close', onClose);
    connection.pipes['to-target'].pump();
    connection.pipes['to-client'].pump();
  }

  private each(directions: Directions, change: (faults: LinkFaults, d: Direction) => void): void {
    for (const d of directionsOf(directions)) change(this.faults[d], d);
    for (const c of this.connections) for (const d of directionsOf(directions)) c.pipes[d].pump();
  }

  /** Every chunk in `directions` waits `ms` more before it is forwarded (order kept). */
  delay(ms: number, directions: Directions = 'both'): void {
    this.each(directions, (f) => {
      f.delayMs = ms;
    });
  }

  /** At most `bytesPerSecond` forwarded in `directions` (undefined: unlimited). */
  slow(bytesPerSecond: number | undefined, directions: Directions = 'both'): void {
    if (bytesPerSecond !== undefined && !(bytesPerSecond > 0))
      throw new RangeError(`bytes per second must be positive, got ${bytesPerSecond}`);
    this.each(directions, (f) => {
      f.bytesPerSecond = bytesPerSecond;
    });
  }

  /** Blackhole: bytes in `directions` are read and discarded, connections stay open. */
  drop(directions: Directions = 'both'): void {
    this.each(directions, (f, d) => {
      f.dropped = true;
      for (const c of this.connections) c.pipes[d].discardQueued();
    });
  }

  /**
   * Partition: nothing passes in `directions` (one direction: a one-way partition; 'both':
   * two-way); bytes, ends and closes are held until heal().
   */
  partition(directions: Directions = 'both'): void {
    this.each(directions, (f) => {
      f.partitioned = true;
    });
  }

  /** True while `direction` is partitioned. */
  isPartitioned(direction: Direction): boolean {
    return this.faults[direction].partitioned;
  }

  /** Destroys every current connection with an RST on both sides. */
  reset(): void {
    for (const c of this.connections) {
      c.pipes['to-target'].stop();
      c.pipes['to-client'].stop();
      resetSocket(c.client);
      resetSocket(c.target);
    }
  }

  /** Removes every fault in `directions`; held bytes flow again. */
  heal(directions: Directions = 'both'): void {
    this.each(directions, (f) => {
      f.delayMs = 0;
      f.bytesPerSecond = undefined;
      f.partitioned = false;
      f.dropped = false;
    });
  }

  async close(): Promise<void> {
    for (const c of this.connections) {
      c.pipes['to-target'].stop();
      c.pipes['to-client'].stop();
      c.client.destroy();
      c.target.destroy();
    }
    this.connections.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
