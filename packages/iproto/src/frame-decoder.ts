// Streaming iproto frame decoder. Layer: iproto (no I/O: the socket code feeds it chunks).
//
// A frame is `<len: MP_UINT> <len bytes>` (PROTOCOL.md §1, rules F1–F3). Chunks of any size may be
// pushed; `next()` returns one whole packet (header + body bytes, without the length prefix),
// NEED_MORE when the buffered bytes do not yet hold one, or a ClientError(ER_INVALID_MSGPACK)
// when the stream cannot be framed (a non-uint length prefix, or a length above the configured
// maximum). A framing error is final: the stream has lost its boundaries, so every later call
// returns the same error and the connection must be closed.
//
// It does not look inside packets (request.ts does). Invariant: bytes handed out as a packet are
// never written to again, so a packet (and any view of it the handler keeps) stays valid; when a
// packet is wholly inside one pushed chunk it is a zero-copy view of that chunk, otherwise it
// is a fresh array. Memory held is the unconsumed input only; a large declared length is not
// allocated up front, so a lying prefix costs nothing until its bytes arrive.
import { ClientError, ErrorCode, IPROTO_PACKET_SIZE_MAX } from '@tarantype/core';

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
  private buffered = 0;
  /** Length of the frame whose prefix was consumed, or -1 while waiting for a prefix. */
  private frameLength = -1;
  private failure: ClientError | undefined;

  /**
   * @param packetSizeMaxBytes largest accepted frame length; Tarantool's is 2 GiB
   *   (IPROTO_PACKET_SIZE_MAX). Larger lengths are a framing error ("too big packet size").
   */
  constructor(readonly packetSizeMaxBytes: number = IPROTO_PACKET_SIZE_MAX) {}

  /** Bytes received and not yet returned as packets (prefix bytes included). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** True once a framing error was found. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.failure !== undefined) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next whole packet, NEED_MORE, or the (final) framing error. */
  next(): Uint8Array | NeedMore | ClientError {
    if (this.failure !== undefined) return this.failure;
    if (this.frameLength < 0) {
      const prefix = this.readPrefix();
      if (prefix === NEED_MORE) return NEED_MORE;
      if (prefix instanceof ClientError) {
        this.failure = prefix;
        this.chunks = [];
        this.buffered = 0;
        return prefix;
      }
      this.frameLength = prefix;
    }
    if (this.buffered < this.frameLength) return NEED_MORE;
    const packet = this.take(this.frameLength);
    this.frameLength = -1;
    return packet;
  }

  /** The byte at `index` past the read position (index < buffered). */
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
    if (this.buffered === 0) return NEED_MORE;
    const t = this.peekByte(0);
    const size =
      t < 0x80 ? 1 : t === 0xcc ? 2 : t === 0xcd ? 3 : t === 0xce ? 5 : t === 0xcf ? 9 : 0;
    if (size === 0) return new ClientError(ErrorCode.ER_INVALID_MSGPACK, 'packet length');
    if (this.buffered < size) return NEED_MORE;
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
    this.discard(size);
    return length;
  }

  /** Drops the next `n` buffered bytes. */
  private discard(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      const count = Math.min(first.length - this.head, n);
      this.head += count;
      n -= count;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
  }

  /** Removes the next `n` buffered bytes and returns them (a view when they are contiguous). */
  private take(n: number): Uint8Array {
    if (n === 0) return EMPTY;
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) {
      const view = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      this.buffered -= n;
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
    this.buffered -= n;
    return out;
  }
}
