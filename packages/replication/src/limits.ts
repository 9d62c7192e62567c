// Named bounds and defaults of the replication layer. Each has a reason; every loop over input
// from a peer is bounded by one of these or by core's limits (VCLOCK_MAX, TRANSACTION_ROWS_MAX,
// IPROTO_PACKET_SIZE_MAX).

/** box.cfg.replication_timeout default (seconds): heartbeat period, reconnect period. */
export const REPLICATION_TIMEOUT_DEFAULT_S = 1;

/**
 * Silence after which either side drops the link: 4 × replication_timeout, as 2.6's
 * replication_disconnect_timeout().
 */
export const DISCONNECT_TIMEOUT_FACTOR = 4;

/** box.cfg.replication_sync_lag default (seconds): an applier in `sync` with a lag at most this is `follow`. */
export const REPLICATION_SYNC_LAG_DEFAULT_S = 10;

/** box.cfg.replication_connect_timeout default (seconds): TCP connect + greeting deadline. */
export const REPLICATION_CONNECT_TIMEOUT_DEFAULT_S = 30;

/**
 * Rows of JOIN initial data an applier hands to BootstrapTarget.loadInitial at once: large
 * enough to amortise the call, small enough that one batch of big tuples stays a few MiB.
 */
export const INITIAL_BATCH_ROWS = 1024;

/**
 * Bytes of output a relay lets the socket buffer before it waits for 'drain': a replica that
 * reads slowly (or is stopped) slows the relay down instead of growing the master's memory.
 * What a relay holds is at most this plus one transaction (PROTOCOL.md §4.3, Backpressure).
 */
export const RELAY_OUTPUT_HIGH_WATER_BYTES = 4 * 1024 * 1024;

/** Every 100 000 rows of a JOIN the applier logs "%.1fM rows received", as 2.6. */
export const JOIN_PROGRESS_ROWS = 100_000;
