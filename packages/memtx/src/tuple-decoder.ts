// Decoding stored tuples into JS values: the hot half of every decoded read. Layer: memtx.
//
// Same value mapping as core's decode (MsgpackReader.readValue), which remains the reference
// and handles the rare shapes (maps, extensions, 64-bit integers beyond 2^53): this decoder
// only adds fast paths for the common field types of stored tuples, without the DataView that
// MsgpackReader allocates whenever it moves to another buffer (every tuple of a random read
// lives in another arena chunk). Input is a validated tuple in an arena chunk.
import { MsgpackReader } from '@tarantype/core';

const reader = new MsgpackReader(new Uint8Array(0));
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const f32 = new Float32Array(1);
const f32Bytes = new Uint8Array(f32.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Buffer's own UTF-8 decoder, without toString's argument checks. */
interface Utf8Slicer {
  utf8Slice(start: number, end: number): string;
}

/** Position after the value decoded last. */
let position = 0;

function readString(b: Uint8Array, p: number, n: number): string {
  position = p + n;
  if (n < 16) {
    let out = '';
    for (let i = p; i < p + n; i++) {
      const c = b[i]!;
      if (c >= 0x80) return (b as unknown as Utf8Slicer).utf8Slice(p, p + n);
      out += String.fromCharCode(c);
    }
    return out;
  }
  return (b as unknown as Utf8Slicer).utf8Slice(p, p + n);
}

function readU32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

function readFloat(b: Uint8Array, p: number, bytes: 4 | 8): number {
  const target = bytes === 8 ? f64Bytes : f32Bytes;
  for (let i = 0; i < bytes; i++) target[LITTLE_ENDIAN ? bytes - 1 - i : i] = b[p + i]!;
  return bytes === 8 ? f64[0]! : f32[0]!;
}

/** Decodes the value at b[p] (b is a Buffer chunk); sets `position` after it. */
function readValue(b: Uint8Array, p: number): unknown {
  const t = b[p]!;
  if (t < 0x80) {
    position = p + 1;
    return t;
  }
  if (t >= 0xe0) {
    position = p + 1;
    return t - 0x100;
  }
  if ((t & 0xe0) === 0xa0) return readString(b, p + 1, t & 0x1f);
  if ((t & 0xf0) === 0x90) return readArray(b, p + 1, t & 0x0f);
  switch (t) {
    case 0xc0:
      position = p + 1;
      return null;
    case 0xc2:
      position = p + 1;
      return false;
    case 0xc3:
      position = p + 1;
      return true;
    case 0xcc:
      position = p + 2;
      return b[p + 1]!;
    case 0xcd:
      position = p + 3;
      return (b[p + 1]! << 8) | b[p + 2]!;
    case 0xce:
      position = p + 5;
      return readU32(b, p + 1);
    case 0xd0:
      position = p + 2;
      return (b[p + 1]! << 24) >> 24;
    case 0xd1:
      position = p + 3;
      return (((b[p + 1]! << 8) | b[p + 2]!) << 16) >> 16;
    case 0xd2:
      position = p + 5;
      return (b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!;
    case 0xca:
      position = p + 5;
      return readFloat(b, p + 1, 4);
    case 0xcb:
      position = p + 9;
      return readFloat(b, p + 1, 8);
    case 0xd9:
      return readString(b, p + 2, b[p + 1]!);
    case 0xda:
      return readString(b, p + 3, (b[p + 1]! << 8) | b[p + 2]!);
    case 0xdb:
      return readString(b, p + 5, readU32(b, p + 1));
    case 0xdc:
      return readArray(b, p + 3, (b[p + 1]! << 8) | b[p + 2]!);
    case 0xdd:
      return readArray(b, p + 5, readU32(b, p + 1));
    case 0xc4:
      return readBinary(b, p + 2, b[p + 1]!);
    case 0xc5:
      return readBinary(b, p + 3, (b[p + 1]! << 8) | b[p + 2]!);
    case 0xc6:
      return readBinary(b, p + 5, readU32(b, p + 1));
    default: {
      // 64-bit integers, maps, extensions: core's reader, the reference mapping, over a plain
      // view (so binary values inside come back as Uint8Array, not Buffer).
      reader.reset(new Uint8Array(b.buffer, b.byteOffset, b.length), p, b.length);
      const value = reader.readValue();
      position = reader.offset;
      return value;
    }
  }
}

/** A copy, as a plain Uint8Array (the caller owns it). */
function readBinary(b: Uint8Array, p: number, n: number): Uint8Array {
  position = p + n;
  const out = new Uint8Array(n);
  out.set(b.subarray(p, p + n));
  return out;
}

function readArray(b: Uint8Array, p: number, n: number): unknown[] {
  const out = new Array<unknown>(n);
  position = p;
  for (let i = 0; i < n; i++) out[i] = readValue(b, position);
  return out;
}

/** Decodes the tuple (an array) at chunk[start]. */
export function decodeTuple(chunk: Uint8Array, start: number): unknown[] {
  if (!(chunk instanceof Buffer)) {
    reader.reset(chunk, start, chunk.length);
    return reader.readValue() as unknown[];
  }
  return readValue(chunk, start) as unknown[];
}
