// Streaming iproto frame decoder. Layer: iproto (no I/O: the socket code feeds it chunks).
//
// A frame is `<len: MP_UINT> <len bytes>` (PROTOCOL.md §1, rules F1–F3). Chunks of any size may be
// pushed; `next()` returns one whole packet (header + body bytes, without the length prefix),
// NEED_MORE when the buffered bytes do not yet hold one, or a ClientError(ER_INVALID_MSGPACK)
// when the stream cannot be framed (a non-uint length prefix, or a length above the configured
// maximum). A framing error is final: the stream has lost its boundaries, so every later call
// returns the same error and the connection must be closed.
//
// Memory (PROTOCOL.md §7): what is held is the bytes received and not yet handed out, never the
// declared length, so a lying prefix costs nothing until its bytes arrive. A frame larger than
// FRAME_ASSEMBLY_THRESHOLD_BYTES whose bytes are still arriving is copied, as they arrive, into one
// resizable ArrayBuffer that grows to fit them (its maximum is the declared length, reserved as
// address space only). `release()` (on close) shrinks that buffer to 0, which gives its pages back
// to the OS at once instead of at the next full GC; the received socket chunks are small and die
// young. An optional InputMeter counts the bytes held across decoders (a server's connections).
//
// It does not look inside packets (request.ts does). Invariant: bytes handed out as a packet are
// never written to again, so a packet (and any view of it the handler keeps) stays valid; when a
// packet is wholly inside one pushed chunk it is a zero-copy view of that chunk, otherwise it
// is a fresh array (for an assembled frame: a view of its own resizable buffer, never resized
// again).
import { ClientError, ErrorCode, IPROTO_PACKET_SIZE_MAX } from '@tarantype/core';
import { FRAME_ASSEMBLY_THRESHOLD_BYTES } from './limits.js';

/** ES2024's resizable ArrayBuffer (Node 20 has it; the workspace's TypeScript lib is older). */
interface ResizableArrayBuffer extends ArrayBuffer {
  resize(byteLength: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (
  byteLength: number,
  options: { maxByteLength: number },
) => ResizableArrayBuffer;

/** Bytes held by a set of decoders (received, not yet handed out as packets, not released). */
export interface InputMeter {
  bytes: number;
}

export interface FrameDecoderOptions {
  /** Counts this decoder's held bytes together with others'. */
  readonly meter?: InputMeter;
  /** Frames longer than this are assembled in a growing buffer (default 64 KiB; tests lower it). */
  readonly assemblyThresholdBytes?: number;
}

/** The result "the buffered bytes do not hold a whole frame yet". */
export const NEED_MORE: unique symbol = Symbol('need more bytes');
export type NeedMore = typeof NEED_MORE;

const EMPTY = new Uint8Array(0);

function tooBig(length: number | bigint): ClientError {
  return new ClientError(
    ErrorCode.ER_INVALID_MSGPACK,
    `too big packet size in the header: ${length}`,
  );
}

export class FrameDecoder {
  /** Unconsumed input: chunks[0] from `head`, then the later chunks whole. */
  private chunks: Uint8Array[] = [];
  private head = 0;
  /** Unconsumed bytes in `chunks`. */
  private chunkBytes = 0;
  /** Length of the frame whose prefix was consumed, or -1 while waiting for a prefix. */
  private frameLength = -1;
  /** The large frame being assembled (resizable; byteLength = bytes received of it so far). */
  private assembly: ResizableArrayBuffer | undefined;
  private failure: ClientError | undefined;
  private released = false;
  private readonly meter: InputMeter;
  private readonly assemblyThresholdBytes: number;

  /**
   * @param packetSizeMaxBytes largest accepted frame length; Tarantool's is 2 GiB
   *   (IPROTO_PACKET_SIZE_MAX). Larger lengths are a framing error ("too big packet size").
   */
  constructor(
    readonly packetSizeMaxBytes: number = IPROTO_PACKET_SIZE_MAX,
    options: FrameDecoderOptions = {},
  ) {
    this.meter = options.meter ?? { bytes: 0 };
    this.assemblyThresholdBytes = options.assemblyThresholdBytes ?? FRAME_ASSEMBLY_THRESHOLD_BYTES;
  }

  /** Bytes received and not yet returned as packets (prefix bytes included). */
  get bufferedBytes(): number {
    return this.chunkBytes + (this.assembly?.byteLength ?? 0);
  }

  /** True once a framing error was found. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.failure !== undefined || this.released) return;
    // A plain Uint8Array view of a socket's Buffer, once per read: the packets, bodies and
    // tuples cut from it are then plain subarrays (a Buffer's subarray runs Buffer's
    // constructor, several times per request).
    let rest =
      chunk instanceof Buffer
        ? new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)
        : chunk;
    if (this.assembly !== undefined) {
      const count = Math.min(rest.length, this.frameLength - this.assembly.byteLength);
      if (!this.append(rest.subarray(0, count))) return;
      if (count === rest.length) return;
      rest = rest.subarray(count);
    }
    this.chunks.push(rest);
    this.chunkBytes += rest.length;
    this.meter.bytes += rest.length;
  }

  /** The next whole packet, NEED_MORE, or the (final) framing error. */
  next(): Uint8Array | NeedMore | ClientError {
    if (this.failure !== undefined) return this.failure;
    if (this.frameLength < 0) {
      const prefix = this.readPrefix();
      if (prefix === NEED_MORE) return NEED_MORE;
      if (prefix instanceof ClientError) return this.fail(prefix);
      this.frameLength = prefix;
    }
    const assembly = this.assembly;
    if (assembly !== undefined) {
      if (assembly.byteLength < this.frameLength) return NEED_MORE;
      const packet = new Uint8Array(assembly, 0, this.frameLength);
      this.assembly = undefined;
      this.meter.bytes -= this.frameLength;
      this.frameLength = -1;
      return packet;
    }
    if (this.chunkBytes >= this.frameLength) {
      const packet = this.take(this.frameLength);
      this.frameLength = -1;
      return packet;
    }
    if (this.frameLength > this.assemblyThresholdBytes && !this.released) this.startAssembly();
    return this.failure ?? NEED_MORE;
  }

  /**
   * Drops everything held and ignores later input (the connection closed). The assembly buffer
   * is shrunk to 0 so its memory is returned now, not when the decoder is garbage-collected.
   */
  release(): void {
    this.released = true;
    this.meter.bytes -= this.bufferedBytes;
    this.assembly?.resize(0);
    this.assembly = undefined;
    this.chunks = [];
    this.head = 0;
    this.chunkBytes = 0;
  }

  private fail(error: ClientError): ClientError {
    this.release();
    this.failure = error;
    return error;
  }

  /** Moves the partial frame's bytes (all of chunks: they are fewer than frameLength) into a
   *  buffer that will grow to hold the frame. */
  private startAssembly(): void {
    let assembly: ResizableArrayBuffer;
    try {
      assembly = new ResizableArrayBuffer(0, { maxByteLength: this.frameLength });
    } catch {
      this.fail(this.outOfMemory());
      return;
    }
    const pending = this.chunks;
    const head = this.head;
    this.meter.bytes -= this.chunkBytes;
    this.chunks = [];
    this.head = 0;
    this.chunkBytes = 0;
    this.assembly = assembly;
    for (const [i, chunk] of pending.entries()) {
      if (!this.append(i === 0 ? chunk.subarray(head) : chunk)) return;
    }
  }

  /** Appends to the assembly buffer; false (and a final failure) if it cannot grow. */
  private append(bytes: Uint8Array): boolean {
    const assembly = this.assembly!;
    const at = assembly.byteLength;
    try {
      assembly.resize(at + bytes.length);
    } catch {
      this.fail(this.outOfMemory());
      return false;
    }
    new Uint8Array(assembly, at, bytes.length).set(bytes);
    this.meter.bytes += bytes.length;
    return true;
  }

  private outOfMemory(): ClientError {
    return new ClientError(ErrorCode.ER_MEMORY_ISSUE, this.frameLength, 'iproto', 'input buffer');
  }

  /** The byte at `index` past the read position (index < chunkBytes). */
  private peekByte(index: number): number {
    const first = this.chunks[0]!;
    if (this.head + index < first.length) return first[this.head + index]!;
    let i = index + this.head;
    for (const chunk of this.chunks) {
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
    return -1;
  }

  /** Parses and consumes the length prefix; NEED_MORE if its bytes are not all here. */
  private readPrefix(): number | NeedMore | ClientError {
    if (this.chunkBytes === 0) return NEED_MORE;
    const t = this.peekByte(0);
    const size =
      t < 0x80 ? 1 : t === 0xcc ? 2 : t === 0xcd ? 3 : t === 0xce ? 5 : t === 0xcf ? 9 : 0;
    if (size === 0) return new ClientError(ErrorCode.ER_INVALID_MSGPACK, 'packet length');
    if (this.chunkBytes < size) return NEED_MORE;
    let length = t < 0x80 ? t : 0;
    if (size > 1 && size < 9) {
      for (let i = 1; i < size; i++) length = length * 256 + this.peekByte(i);
    } else if (size === 9) {
      // Above 2^53 a double loses digits: compare and print the uint64 exactly.
      let value = 0n;
      for (let i = 1; i < size; i++) value = (value << 8n) | BigInt(this.peekByte(i));
      if (value > BigInt(this.packetSizeMaxBytes)) return tooBig(value);
      length = Number(value);
    }
    if (length > this.packetSizeMaxBytes) return tooBig(length);
    this.take(size);
    return length;
  }

  /** Removes the next `n` buffered bytes and returns them (a view when they are contiguous). */
  private take(n: number): Uint8Array {
    if (n === 0) return EMPTY;
    this.chunkBytes -= n;
    this.meter.bytes -= n;
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) {
      const view = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return view;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const count = Math.min(chunk.length - this.head, n - filled);
      out.set(chunk.subarray(this.head, this.head + count), filled);
      filled += count;
      this.head += count;
      if (this.head === chunk.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }
}
