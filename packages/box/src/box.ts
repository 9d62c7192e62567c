// Box: the database instance — what an application embeds and what the server and replication
// drive. Layer: box, the only place where wal, snapshot and memtx are wired together.
//
// Lifecycle: Box.cfg(options) validates the options (Tarantool's names and texts), locks the
// data directory, recovers (newest snapshot, then the xlogs after it) or bootstraps an empty
// directory (system spaces, built-in users, instance and replica set UUIDs, an initial
// snapshot), opens the journal at the recovered vclock and starts the checkpoint daemon.
// box.cfg(options) later changes dynamic options. close() drains the WAL, closes the xlog
// cleanly and releases the lock. Several instances may live in one process (one per dir).
//
// Writes: every data statement goes through write(): access check, read-only check, the
// checkpoint barrier, then the transaction manager (txn.ts) applies it in memory (visible at
// once, as in 2.6 without MVCC) and resolves when durable per wal_mode.
import { resolve as resolvePath } from 'node:path';
import {
  ClientError,
  DmlBody,
  decodeRowBody,
  decodeRowBodyAt,
  ErrorCode,
  type Hasher,
  IprotoType,
  loadHasher,
  newUuid,
  Privilege,
  SYSTEM_ID_MAX,
  SystemError,
  SystemSpace,
  type TarantoolError,
  UserId,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import type { KeyInput, Space as MemtxSpace, SelectOptions, Statement } from '@tarantype/memtx';
import type { BootstrapTarget } from '@tarantype/replication';
import {
  type FileSystem,
  Journal,
  type Logger,
  NodeFileSystem,
  silentLogger,
  type WalWriter,
  type XrowInPlace,
} from '@tarantype/wal';
import {
  BOOTSTRAP_FUNC_ROWS,
  BOOTSTRAP_PRIV_ROWS,
  BOOTSTRAP_USER_ROWS,
  SCHEMA_VERSION_ROW,
  SYSTEM_ID_MAX_ROW,
  SYSTEM_INDEX_ROWS,
  SYSTEM_SPACE_ROWS,
} from './bootstrap-data.js';
import { boxInfo, boxInfoGc, boxInfoMemory, walHeld } from './box-info.js';
import { BoxSpace } from './box-space.js';
import { Catalog, type SpaceEntry, SYSVIEW_BASE } from './catalog.js';
import { applyCfg, type BoxConfig, CFG_DEFAULTS, unsupportedOptionsIn } from './cfg.js';
import { CheckpointDaemon, type CheckpointInfo } from './checkpoint-daemon.js';
import { DirLock } from './dir-lock.js';
import { applyOperation, type Operation, storageOf } from './executor.js';
import { GcConsumers } from './gc-consumers.js';
import { ProgressReporter, type ProgressSink } from './progress.js';
import {
  moveAside,
  RebootstrapNeeded,
  recordedInstanceUuid,
  rejoinSource,
  scanLocalState,
} from './rebootstrap.js';
import { recover } from './recovery.js';
import { ReplicaGc } from './replica-gc.js';
import { type ComponentLogger, ReplicaSet, replicationLogger } from './replica-set.js';
import { BoxReplicationPorts } from './replication-ports.js';
import { SchemaApi } from './schema-api.js';
import { refusedIn } from './schema-def.js';
import { BoxStat, type StatName } from './stat.js';
import { sysviewVisible } from './sysview.js';
import { TxnManager } from './txn.js';
import { operationOf, WritePath } from './write-path.js';

export type BoxStatus = 'loading' | 'running' | 'closing' | 'closed';

export interface BoxRuntime {
  /** File system port (tests inject faults). Default: the real one. */
  readonly fs?: FileSystem;
  readonly logger?: Logger;
  /**
   * How an empty instance joins a replica set instead of starting its own: fills `target`
   * (the applier's JOIN) for the instance `instanceUuid`. Used only when the directories hold
   * nothing; a recovered instance ignores it.
   */
  readonly join?: (
    target: BootstrapTarget,
    instanceUuid: string,
  ) => Promise<void | 'joined' | 'bootstrap'>;
  /**
   * Called with the new Box before it recovers, bootstraps or joins: a server listens here so
   * that peers of a fresh replica set can reach this instance (VOTE) while it picks its
   * bootstrap leader, as 2.6 binds the port before bootstrapping.
   */
  readonly beforeStart?: (box: Box) => Promise<void>;
  /**
   * Whether Box.cfg waits for box.cfg.replication's upstreams to connect and sync (default
   * true, as 2.6's first box.cfg). A server that must listen first (so its peers can reach it)
   * passes false and calls `box.replicaSet.configure(box.cfgValues.replication)` after.
   */
  readonly waitForReplication?: boolean;
  /**
   * Progress of long work (recovery, a join on either side, snapshot writing) as throttled
   * events (progress.ts); nothing is measured when it is undefined. A server draws bars.
   */
  readonly onProgress?: ProgressSink;
}

export type { CheckpointInfo } from './checkpoint-daemon.js';

export class Box {
  status: BoxStatus = 'loading';
  readonly catalog: Catalog;
  readonly txns: TxnManager;
  readonly schema: SchemaApi;
  /** Every change goes through it: local requests and foreign transactions (the applier). */
  readonly writes: WritePath;
  /** Replicas' WAL GC consumers, persisted in wal_dir. */
  readonly replicaGc: ReplicaGc;
  /** What replication (relay, applier) sees of this instance. */
  readonly replicationPorts: BoxReplicationPorts;
  /** The relay server and the appliers of box.cfg.replication. */
  readonly replicaSet: ReplicaSet;
  private readonly daemon: CheckpointDaemon;
  readonly stats = new BoxStat();
  /** WAL GC consumers (replicas, open JOINs): their rows are kept whatever checkpoint_count says. */
  readonly gcConsumers = new GcConsumers();
  instanceUuid = '';
  instanceId = 0;
  journal!: WalWriter;
  readonly startedAt = Date.now();

  private config: BoxConfig;
  private spaceHandles = new Map<SpaceEntry, BoxSpace>();
  /** Spaces filling from a snapshot or a join, indexed at endBulkLoads(). */
  private readonly bulkLoading = new Set<MemtxSpace>();
  /** The body of the row being replayed (recovery decodes one row at a time). */
  private readonly replayBody = new DmlBody();
  /** Local recovery's: the tuple as a range of the block (DmlBody.tupleViews off). */
  private readonly replayRangeBody = new DmlBody(false);
  private spaceObject: Record<string, BoxSpace> | undefined;
  private lock: DirLock | undefined;
  private writableWaiters: Array<() => void> = [];

  private constructor(
    config: BoxConfig,
    readonly fs: FileSystem,
    readonly logger: Logger,
    readonly hasher: Hasher,
    private readonly runtime: BoxRuntime = {},
  ) {
    this.config = config;
    this.catalog = new Catalog(() => this.config.memtx_max_tuple_size);
    this.catalog.onSpacesChanged = () => {
      this.spaceObject = undefined;
    };
    this.txns = new TxnManager(() => this.journal);
    this.writes = new WritePath({
      catalog: this.catalog,
      txns: this.txns,
      stats: this.stats,
      config: () => this.config,
      stopping: () => this.status === 'closing' || this.status === 'closed',
      readOnly: () => this.readOnly,
      journal: () => this.journal,
    });
    this.daemon = new CheckpointDaemon({
      fs,
      hasher,
      logger,
      memtxDir: this.memtxDir,
      walDir: this.walDir,
      catalog: this.catalog,
      txns: this.txns,
      writes: this.writes,
      gcConsumers: this.gcConsumers,
      config: () => this.config,
      journal: () => this.journal,
      instanceUuid: () => this.instanceUuid,
      status: () => this.status,
      onProgress: runtime.onProgress,
    });
    this.schema = new SchemaApi(this);
    this.replicaGc = new ReplicaGc(this.gcConsumers, fs, this.walDir, logger);
    this.replicationPorts = new BoxReplicationPorts(this);
    this.replicaSet = new ReplicaSet(this, replicationLogger(logger));
    this.catalog.onClusterMemberAdded = (id, uuid) => {
      // As 2.6: at bootstrap, on a master registering a replica, on a replica loading a join,
      // and while recovering local files.
      this.logger.info(`assigned id ${id} to replica ${uuid}`);
    };
    this.catalog.onClusterMemberRemoved = (uuid) => {
      this.replicaGc.drop(uuid);
      void this.replicaSet.memberRemoved(uuid);
    };
  }

  /** Starts an instance: validates `options`, then recovers or bootstraps its directories. */
  static async cfg(
    options: Readonly<Record<string, unknown>> = {},
    runtime: BoxRuntime = {},
    /** @internal Which attempt at a JOIN this is (a broken JOIN starts a fresh Box). */
    joinAttempt = 1,
  ): Promise<Box> {
    const config = applyCfg(options, CFG_DEFAULTS, false);
    const logger = runtime.logger ?? silentLogger;
    for (const name of unsupportedOptionsIn(options))
      logger.warn(`box.cfg option '${name}' has no effect in tarantype`);
    const box = new Box(
      config,
      runtime.fs ?? new NodeFileSystem(),
      logger,
      await loadHasher(),
      runtime,
    );
    try {
      if (runtime.beforeStart !== undefined) {
        // A listening instance greets with its uuid from the first connection on: the one its
        // snapshot records (a restart: peers must not see a stand-in while recovery or the
        // rebootstrap check runs), else a fresh one's (configured or new).
        await box.fs.mkdir(box.memtxDir);
        box.instanceUuid =
          (await recordedInstanceUuid(box.fs, box.memtxDir, box.hasher)) ??
          config.instance_uuid ??
          newUuid();
        await runtime.beforeStart(box);
      }
      await box.start();
    } catch (error) {
      await box.replicaSet.close();
      box.lock?.release();
      if (error instanceof JoinBroken && joinAttempt < JOIN_ATTEMPTS_MAX) {
        // Beyond 2.6 (which exits, gh-6126; 2.11 retries): the connection broke before anything
        // of the JOIN was saved, so this Box's memory is dropped and a fresh one joins again,
        // with the same uuid (the master may have registered it already).
        logger.warn(
          `the JOIN broke before its data was saved (${error.cause.message}): joining again from scratch in ${config.replication_timeout} s`,
        );
        await new Promise((resolve) => setTimeout(resolve, config.replication_timeout * 1000));
        return Box.cfg({ ...options, instance_uuid: error.instanceUuid }, runtime, joinAttempt + 1);
      }
      if (error instanceof JoinBroken) throw error.cause;
      if (!(error instanceof RebootstrapNeeded)) throw error;
      // Too old for every source and no rows of its own: a fresh JOIN with the same uuid.
      await moveAside(box.fs, [box.walDir, box.memtxDir], logger);
      return Box.cfg({ ...options, instance_uuid: error.instanceUuid }, runtime);
    }
    // As 2.6's first box.cfg: returns once the upstreams are connected and synced (or the
    // instance became an orphan waiting for them).
    if (config.replication.length > 0 && runtime.waitForReplication !== false)
      await box.replicaSet.configure(config.replication);
    return box;
  }

  /** BoxRuntime.onProgress: where long work reports its progress (progress.ts). */
  get onProgress(): ProgressSink | undefined {
    return this.runtime.onProgress;
  }

  /** The effective configuration (Tarantool's box.cfg table). */
  get cfgValues(): Readonly<BoxConfig> {
    return this.config;
  }

  /** box.cfg{...} after start: dynamic options only (ER_RELOAD_CFG for static ones). */
  async cfg(options: Readonly<Record<string, unknown>>): Promise<void> {
    const next = applyCfg(options, this.config, true);
    for (const name of unsupportedOptionsIn(options))
      this.logger.warn(`box.cfg option '${name}' has no effect in tarantype`);
    const previous = this.config;
    this.config = next;
    for (const name of Object.keys(options)) {
      const key = name as keyof BoxConfig;
      if (JSON.stringify(previous[key]) === JSON.stringify(next[key])) continue;
      this.logger.info(`set '${name}' configuration option to ${cfgValueText(key, next[key])}`);
    }
    if (next.checkpoint_interval !== previous.checkpoint_interval) this.daemon.schedule();
    if (next.memtx_memory !== previous.memtx_memory) this.writes.memoryLimitChanged();
    if (previous.read_only && !next.read_only) this.wakeWritableWaiters();
    if (!sameList(previous.replication, next.replication))
      await this.replicaSet.configure(next.replication);
  }

  /** The replica set's state changed (orphan left or entered): wake waiters for writability. */
  replicationStateChanged(): void {
    if (!this.readOnly) this.wakeWritableWaiters();
  }

  private dir(path: string): string {
    return resolvePath(this.config.work_dir ?? '.', path);
  }

  get walDir(): string {
    return this.dir(this.config.wal_dir);
  }

  get memtxDir(): string {
    return this.dir(this.config.memtx_dir);
  }

  private async start(): Promise<void> {
    await this.fs.mkdir(this.walDir);
    await this.fs.mkdir(this.memtxDir);
    this.lock = DirLock.acquire(this.walDir);
    await this.checkRebootstrap();
    const recovered = await recover({
      fs: this.fs,
      walDir: this.walDir,
      memtxDir: this.memtxDir,
      hasher: this.hasher,
      forceRecovery: this.config.force_recovery,
      logger: this.logger,
      onProgress: this.runtime.onProgress,
      target: {
        // The snapshot reader walked each tuple whole (SnapshotRow.tuple): memtx need not.
        loadSnapshotRow: (spaceId, bytes, start, end) =>
          this.loadSnapshotTuple(spaceId, bytes, start, end, true),
        snapshotLoaded: () => this.endBulkLoads(),
        applyRow: (row) => this.replayRow(row),
        replayed: () => this.endBulkLoads(),
      },
    });
    let vclock: Vclock;
    let prevVclock: Vclock | undefined;
    const join =
      this.runtime.join ??
      (this.config.replication.length > 0
        ? (target: BootstrapTarget) => this.replicaSet.join(target, this.config.replication)
        : undefined);
    if (recovered === undefined && join !== undefined) {
      // The bootstrap leader of a fresh replica set may be this instance (replica-set.ts).
      vclock = (await this.joinReplicaSet(join)) ?? (await this.bootstrap());
    } else if (recovered === undefined) {
      vclock = await this.bootstrap();
    } else {
      vclock = recovered.vclock;
      prevVclock = recovered.lastXlogVclock;
      this.instanceUuid = recovered.instanceUuid ?? newUuid();
      if (
        this.config.instance_uuid !== undefined &&
        this.config.instance_uuid !== this.instanceUuid
      ) {
        throw new ClientError(
          ErrorCode.ER_INSTANCE_UUID_MISMATCH,
          this.config.instance_uuid,
          this.instanceUuid,
        );
      }
      this.daemon.checkpoints = await this.daemon.scanCheckpoints();
      this.logger.info(
        `recovered ${recovered.snapshotRows + recovered.xlogRows} rows in ${(recovered.elapsedMs / 1000).toFixed(3)} s`,
      );
    }
    if (this.journal === undefined) this.openJournal(vclock, prevVclock);
    await this.replicaGc.load();
    const members = new Set(this.catalog.cluster.values());
    for (const uuid of this.replicaGc.uuids()) if (!members.has(uuid)) this.replicaGc.drop(uuid);
    this.logger.info(`instance uuid ${this.instanceUuid}`);
    this.logger.info(`replicaset uuid ${this.catalog.replicasetUuid}`);
    this.status = 'running';
    this.daemon.schedule();
  }

  /**
   * Before local recovery: throws RebootstrapNeeded when no replication source keeps the
   * xlogs this instance needs and it has no rows of its own (rebootstrap.ts, reference §7f).
   */
  private async checkRebootstrap(): Promise<void> {
    if (this.runtime.join !== undefined || this.config.replication.length === 0) return;
    const local = await scanLocalState(this.fs, this.walDir, this.memtxDir, this.hasher);
    if (local === undefined) return;
    const log = replicationLogger(this.logger as ComponentLogger);
    const source = await rejoinSource(
      local.vclock,
      this.config.replication,
      this.config.replication_connect_timeout * 1000,
      (level, text) => log(level, 'main', text),
    );
    if (source !== undefined) throw new RebootstrapNeeded(local.instanceUuid);
  }

  /** Opens the WAL at `vclock`: the instance's id is its row in `_cluster` (0 if none). */
  private openJournal(vclock: Vclock, prevVclock: Vclock | undefined): void {
    this.instanceId =
      [...this.catalog.cluster].find(([, uuid]) => uuid === this.instanceUuid)?.[0] ?? 0;
    this.daemon.lastCheckpointVclock = this.daemon.checkpoints.at(-1)?.vclock;
    this.journal = new Journal({
      fs: this.fs,
      dir: this.walDir,
      hasher: this.hasher,
      instanceUuid: this.instanceUuid,
      instanceId: this.instanceId,
      vclock,
      ...(prevVclock === undefined ? {} : { prevVclock }),
      mode: this.config.wal_mode,
      maxSizeBytes: this.config.wal_max_size,
      queueMaxSizeBytes: this.config.wal_queue_max_size,
      tooLongThresholdMs: this.config.too_long_threshold * 1000,
      logger: this.logger,
      onNoSpace: () => this.freeWalSpace(),
    });
  }

  /**
   * An empty directory and a replica set to join: `join` fills the instance through a
   * BootstrapTarget (the master's initial data, then its final rows), then the instance writes
   * a snapshot at the join's vclock, as 2.6 does after "final data received".
   */
  private async joinReplicaSet(join: NonNullable<BoxRuntime['join']>): Promise<Vclock | undefined> {
    if (this.instanceUuid === '') this.instanceUuid = this.config.instance_uuid ?? newUuid();
    let joined: Vclock | undefined;
    /** finish() began: a snapshot of the JOIN may be on its way to disk, no retry. */
    let finishing = false;
    /** This instance refused the master's data (not retried: it would refuse it again). */
    let refusedHere = false;
    const progress = new JoinProgress(this.runtime.onProgress, this.config.replication);
    const target: BootstrapTarget = {
      loadInitial: (rows) => {
        progress.initial(rows);
        for (const row of rows) {
          let spaceId: number | undefined;
          try {
            // A row the codec refuses (no tuple, a mistyped field) is refused here too.
            const body = decodeRowBody(row.type, row.body, this.replayBody);
            spaceId = body.spaceId;
            const tuple = body.tuple!;
            this.loadSnapshotTuple(spaceId, tuple, 0, tuple.length, false);
          } catch (error) {
            refusedHere = true;
            const where = spaceId === undefined ? '' : ` (space id ${spaceId})`;
            throw refusedIn(error, `a row of the initial join${where}`);
          }
        }
      },
      initialLoaded: async () => {
        try {
          this.endBulkLoads();
        } catch (error) {
          refusedHere = true;
          throw refusedIn(error, 'the initial join (building indexes)');
        }
        progress.initialLoaded();
      },
      applyFinal: async (rows) => {
        progress.final(rows);
        for (const row of rows)
          try {
            this.applyRow(row);
          } catch (error) {
            refusedHere = true;
            throw refusedIn(error, `a row from replica ${row.replica_id} lsn ${row.lsn}`);
          }
      },
      // The snapshot and the WAL are in place when finish() resolves: the applier SUBSCRIBEs
      // right after it, from the sink's vclock.
      finish: async (vclock) => {
        finishing = true;
        if (this.catalog.replicasetUuid === undefined)
          throw new SystemError('the master sent no replica set uuid (_schema.cluster)');
        progress.finish('done');
        const result = await this.daemon.writeSnapshot(this.daemon.snapshotSource(vclock));
        this.daemon.checkpoints = [{ vclock: result.vclock, signature: result.vclock.signature() }];
        joined = vclock.copy();
        this.openJournal(joined, undefined);
      },
    };
    try {
      if ((await join(target, this.instanceUuid)) === 'bootstrap') return undefined;
    } catch (error) {
      // The connection broke or the master failed (it died, restarted, lost its disk) while
      // only memory held the JOIN's data: Box.cfg retries it with a fresh Box.
      const code = (error as Partial<TarantoolError>).code;
      if (!finishing && !refusedHere && code !== undefined && JOIN_RETRY_CODES.has(code))
        throw new JoinBroken(this.instanceUuid, error as TarantoolError);
      throw error;
    } finally {
      progress.finish('failed');
    }
    if (joined === undefined) throw new SystemError('the join ended without its final vclock');
    return joined;
  }

  /** An empty directory: system spaces, built-in users, UUIDs, and snapshot 0. */
  private async bootstrap(): Promise<Vclock> {
    this.logger.info('initializing an empty data directory');
    // Kept when a join picked this instance as the bootstrap leader: its peers saw this uuid.
    if (this.instanceUuid === '') this.instanceUuid = this.config.instance_uuid ?? newUuid();
    const replicasetUuid = this.config.replicaset_uuid ?? newUuid();
    const rows: Array<[number, readonly unknown[]]> = [
      [SystemSpace.SCHEMA, SCHEMA_VERSION_ROW],
      [SystemSpace.SCHEMA, SYSTEM_ID_MAX_ROW],
      [SystemSpace.SCHEMA, ['cluster', replicasetUuid]],
      ...SYSTEM_SPACE_ROWS.map((row) => [SystemSpace.SPACE, row] as [number, readonly unknown[]]),
      ...SYSTEM_INDEX_ROWS.map((row) => [SystemSpace.INDEX, row] as [number, readonly unknown[]]),
      ...BOOTSTRAP_USER_ROWS.map((row) => [SystemSpace.USER, row] as [number, readonly unknown[]]),
      ...BOOTSTRAP_PRIV_ROWS.map((row) => [SystemSpace.PRIV, row] as [number, readonly unknown[]]),
      ...BOOTSTRAP_FUNC_ROWS.map((row) => [SystemSpace.FUNC, row] as [number, readonly unknown[]]),
      [SystemSpace.CLUSTER, [1, this.instanceUuid]],
    ];
    for (const [spaceId, tuple] of rows) this.applyUnlogged(spaceId, { kind: 'replace', tuple });
    const vclock = new Vclock();
    const result = await this.daemon.writeSnapshot(this.daemon.snapshotSource(vclock));
    this.daemon.checkpoints = [{ vclock: result.vclock, signature: result.vclock.signature() }];
    return vclock;
  }

  /**
   * A tuple of a snapshot (local recovery or a join's initial data). An empty user space is
   * bulk loaded: its tuples are stored as they come and its indexes built once, at
   * endBulkLoads() (memtx Space.beginBulkLoad), as Tarantool builds them after the snapshot.
   * A system row first ends every bulk load, so the catalog never alters a space whose
   * indexes are not built yet. The tuple is `bytes[start, end)`; `wellFormed`: its
   * MessagePack was walked whole already (memtx Space.loadAt), as the snapshot reader does.
   */
  private loadSnapshotTuple(
    spaceId: number,
    bytes: Uint8Array,
    start: number,
    end: number,
    wellFormed: boolean,
  ): void {
    const memtx = spaceId > SYSTEM_ID_MAX ? this.catalog.space(spaceId)?.memtx : undefined;
    if (memtx === undefined) {
      if (this.bulkLoading.size > 0) this.endBulkLoads();
      this.applyUnlogged(spaceId, { kind: 'replace', tuple: bytes.subarray(start, end) });
      return;
    }
    if (!memtx.bulkLoading && memtx.len() === 0) {
      memtx.beginBulkLoad();
      this.bulkLoading.add(memtx);
    }
    if (wellFormed) memtx.loadAt(bytes, start, end, 'replace');
    else memtx.load(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end));
  }

  /** Builds the indexes of every space bulk loaded since the last call. */
  private endBulkLoads(): void {
    const spaces = [...this.bulkLoading];
    this.bulkLoading.clear();
    for (const space of spaces) space.endBulkLoad();
  }

  /** Recovery and bootstrap: apply and commit at once, no WAL row, nothing kept for undo. */
  private applyUnlogged(spaceId: number, op: Operation): void {
    const entry = this.catalog.space(spaceId);
    if (entry === undefined) throw new ClientError(ErrorCode.ER_NO_SUCH_SPACE, String(spaceId));
    // User-space INSERT/REPLACE (snapshot rows, replayed rows): straight into memtx, no
    // statement (nothing to undo at startup). System spaces go through the executor so the
    // catalog sees them; before_replace/on_replace triggers are not set at startup.
    if (
      (op.kind === 'replace' || op.kind === 'insert') &&
      entry.def.id > SYSTEM_ID_MAX &&
      entry.memtx !== undefined
    ) {
      entry.memtx.load(op.tuple, op.kind);
      return;
    }
    applyOperation(this.catalog, entry, op, false).undo?.release();
  }

  /**
   * A row of the local xlogs. Inserts into a user space that was empty bulk load it while
   * their primary keys ascend (memtx Space.loadAscending): the usual shape of rows written
   * after the last checkpoint into a new or empty space, whose indexes are then built once
   * (endBulkLoads, at the end of the replay) instead of one B+ tree insertion per row. Any
   * other row first ends every bulk load, so a delete, an update or DDL sees built indexes.
   */
  private replayRow(slot: XrowInPlace): void {
    const type = slot.header.type;
    if (type === IprotoType.NOP) return;
    // One body object for the whole replay, decoded in place: what is kept of a row is its
    // tuple's bytes, copied by memtx from the block (no Xrow, body or tuple view per row; the
    // body was skipped whole by the cursor, so memtx does not walk the tuple again).
    const body = decodeRowBodyAt(
      type,
      slot.bytes,
      slot.bodyStart,
      slot.bodyEnd,
      this.replayRangeBody,
    );
    if (
      (type === IprotoType.INSERT || type === IprotoType.REPLACE) &&
      body.spaceId > SYSTEM_ID_MAX
    ) {
      const memtx = this.catalog.space(body.spaceId)?.memtx;
      if (memtx !== undefined) {
        const { source, tupleStart, tupleEnd } = body;
        if (!memtx.bulkLoading && memtx.len() === 0 && memtx.loadsAscending) {
          memtx.beginBulkLoad();
          this.bulkLoading.add(memtx);
        }
        if (memtx.bulkLoading) {
          if (memtx.loadAscendingAt(source, tupleStart, tupleEnd)) return;
          this.bulkLoading.delete(memtx);
          memtx.endBulkLoad();
        }
        memtx.loadAt(
          source,
          tupleStart,
          tupleEnd,
          type === IprotoType.INSERT ? 'insert' : 'replace',
        );
        return;
      }
    }
    if (this.bulkLoading.size > 0) this.endBulkLoads();
    body.tupleView();
    this.applyUnlogged(body.spaceId, operationOf(type, body));
  }

  /** Applies one logged request during recovery. */
  private applyRow(row: Xrow): void {
    if (row.type === IprotoType.NOP) return;
    const body = decodeRowBody(row.type, row.body, this.replayBody);
    this.applyUnlogged(body.spaceId, operationOf(row.type, body));
  }

  // {{{ statements

  /** The read-only state (box.info.ro). */
  get readOnly(): boolean {
    return this.config.read_only || this.status !== 'running' || this.replicaSet.isOrphan;
  }

  /**
   * Runs a data-changing operation as `userId`; resolves once durable with what `extract`
   * took from the statement while it was applied (see WritePath.write).
   */
  write(userId: number, spaceId: number, op: Operation, stat: StatName): Promise<void>;
  write<T>(
    userId: number,
    spaceId: number,
    op: Operation,
    stat: StatName,
    extract: (statement: Statement, op: Operation) => T,
  ): Promise<T | undefined>;
  write<T>(
    userId: number,
    spaceId: number,
    op: Operation,
    stat: StatName,
    extract?: (statement: Statement, op: Operation) => T,
  ): Promise<T | undefined> {
    return this.writes.write(userId, spaceId, op, stat, extract);
  }

  /** Bytes of tuples and indexes in every memtx space (what memtx_memory bounds). */
  memoryUsedBytes(): number {
    return this.writes.memoryUsedBytes();
  }

  checkWrite(userId: number, entry: SpaceEntry): void {
    this.writes.checkWrite(userId, entry);
  }

  checkRead(userId: number, entry: SpaceEntry): void {
    if (userId === UserId.ADMIN || SYSVIEW_BASE.has(entry.def.id)) return;
    this.catalog.access.check(
      userId,
      Privilege.READ,
      'space',
      entry.def.id,
      entry.def.name,
      entry.def.owner,
    );
  }

  /** SELECT as `userId`, raw tuples (sysviews filtered per user). */
  selectRaw(
    userId: number,
    spaceId: number,
    index: number | string,
    key: KeyInput,
    options: SelectOptions,
  ): Uint8Array[] {
    const tuples = this.scanRaw(userId, spaceId, index, key, options);
    if (Array.isArray(tuples)) return tuples;
    const copies: Uint8Array[] = [];
    tuples((bytes, start, end) => copies.push(bytes.slice(start, end)));
    return copies;
  }

  /**
   * selectRaw for a reply written at once (the iproto SELECT): checks everything now and
   * returns the scan that visits each tuple in place, to run before the next write, so its
   * bytes are copied once, into the reply. A system view's rows (filtered per user) come as
   * copies. @internal
   */
  scanRaw(
    userId: number,
    spaceId: number,
    index: number | string,
    key: KeyInput,
    options: SelectOptions,
  ): Uint8Array[] | ((visit: (bytes: Uint8Array, start: number, end: number) => void) => number) {
    this.stats.count('SELECT');
    const entry = this.catalog.spaceOrThrow(spaceId);
    this.checkRead(userId, entry);
    const base = SYSVIEW_BASE.get(entry.def.id);
    if (base === undefined) return storageOf(entry).findIndex(index).scanRaw(key, options);
    return this.selectSysview(userId, base, index, key, options);
  }

  private selectSysview(
    userId: number,
    base: number,
    index: number | string,
    key: KeyInput,
    options: SelectOptions,
  ): Uint8Array[] {
    const view = this.catalog.spaceOrThrow(base);
    const limit = options.limit ?? 0xffffffff;
    const offset = options.offset ?? 0;
    const rows = storageOf(view)
      .findIndex(index)
      .selectRaw(key, { ...options, limit: 0xffffffff, offset: 0 });
    return rows
      .filter((tuple) => sysviewVisible(this.catalog, userId, base, tuple))
      .slice(offset, offset + limit);
  }

  // }}}
  // {{{ transactions

  begin(): void {
    this.txns.begin();
  }

  commit(): Promise<void> {
    return this.txns.commit();
  }

  rollback(): void {
    this.txns.rollback();
  }

  /** Runs `fn` as one transaction: one WAL entry, all or nothing. */
  atomic<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.txns.atomic(fn);
  }

  // }}}
  // {{{ spaces

  /** box.space: handles by name (rebuilt after DDL). */
  get space(): Readonly<Record<string, BoxSpace>> {
    if (this.spaceObject === undefined) {
      const object: Record<string, BoxSpace> = Object.create(null);
      const handles = new Map<SpaceEntry, BoxSpace>();
      for (const entry of this.catalog.byId.values()) {
        const handle = this.spaceHandles.get(entry) ?? new BoxSpace(this, entry, UserId.ADMIN);
        handles.set(entry, handle);
        object[entry.def.name] = handle;
      }
      this.spaceHandles = handles;
      this.spaceObject = object;
    }
    return this.spaceObject;
  }

  /** A space handle by id or name that checks `userId`'s privileges (sessions). */
  spaceAs(userId: number, idOrName: number | string): BoxSpace {
    return new BoxSpace(this, this.catalog.spaceOrThrow(idOrName), userId);
  }

  // }}}
  // {{{ box.once

  /**
   * box.once(key, fn): runs fn once per database (guard 'once<key>' in _schema, written before
   * fn runs). On a read-only instance it waits until the instance is writable.
   */
  async once<T>(
    key: string,
    fn: (...args: unknown[]) => T | Promise<T>,
    ...args: unknown[]
  ): Promise<T | undefined> {
    if (typeof key !== 'string' || typeof fn !== 'function')
      throw new ClientError(ErrorCode.ER_ILLEGAL_PARAMS, 'Usage: box.once(key, func, ...)');
    const guard = `once${key}`;
    const schema = this.catalog.spaceOrThrow(SystemSpace.SCHEMA);
    if (storageOf(schema).get([guard]) !== undefined) return undefined;
    while (this.readOnly) {
      if (this.status === 'closing' || this.status === 'closed')
        throw new SystemError('the instance is shutting down');
      await new Promise<void>((resolve) => this.writableWaiters.push(resolve));
    }
    if (storageOf(schema).get([guard]) !== undefined) return undefined;
    try {
      await this.write(
        UserId.ADMIN,
        SystemSpace.SCHEMA,
        { kind: 'insert', tuple: [guard] },
        'INSERT',
      );
    } catch (error) {
      // Another caller wrote the guard first (both waited for the same lock): it runs fn.
      if ((error as ClientError).code === ErrorCode.ER_TUPLE_FOUND) return undefined;
      throw error;
    }
    return fn(...args);
  }

  private wakeWritableWaiters(): void {
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const wake of waiters) wake();
  }

  // }}}
  // {{{ checkpoints
  /** box.snapshot(): a checkpoint (see CheckpointDaemon.snapshot). */
  snapshot(): Promise<void> {
    return this.daemon.snapshot();
  }

  /** Keeps checkpoint_count snapshots and removes xlogs no kept checkpoint needs. */
  collectGarbage(): Promise<void> {
    return this.daemon.collectGarbage();
  }

  /** Re-runs WAL GC (after a consumer advanced or left). */
  collectWalGarbageNow(): Promise<number> {
    return this.daemon.collectWalGarbage();
  }

  /**
   * The WAL is out of space (RELIABILITY.md #5; 2.6 logs "ran out of disk space, try to delete
   * old WAL files"). Frees, in this order, what is not needed: xlogs no kept checkpoint and no
   * consumer needs; snapshots older than the newest (recovery needs only that one) and their
   * xlogs; then replicas' consumers, oldest first (loudly, with what each held), so a dead
   * replica cannot fill the disk. True when something was removed (the journal retries the
   * write once). When nothing more can go, says what holds the WAL and returns false (the
   * batch fails with ER_WAL_IO; the instance keeps serving).
   */
  private async freeWalSpace(): Promise<boolean> {
    this.logger.warn('ran out of disk space, try to delete old WAL files');
    if ((await this.daemon.collectWalGarbage()) > 0) return true;
    if ((await this.daemon.keepNewestCheckpointOnly()) > 0) return true;
    for (;;) {
      const held = await walHeld(this, this.gcConsumers.list());
      const dropped = this.replicaGc.dropOldest((name) => {
        const h = held.holders.find((holder) => holder.name === name);
        return h === undefined ? '' : `, which held ${h.files} xlog(s), ${h.bytes} bytes`;
      });
      if (dropped === undefined) break;
      if ((await this.daemon.collectWalGarbage()) > 0) return true;
    }
    this.logger.error(`disk is full and no WAL can be freed: ${await this.describeWalHolders()}`);
    return false;
  }

  /** "wal_dir holds 3 xlog(s), 9000 bytes: recovery from the checkpoint at {1: 40} needs 2 …". */
  private async describeWalHolders(): Promise<string> {
    const newest = this.daemon.checkpoints.at(-1)?.vclock;
    const held = await walHeld(this, [
      ...(newest === undefined
        ? []
        : [{ name: 'recovery from the newest checkpoint', vclock: newest }]),
      ...this.gcConsumers.list(),
    ]);
    const parts = held.holders.map(
      (h) => `${h.name} at ${h.vclock.toString()} needs ${h.files} xlog(s), ${h.bytes} bytes`,
    );
    return `${this.walDir} holds ${held.files} xlog(s), ${held.bytes} bytes${parts.length === 0 ? '' : `: ${parts.join('; ')}`}`;
  }

  /** Checkpoints kept on disk, oldest first. */
  get checkpoints(): readonly CheckpointInfo[] {
    return this.daemon.checkpoints;
  }

  get checkpointInProgress(): boolean {
    return this.daemon.checkpointInProgress;
  }

  // }}}
  // {{{ info

  /** box.info() with Tarantool's field names (box-info.ts). */
  info(): Record<string, unknown> {
    return boxInfo(this);
  }

  /** box.info.memory(). */
  infoMemory(): Record<string, number> {
    return boxInfoMemory(this);
  }

  /** box.info.gc(). */
  infoGc(): Record<string, unknown> {
    return boxInfoGc(this);
  }

  /** box.stat(): request counters with rps over the last 5 s. */
  stat(): Record<string, { total: number; rps: number }> {
    return this.stats.snapshot();
  }

  /** Reflects the server's listen address into box.info/box.cfg (set by the server). */
  setListen(address: string | undefined): void {
    this.config = { ...this.config, listen: address };
  }

  // }}}

  /** Stops: refuses new writes, writes what is queued, closes the xlog cleanly, unlocks. */
  async close(): Promise<void> {
    if (this.status === 'closed' || this.status === 'closing') return;
    this.status = 'closing';
    await this.replicaSet.close();
    this.daemon.stop();
    this.wakeWritableWaiters();
    this.stats.stop();
    await this.journal?.close();
    await this.replicaGc.flush();
    this.lock?.release();
    this.status = 'closed';
  }
}

/**
 * JOINs Box.cfg starts when the previous one broke before its data was saved (the master died
 * mid-JOIN): a master that keeps dying is given up on, with the last error, after this many.
 */
const JOIN_ATTEMPTS_MAX = 10;

/**
 * Errors of a JOIN that a later JOIN may not meet: the connection broke (ER_SYSTEM), the
 * master's WAL failed registering the replica (ER_WAL_IO), the master failed with an
 * unexpected error reading its files (ER_PROC_LUA, how its server reports one). Refusals that
 * would come again (access, wal_mode none, ER_REPLICA_MAX, a foreign replica set) are not here.
 */
const JOIN_RETRY_CODES: ReadonlySet<number> = new Set([
  ErrorCode.ER_SYSTEM,
  ErrorCode.ER_WAL_IO,
  ErrorCode.ER_PROC_LUA,
]);

/** A JOIN whose connection broke before finish(): nothing durable yet, Box.cfg joins again. */
class JoinBroken extends Error {
  constructor(
    readonly instanceUuid: string,
    override readonly cause: TarantoolError,
  ) {
    super(`the JOIN broke: ${cause.message}`);
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

/**
 * A box.cfg value as 2.6 logs it ("set 'replication' configuration option to
 * [\"replicator@127.0.0.1:3301\"]"): JSON, with passwords of replication URIs left out.
 */
function cfgValueText(name: keyof BoxConfig, value: unknown): string {
  if (name === 'replication' && Array.isArray(value))
    return JSON.stringify(value.map((uri: string) => uri.replace(/^([^@:]+):[^@]*@/, '$1@')));
  return JSON.stringify(value) ?? 'nil';
}

/**
 * The receiving side of a JOIN as two 'join' tasks: the initial data, then the final rows.
 * 2.6's JOIN announces no row count, so both are rows and bytes (of the row bodies) with no
 * total. Each starts at its first rows: a join that picks this instance as the bootstrap
 * leader reports nothing.
 */
class JoinProgress {
  private reporter: ProgressReporter | undefined;
  private rows = 0;
  private bytes = 0;
  private readonly from: string;

  constructor(
    private readonly sink: ProgressSink | undefined,
    uris: readonly string[],
  ) {
    // Passwords stay out of the bars and logs: "user:secret@host:3301" shows as "user@host:3301".
    this.from = uris.map((uri) => uri.replace(/^([^:@/]+):[^@]*@/, '$1@')).join(', ');
  }

  initial(rows: readonly Xrow[]): void {
    if (this.sink === undefined) return;
    this.reporter ??= this.begin('initial data');
    this.count(rows);
  }

  initialLoaded(): void {
    this.finish('done');
  }

  final(rows: readonly Xrow[]): void {
    if (this.sink === undefined) return;
    this.reporter ??= this.begin('final data');
    this.count(rows);
  }

  finish(outcome: 'done' | 'failed'): void {
    this.reporter?.finish(outcome);
    this.reporter = undefined;
  }

  private begin(what: string): ProgressReporter | undefined {
    this.rows = 0;
    this.bytes = 0;
    return ProgressReporter.start(this.sink, {
      task: 'join',
      detail: `${what} from ${this.from}`,
      unit: 'rows',
    });
  }

  private count(rows: readonly Xrow[]): void {
    this.rows += rows.length;
    for (const row of rows) this.bytes += row.body.length;
    this.reporter?.update(this.rows, this.bytes);
  }
}
