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
