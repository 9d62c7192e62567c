// xxHash for WAL and snapshot checksums. Layer: core.
// xxhash-wasm needs one asynchronous initialisation; do it once at startup with loadHasher()
// and pass the Hasher to writers and readers (no hidden global state, testable).
import xxhash from 'xxhash-wasm';

export interface Hasher {
  /** xxh64 of `data` with seed 0, as a bigint. */
  h64(data: Uint8Array): bigint;
  /** xxh32 of `data` with seed 0. */
  h32(data: Uint8Array): number;
}

let loading: Promise<Hasher> | undefined;

/** Loads the WebAssembly hasher (cached: every call returns the same instance). */
export function loadHasher(): Promise<Hasher> {
  loading ??= xxhash().then((api) => ({
    h64: (data: Uint8Array) => api.h64Raw(data, 0n),
    h32: (data: Uint8Array) => api.h32Raw(data, 0),
  }));
  return loading;
}

const P32_1 = 0x9e3779b1;
const P32_2 = 0x85ebca77;
const P32_3 = 0xc2b2ae3d;
const P32_4 = 0x27d4eb2f;
const P32_5 = 0x165667b1;

const rotl32 = (x: number, r: number) => (x << r) | (x >>> (32 - r));
const u32le = (b: Uint8Array, p: number) =>
  b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
const round32 = (acc: number, lane: number) =>
  Math.imul(rotl32((acc + Math.imul(lane, P32_2)) | 0, 13), P32_1);

/**
 * xxh32 (seed 0) of bytes [start, end) of `b`, in plain JS: the same value as Hasher.h32 of
 * that range, without the view and the copy into WebAssembly memory a call of it needs. For
 * short inputs (the 20 bytes of a block header that every WAL and snapshot block carries) it
 * is several times faster; long inputs belong to Hasher.h32.
 */
export function xxh32(b: Uint8Array, start: number, end: number): number {
  let p = start;
  let h: number;
  if (end - start >= 16) {
    let v1 = (P32_1 + P32_2) | 0;
    let v2 = P32_2;
    let v3 = 0;
    let v4 = -P32_1 | 0;
    const limit = end - 16;
    do {
      v1 = round32(v1, u32le(b, p));
      v2 = round32(v2, u32le(b, p + 4));
      v3 = round32(v3, u32le(b, p + 8));
      v4 = round32(v4, u32le(b, p + 12));
      p += 16;
    } while (p <= limit);
    h = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) | 0;
  } else h = P32_5;
  h = (h + (end - start)) | 0;
  for (; p + 4 <= end; p += 4)
    h = Math.imul(rotl32((h + Math.imul(u32le(b, p), P32_3)) | 0, 17), P32_4);
  for (; p < end; p++) h = Math.imul(rotl32((h + Math.imul(b[p]!, P32_5)) | 0, 11), P32_1);
  h = Math.imul(h ^ (h >>> 15), P32_2);
  h = Math.imul(h ^ (h >>> 13), P32_3);
  return (h ^ (h >>> 16)) >>> 0;
}
