// The instance's place in a replica set: the relay server (master side, handed to the iproto
// server as its replication hook) and one applier per URI of box.cfg.replication (replica
// side), wired to the box through BoxReplicationPorts. Layer: box. The protocol lives in
// @tarantype/replication; this module decides when appliers start and stop and what box.cfg
// waits for, as 2.6's box.cc / replication.cc do:
// - an empty instance with one URI JOINs from it (join()), and box.cfg fails with ER_CFG
//   "failed to connect to one or more replicas" when it cannot reach it within
//   replication_connect_timeout. With several URIs it connects to all of them first, reads
//   their ballots (VOTE) and picks the bootstrap leader as 2.6's replicaset_leader does:
//   read-only instances only if there is nothing else, booted ones before loading ones, the
//   most advanced vclock (component 0 ignored), then the lowest uuid. The leader may be this
//   very instance (its own URI in the list): then it bootstraps a new replica set and the
//   others join it — so a fresh full mesh, each instance listing every URI, ends as ONE set;
//   the other appliers wait at 'ready' until configure() releases them to SUBSCRIBE;
// - configure(uris) keeps the applier of every unchanged URI, stops removed ones, starts new
//   ones, then waits for the appliers to connect (replication_connect_timeout) and to sync
//   (replication_sync_timeout): "synchronizing with N replicas", "replica set sync complete".
//   The instance is an orphan (read-only) from the start of a configure with upstreams until
//   it is synced; if the sync times out it stays an orphan and leaves by itself once synced.
// - conflicts: a replicated row that hit a duplicate key is kept per upstream (the member's
//   uuid) for box.info.replication[id].upstream.conflict, beyond Tarantool: a conflict that
//   stopped the upstream until that upstream follows again, a skipped one
//   (replication_skip_conflict) until the next conflict; clearConflicts() drops them (the
//   operator's box.ctl.clear_conflict([id])).
// Invariant: at most one applier per URI; every applier this module started is stopped by
// configure([]) or close().
import { ClientError, ErrorCode, type Xrow } from '@tarantype/core';
import {
  Applier,
  type ApplierState,
  type BootstrapTarget,
  type DownstreamInfo,
  formatRequest,
  type LogLevel,
  type ReplicationLogger,
  ReplicationServer,
  type TransactionSink,
  type UpstreamInfo,
} from '@tarantype/replication';
import type { Logger } from '@tarantype/wal';
import type { Box } from './box.js';
import type { ApplyError, ReplicationConflict } from './write-path.js';

/**
 * Transactions an applier may hand to the sink before the first is durable (the sink keeps
 * order). Each WAL write carries up to this many of a replica's transactions: under 100 writers
 * on the master the replica wrote about 31 rows per WAL write at 64 and about 110 at 256, so
 * fewer writes and acks. Its CPU per row moved within the noise (9.2–13.9 µs at 64, 8.7–10.6 at
 * 256); at 1024 the collector took 26% of one profile.
 */
const APPLIER_TRANSACTIONS_IN_FLIGHT = 256;
/**
 * An applier that got the master's greeting counts as connected, as in 2.6's replicaset_connect
 * (a wrong password is "connected", then "loading"): box.cfg then waits for the sync.
 */
const CONNECTED_STATES: readonly ApplierState[] = [
  'connected',
  'auth',
  'ready',
  'loading',
  'sync',
  'follow',
  'initial_join',
  'final_join',
  'joined',
];
const SYNCED_STATES: readonly ApplierState[] = ['follow'];

/**
 * A Logger that may also give loggers named after a component and log at Tarantool's crit
 * level (the server's pino logger does both).
 */
export interface ComponentLogger extends Logger {
  child?(component: string): ComponentLogger;
  crit?(message: string): void;
  /** An error with errno (2.6's "!>" lines, say_syserror). */
  syserror?(message: string): void;
}

/** The replication log port over box's logger: fiber names as 2.6 prints them. */
export function replicationLogger(logger: ComponentLogger): ReplicationLogger {
  const children = new Map<string, ComponentLogger>();
  const forFiber = (fiber: string): ComponentLogger => {
    if (logger.child === undefined) return logger;
    const name = fiber === 'main' ? 'main' : `main/${fiber}`;
    let child = children.get(name);
    if (child === undefined) {
      child = logger.child(name);
      children.set(name, child);
    }
    return child;
  };
  const method: Record<LogLevel, keyof Logger> = {
    crit: 'error',
    error: 'error',
    syserror: 'error',
    warn: 'warn',
    info: 'info',
    verbose: 'info',
  };
  return (level, fiber, message) => {
    try {
      const target = forFiber(fiber);
      if (level === 'crit' && target.crit !== undefined) target.crit(message);
      else if (level === 'syserror' && target.syserror !== undefined) target.syserror(message);
      else target[method[level]](message);
    } catch {
      // A log line must never break replication.
    }
  };
}

export class ReplicaSet {
  readonly relay: ReplicationServer;
  private readonly appliers = new Map<string, Applier>();
  private orphan = false;
  private orphanWatch: (() => void) | undefined;
  private closed = false;
  /** Per member uuid: the last conflict its upstream met (see the file comment). */
  private readonly conflicts = new Map<string, ReplicationConflict>();

  constructor(
    private readonly box: Box,
    private readonly log: ReplicationLogger,
  ) {
    const ports = box.replicationPorts;
    this.relay = new ReplicationServer({
      membership: ports,
      master: ports,
      joinSource: ports,
      rowSource: ports,
      gc: ports,
      replicationTimeoutS: () => box.cfgValues.replication_timeout,
      log,
      // "at fd 18, aka 127.0.0.1:3301, peer of 127.0.0.1:58750", as 2.6 names a relay's socket.
      socketName: (session) => ({ fd: session.fd, local: session.local, peer: session.peer }),
    });
  }

  /** True while box.cfg waits for the upstreams, or after it gave up waiting (box.info.status). */
  get isOrphan(): boolean {
    return this.orphan;
  }

  /** The URIs with an applier, in box.cfg order. */
  get uris(): string[] {
    return [...this.appliers.keys()];
  }

  /**
   * This instance bootstrapped a new replica set as the leader of a fresh mesh: its first
   * configure() does not wait for the others (they are joining it), as 2.6's box_cfg skips
   * replicaset_sync for the bootstrap leader — an orphan could not register them.
   */
  private isBootstrapLeader = false;

  /** Releases the appliers a multi-URI join() holds at 'ready' (configure() calls it). */
  private releaseHeld: (() => void) | undefined;

  /** An applier that reached this very instance (its own URI): 'off', counted as synced. */
  private isSelf(applier: Applier): boolean {
    return applier.remoteUuid !== undefined && applier.remoteUuid === this.box.instanceUuid;
  }

  private makeApplier(
    uri: string,
    bootstrap?: BootstrapTarget,
    gate?: () => Promise<BootstrapTarget | undefined>,
  ): Applier {
    const config = () => this.box.cfgValues;
    const ports = this.box.replicationPorts;
    let applier!: Applier;
    // The sink as this applier sees it: conflicts are recorded against its upstream, and a
    // skipped one is logged as 2.6's applier does ("error applying row", no "can't read row").
    const sink: TransactionSink = {
      vclock: () => ports.vclock(),
      applyTransaction: (rows) =>
        ports
          .applyTransaction(rows, {
            skipped: (row: Xrow, conflict) => {
              this.log(
                'error',
                `applier/${applier.peer}`,
                `error applying row: ${formatRequest(row)}`,
              );
              this.recordConflict(applier, conflict);
            },
          })
          .catch((error: unknown) => {
            const conflict = (error as Partial<ApplyError> | undefined)?.conflict;
            if (conflict !== undefined) this.recordConflict(applier, conflict);
            throw error;
          }),
    };
    applier = new Applier({
      uri,
      membership: ports,
      sink,
      ...(bootstrap === undefined ? {} : { bootstrap }),
      ...(gate === undefined ? {} : { gate }),
      replicationTimeoutS: () => config().replication_timeout,
      connectTimeoutS: () => config().replication_connect_timeout,
      replicationSyncLagS: () => config().replication_sync_lag,
      transactionsInFlightMax: APPLIER_TRANSACTIONS_IN_FLIGHT,
      // 2.6 (applier_subscribe): no ID_FILTER while orphan, so a peer sends back the rows of
      // this instance it lost (RELIABILITY.md #20); [own id] once writable.
      idFilter: () => (this.orphan || ports.instanceId() === 0 ? [] : [ports.instanceId()]),
      log: this.log,
    });
    // 2.6's applier writer fiber logs "leaving orphan mode" each time its applier syncs
    // (replicaset_check_quorum), after a configure and after every reconnect (reference §2).
    let following = false;
    applier.onStateChange((state) => {
      const now = SYNCED_STATES.includes(state);
      // An upstream that follows again is past the conflict that stopped it.
      const uuid = applier.remoteUuid;
      if (now && uuid !== undefined && this.conflicts.get(uuid)?.skipped === false)
        this.conflicts.delete(uuid);
      if (now && !following) this.log('crit', `applierw/${applier.peer}`, 'leaving orphan mode');
      following = now;
    });
    return applier;
  }

  /**
   * Fills an empty instance from the replica set at `uris`: JOIN from the first one. Resolves
   * once the target's finish() resolved (the instance has its snapshot and WAL); the applier
   * then goes on to SUBSCRIBE and stays, as the first of configure()'s appliers.
   */
  async join(target: BootstrapTarget, uris: readonly string[]): Promise<'joined' | 'bootstrap'> {
    if (uris.length > 1) return this.joinMesh(target, uris);
    await this.joinFrom(target, uris);
    return 'joined';
  }

  /**
   * join() with several URIs: every applier connects and is held at 'ready' until the leader
   * is known (see the file comment); the leader's applier JOINs, the others SUBSCRIBE once
   * configure() runs. Resolves 'bootstrap' when the leader is this instance.
   */
  private async joinMesh(
    target: BootstrapTarget,
    uris: readonly string[],
  ): Promise<'joined' | 'bootstrap'> {
    let decide!: (leader: Applier | undefined) => void;
    const decided = new Promise<Applier | undefined>((resolve) => (decide = resolve));
    const released = new Promise<void>((resolve) => (this.releaseHeld = resolve));
    let joined!: () => void;
    const finished = new Promise<void>((resolve) => (joined = resolve));
    const leaderTarget: BootstrapTarget = {
      loadInitial: (rows) => target.loadInitial(rows),
      initialLoaded: (vclock) => target.initialLoaded(vclock),
      applyFinal: (rows) => target.applyFinal(rows),
      finish: async (vclock) => {
        await target.finish(vclock);
        joined();
      },
    };
    const appliers: Applier[] = [];
    for (const uri of uris) {
      const applier: Applier = this.makeApplier(uri, undefined, async () => {
        if ((await decided) === applier) return leaderTarget;
        await released;
        return undefined;
      });
      this.appliers.set(uri, applier);
      appliers.push(applier);
    }
    this.log('info', 'main', `connecting to ${uris.length} replicas`);
    for (const applier of appliers) applier.start();
    const answered = (a: Applier) => a.ballot !== undefined || a.state === 'stopped';
    await waitFor(
      appliers,
      () => appliers.every(answered),
      this.box.cfgValues.replication_connect_timeout,
    );
    const candidates = appliers.filter((a) => a.ballot !== undefined && a.remoteUuid !== undefined);
    const fail = async (error: unknown): Promise<never> => {
      decide(undefined);
      this.releaseHeld?.();
      for (const [uri, applier] of [...this.appliers])
        if (appliers.includes(applier)) {
          await applier.stop();
          this.appliers.delete(uri);
        }
      throw error;
    };
    if (candidates.length < appliers.length) {
      this.log(
        'crit',
        'main',
        `failed to connect to ${appliers.length - candidates.length} out of ${appliers.length} replicas`,
      );
      return fail(
        new ClientError(
          ErrorCode.ER_CFG,
          'replication',
          'failed to connect to one or more replicas',
        ),
      );
    }
    this.log('info', 'main', `connected to ${appliers.length} replicas`);
    const leader = bootstrapLeader(candidates);
    if (leader === undefined || this.isSelf(leader)) {
      decide(undefined);
      this.isBootstrapLeader = true;
      return 'bootstrap';
    }
    this.log(
      'info',
      'main',
      `bootstrapping replica from ${leader.remoteUuid} at ${leader.uri.host}:${leader.uri.port}`,
    );
    decide(leader);
    const stopped = new Promise<never>((_, reject) => {
      const remove = leader.onStateChange((state) => {
        if (state !== 'stopped') return;
        remove();
        reject(leader.error ?? new ClientError(ErrorCode.ER_SYSTEM, 'join stopped'));
      });
      void finished.then(remove);
    });
    try {
      await Promise.race([finished, stopped]);
    } catch (error) {
      return fail(error);
    }
    return 'joined';
  }

  private async joinFrom(target: BootstrapTarget, uris: readonly string[]): Promise<void> {
    const uri = uris[0];
    if (uri === undefined)
      throw new ClientError(ErrorCode.ER_CFG, 'replication', 'no replica set to join');
    let joined!: () => void;
    const finished = new Promise<void>((resolve) => (joined = resolve));
    const applier = this.makeApplier(uri, {
      loadInitial: (rows) => target.loadInitial(rows),
      initialLoaded: (vclock) => target.initialLoaded(vclock),
      applyFinal: (rows) => target.applyFinal(rows),
      finish: async (vclock) => {
        await target.finish(vclock);
        joined();
      },
    });
    this.appliers.set(uri, applier);
    this.log('info', 'main', `connecting to ${uris.length} replicas`);
    applier.start();
    const timeoutS = this.box.cfgValues.replication_connect_timeout;
    let timer: NodeJS.Timeout | undefined;
    let removeListener: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (error: unknown) => reject(error);
        timer = setTimeout(() => {
          this.log(
            'crit',
            'main',
            `failed to connect to ${uris.length} out of ${uris.length} replicas`,
          );
          fail(
            new ClientError(
              ErrorCode.ER_CFG,
              'replication',
              'failed to connect to one or more replicas',
            ),
          );
        }, timeoutS * 1000);
        let said: ApplierState | undefined;
        const onState = (state: ApplierState) => {
          // 2.6's replicaset_connect and bootstrap log lines (reference §1a, Appendix B).
          if (state === 'connected' && said === undefined) {
            said = state;
            this.log('info', 'main', `connected to ${uris.length} replicas`);
          }
          if (state === 'ready' && said !== 'ready') {
            said = state;
            this.log(
              'info',
              'main',
              `bootstrapping replica from ${applier.remoteUuid} at ${applier.uri.host}:${applier.uri.port}`,
            );
          }
          // Once the master answered (a greeting), box.cfg waits for the join as long as it
          // takes, also through retried auth or access errors, as 2.6's bootstrap does
          // (reference §8a: "box.cfg stays pending until the credentials work").
          if (CONNECTED_STATES.includes(state) && timer !== undefined) {
            clearTimeout(timer);
            timer = undefined;
          }
          if (state === 'stopped')
            fail(applier.error ?? new ClientError(ErrorCode.ER_SYSTEM, 'join stopped'));
        };
        removeListener = applier.onStateChange(onState);
        onState(applier.state);
        finished.then(resolve, fail);
      });
    } catch (error) {
      await applier.stop();
      this.appliers.delete(uri);
      throw error;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      removeListener?.();
    }
  }

  /**
   * box.cfg{replication = uris}: reconciles the appliers, then blocks while they connect and
   * sync, as 2.6 does. Never throws for an upstream that is down or behind: the instance is
   * an orphan then, and box.info tells why.
   */
  async configure(uris: readonly string[]): Promise<void> {
    if (this.closed) return;
    this.releaseHeld?.();
    this.releaseHeld = undefined;
    for (const [uri, applier] of [...this.appliers]) {
      if (uris.includes(uri)) continue;
      this.appliers.delete(uri);
      await applier.stop();
    }
    const started: Applier[] = [];
    for (const uri of uris) {
      if (this.appliers.has(uri)) continue;
      const applier = this.makeApplier(uri);
      this.appliers.set(uri, applier);
      started.push(applier);
    }
    if (uris.length === 0) {
      this.setOrphan(false);
      return;
    }
    const appliers = uris.map((uri) => this.appliers.get(uri)!);
    if (this.isBootstrapLeader) {
      this.isBootstrapLeader = false;
      if (started.length > 0) this.log('info', 'main', `connecting to ${uris.length} replicas`);
      for (const applier of started) applier.start();
      this.setOrphan(false);
      return;
    }
    if (!appliers.every((a) => SYNCED_STATES.includes(a.state) || this.isSelf(a)))
      this.setOrphan(true);
    if (started.length > 0) this.log('info', 'main', `connecting to ${uris.length} replicas`);
    for (const applier of started) applier.start();
    const config = this.box.cfgValues;
    const quorum = Math.min(config.replication_connect_quorum ?? appliers.length, appliers.length);
    const isSelf = (a: Applier) => this.isSelf(a);
    const connected = await waitForCount(
      appliers,
      CONNECTED_STATES,
      quorum,
      config.replication_connect_timeout,
      isSelf,
    );
    if (connected < appliers.length)
      this.log(
        'crit',
        'main',
        `failed to connect to ${appliers.length - connected} out of ${appliers.length} replicas`,
      );
    else if (started.length > 0) this.log('info', 'main', `connected to ${connected} replicas`);
    this.log('info', 'main', `synchronizing with ${quorum} replicas`);
    // 2.6's replicaset_sync waits only while a quorum is connected: an unreachable upstream
    // makes box.cfg return after replication_connect_timeout, not replication_sync_timeout.
    const synced =
      connected < quorum
        ? appliers.filter((a) => SYNCED_STATES.includes(a.state) || isSelf(a)).length
        : await waitForCount(
            appliers,
            SYNCED_STATES,
            quorum,
            config.replication_sync_timeout,
            isSelf,
          );
    if (synced >= quorum) {
      this.log('info', 'main', 'replica set sync complete');
      // 2.6 says so after every sync of a configure, orphan before or not (reference §1a, §2).
      if (!this.orphan) this.log('crit', 'main', 'leaving orphan mode');
      this.setOrphan(false);
      return;
    }
    this.log(
      'crit',
      'main',
      `failed to synchronize with ${appliers.length - synced} out of ${appliers.length} replicas`,
    );
    this.log('crit', 'main', 'entering orphan mode');
    this.watchOrphan(appliers, quorum, isSelf);
  }

  /** Leaves orphan mode by itself once `quorum` appliers follow. */
  private watchOrphan(
    appliers: readonly Applier[],
    quorum: number,
    isSelf: (applier: Applier) => boolean,
  ): void {
    this.orphanWatch?.();
    const removers = appliers.map((applier) =>
      applier.onStateChange(() => {
        if (appliers.filter((a) => SYNCED_STATES.includes(a.state) || isSelf(a)).length < quorum)
          return;
        this.orphanWatch?.();
        this.log('info', 'main', 'replica set sync complete');
        this.setOrphan(false);
      }),
    );
    this.orphanWatch = () => {
      for (const remove of removers) remove();
      this.orphanWatch = undefined;
    };
  }

  private setOrphan(orphan: boolean): void {
    if (!orphan) this.orphanWatch?.();
    if (this.orphan === orphan) return;
    this.orphan = orphan;
    if (!orphan) this.log('crit', 'main', 'leaving orphan mode');
    this.box.replicationStateChanged();
  }

  /** upstream of box.info.replication[id] for the member `uuid` (the applier connected to it). */
  upstream(uuid: string): UpstreamInfo | undefined {
    for (const applier of this.appliers.values())
      if (applier.remoteUuid === uuid) return applier.info();
    return undefined;
  }

  /** Rows the upstream of member `uuid` applied since its applier started (metrics). */
  upstreamRowsApplied(uuid: string): number | undefined {
    for (const applier of this.appliers.values())
      if (applier.remoteUuid === uuid) return applier.rowsApplied;
    return undefined;
  }

  /** The conflict the upstream of member `uuid` met (box.info upstream.conflict), if any. */
  conflict(uuid: string): ReplicationConflict | undefined {
    return this.conflicts.get(uuid);
  }

  /** Forgets the conflicts of the members `uuids` (every member when undefined); returns how many. */
  clearConflicts(uuids?: readonly string[]): number {
    if (uuids === undefined) {
      const count = this.conflicts.size;
      this.conflicts.clear();
      return count;
    }
    let count = 0;
    for (const uuid of uuids) if (this.conflicts.delete(uuid)) count++;
    return count;
  }

  private recordConflict(applier: Applier, conflict: ReplicationConflict): void {
    const uuid = applier.remoteUuid;
    if (uuid !== undefined) this.conflicts.set(uuid, conflict);
  }

  downstream(uuid: string): DownstreamInfo | undefined {
    return this.relay.downstream(uuid);
  }

  /** A member left `_cluster`: its relay stops and its downstream is forgotten. */
  async memberRemoved(uuid: string): Promise<void> {
    await this.relay.stopRelay(uuid);
    this.relay.forget(uuid);
    this.conflicts.delete(uuid);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.orphanWatch?.();
    const appliers = [...this.appliers.values()];
    this.appliers.clear();
    await Promise.all(appliers.map((applier) => applier.stop()));
    await this.relay.close();
  }
}

/**
 * Waits until at least `count` of `appliers` are in one of `states`, or `timeoutS` passed;
 * resolves with how many are then.
 */
function waitForCount(
  appliers: readonly Applier[],
  states: readonly ApplierState[],
  count: number,
  timeoutS: number,
  counts: (applier: Applier) => boolean = () => false,
): Promise<number> {
  const reached = () => appliers.filter((a) => states.includes(a.state) || counts(a)).length;
  // A stopped applier never comes back by itself: once too few are left to reach `count`,
  // waiting longer changes nothing (2.6 says "failed to synchronize" at once after a conflict).
  const hopeless = () =>
    appliers.filter((a) => a.state !== 'stopped' && (a.state !== 'off' || counts(a))).length <
    count;
  if (reached() >= count || hopeless()) return Promise.resolve(reached());
  return new Promise((resolve) => {
    const removers: Array<() => void> = [];
    const done = () => {
      clearTimeout(timer);
      for (const remove of removers) remove();
      resolve(reached());
    };
    const timer = setTimeout(done, timeoutS * 1000);
    for (const applier of appliers)
      removers.push(
        applier.onStateChange(() => {
          if (reached() >= count || hopeless()) done();
        }),
      );
  });
}

/** Resolves once `done()` holds (checked on every state change of `appliers`) or after timeoutS. */
function waitFor(
  appliers: readonly Applier[],
  done: () => boolean,
  timeoutS: number,
): Promise<void> {
  if (done()) return Promise.resolve();
  return new Promise((resolve) => {
    const removers: Array<() => void> = [];
    const finish = () => {
      clearTimeout(timer);
      for (const remove of removers) remove();
      resolve();
    };
    const timer = setTimeout(finish, timeoutS * 1000);
    for (const applier of appliers)
      removers.push(
        applier.onStateChange(() => {
          if (done()) finish();
        }),
      );
  });
}

type Ballot = NonNullable<Applier['ballot']>;

/**
 * 2.6's replicaset_leader over the appliers' ballots: a round skipping read-only instances,
 * then (if it found none) one with them; within a round an instance that finished loading
 * beats one still loading, then the most advanced vclock (component 0 ignored; a concurrent
 * one replaces the candidate, as vclock_compare's "undefined" does there), then the lowest uuid.
 */
export function bootstrapLeader<
  T extends { ballot: Ballot | undefined; remoteUuid: string | undefined },
>(candidates: readonly T[]): T | undefined {
  const round = (skipRo: boolean): T | undefined => {
    let leader: T | undefined;
    for (const candidate of candidates) {
      const ballot = candidate.ballot;
      if (ballot === undefined || candidate.remoteUuid === undefined) continue;
      if (skipRo && ballot.is_ro) continue;
      if (leader === undefined) {
        leader = candidate;
        continue;
      }
      const best = leader.ballot!;
      if (ballot.is_loading && !best.is_loading) continue;
      if (!ballot.is_loading && best.is_loading) {
        leader = candidate;
        continue;
      }
      const order = ballot.vclock.compare(best.vclock, true);
      if (order === -1) continue;
      if (order === 0 && candidate.remoteUuid > leader.remoteUuid!) continue;
      leader = candidate;
    }
    return leader;
  };
  return round(true) ?? round(false);
}
