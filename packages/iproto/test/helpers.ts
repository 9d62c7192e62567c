// Shared helpers of the integration tests: a server on an ephemeral port with the in-memory
// handler, and a raw byte-level client that checks every reply's exact layout.
import { createServer as createNetServer, connect as netConnect, type Socket } from 'node:net';
import { decode, MsgpackReader, MsgpackWriter } from '@tarantype/core';
import { decodeGreeting, type Greeting } from '../src/greeting.js';
import { GREETING_SIZE } from '../src/limits.js';
import { createServer, type IprotoServer, type IprotoServerOptions } from '../src/server.js';
import { MemoryHandler, type MemoryUser } from '../src/testing.js';

export interface TestServer {
  readonly server: IprotoServer<MemoryUser>;
  readonly handler: MemoryHandler;
  readonly port: number;
  close(): Promise<void>;
}

export async function startServer(
  options: Partial<IprotoServerOptions<MemoryUser>> & { handler?: MemoryHandler } = {},
): Promise<TestServer> {
  const handler = options.handler ?? new MemoryHandler();
  const server = createServer<MemoryUser>({ authFailureDelayMs: 0, ...options, handler });
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, handler, port, close: () => server.close({ timeoutMs: 1000 }) };
}

/** A decoded reply, after checking the fixed 28-byte header layout. */
export interface Reply {
  readonly status: number;
  readonly sync: number | bigint;
  readonly schemaVersion: number;
  /** The body decoded (a Map with integer keys), always present. */
  readonly body: Map<number, unknown>;
  readonly bodyBytes: Uint8Array;
  /** The packet as received (prefix included). */
  readonly frame: Uint8Array;
}

/** Checks the server reply header layout of PROTOCOL.md §5.1 and decodes the reply. */
export function parseReply(frame: Uint8Array): Reply {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const expect = (offset: number, byte: number) => {
    if (frame[offset] !== byte)
      throw new Error(
        `reply byte ${offset} is 0x${frame[offset]?.toString(16)}, expected 0x${byte.toString(16)}`,
      );
  };
  expect(0, 0xce);
  if (view.getUint32(1) !== frame.length - 5) throw new Error('reply length prefix does not match');
  expect(5, 0x83);
  expect(6, 0x00);
  expect(7, 0xce);
  expect(12, 0x01);
  expect(13, 0xcf);
  expect(22, 0x05);
  expect(23, 0xce);
  if (frame.length <= 28) throw new Error('reply without a body');
  const bodyBytes = frame.subarray(28);
  const body = decode(bodyBytes);
  const high = view.getUint32(14);
  const sync = high >= 0x200000 ? view.getBigUint64(14) : high * 2 ** 32 + view.getUint32(18);
  return {
    status: view.getUint32(8),
    sync,
    schemaVersion: view.getUint32(24),
    body: body instanceof Map ? (body as Map<number, unknown>) : new Map(),
    bodyBytes,
    frame,
  };
}

/** Frames a packet: 0xce + u32 length + header + body. */
export function frame(header: Uint8Array, body?: Uint8Array): Uint8Array {
  const length = header.length + (body?.length ?? 0);
  const out = new Uint8Array(5 + length);
  out[0] = 0xce;
  new DataView(out.buffer).setUint32(1, length);
  out.set(header, 5);
  if (body !== undefined) out.set(body, 5 + header.length);
  return out;
}

/** Encodes an integer-keyed map (iproto header or body) from [key, value] pairs. */
export function intMap(entries: ReadonlyArray<readonly [number, unknown]>): Uint8Array {
  const w = new MsgpackWriter(256);
  w.mapHeader(entries.length);
  for (const [key, value] of entries) {
    w.uint(key);
    w.value(value);
  }
  return w.toBytes();
}

/** A request frame from header fields and body fields. */
export function request(
  type: number,
  sync: number,
  body?: ReadonlyArray<readonly [number, unknown]>,
): Uint8Array {
  return frame(
    intMap([
      [0, type],
      [1, sync],
    ]),
    body === undefined ? undefined : intMap(body),
  );
}

/** An AUTH request frame (chap-sha1; the scramble as MP_BIN, as net.box sends it). */
export function authFrame(sync: number, user: string, scramble: Uint8Array): Uint8Array {
  const w = new MsgpackWriter();
  w.mapHeader(2);
  w.uint(0x23);
  w.str(user);
  w.uint(0x21);
  w.arrayHeader(2);
  w.str('chap-sha1');
  w.bin(scramble);
  return frame(
    intMap([
      [0, 0x07],
      [1, sync],
    ]),
    w.toBytes(),
  );
}

/** A byte-level client: writes arbitrary bytes, reads whole reply frames. */
export class RawClient {
  greeting!: Greeting;
  greetingBytes!: Uint8Array;
  private pendingBytes: Buffer = Buffer.alloc(0);
  protocolViolation: string | undefined;
  private readonly replies: Uint8Array[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  /** `localAddress` (e.g. 127.0.0.2) makes the connection come from another loopback peer. */
  static async connect(port: number, localAddress?: string): Promise<RawClient> {
    const socket = netConnect({
      host: '127.0.0.1',
      port,
      ...(localAddress === undefined ? {} : { localAddress }),
    });
    socket.setNoDelay(true);
    const client = new RawClient(socket);
    const first = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        const all = Buffer.concat(chunks);
        if (all.length >= GREETING_SIZE) {
          socket.off('data', onData);
          resolve(all);
        }
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('closed before the greeting')));
    });
    client.greetingBytes = first.subarray(0, GREETING_SIZE);
    client.greeting = decodeGreeting(client.greetingBytes);
    socket.on('data', (chunk: Buffer) => client.onData(chunk));
    if (first.length > GREETING_SIZE) client.onData(first.subarray(GREETING_SIZE));
    return client;
  }

  /** Strict reply framing: every reply must start with 0xce + u32 length (rule S1). */
  private onData(chunk: Uint8Array): void {
    this.pendingBytes = Buffer.concat([this.pendingBytes, chunk]);
    while (this.pendingBytes.length >= 5) {
      if (this.pendingBytes[0] !== 0xce) {
        this.protocolViolation = `reply length prefix 0x${this.pendingBytes[0]!.toString(16)}`;
        break;
      }
      const length = this.pendingBytes.readUInt32BE(1);
      if (this.pendingBytes.length < 5 + length) break;
      this.replies.push(new Uint8Array(this.pendingBytes.subarray(0, 5 + length)));
      this.pendingBytes = this.pendingBytes.subarray(5 + length);
    }
    this.waiter?.();
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next reply; rejects if the connection closes first or after `timeoutMs`. */
  async reply(timeoutMs = 5000): Promise<Reply> {
    return parseReply(await this.rawReply(timeoutMs));
  }

  /** The next frame as received (0xce-prefixed), without checking the reply header layout. */
  async rawReply(timeoutMs = 5000): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (this.protocolViolation !== undefined) throw new Error(this.protocolViolation);
      if (this.ended) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no reply in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.replies.shift()!;
  }

  /** Sends a request and waits for one reply. */
  async roundTrip(bytes: Uint8Array): Promise<Reply> {
    this.write(bytes);
    return this.reply();
  }

  /** True if the server closed the connection within `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    if (this.ended) return true;
    return Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs)),
    ]);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** DATA of a reply body. */
export function data(reply: Reply): unknown[] {
  return reply.body.get(0x30) as unknown[];
}

/** Error message (0x31) and the first stack entry of an error reply. */
export function errorOf(reply: Reply): {
  code: number;
  message: string;
  type: string;
  entry: Map<number, unknown>;
} {
  const stack = (reply.body.get(0x52) as Map<number, unknown>).get(0) as Array<
    Map<number, unknown>
  >;
  const entry = stack[0]!;
  return {
    code: reply.status & 0x7fff,
    message: reply.body.get(0x31) as string,
    type: entry.get(0) as string,
    entry,
  };
}

export function readerOf(bytes: Uint8Array): MsgpackReader {
  return new MsgpackReader(bytes);
}

/** A controllable promise (tests of out-of-order completion). */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A TCP proxy in front of a server, to break connections without giving up the listening
 * port: `drop()` destroys the proxied connections, `down` refuses new ones (accepts and
 * closes at once) until set back to false.
 */
export class FlakyProxy {
  down = false;
  private readonly sockets = new Set<Socket>();
  private readonly server = createNetServer((client) => {
    if (this.down) {
      client.destroy();
      return;
    }
    const upstream = netConnect({ host: '127.0.0.1', port: this.targetPort });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });

  private constructor(private readonly targetPort: number) {}

  static async start(targetPort: number): Promise<FlakyProxy & { port: number }> {
    const proxy = new FlakyProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return Object.assign(proxy, { port: (proxy.server.address() as { port: number }).port });
  }

  drop(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
