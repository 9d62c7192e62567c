// Named bounds of the iproto layer. Each has a reason; every loop or buffer that outside input
// can grow is bounded by one of these (or by core's IPROTO_PACKET_SIZE_MAX / MSGPACK_DEPTH_MAX).

/** Size of the greeting the server writes on accept: two 64-byte lines (spec §2). */
export const GREETING_SIZE = 128;

/** Random salt bytes per connection, sent base64-encoded in greeting line 2 (spec §2). */
export const SALT_SIZE = 32;

/** Bytes of the salt chap-sha1 uses, and the size of a scramble / SHA-1 digest (spec §3). */
export const SCRAMBLE_SIZE = 20;

/**
 * Requests in flight per connection before the server stops reading that socket
 * (Tarantool's net_msg_max default). Bounds memory per connection under pipelining.
 */
export const NET_MSG_MAX_DEFAULT = 768;

/**
 * Requests between two looks at the clock while a pipelined input batch is dispatched
 * (IprotoServerOptions.replyFlushRequests): reading performance.now() after every request would
 * cost more than a cheap request. With replySliceMicros 0, the size of every slice: that was the
 * policy before slices were timed (select at 100 in flight: 120k → 161k ops/s with net.box on
 * 2 cores against one write per batch, 3 alternating runs each; PROTOCOL.md §7).
 */
export const REPLY_FLUSH_REQUESTS_DEFAULT = 8;

/**
 * Work after which the replies gathered from a pipelined batch are written
 * (IprotoServerOptions.replySliceMicros). A loopback write(2) costs the server about 10 µs of
 * CPU, so slices of 8 cut a batch of 100 pings (1–2 µs each) into 13 writes, most of its
 * cost. Slices of at least 100 µs: measured with net.box against the server, 5 alternating
 * runs of 3 s each (medians, 2026-12-02): ping at 100 in flight 2.1 → 1.3 µs of server CPU per
 * request and 197k → 187k ops/s; select 5.1 → 4.4 µs and 139k → 130k ops/s; in a second run
 * 60, 100 and 200 µs gave the same ops/s (159k ping, 110k select) and 1.65 / 1.5 / 1.5 µs per
 * ping, 5.3 / 5.0 / 4.5 µs per select.
 */
export const REPLY_SLICE_MICROS_DEFAULT = 100;

/**
 * A frame longer than this whose bytes are still arriving is copied into one growing buffer as
 * they arrive (frame-decoder.ts) instead of being kept as the socket's chunks and joined at the
 * end: same copying, and the memory can be returned to the OS the moment the connection closes.
 * Smaller frames are at most this plus one socket read (64 KiB in Node) of held chunks.
 */
export const FRAME_ASSEMBLY_THRESHOLD_BYTES = 64 * 1024;

/**
 * Input all of a server's connections may hold at once before whole requests are formed:
 * without it, clients that stream into frames declaring 2 GiB each could take all memory.
 * 1 GiB: a request that large is already unusable in Node (a V8 string is at most 512 MiB, and
 * memtx_max_tuple_size defaults to 1 MiB), and it leaves room for the database itself.
 */
export const INPUT_BUFFERED_BYTES_MAX_DEFAULT = 1024 * 1024 * 1024;

/**
 * Output bytes queued in a socket (not yet taken by the kernel) above which the server also
 * stops reading that socket: a client that pipelines without reading replies cannot make the
 * server buffer unbounded output.
 */
export const OUTPUT_HIGH_WATER_MARK_BYTES = 4 * 1024 * 1024;

/**
 * Time from the start of a failed AUTH to its error reply. The reply is sent at
 * start + this delay whatever the reason (unknown user, wrong password), so failures are slow
 * for brute force and take the same time whichever the cause. Tarantool 2.6 Community has no
 * delay; Enterprise 2.11 added `auth_delay`.
 */
export const AUTH_FAILURE_DELAY_MS_DEFAULT = 250;

/**
 * Protocol errors logged per window, and the window (Tarantool's say_ratelimited: 10 lines per
 * 5 s). A peer can send a bad frame per connection as fast as it can connect; past the burst
 * the lines are counted and one warning gives the count.
 */
export const PROTOCOL_ERROR_LOG_BURST = 10;
export const PROTOCOL_ERROR_LOG_INTERVAL_MS = 5_000;

/**
 * Failed logins (auth-throttle.ts): a peer address may fail this many AUTHs at once, then its
 * AUTHs wait before being checked so that it fails at most this many per second; 10 at once
 * covers a client pool started with a wrong password, 2/s makes guessing hopeless (7200 an
 * hour). Over all peers that have been failing: 100 at once and 20 per second. A login that
 * succeeds costs nothing, and a peer without recent failures never waits.
 */
export const AUTH_FAILURES_PER_PEER_BURST = 10;
export const AUTH_FAILURES_PER_PEER_PER_SECOND = 2;
export const AUTH_FAILURES_GLOBAL_BURST = 100;
export const AUTH_FAILURES_GLOBAL_PER_SECOND = 20;

/** Peer addresses the login throttle tracks at most (about 100 bytes each). */
export const AUTH_THROTTLE_PEERS_MAX = 65_536;

/**
 * After a framing error the server half-closes the socket (the error reply goes out first) and
 * destroys it if the peer has not closed its side within this time.
 */
export const CLOSE_LINGER_MS = 2_000;

/** How long `IprotoServer.close()` waits for in-flight requests before destroying sockets. */
export const GRACEFUL_CLOSE_TIMEOUT_MS_DEFAULT = 3_000;

/** Depth of an error's cause chain sent as the IPROTO_ERROR stack (longer chains are cut). */
export const ERROR_STACK_DEPTH_MAX = 16;

/** Client: requests queued while (re)connecting before new ones are refused. */
export const CLIENT_OFFLINE_QUEUE_MAX = 100_000;

/** Client: reconnect backoff, first delay and cap. */
export const RECONNECT_DELAY_INITIAL_MS = 50;
export const RECONNECT_DELAY_MAX_MS = 2_000;

/** Client: retries of a request rejected with ER_WRONG_SCHEMA_VERSION after a schema refetch. */
export const SCHEMA_RETRY_MAX = 3;
