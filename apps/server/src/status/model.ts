// The replica-set status model: what `tarantype status`, its --json and the status page show
// of every member, as seen from one member (the one queried) plus what each other member says
// of itself when it answers. Layer: apps/server. Plain data (JSON as it is); collect.ts fills
// it in, table.ts and the page draw it. Field names follow box.info (lag in seconds, vclock
// as {id: lsn}); a value nobody could tell is null, never a guess.

/** One replication link as 2.6 prints it in box.info.replication[id].upstream/downstream. */
export interface LinkStatus {
  /** 'follow', 'sync', 'connect', 'disconnected', 'stopped', … (2.6's words). */
  readonly status: string;
  /** Seconds since the last packet on the link. */
  readonly idle: number | null;
  /** Seconds between a row's (or heartbeat's) timestamp on its origin and its arrival. */
  readonly lag: number | null;
  /** The last error on the link, as box.info prints it. */
  readonly message: string | null;
}

/** An upstream of a member, as that member reports it in its own box.info. */
export interface UpstreamLink extends LinkStatus {
  /** The id and uuid of the member it reads from. */
  readonly id: number;
  readonly uuid: string;
  /** "user@host:port" (no password), as box.info prints it. */
  readonly peer: string | null;
  /** upstream.conflict (tarantype): the row that collided, until cleared. */
  readonly conflict: Record<string, unknown> | null;
}

/**
 * up: it answered, or (seen) a link to it is live; down: it did not answer in time, or (seen)
 * the queried member's link to it is stopped or disconnected; unknown: (seen) no address to ask
 * and no link to it at all, so nothing says whether it runs (a replica of the queried replica's
 * master, say).
 */
export type MemberReachability = 'up' | 'down' | 'unknown';

/**
 * How the member's status is known: `queried` is the member asked; `contacted` answered (or
 * not, within the timeout) at its address; `seen` has no address to contact (a replica of the
 * queried member, say: 2.6 records no listen address of a downstream), so its status is what
 * the queried member's upstream/downstream to it says.
 */
export type MemberSource = 'queried' | 'contacted' | 'seen';

export interface MemberStatus {
  /** box.info.id / uuid; null for an address that never answered and no member is known at. */
  readonly id: number | null;
  readonly uuid: string | null;
  /** host:port of its binary port (no credentials); null when unknown. */
  readonly address: string | null;
  /** See MemberReachability. */
  readonly status: MemberReachability;
  readonly source: MemberSource;
  /** box.info.status ('running', 'orphan', 'loading' …) when it answered box.info. */
  readonly box_status: string | null;
  /** box.info.ro when it answered box.info. */
  readonly ro: boolean | null;
  /** Why it is down, or why its box.info could not be read while it is up. */
  readonly error: string | null;
  /** The largest upstream lag in its own box.info (null: none read or no upstream). */
  readonly lag: number | null;
  /** Its own box.info.vclock (null when its box.info was not read). */
  readonly vclock: Record<number, number> | null;
  /** Its lsn (vclock component) as the queried member knows it (box.info.replication[id].lsn). */
  readonly lsn: number | null;
  /** The queried member's upstream from it (null: none, or it is the queried member). */
  readonly upstream: LinkStatus | null;
  /** The queried member's downstream to it (relay). */
  readonly downstream: (LinkStatus & { vclock: Record<number, number> | null }) | null;
  /** Bytes of xlog the queried member keeps for it (box.info.gc_wal), null when unknown. */
  readonly wal_held_bytes: number | null;
  /** Its upstreams as it reports them (empty when its box.info was not read). */
  readonly upstreams: readonly UpstreamLink[];
  /** The newest upstream.conflict among its upstreams (by time), with the origin's id. */
  readonly last_conflict: (Record<string, unknown> & { upstream_id: number }) | null;
}

export interface ReplicaSetStatus {
  /** Address of the member queried (no credentials). */
  readonly queried: string;
  /** box.info.id of the member queried. */
  readonly queried_id: number;
  /** box.info.cluster.uuid of the member queried. */
  readonly replicaset_uuid: string | null;
  /** Unix time (seconds, with milliseconds) the collection started. */
  readonly time: number;
  /** Members with an id in id order, then addresses that never answered. */
  readonly members: readonly MemberStatus[];
}
