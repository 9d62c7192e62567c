// Named bounds shared by every layer. Each has a reason; loops over outside input are bounded
// by one of these. Values follow Tarantool 2.6 where it has one.

/** Components in a vclock: replica ids 0..31 (VCLOCK_MAX in Tarantool). */
export const VCLOCK_MAX = 32;

/** Largest iproto packet a server accepts: 2 GiB (IPROTO_PACKET_SIZE_MAX). */
export const IPROTO_PACKET_SIZE_MAX = 2_147_483_648;

/** Default memtx_max_tuple_size: 1 MiB. Larger tuples get ER_MEMTX_MAX_TUPLE_SIZE. */
export const MEMTX_MAX_TUPLE_SIZE_DEFAULT = 1024 * 1024;

/** Nesting depth the msgpack decoder follows before calling input malformed (stack safety). */
export const MSGPACK_DEPTH_MAX = 512;

/** Update operations per request (BOX_UPDATE_OP_CNT_MAX). */
export const UPDATE_OPS_MAX = 4000;

/** Rows in one transaction (a WAL block); bounds a malicious or runaway transaction. */
export const TRANSACTION_ROWS_MAX = 1_000_000;

/** Largest WAL block payload we write or accept: 1 GiB. A length above it is corruption. */
export const XLOG_BLOCK_SIZE_MAX = 1024 * 1024 * 1024;

/** Largest LSN we represent exactly: JavaScript numbers hold integers up to 2^53 - 1. */
export const LSN_MAX = Number.MAX_SAFE_INTEGER;
