// The applier's view of its link to a master, and the TCP implementation. Layer: replication.
// The applier only needs "the 128 greeting bytes", "the next packet", "write these frames" and
// "close", so tests inject failures (refused connects, drops mid-stream, silence) through a
// Connector of their own without sockets.
// Invariant: after close() or a failure, reads resolve undefined (EOF) or reject; never hang
// once the socket is gone.
import { connect as netConnect, type Socket } from 'node:net';
import { ClientError } from '@tarantype/core';
import { FrameDecoder, GREETING_SIZE, NEED_MORE } from '@tarantype/iproto';
import { ReplicationSocketError, type SocketName } from './socket-error.js';

export interface ApplierConnection {
  /** fd and addresses, for messages ("called on fd 18, aka …, peer of …"). */
  readonly socketName: SocketName;
  /** The greeting (exactly 128 bytes); rejects with a socket error on EOF. */
  readGreeting(): Promise<Uint8Array>;
  /** The next packet (no length prefix); rejects with a socket error on EOF or a bad frame. */
  readPacket(): Promise<Uint8Array>;
  /**
   * The next packet when it is already buffered, else undefined; never waits, and throws what
   * readPacket would throw for a bad frame. Optional: without it every packet is awaited. The
   * applier takes a run of buffered rows in one turn with it, so they reach the WAL together.
   */
  takeBufferedPacket?(): Uint8Array | undefined;
  /**
   * Bytes received so far, whole packets or not: the applier counts a large packet still
   * arriving as progress, not silence. Optional: without it only whole packets count.
   */
  readonly receivedBytes?: number;
  /** Queues frames for the socket. */
  write(bytes: Uint8Array): void;
  close(): void;
}

/** Opens a connection to host:port; rejects with ReplicationSocketError.connect on failure. */
export type Connector = (host: string, port: number) => Promise<ApplierConnection>;

/** The real thing: node:net, one FrameDecoder, reads paused while nobody waits. */
export const tcpConnector: Connector = (host, port) =>
  new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    socket.setNoDelay(true);
    // A refused connect has no socket left to name by the time 'error' fires, while 2.6 says
    // "connect, called on fd 18, aka 127.0.0.1:56026". The kernel binds the local port at
    // connect(2), which Node issues in a tick queued by netConnect (an IP literal needs no
    // lookup): name the socket in the next tick, before any result can arrive.
    let attempted: SocketName | undefined;
    process.nextTick(() => {
      attempted = attemptName(socket);
    });
    const onError = (error: Error) => {
      const name = attempted ?? nameOf(socket);
      socket.destroy();
      reject(ReplicationSocketError.connect(name, error));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(new TcpConnection(socket));
    });
  });

function nameOf(socket: Socket): SocketName {
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  const fd = typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
  const local =
    socket.localAddress !== undefined ? `${socket.localAddress}:${socket.localPort}` : undefined;
  const peer =
    socket.remoteAddress !== undefined ? `${socket.remoteAddress}:${socket.remotePort}` : undefined;
  return { fd, local, peer };
}

/** fd and local address of a socket whose connect(2) is in progress (no peer yet). */
function attemptName(socket: Socket): SocketName | undefined {
  const handle = (
    socket as unknown as {
      _handle?: { fd?: number; getsockname?: (out: { address?: string; port?: number }) => number };
    }
  )._handle;
  if (handle === undefined || handle === null) return undefined;
  const fd = typeof handle.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
  const out: { address?: string; port?: number } = {};
  const failed = handle.getsockname === undefined || handle.getsockname(out) !== 0;
  const local =
    failed || out.address === undefined || !out.port ? undefined : `${out.address}:${out.port}`;
  if (fd === undefined && local === undefined) return undefined;
  return { fd, local, peer: undefined };
}

/** Unread input above which the applier's socket stops reading (backpressure). */
const INPUT_HIGH_WATER_BYTES = 16 * 1024 * 1024;

class TcpConnection implements ApplierConnection {
  readonly socketName: SocketName;
  private readonly decoder = new FrameDecoder();
  private greetingBytes: Uint8Array | undefined;
  private pendingGreeting: Uint8Array[] = [];
  private pendingGreetingBytes = 0;
  private waiter: { resolve: () => void } | undefined;
  private failure: Error | undefined;
  private ended = false;
  receivedBytes = 0;

  constructor(private readonly socket: Socket) {
    this.socketName = nameOf(socket);
    socket.on('data', (chunk: Buffer) => this.onData(new Uint8Array(chunk)));
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset on read is an EOF for 2.6 (sio_read: "Treat the same as EOF"): a killed
      // master shows "unexpected EOF when reading from socket", as one that exited.
      if (error.code === 'ECONNRESET') this.ended = true;
      else this.failure ??= ReplicationSocketError.io('read', this.socketName, error);
      this.wake();
    });
  }

  private onData(chunk: Uint8Array): void {
    this.receivedBytes += chunk.length;
    if (this.greetingBytes === undefined) {
      this.pendingGreeting.push(chunk);
      this.pendingGreetingBytes += chunk.length;
      if (this.pendingGreetingBytes >= GREETING_SIZE) {
        const all = Buffer.concat(this.pendingGreeting);
        this.greetingBytes = new Uint8Array(all.subarray(0, GREETING_SIZE));
        if (all.length > GREETING_SIZE)
          this.decoder.push(new Uint8Array(all.subarray(GREETING_SIZE)));
        this.pendingGreeting = [];
      }
    } else {
      this.decoder.push(chunk);
    }
    // Backpressure: a master faster than the applier pauses the socket instead of growing
    // the input buffer; readPacket resumes it.
    if (this.decoder.bufferedBytes > INPUT_HIGH_WATER_BYTES) this.socket.pause();
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = { resolve };
    });
  }

  async readGreeting(): Promise<Uint8Array> {
    while (this.greetingBytes === undefined) {
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) throw ReplicationSocketError.eof(this.socketName);
      await this.wait();
    }
    return this.greetingBytes;
  }

  takeBufferedPacket(): Uint8Array | undefined {
    const packet = this.decoder.next();
    if (packet instanceof ClientError) throw packet;
    if (packet === NEED_MORE) return undefined;
    if (this.socket.isPaused() && this.decoder.bufferedBytes <= INPUT_HIGH_WATER_BYTES)
      this.socket.resume();
    return packet;
  }

  async readPacket(): Promise<Uint8Array> {
    for (;;) {
      const packet = this.takeBufferedPacket();
      if (packet !== undefined) return packet;
      if (this.socket.isPaused()) this.socket.resume();
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) throw ReplicationSocketError.eof(this.socketName);
      await this.wait();
    }
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  close(): void {
    this.ended = true;
    this.socket.destroy();
    this.wake();
  }
}
