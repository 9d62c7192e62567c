// The one MessagePack codec of tarantype. Layer: core (no I/O).
//
// Why our own and not a general library: Tarantool and its clients expect canonical encodings
// (the smallest form of every integer, integers above 2^32 as uint64/int64 rather than doubles,
// the smallest map/array/str headers) and iproto needs integer-keyed maps. msgpackr 2.1 writes
// integers above 2^32 as float64 and one-key objects with a map16 header, so its output is not
// what Tarantool writes; the decoder here also returns string-keyed maps as plain objects and
// any other map as a Map, which is lossless for iproto bodies and friendly for tuples.
//
// Value mapping (decode): nil→null, bool, int→number (bigint outside ±2^53), float32/64→number,
// str→string, bin→Uint8Array (a copy), array→Array, map→object (all keys strings) or Map,
// ext→MsgpackExtension. Encode accepts the same plus undefined (as nil), bigint and Float64.
//
// Invariant: decode(encode(v)) deep-equals v for every value of the mapping above, and
// encode(decode(b)) === b for canonical input b except float32 (widened) and doubles that hold
// integers (written back as integers unless wrapped in Float64).
import { MSGPACK_DEPTH_MAX } from './limits.js';
import { MsgpackError, mpCheck, mpCheckError } from './msgpack-grammar.js';

export { MsgpackError };

/** An extension value (Tarantool: 1 decimal, 2 uuid, 3 error, 4 datetime). */
export class MsgpackExtension {
  constructor(
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

/** A number that must be written as a double even when it holds an integer (field type double). */
export class Float64 {
  constructor(readonly value: number) {}
}

function truncated(offset: number): MsgpackError {
  return new MsgpackError(`unexpected end of data at offset ${offset}`);
}

const textDecoder = new TextDecoder('utf-8', { fatal: false });
/** Scratch for floats read by MsgpackReader (an 8-byte copy beats a DataView per buffer). */
const SCRATCH = new DataView(new ArrayBuffer(8));
const SCRATCH_BYTES = new Uint8Array(SCRATCH.buffer);

/**
 * Bytes [start, end) of `b` as a plain Uint8Array over its memory. A Buffer's own subarray
 * makes a Buffer through Node's JS constructor, several times slower on hot paths.
 */
export function plainView(b: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + start, end - start);
}

/** A plain Uint8Array copy of bytes [start, end) (never a Buffer: public types are Uint8Array). */
function copyBytes(source: Uint8Array, start: number, end: number): Uint8Array {
  const n = end - start;
  const out = new Uint8Array(n);
  if (n <= 64) for (let i = 0; i < n; i++) out[i] = source[start + i]!;
  else out.set(plainView(source, start, end));
  return out;
}

/**
 * Appends MessagePack to a growable buffer. Reuse one writer on hot paths (reset() between
 * messages) so nothing is allocated per value. `bytes` is valid up to `length`.
 */
export class MsgpackWriter {
  bytes: Buffer;
  view: DataView;
  length = 0;

  constructor(initialCapacityBytes = 4096) {
    this.bytes = Buffer.allocUnsafe(initialCapacityBytes);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  reset(): this {
    this.length = 0;
    return this;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const needed = this.length + n;
    if (needed <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = Buffer.allocUnsafe(capacity);
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  /** A copy of what was written. */
  toBytes(): Uint8Array {
    return copyBytes(this.bytes, 0, this.length);
  }

  /** A view of what was written (valid until the next write or reset). */
  view0(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  byte(b: number): void {
    this.ensure(1);
    this.bytes[this.length++] = b;
  }

  raw(data: Uint8Array): void {
    this.ensure(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }

  /** Appends bytes [start, end) of `data`; a short range is copied without making a view. */
  rawRange(data: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    const b = this.bytes;
    if (n <= 64) {
      let p = this.length;
      for (let i = start; i < end; i++) b[p++] = data[i]!;
    } else {
      b.set(plainView(data, start, end), this.length);
    }
    this.length += n;
  }

  nil(): void {
    this.byte(0xc0);
  }

  bool(value: boolean): void {
    this.byte(value ? 0xc3 : 0xc2);
  }

  /** A non-negative integer in its smallest form. */
  uint(value: number): void {
    this.ensure(9);
    const b = this.bytes;
    let p = this.length;
    if (value < 0x80) b[p++] = value;
    else if (value < 0x100) {
      b[p++] = 0xcc;
      b[p++] = value;
    } else if (value < 0x10000) {
      b[p++] = 0xcd;
      b[p++] = value >>> 8;
      b[p++] = value & 0xff;
    } else if (value < 0x100000000) {
      b[p++] = 0xce;
      this.view.setUint32(p, value);
      p += 4;
    } else {
      b[p++] = 0xcf;
      this.view.setUint32(p, Math.floor(value / 0x100000000));
      this.view.setUint32(p + 4, value >>> 0);
      p += 8;
    }
    this.length = p;
  }

  /** `0xce` + big-endian uint32, whatever the value (iproto's fixed length prefix). */
  uint32Fixed(value: number): void {
    this.ensure(5);
    this.bytes[this.length] = 0xce;
    this.view.setUint32(this.length + 1, value);
    this.length += 5;
  }

  /** `0xcf` + big-endian uint64 (fixed-size fields such as SYNC in a response header). */
  uint64Fixed(value: number): void {
    this.ensure(9);
    this.bytes[this.length] = 0xcf;
    this.view.setUint32(this.length + 1, Math.floor(value / 0x100000000));
    this.view.setUint32(this.length + 5, value >>> 0);
    this.length += 9;
  }

  /** Any safe integer: uint forms when ≥ 0, else the smallest int form. */
  int(value: number): void {
    if (value >= 0) {
      this.uint(value);
      return;
    }
    this.ensure(9);
    const b = this.bytes;
    let p = this.length;
    if (value >= -32) b[p++] = value & 0xff;
    else if (value >= -128) {
      b[p++] = 0xd0;
      b[p++] = value & 0xff;
    } else if (value >= -32768) {
      b[p++] = 0xd1;
      this.view.setInt16(p, value);
      p += 2;
    } else if (value >= -2147483648) {
      b[p++] = 0xd2;
      this.view.setInt32(p, value);
      p += 4;
    } else {
      b[p++] = 0xd3;
      this.view.setBigInt64(p, BigInt(value));
      p += 8;
    }
    this.length = p;
  }

  double(value: number): void {
    this.ensure(9);
    this.bytes[this.length] = 0xcb;
    this.view.setFloat64(this.length + 1, value);
    this.length += 9;
  }

  /** Integers as integers (canonical), everything else as a double. */
  number(value: number): void {
    if (Number.isSafeInteger(value)) this.int(value);
    else if (Number.isInteger(value) && value > 0 && value < 2 ** 64) this.bigint(BigInt(value));
    else if (Number.isInteger(value) && value < 0 && value >= -(2 ** 63))
      this.bigint(BigInt(value));
    else this.double(value);
  }

  bigint(value: bigint): void {
    if (value >= 0n) {
      if (value > 0xffffffffffffffffn)
        throw new RangeError(`integer ${value} does not fit in uint64`);
      if (value <= BigInt(Number.MAX_SAFE_INTEGER)) {
        this.uint(Number(value));
        return;
      }
      this.ensure(9);
      this.bytes[this.length] = 0xcf;
      this.view.setBigUint64(this.length + 1, value);
      this.length += 9;
      return;
    }
    if (value < -0x8000000000000000n)
      throw new RangeError(`integer ${value} does not fit in int64`);
    if (value >= BigInt(Number.MIN_SAFE_INTEGER)) {
      this.int(Number(value));
      return;
    }
    this.ensure(9);
    this.bytes[this.length] = 0xd3;
    this.view.setBigInt64(this.length + 1, value);
    this.length += 9;
  }

  str(value: string): void {
    const n = value.length;
    // Fast path for short ASCII strings: one pass, no native call.
    if (n < 32) {
      this.ensure(1 + n * 3);
      const b = this.bytes;
      const start = this.length;
      let p = start + 1;
      let ascii = true;
      for (let i = 0; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        b[p++] = c;
      }
      if (ascii) {
        b[start] = 0xa0 | n;
        this.length = p;
        return;
      }
    }
    const byteLength = Buffer.byteLength(value, 'utf8');
    this.strHeader(byteLength);
    this.ensure(byteLength);
    this.bytes.write(value, this.length, byteLength, 'utf8');
    this.length += byteLength;
  }

  strHeader(byteLength: number): void {
    if (byteLength < 32) this.byte(0xa0 | byteLength);
    else if (byteLength < 0x100) {
      this.byte(0xd9);
      this.byte(byteLength);
    } else if (byteLength < 0x10000) {
      this.ensure(3);
      this.bytes[this.length] = 0xda;
      this.view.setUint16(this.length + 1, byteLength);
      this.length += 3;
    } else {
      this.ensure(5);
      this.bytes[this.length] = 0xdb;
      this.view.setUint32(this.length + 1, byteLength);
      this.length += 5;
    }
  }

  bin(value: Uint8Array): void {
    const n = value.length;
    if (n < 0x100) {
      this.byte(0xc4);
      this.byte(n);
    } else if (n < 0x10000) {
      this.ensure(3);
      this.bytes[this.length] = 0xc5;
      this.view.setUint16(this.length + 1, n);
      this.length += 3;
    } else {
      this.ensure(5);
      this.bytes[this.length] = 0xc6;
      this.view.setUint32(this.length + 1, n);
      this.length += 5;
    }
    this.raw(value);
  }

  arrayHeader(n: number): void {
    if (n < 16) this.byte(0x90 | n);
    else if (n < 0x10000) {
      this.ensure(3);
      this.bytes[this.length] = 0xdc;
      this.view.setUint16(this.length + 1, n);
      this.length += 3;
    } else {
      this.ensure(5);
      this.bytes[this.length] = 0xdd;
      this.view.setUint32(this.length + 1, n);
      this.length += 5;
    }
  }

  mapHeader(n: number): void {
    if (n < 16) this.byte(0x80 | n);
    else if (n < 0x10000) {
      this.ensure(3);
      this.bytes[this.length] = 0xde;
      this.view.setUint16(this.length + 1, n);
      this.length += 3;
    } else {
      this.ensure(5);
      this.bytes[this.length] = 0xdf;
      this.view.setUint32(this.length + 1, n);
      this.length += 5;
    }
  }

  extension(type: number, data: Uint8Array): void {
    const n = data.length;
    const fixed =
      n === 1 ? 0xd4 : n === 2 ? 0xd5 : n === 4 ? 0xd6 : n === 8 ? 0xd7 : n === 16 ? 0xd8 : 0;
    if (fixed !== 0) {
      this.byte(fixed);
    } else if (n < 0x100) {
      this.byte(0xc7);
      this.byte(n);
    } else if (n < 0x10000) {
      this.byte(0xc8);
      this.ensure(2);
      this.view.setUint16(this.length, n);
      this.length += 2;
    } else {
      this.byte(0xc9);
      this.ensure(4);
      this.view.setUint32(this.length, n);
      this.length += 4;
    }
    this.byte(type & 0xff);
    this.raw(data);
  }

  /** Any supported value (see the mapping at the top of the file). */
  value(value: unknown, depth = 0): void {
    if (depth > MSGPACK_DEPTH_MAX)
      throw new MsgpackError(`value nested deeper than ${MSGPACK_DEPTH_MAX}`);
    switch (typeof value) {
      case 'number':
        this.number(value);
        return;
      case 'string':
        this.str(value);
        return;
      case 'boolean':
        this.bool(value);
        return;
      case 'bigint':
        this.bigint(value);
        return;
      case 'undefined':
        this.nil();
        return;
      case 'object':
        this.object(value, depth);
        return;
      default:
        throw new MsgpackError(`cannot encode a ${typeof value}`);
    }
  }

  private object(value: object | null, depth: number): void {
    if (value === null) {
      this.nil();
      return;
    }
    if (Array.isArray(value)) {
      this.arrayHeader(value.length);
      for (let i = 0; i < value.length; i++) this.value(value[i], depth + 1);
      return;
    }
    if (value instanceof Uint8Array) {
      this.bin(value);
      return;
    }
    if (value instanceof Map) {
      this.mapHeader(value.size);
      for (const [k, v] of value) {
        this.value(k, depth + 1);
        this.value(v, depth + 1);
      }
      return;
    }
    if (value instanceof Float64) {
      this.double(value.value);
      return;
    }
    if (value instanceof MsgpackExtension) {
      this.extension(value.type, value.data);
      return;
    }
    const keys = Object.keys(value);
    this.mapHeader(keys.length);
    for (const key of keys) {
      this.str(key);
      this.value((value as Record<string, unknown>)[key], depth + 1);
    }
  }
}

const sharedWriter = new MsgpackWriter(64 * 1024);

/** Encodes one value; returns a fresh Uint8Array owned by the caller. */
export function encode(value: unknown): Uint8Array {
  sharedWriter.reset();
  sharedWriter.value(value);
  return sharedWriter.toBytes();
}

/**
 * A cursor over MessagePack bytes: read values, headers or skip them without copying.
 * Every read checks bounds against `end` and throws MsgpackError on malformed or short input.
 */
export class MsgpackReader {
  bytes: Uint8Array;
  offset: number;
  end: number;
  /** Created on first use: most values (fixints, short strings, headers) never need it. */
  private dataView: DataView | undefined;

  constructor(bytes: Uint8Array, offset = 0, end = bytes.length) {
    this.bytes = bytes;
    this.offset = offset;
    this.end = end;
  }

  get view(): DataView {
    this.dataView ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    return this.dataView;
  }

  /** Points the reader at another buffer (reuse on hot paths). */
  reset(bytes: Uint8Array, offset = 0, end = bytes.length): this {
    if (bytes !== this.bytes) {
      this.bytes = bytes;
      this.dataView = undefined;
    }
    this.offset = offset;
    this.end = end;
    return this;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** Big-endian uint16/uint32 at `p` by byte arithmetic (no DataView on the hot paths). */
  private u16(p: number): number {
    const b = this.bytes;
    return (b[p]! << 8) | b[p + 1]!;
  }

  private u32(p: number): number {
    const b = this.bytes;
    return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  /** The big-endian float at p, through a shared scratch view: no DataView per buffer read. */
  private f64(p: number): number {
    const b = this.bytes;
    for (let i = 0; i < 8; i++) SCRATCH_BYTES[i] = b[p + i]!;
    return SCRATCH.getFloat64(0);
  }

  private f32(p: number): number {
    const b = this.bytes;
    for (let i = 0; i < 4; i++) SCRATCH_BYTES[i] = b[p + i]!;
    return SCRATCH.getFloat32(0);
  }

  private need(n: number): void {
    if (this.offset + n > this.end) throw truncated(this.offset);
  }

  /** The type byte of the next value without consuming it. */
  peek(): number {
    this.need(1);
    return this.bytes[this.offset]!;
  }

  isNil(): boolean {
    return this.peek() === 0xc0;
  }

  /** An unsigned integer (any uint form, or a non-negative fixint). Throws on other types. */
  readUint(): number {
    this.need(1);
    const t = this.bytes[this.offset]!;
    if (t < 0x80) {
      this.offset++;
      return t;
    }
    switch (t) {
      case 0xcc:
        this.need(2);
        this.offset += 2;
        return this.bytes[this.offset - 1]!;
      case 0xcd:
        this.need(3);
        this.offset += 3;
        return this.u16(this.offset - 2);
      case 0xce:
        this.need(5);
        this.offset += 5;
        return this.u32(this.offset - 4);
      case 0xcf: {
        this.need(9);
        const high = this.u32(this.offset + 1);
        const low = this.u32(this.offset + 5);
        if (high >= 0x200000)
          throw new MsgpackError(`uint64 at offset ${this.offset} exceeds 2^53`);
        this.offset += 9;
        return high * 0x100000000 + low;
      }
      default:
        throw new MsgpackError(
          `expected an unsigned integer at offset ${this.offset}, got type 0x${t.toString(16)}`,
        );
    }
  }

  /** A signed or unsigned integer as a safe JS number. */
  readInt(): number {
    const t = this.peek();
    if (t < 0x80 || (t >= 0xcc && t <= 0xcf)) return this.readUint();
    if (t >= 0xe0) {
      this.offset++;
      return t - 0x100;
    }
    switch (t) {
      case 0xd0:
        this.need(2);
        this.offset += 2;
        return (this.bytes[this.offset - 1]! << 24) >> 24;
      case 0xd1:
        this.need(3);
        this.offset += 3;
        return (this.u16(this.offset - 2) << 16) >> 16;
      case 0xd2:
        this.need(5);
        this.offset += 5;
        return this.u32(this.offset - 4) | 0;
      case 0xd3: {
        this.need(9);
        const value = this.view.getBigInt64(this.offset + 1);
        if (value < BigInt(Number.MIN_SAFE_INTEGER))
          throw new MsgpackError(`int64 at offset ${this.offset} below -2^53`);
        this.offset += 9;
        return Number(value);
      }
      default:
        throw new MsgpackError(
          `expected an integer at offset ${this.offset}, got type 0x${t.toString(16)}`,
        );
    }
  }

  readDouble(): number {
    const t = this.peek();
    if (t === 0xcb) {
      this.need(9);
      this.offset += 9;
      return this.f64(this.offset - 8);
    }
    if (t === 0xca) {
      this.need(5);
      this.offset += 5;
      return this.f32(this.offset - 4);
    }
    throw new MsgpackError(
      `expected a float at offset ${this.offset}, got type 0x${t.toString(16)}`,
    );
  }

  /** Byte length of the string that starts here; consumes its header only. */
  readStrHeader(): number {
    const t = this.peek();
    if ((t & 0xe0) === 0xa0) {
      this.offset++;
      return t & 0x1f;
    }
    switch (t) {
      case 0xd9:
        this.need(2);
        this.offset += 2;
        return this.bytes[this.offset - 1]!;
      case 0xda:
        this.need(3);
        this.offset += 3;
        return this.u16(this.offset - 2);
      case 0xdb:
        this.need(5);
        this.offset += 5;
        return this.u32(this.offset - 4);
      default:
        throw new MsgpackError(
          `expected a string at offset ${this.offset}, got type 0x${t.toString(16)}`,
        );
    }
  }

  readStr(): string {
    const n = this.readStrHeader();
    this.need(n);
    const start = this.offset;
    this.offset += n;
    return utf8Decode(this.bytes, start, n);
  }

  /** Raw bytes of a str or bin value (a view, not a copy). */
  readStrOrBinBytes(): Uint8Array {
    const t = this.peek();
    let n: number;
    if (t === 0xc4 || t === 0xc5 || t === 0xc6) n = this.readBinHeader();
    else n = this.readStrHeader();
    this.need(n);
    this.offset += n;
    return this.bytes.subarray(this.offset - n, this.offset);
  }

  readBinHeader(): number {
    const t = this.peek();
    switch (t) {
      case 0xc4:
        this.need(2);
        this.offset += 2;
        return this.bytes[this.offset - 1]!;
      case 0xc5:
        this.need(3);
        this.offset += 3;
        return this.u16(this.offset - 2);
      case 0xc6:
        this.need(5);
        this.offset += 5;
        return this.u32(this.offset - 4);
      default:
        throw new MsgpackError(
          `expected binary data at offset ${this.offset}, got type 0x${t.toString(16)}`,
        );
    }
  }

  readArrayHeader(): number {
    const t = this.peek();
    if ((t & 0xf0) === 0x90) {
      this.offset++;
      return t & 0x0f;
    }
    if (t === 0xdc) {
      this.need(3);
      this.offset += 3;
      return this.u16(this.offset - 2);
    }
    if (t === 0xdd) {
      this.need(5);
      this.offset += 5;
      return this.u32(this.offset - 4);
    }
    throw new MsgpackError(
      `expected an array at offset ${this.offset}, got type 0x${t.toString(16)}`,
    );
  }

  readMapHeader(): number {
    const t = this.peek();
    if ((t & 0xf0) === 0x80) {
      this.offset++;
      return t & 0x0f;
    }
    if (t === 0xde) {
      this.need(3);
      this.offset += 3;
      return this.u16(this.offset - 2);
    }
    if (t === 0xdf) {
      this.need(5);
      this.offset += 5;
      return this.u32(this.offset - 4);
    }
    throw new MsgpackError(`expected a map at offset ${this.offset}, got type 0x${t.toString(16)}`);
  }

  /** Skips one whole value, checking every length against the data (msgpack-grammar's mpCheck). */
  skip(): void {
    const p = mpCheck(this.bytes, this.offset, this.end);
    if (p < 0) throw mpCheckError(this.bytes);
    this.offset = p;
  }

  /** The raw bytes of the next value (a view), consuming it. */
  readRaw(): Uint8Array {
    const start = this.offset;
    this.skip();
    return this.bytes.subarray(start, this.offset);
  }

  /** Decodes one value (see the mapping at the top of the file). */
  readValue(depth = 0): unknown {
    this.need(1);
    const t = this.bytes[this.offset]!;
    if (t < 0x80) {
      this.offset++;
      return t;
    }
    if (t >= 0xe0) {
      this.offset++;
      return t - 0x100;
    }
    if (depth > MSGPACK_DEPTH_MAX)
      throw new MsgpackError(`value nested deeper than ${MSGPACK_DEPTH_MAX}`);
    if (t < 0x90) return this.readMapBody(t & 0x0f, depth, 1);
    if (t < 0xa0) return this.readArrayBody(t & 0x0f, depth, 1);
    if (t < 0xc0) return this.readStr();
    switch (t) {
      case 0xc0:
        this.offset++;
        return null;
      case 0xc2:
        this.offset++;
        return false;
      case 0xc3:
        this.offset++;
        return true;
      case 0xcc:
      case 0xcd:
      case 0xce:
        return this.readUint();
      case 0xcf:
        return this.readUint64();
      case 0xd0:
      case 0xd1:
      case 0xd2:
        return this.readInt();
      case 0xd3:
        return this.readInt64();
      case 0xca:
      case 0xcb:
        return this.readDouble();
      case 0xd9:
      case 0xda:
      case 0xdb:
        return this.readStr();
      case 0xc4:
      case 0xc5:
      case 0xc6: {
        const n = this.readBinHeader();
        this.need(n);
        this.offset += n;
        return copyBytes(this.bytes, this.offset - n, this.offset);
      }
      case 0xdc:
        this.need(3);
        return this.readArrayBody(this.u16(this.offset + 1), depth, 3);
      case 0xdd:
        this.need(5);
        return this.readArrayBody(this.u32(this.offset + 1), depth, 5);
      case 0xde:
        this.need(3);
        return this.readMapBody(this.u16(this.offset + 1), depth, 3);
      case 0xdf:
        this.need(5);
        return this.readMapBody(this.u32(this.offset + 1), depth, 5);
      default:
        return this.readExtension(t);
    }
  }

  private readUint64(): number | bigint {
    this.need(9);
    const value = this.view.getBigUint64(this.offset + 1);
    this.offset += 9;
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  private readInt64(): number | bigint {
    this.need(9);
    const value = this.view.getBigInt64(this.offset + 1);
    this.offset += 9;
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }

  private readArrayBody(n: number, depth: number, headerBytes: number): unknown[] {
    this.offset += headerBytes;
    if (n > this.end - this.offset)
      throw new MsgpackError(`array of ${n} items at offset ${this.offset} longer than the data`);
    const result = new Array<unknown>(n);
    for (let i = 0; i < n; i++) result[i] = this.readValue(depth + 1);
    return result;
  }

  private readMapBody(n: number, depth: number, headerBytes: number): unknown {
    this.offset += headerBytes;
    if (n * 2 > this.end - this.offset)
      throw new MsgpackError(`map of ${n} pairs at offset ${this.offset} longer than the data`);
    let object: Record<string, unknown> | undefined = {};
    let map: Map<unknown, unknown> | undefined;
    for (let i = 0; i < n; i++) {
      const key = this.readValue(depth + 1);
      const value = this.readValue(depth + 1);
      if (object !== undefined && typeof key === 'string' && key !== '__proto__') {
        object[key] = value;
        continue;
      }
      if (map === undefined) {
        map = new Map(object === undefined ? [] : Object.entries(object));
        object = undefined;
      }
      map.set(key, value);
    }
    return map ?? object;
  }

  private readExtension(t: number): MsgpackExtension {
    let n: number;
    let header: number;
    switch (t) {
      case 0xd4:
        n = 1;
        header = 1;
        break;
      case 0xd5:
        n = 2;
        header = 1;
        break;
      case 0xd6:
        n = 4;
        header = 1;
        break;
      case 0xd7:
        n = 8;
        header = 1;
        break;
      case 0xd8:
        n = 16;
        header = 1;
        break;
      case 0xc7:
        this.need(2);
        n = this.bytes[this.offset + 1]!;
        header = 2;
        break;
      case 0xc8:
        this.need(3);
        n = this.u16(this.offset + 1);
        header = 3;
        break;
      case 0xc9:
        this.need(5);
        n = this.u32(this.offset + 1);
        header = 5;
        break;
      default:
        throw new MsgpackError(`invalid type byte 0x${t.toString(16)} at offset ${this.offset}`);
    }
    this.need(header + 1 + n);
    const type = (this.bytes[this.offset + header]! << 24) >> 24;
    const start = this.offset + header + 1;
    this.offset = start + n;
    return new MsgpackExtension(type, copyBytes(this.bytes, start, start + n));
  }
}

/** UTF-8 decoding with a fast path for ASCII strings under 64 bytes (names, keys, most short fields). */
export function utf8Decode(bytes: Uint8Array, start: number, length: number): string {
  if (length < 64) {
    let out = '';
    for (let i = start; i < start + length; i++) {
      const c = bytes[i]!;
      if (c >= 0x80) return textDecoder.decode(bytes.subarray(start, start + length));
      out += String.fromCharCode(c);
    }
    return out;
  }
  if (Buffer.isBuffer(bytes)) return bytes.toString('utf8', start, start + length);
  return textDecoder.decode(bytes.subarray(start, start + length));
}

const EMPTY = new Uint8Array(0);
const sharedReader = new MsgpackReader(EMPTY);

/** Decodes exactly one value filling `bytes` (trailing bytes are an error). */
export function decode(bytes: Uint8Array): unknown {
  const reader = sharedReader.reset(bytes);
  const value = reader.readValue();
  if (reader.offset !== bytes.length)
    throw new MsgpackError(`${bytes.length - reader.offset} trailing bytes after the value`);
  reader.reset(EMPTY);
  return value;
}
