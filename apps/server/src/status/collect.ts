// Collects the replica-set status (model.ts) from one member: its box.info, box.cfg.replication
// and box.info.gc_wal, then every other member it names (box.cfg.replication URIs and the peers
// of its upstreams, and what those members name in turn), each over iproto with a short
// timeout. Layer: apps/server. A member that does not answer in time is `down`, never an error
// of the whole collection; only the member queried must answer (else UnreachableError).
// It reads, it never writes: no box.cfg{}, no clear_conflict. Members are told apart by uuid
// (a member listing itself in box.cfg.replication is contacted once more and recognised).
// Invariant: passwords go into connections only, never into the model.
import { type Box, resolveLuaFunction } from '@tarantype/box';
import { connect, type IprotoClient, parseUri, RemoteError } from '@tarantype/iproto';
import type { LinkStatus, MemberStatus, ReplicaSetStatus, UpstreamLink } from './model.js';

/** How long a member has to connect, authenticate and answer (the member queried too). */
export const STATUS_TIMEOUT_MS_DEFAULT = 1000;
/** Members contacted at most: Tarantool's replica set has 32 ids (VCLOCK_MAX). */
const MEMBERS_CONTACTED_MAX = 32;

/** What one member says of itself: box.info, box.cfg.replication, box.info.gc_wal. */
export interface MemberReport {
  readonly info: Record<string, unknown>;
  /** box.cfg.replication URIs (with their credentials), [] when it could not be read. */
  readonly replication: readonly string[];
  /** box.info.gc_wal consumers' bytes by replica uuid; undefined when not available. */
  readonly walHeld: ReadonlyMap<string, number> | undefined;
}

/** A way to ask a member for its report (over iproto, or in-process for the local one). */
export type MemberProbe = () => Promise<MemberReport>;

export class UnreachableError extends Error {}

export interface CollectOptions {
  readonly timeoutMs?: number;
  /** Credentials for members named by an URI without a password (the CLI's own URI's). */
  readonly user?: string;
  readonly password?: string;
}

interface Contact {
  readonly address: string;
  readonly report: MemberReport | undefined;
  /** It answered (a greeting, an error reply) even when its report could not be read. */
  readonly answered: boolean;
  readonly error: string | undefined;
}

/** host:port with localhost spelled 127.0.0.1, from a URI, a peer ("user@h:p") or a listen. */
export function addressOf(uri: string): string | undefined {
  try {
    const parts = parseUri(uri);
    const host = parts.host === 'localhost' ? '127.0.0.1' : parts.host;
    return `${host.includes(':') ? `[${host}]` : host}:${parts.port}`;
  } catch {
    return undefined;
  }
}

/** Maps (msgpack) and 2.6's Lua sequences (vclocks, member lists) as plain objects. */
function plain(value: unknown): unknown {
  if (value instanceof Map)
    return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v)]));
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** A vclock as {id: lsn}: from a map, or a 2.6 sequence (index i + 1 is replica id). */
function vclockOf(value: unknown): Record<number, number> | null {
  if (value === undefined || value === null) return null;
  const out: Record<number, number> = {};
  if (Array.isArray(value)) {
    value.forEach((lsn, i) => {
      if (typeof lsn === 'number') out[i + 1] = lsn;
    });
    return out;
  }
  for (const [id, lsn] of Object.entries(value as Record<string, unknown>))
    if (typeof lsn === 'number' || typeof lsn === 'bigint') out[Number(id)] = Number(lsn);
  return out;
}

/** box.info.replication as a list of members (2.6 sends a sequence, tarantype a map). */
function membersOf(info: Record<string, unknown>): Array<Record<string, unknown>> {
  const replication = info.replication;
  if (replication === null || typeof replication !== 'object') return [];
  return Object.values(replication as Record<string, unknown>).filter(
    (m): m is Record<string, unknown> => m !== null && typeof m === 'object',
  );
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : null;
}

function linkOf(value: unknown): LinkStatus | null {
  if (value === null || typeof value !== 'object') return null;
  const link = value as Record<string, unknown>;
  return {
    status: String(link.status),
    idle: numberOrNull(link.idle),
    lag: numberOrNull(link.lag),
    message: typeof link.message === 'string' ? link.message : null,
  };
}

function upstreamsOf(info: Record<string, unknown>): UpstreamLink[] {
  const out: UpstreamLink[] = [];
  for (const member of membersOf(info)) {
    const link = linkOf(member.upstream);
    if (link === null) continue;
    const upstream = member.upstream as Record<string, unknown>;
    const conflict = upstream.conflict;
    out.push({
      ...link,
      id: Number(member.id),
      uuid: String(member.uuid),
      peer: typeof upstream.peer === 'string' ? upstream.peer : null,
      conflict:
        conflict !== null && typeof conflict === 'object'
          ? (conflict as Record<string, unknown>)
          : null,
    });
  }
  return out.sort((a, b) => a.id - b.id);
}

/** Reads one member's report from an open client (box.info.gc_wal is tarantype's own). */
async function readReport(client: IprotoClient, timeoutMs: number): Promise<MemberReport> {
  const [info] = await client.call<[unknown]>('box.info', [], { timeoutMs });
  let replication: string[] = [];
  try {
    const [cfg] = await client.call<[unknown]>('box.cfg', [], { timeoutMs });
    const uris = (plain(cfg) as Record<string, unknown> | undefined)?.replication;
    if (Array.isArray(uris)) replication = uris.map(String);
    else if (typeof uris === 'string' && uris !== '') replication = [uris];
  } catch {
    // Tarantool 2.6 has no CALL of box.cfg without arguments: its upstream peers still name
    // the members it reads from.
  }
  let walHeld: Map<string, number> | undefined;
  try {
    const [gc] = await client.call<[unknown]>('box.info.gc_wal', [], { timeoutMs });
    walHeld = walHeldOf(plain(gc));
  } catch {
    // Not a tarantype member: the bytes held stay unknown (null), not 0.
  }
  return { info: plain(info) as Record<string, unknown>, replication, walHeld };
}

/** box.info.gc_wal's consumers named "replica <uuid>" → bytes by uuid. */
export function walHeldOf(gc: unknown): Map<string, number> {
  const held = new Map<string, number>();
  const consumers = (gc as { consumers?: unknown } | undefined)?.consumers;
  if (!Array.isArray(consumers)) return held;
  for (const consumer of consumers as Array<Record<string, unknown>>) {
    const name = String(consumer.name);
    const bytes = numberOrNull(consumer.wal_bytes);
    if (name.startsWith('replica ') && bytes !== null) held.set(name.slice(8), bytes);
  }
  return held;
}

/** A probe of a remote member: connect, authenticate, read its report, close. */
export function remoteProbe(uri: string, options: CollectOptions = {}): MemberProbe {
  return async () => {
    const timeoutMs = options.timeoutMs ?? STATUS_TIMEOUT_MS_DEFAULT;
    const parts = parseUri(uri);
    // The login the operator gave wins: a box.cfg.replication URI usually names the
    // replication user, which may not call box.info. Without one, the URI's own credentials.
    const credentials =
      options.user !== undefined
        ? {
            user: options.user,
            ...(options.password === undefined ? {} : { password: options.password }),
          }
        : parts.password !== undefined
          ? { user: parts.user ?? 'guest', password: parts.password }
          : parts.user === undefined
            ? {}
            : { user: parts.user };
    const client = await connect({
      host: parts.host,
      port: parts.port,
      ...credentials,
      connectTimeoutMs: timeoutMs,
      requestTimeoutMs: timeoutMs,
      reconnect: false,
    });
    try {
      return await withTimeout(readReport(client, timeoutMs), timeoutMs * 3, 'box.info');
    } finally {
      await client.close().catch(() => {});
    }
  };
}

/** The local instance's report, read in-process (no connection, no credentials). */
export function localProbe(box: () => Box): MemberProbe {
  return async () => {
    const b = box();
    const gc = resolveLuaFunction('box.info.gc_wal');
    const [walHeld] = gc === undefined ? [undefined] : await gc(b, 1, []);
    return {
      info: plain(b.info()) as Record<string, unknown>,
      replication: [...b.cfgValues.replication],
      walHeld: walHeld === undefined ? undefined : walHeldOf(plain(walHeld)),
    };
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Collects the status as `queried` (address, no credentials) sees it, asking its `probe`
 * first and `peerProbe(uri)` for every other member it learns of.
 */
export async function collectStatus(
  queried: { address: string; probe: MemberProbe },
  peerProbe: (uri: string) => MemberProbe,
  options: CollectOptions = {},
): Promise<ReplicaSetStatus> {
  const time = Date.now() / 1000;
  const timeoutMs = options.timeoutMs ?? STATUS_TIMEOUT_MS_DEFAULT;
  let self: MemberReport;
  try {
    self = await withTimeout(queried.probe(), timeoutMs * 4, queried.address);
  } catch (error) {
    throw new UnreachableError(`${queried.address}: ${errorText(error)}`);
  }
  const contacts = await crawl(queried.address, self, peerProbe, timeoutMs);
  return buildStatus(queried.address, self, contacts, time);
}

/** URIs a report names: box.cfg.replication, then its upstreams' peers (no password). */
function namedUris(report: MemberReport): string[] {
  return [
    ...report.replication,
    ...upstreamsOf(report.info).flatMap((u) => (u.peer === null ? [] : [u.peer])),
  ];
}

/** Contacts every address reachable by naming from the queried member, round by round. */
async function crawl(
  queriedAddress: string,
  self: MemberReport,
  peerProbe: (uri: string) => MemberProbe,
  timeoutMs: number,
): Promise<Map<string, Contact>> {
  const contacts = new Map<string, Contact>();
  const seen = new Set<string>([queriedAddress]);
  let next = namedUris(self);
  while (next.length > 0 && contacts.size < MEMBERS_CONTACTED_MAX) {
    const round = new Map<string, string>();
    for (const uri of next) {
      const address = addressOf(uri);
      if (address === undefined || seen.has(address)) continue;
      // The URI with a password wins over a peer without one for the same address.
      if (!round.has(address) || parseUri(uri).password !== undefined) round.set(address, uri);
    }
    for (const address of round.keys()) seen.add(address);
    const answers = await Promise.all(
      [...round].slice(0, MEMBERS_CONTACTED_MAX - contacts.size).map(async ([address, uri]) => {
        try {
          const report = await withTimeout(peerProbe(uri)(), timeoutMs * 4, address);
          return { address, report, answered: true, error: undefined };
        } catch (error) {
          // An error reply (a refused login, no execute on box.info) is an answer: it is up.
          const answered = error instanceof RemoteError;
          return { address, report: undefined, answered, error: errorText(error) };
        }
      }),
    );
    next = [];
    for (const contact of answers) {
      contacts.set(contact.address, contact);
      if (contact.report !== undefined) next.push(...namedUris(contact.report));
    }
  }
  return contacts;
}

function lastConflict(upstreams: readonly UpstreamLink[]): MemberStatus['last_conflict'] {
  let best: MemberStatus['last_conflict'] = null;
  for (const u of upstreams) {
    if (u.conflict === null) continue;
    const time = numberOrNull(u.conflict.time) ?? 0;
    if (best === null || time > (numberOrNull(best.time) ?? 0))
      best = { ...u.conflict, upstream_id: u.id };
  }
  return best;
}

function maxLag(upstreams: readonly UpstreamLink[]): number | null {
  const lags = upstreams.map((u) => u.lag).filter((lag): lag is number => lag !== null);
  return lags.length === 0 ? null : Math.max(...lags);
}

/** A link counts as live for a member known only through it. */
const LIVE_LINK = new Set(['follow', 'sync', 'connect', 'auth', 'initial_join', 'final_join']);

function buildStatus(
  queriedAddress: string,
  self: MemberReport,
  contacts: ReadonlyMap<string, Contact>,
  time: number,
): ReplicaSetStatus {
  const selfId = Number(self.info.id);
  const selfUuid = String(self.info.uuid);
  // Contacts that answered, by uuid; those that did not, by address.
  const answeredByUuid = new Map<string, Contact>();
  for (const contact of contacts.values()) {
    const uuid = contact.report?.info.uuid;
    if (typeof uuid === 'string' && uuid !== selfUuid) answeredByUuid.set(uuid, contact);
  }
  // Which member is at an address that did not answer: whoever reads from it says, in its
  // upstream's peer (the queried member or any member that answered).
  const addressOfUuid = new Map<string, string>();
  for (const report of [self, ...[...contacts.values()].flatMap((c) => c.report ?? [])])
    for (const upstream of upstreamsOf(report.info)) {
      const address = upstream.peer === null ? undefined : addressOf(upstream.peer);
      if (address !== undefined && !addressOfUuid.has(upstream.uuid))
        addressOfUuid.set(upstream.uuid, address);
    }
  const members: MemberStatus[] = [];
  const placed = new Set<string>([queriedAddress]);
  const placedUuids = new Set<string>([selfUuid]);
  for (const member of membersOf(self.info).sort((a, b) => Number(a.id) - Number(b.id))) {
    const id = Number(member.id);
    const uuid = String(member.uuid);
    const isSelf = id === selfId;
    const upstream = isSelf ? null : linkOf(member.upstream);
    const peer = isSelf ? undefined : (member.upstream as { peer?: unknown } | undefined)?.peer;
    const downstreamRaw = isSelf ? undefined : member.downstream;
    const downstreamLink = linkOf(downstreamRaw);
    const downstream =
      downstreamLink === null
        ? null
        : {
            ...downstreamLink,
            vclock: vclockOf((downstreamRaw as Record<string, unknown>).vclock),
          };
    const base = {
      id,
      uuid,
      lsn: numberOrNull(member.lsn),
      upstream,
      downstream,
      wal_held_bytes: self.walHeld?.get(uuid) ?? null,
    };
    if (isSelf) {
      members.push({ ...base, ...answered(queriedAddress, self, 'queried') });
      continue;
    }
    const contact =
      answeredByUuid.get(uuid) ??
      (typeof peer === 'string' ? contacts.get(addressOf(peer) ?? '') : undefined) ??
      contacts.get(addressOfUuid.get(uuid) ?? '');
    placedUuids.add(uuid);
    if (contact !== undefined) placed.add(contact.address);
    if (contact !== undefined) {
      members.push({ ...base, ...fromContact(contact) });
    } else {
      // No address: what the queried member's links to it say.
      const live = [upstream?.status, downstream?.status].some(
        (s) => s !== undefined && LIVE_LINK.has(s),
      );
      members.push({
        ...base,
        address: null,
        status: live ? 'up' : upstream === null && downstream === null ? 'unknown' : 'down',
        source: 'seen',
        box_status: null,
        ro: null,
        error: live
          ? null
          : `no address known; ${upstream === null && downstream === null ? 'no link to it' : `link ${downstream?.status ?? upstream?.status}`}`,
        lag: null,
        vclock: null,
        upstreams: [],
        last_conflict: null,
      });
    }
  }
  // Addresses named but belonging to no member of the queried one's _cluster.
  for (const contact of contacts.values()) {
    if (placed.has(contact.address)) continue;
    const uuid = contact.report?.info.uuid;
    if (typeof uuid === 'string' && placedUuids.has(uuid)) continue;
    if (typeof uuid === 'string') placedUuids.add(uuid);
    const base = {
      id: contact.report === undefined ? null : numberOrNull(contact.report.info.id),
      uuid: typeof uuid === 'string' ? uuid : null,
      lsn: null,
      upstream: null,
      downstream: null,
      wal_held_bytes: null,
    };
    members.push({ ...base, ...fromContact(contact) });
  }
  return {
    queried: queriedAddress,
    queried_id: selfId,
    replicaset_uuid:
      String((self.info.cluster as { uuid?: unknown } | undefined)?.uuid ?? '') || null,
    time,
    members,
  };
}

function fromContact(contact: Contact) {
  if (contact.report !== undefined) return answered(contact.address, contact.report, 'contacted');
  const error = contact.error ?? 'no answer';
  return contact.answered
    ? { ...unanswered(contact.address, error), status: 'up' as const }
    : unanswered(contact.address, error);
}

function answered(address: string, report: MemberReport, source: 'queried' | 'contacted') {
  const upstreams = upstreamsOf(report.info);
  return {
    address,
    status: 'up' as const,
    source,
    box_status: typeof report.info.status === 'string' ? report.info.status : null,
    ro: typeof report.info.ro === 'boolean' ? report.info.ro : null,
    error: null,
    lag: maxLag(upstreams),
    vclock: vclockOf(report.info.vclock),
    upstreams,
    last_conflict: lastConflict(upstreams),
  };
}

function unanswered(address: string, error: string) {
  return {
    address,
    status: 'down' as const,
    source: 'contacted' as const,
    box_status: null,
    ro: null,
    error,
    lag: null,
    vclock: null,
    upstreams: [],
    last_conflict: null,
  };
}
