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
  ErrorCode,
  encode,
  type Hasher,
  IprotoType,
  loadHasher,
  newUuid,
  Privilege,
  SYSTEM_ID_MAX,
  SystemError,
  SystemSpace,
  TARANTOOL_VERSION,
  UserId,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import type { KeyInput, SelectOptions, Statement } from '@tarantype/memtx';
import { SnapshotDir, type SnapshotSource, writeSnapshot } from '@tarantype/snapshot';
import {
  type FileSystem,
  Journal,
  type Logger,
  NodeFileSystem,
  silentLogger,
  XlogDir,
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
import { BoxSpace } from './box-space.js';
import { Catalog, type SpaceEntry, SYSVIEW_BASE } from './catalog.js';
import { applyCfg, type BoxConfig, CFG_DEFAULTS, unsupportedOptionsIn } from './cfg.js';
import { DirLock } from './dir-lock.js';
import { applyOperation, type Operation, storageOf } from './executor.js';
import { GcConsumers } from './gc-consumers.js';
import { recover } from './recovery.js';
import { decodeRequestBody } from './request-body.js';
import { SchemaApi } from './schema-api.js';
import { BoxStat, type StatName } from './stat.js';
import { sysviewVisible } from './sysview.js';
import { TxnManager } from './txn.js';

export type BoxStatus = 'loading' | 'running' | 'closing' | 'closed';

export interface BoxRuntime {
  /** File system port (tests inject faults). Default: the real one. */
  readonly fs?: FileSystem;
  readonly logger?: Logger;
}

export interface CheckpointInfo {
  readonly vclock: Vclock;
  readonly signature: number;
}

const TARANTYPE_VERSION = `${TARANTOOL_VERSION}-0-tarantype`;
/** Writes between two recomputations of memory use for memtx_memory (a sum over spaces). */
const MEMORY_CHECK_INTERVAL = 128;

export class Box {
  status: BoxStatus = 'loading';
  readonly catalog: Catalog;
  readonly txns: TxnManager;
  readonly schema: SchemaApi;
  readonly stats = new BoxStat();
  /** WAL GC consumers (relays, later): their rows are kept whatever checkpoint_count says. */
  readonly gcConsumers = new GcConsumers();
  instanceUuid = '';
  instanceId = 0;
  journal!: Journal;
  readonly startedAt = Date.now();
  /** Checkpoints kept on disk, oldest first. */
  checkpoints: CheckpointInfo[] = [];
  checkpointInProgress = false;

  private config: BoxConfig;
  private spaceHandles = new Map<SpaceEntry, BoxSpace>();
  private spaceObject: Record<string, BoxSpace> | undefined;
  private barrier: Promise<void> | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private lock: DirLock | undefined;
  private writableWaiters: Array<() => void> = [];
  private lastCheckpointVclock: Vclock | undefined;
  private writesSinceMemoryCheck = 0;
  private memoryFull = false;

  private constructor(
    config: BoxConfig,
    readonly fs: FileSystem,
    readonly logger: Logger,
    readonly hasher: Hasher,
  ) {
    this.config = config;
    this.catalog = new Catalog(() => this.config.memtx_max_tuple_size);
    this.catalog.onSpacesChanged = () => {
      this.spaceObject = undefined;
    };
    this.txns = new TxnManager(() => this.journal);
    this.schema = new SchemaApi(this);
  }

  /** Starts an instance: validates `options`, then recovers or bootstraps its directories. */
  static async cfg(
    options: Readonly<Record<string, unknown>> = {},
    runtime: BoxRuntime = {},
  ): Promise<Box> {
    const config = applyCfg(options, CFG_DEFAULTS, false);
    const logger = runtime.logger ?? silentLogger;
    for (const name of unsupportedOptionsIn(options))
      logger.warn(`box.cfg option '${name}' has no effect in tarantype`);
    const box = new Box(config, runtime.fs ?? new NodeFileSystem(), logger, await loadHasher());
    try {
      await box.start();
    } catch (error) {
      box.lock?.release();
      throw error;
    }
    return box;
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
    if (next.checkpoint_interval !== previous.checkpoint_interval) this.scheduleCheckpoints();
    if (next.memtx_memory !== previous.memtx_memory) this.memoryFull = false;
    if (previous.read_only && !next.read_only) this.wakeWritableWaiters();
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
    const recovered = await recover({
      fs: this.fs,
      walDir: this.walDir,
      memtxDir: this.memtxDir,
      hasher: this.hasher,
      forceRecovery: this.config.force_recovery,
      logger: this.logger,
      target: {
        loadSnapshotRow: (spaceId, tuple) =>
          this.applyUnlogged(spaceId, { kind: 'replace', tuple }),
        applyRow: (row) => this.applyRow(row),
      },
    });
    let vclock: Vclock;
    let prevVclock: Vclock | undefined;
    if (recovered === undefined) {
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
      this.checkpoints = await this.scanCheckpoints();
      this.logger.info(
        `recovered ${recovered.snapshotRows + recovered.xlogRows} rows in ${(recovered.elapsedMs / 1000).toFixed(3)} s`,
      );
    }
    this.instanceId =
      [...this.catalog.cluster].find(([, uuid]) => uuid === this.instanceUuid)?.[0] ?? 0;
    this.lastCheckpointVclock = this.checkpoints.at(-1)?.vclock;
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
      onNoSpace: () => this.collectWalGarbage().then((removed) => removed > 0),
    });
    this.logger.info(`instance uuid ${this.instanceUuid}`);
    this.logger.info(`replicaset uuid ${this.catalog.replicasetUuid}`);
    this.status = 'running';
    this.scheduleCheckpoints();
  }

  /** An empty directory: system spaces, built-in users, UUIDs, and snapshot 0. */
  private async bootstrap(): Promise<Vclock> {
    this.logger.info('initializing an empty data directory');
    this.instanceUuid = this.config.instance_uuid ?? newUuid();
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
    const result = await writeSnapshot({
      fs: this.fs,
      dir: this.memtxDir,
      hasher: this.hasher,
      instanceUuid: this.instanceUuid,
      source: this.snapshotSource(vclock),
      logger: this.logger,
    });
    this.checkpoints = [{ vclock: result.vclock, signature: result.vclock.signature() }];
    return vclock;
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

  /** Applies one logged request during recovery. */
  private applyRow(row: Xrow): void {
    if (row.type === IprotoType.NOP) return;
    const body = decodeRequestBody(row.body);
    const op = operationOf(row.type, body);
    this.applyUnlogged(body.spaceId, op);
  }

  // {{{ statements

  /** The read-only state (box.info.ro). */
  get readOnly(): boolean {
    return this.config.read_only || this.status !== 'running';
  }

  /**
   * Runs a data-changing operation as `userId`; resolves with the memtx statement when durable.
   * Byte views in `op` (tuples, keys, ops straight from a packet) are consumed synchronously on
   * the fast paths, or copied before waiting, so callers need not copy them.
   */
  write(userId: number, spaceId: number, op: Operation, stat: StatName): Promise<void>;
  write<T>(
    userId: number,
    spaceId: number,
    op: Operation,
    stat: StatName,
    extract: (statement: Statement) => T,
  ): Promise<T | undefined>;
  /**
   * `extract` runs when the statement is applied, while its tuples are still in engine memory:
   * callers take what they return (a decoded tuple, raw bytes) then, so statements commit
   * without copying their tuples out. Resolves with that value (undefined when nothing
   * matched), once durable.
   */
  write<T>(
    userId: number,
    spaceId: number,
    op: Operation,
    stat: StatName,
    extract?: (statement: Statement) => T,
  ): Promise<T | undefined> {
    this.stats.count(stat);
    let result: T | undefined;
    const apply = () => {
      const applied = applyOperation(this.catalog, this.catalog.spaceOrThrow(spaceId), op, true);
      if (extract !== undefined && applied.statement !== undefined)
        result = extract(applied.statement);
      return applied;
    };
    try {
      this.checkWrite(userId, this.catalog.spaceOrThrow(spaceId));
      this.checkMemory(op);
      // Fast paths (no async layers): inside the caller's transaction holding the lock, or
      // autocommit with no transaction anywhere and no checkpoint barrier.
      if (this.txns.tryInTransaction(apply)) return Promise.resolve(result);
      const durable = this.barrier === undefined ? this.txns.tryAutocommit(apply) : false;
      if (durable === undefined) return Promise.resolve(result);
      if (durable !== false) return durable.then(() => result, this.countError);
    } catch (error) {
      this.stats.count('ERROR');
      return Promise.reject(error);
    }
    // Waiting: copy the caller's byte views first. iproto does not reuse its packet buffers
    // today, but its port contract allows it; the copy is only paid on this slow path.
    op = ownOperation(op);
    return this.writeSlow(apply).then(() => result, this.countError);
  }

  private readonly countError = (error: unknown): never => {
    this.stats.count('ERROR');
    throw error;
  };

  /** The general path: waits for the checkpoint barrier and the transaction lock. */
  private async writeSlow(apply: Parameters<TxnManager['statement']>[0]): Promise<void> {
    if (this.barrier !== undefined && this.txns.current() === undefined) await this.barrier;
    await this.txns.statement(apply);
  }

  /** Bytes of tuples and indexes in every memtx space, estimated in O(1) per space (what memtx_memory bounds). */
  memoryUsedBytes(): number {
    let total = 0;
    for (const entry of this.catalog.byId.values())
      if (entry.memtx !== undefined) total += entry.memtx.memoryEstimate();
    return total;
  }

  /**
   * memtx_memory: once tuples and indexes reach it, inserts, replaces, updates and upserts
   * fail with Tarantool's ER_MEMORY_ISSUE text (deletes still work and free memory). The sum
   * is recomputed every MEMORY_CHECK_INTERVAL writes, and on every write while full.
   */
  private checkMemory(op: Operation): void {
    if (op.kind === 'delete') return;
    if (!this.memoryFull && ++this.writesSinceMemoryCheck < MEMORY_CHECK_INTERVAL) return;
    this.writesSinceMemoryCheck = 0;
    this.memoryFull = this.memoryUsedBytes() >= this.config.memtx_memory;
    if (this.memoryFull) {
      const tuple = 'tuple' in op ? op.tuple : undefined;
      const size =
        tuple === undefined ? 0 : tuple instanceof Uint8Array ? tuple.length : encode(tuple).length;
      throw new ClientError(ErrorCode.ER_MEMORY_ISSUE, size, 'slab allocator', 'memtx_tuple');
    }
  }

  checkWrite(userId: number, entry: SpaceEntry): void {
    if (this.status === 'closing' || this.status === 'closed')
      throw new SystemError('the instance is shutting down');
    if (userId !== UserId.ADMIN)
      this.catalog.access.check(
        userId,
        Privilege.WRITE,
        'space',
        entry.def.id,
        entry.def.name,
        entry.def.owner,
      );
    if (this.readOnly && !entry.def.temporary && entry.def.group_id !== 1)
      throw new ClientError(ErrorCode.ER_READONLY);
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
    this.stats.count('SELECT');
    const entry = this.catalog.spaceOrThrow(spaceId);
    this.checkRead(userId, entry);
    const base = SYSVIEW_BASE.get(entry.def.id);
    if (base === undefined) return storageOf(entry).findIndex(index).selectRaw(key, options);
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

  /** Read views of every saved space at `vclock` (temporary and virtual spaces left out). */
  private snapshotSource(vclock: Vclock): SnapshotSource {
    const views: Array<{
      entry: SpaceEntry;
      view: ReturnType<NonNullable<SpaceEntry['memtx']>['readView']>;
    }> = [];
    for (const entry of [...this.catalog.byId.values()].sort((a, b) => a.def.id - b.def.id)) {
      if (entry.memtx === undefined || entry.def.temporary || entry.memtx.index(0) === undefined)
        continue;
      views.push({ entry, view: entry.memtx.readView() });
    }
    return {
      vclock: vclock.copy(),
      spaces: views.map(({ entry, view }) => ({
        id: entry.def.id,
        groupId: entry.def.group_id,
        count: view.len,
        tuples: () => view.tuples(),
      })),
      release: () => {
        for (const { view } of views) view.close();
      },
    };
  }

  /**
   * box.snapshot(): a checkpoint. Waits for a moment with no transaction open or in flight
   * (new writes wait briefly at a barrier), takes read views and the vclock at that instant,
   * rotates the WAL so the next xlog starts at the checkpoint, lets writes continue, then
   * writes the snapshot from the read views and collects old snapshots and xlogs.
   */
  async snapshot(): Promise<void> {
    if (this.checkpointInProgress) throw new ClientError(ErrorCode.ER_CHECKPOINT_IN_PROGRESS);
    this.checkpointInProgress = true;
    try {
      const source = await this.quiesce(async () => {
        // The vclock and the read views at one instant (no await between them): memory holds
        // exactly what the WAL has, nothing open or in flight. A transaction begun earlier
        // may write right after; its rows get LSNs above this vclock and are replayed.
        const source = this.snapshotSource(this.journal.vclock.copy());
        try {
          await this.journal.rotate();
          // The next xlog starts at the checkpoint: recovery reads from it, not the old file.
          await this.journal.openFile();
        } catch (error) {
          source.release();
          throw error;
        }
        return source;
      });
      if (
        this.lastCheckpointVclock !== undefined &&
        source.vclock.equals(this.lastCheckpointVclock)
      ) {
        source.release();
        return;
      }
      const result = await writeSnapshot({
        fs: this.fs,
        dir: this.memtxDir,
        hasher: this.hasher,
        instanceUuid: this.instanceUuid,
        source,
        logger: this.logger,
        ...(this.config.snap_io_rate_limit === undefined
          ? {}
          : { ioRateLimitMBps: this.config.snap_io_rate_limit }),
      });
      this.lastCheckpointVclock = result.vclock;
      await this.collectGarbage();
    } finally {
      this.checkpointInProgress = false;
    }
  }

  /** Runs `fn` when no transaction is open or in flight, holding new ones at a barrier. */
  private async quiesce<T>(fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    this.barrier = new Promise<void>((resolve) => (release = resolve));
    try {
      while (this.txns.hasOpenTransaction || this.txns.inFlightCount > 0) {
        await this.journal.drain();
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      return await fn();
    } finally {
      this.barrier = undefined;
      release();
    }
  }

  private async scanCheckpoints(): Promise<CheckpointInfo[]> {
    const snaps = await SnapshotDir.scan(this.fs, this.memtxDir, this.hasher);
    return snaps.files
      .filter((f) => f.meta !== undefined)
      .map((f) => ({ vclock: f.meta!.vclock, signature: f.signature }));
  }

  /** Keeps checkpoint_count snapshots and removes xlogs no kept checkpoint needs. */
  async collectGarbage(): Promise<void> {
    const snaps = await SnapshotDir.scan(this.fs, this.memtxDir, this.hasher);
    await snaps.collectGarbage(this.config.checkpoint_count, this.logger);
    this.checkpoints = await this.scanCheckpoints();
    await this.collectWalGarbage();
  }

  /** Removes xlogs wholly below the oldest kept checkpoint; returns how many. */
  private async collectWalGarbage(): Promise<number> {
    const oldest = this.checkpoints[0]?.vclock;
    if (oldest === undefined) return 0;
    const xlogs = await XlogDir.scan(this.fs, this.walDir, 'XLOG', this.hasher);
    return (await xlogs.collectGarbage(this.gcConsumers.limit(oldest), this.logger)).length;
  }

  /** Re-runs WAL GC (after a consumer advanced or left). */
  async collectWalGarbageNow(): Promise<number> {
    return this.collectWalGarbage();
  }

  private scheduleCheckpoints(): void {
    if (this.checkpointTimer !== undefined) clearInterval(this.checkpointTimer);
    this.checkpointTimer = undefined;
    const seconds = this.config.checkpoint_interval;
    if (seconds <= 0 || this.status !== 'running') return;
    this.checkpointTimer = setInterval(() => {
      if (this.checkpointInProgress || this.status !== 'running') return;
      this.snapshot().catch((error: Error) =>
        this.logger.error(`checkpoint failed: ${error.message}`),
      );
    }, seconds * 1000);
    this.checkpointTimer.unref();
  }

  // }}}
  // {{{ info

  /** box.info() with Tarantool's field names. */
  info(): Record<string, unknown> {
    const vclock = this.journal?.vclock ?? new Vclock();
    const replication: Record<number, unknown> = {};
    for (const [id, uuid] of [...this.catalog.cluster].sort((a, b) => a[0] - b[0]))
      replication[id] = { id, uuid, lsn: vclock.get(id) };
    return {
      version: TARANTYPE_VERSION,
      id: this.instanceId,
      ro: this.readOnly,
      uuid: this.instanceUuid,
      package: 'tarantype',
      cluster: { uuid: this.catalog.replicasetUuid },
      listen: this.config.listen,
      replication,
      signature: vclock.signature(),
      status: this.status,
      vclock: vclock.toObject(),
      uptime: Math.floor((Date.now() - this.startedAt) / 1000),
      lsn: vclock.get(this.instanceId),
      pid: process.pid,
    };
  }

  /** box.info.memory(): bytes of tuples (data) and indexes, plus Node's heap (lua's place). */
  infoMemory(): Record<string, number> {
    let data = 0;
    let index = 0;
    for (const entry of this.catalog.byId.values()) {
      if (entry.memtx === undefined) continue;
      const memory = entry.memtx.memory();
      data += memory.tupleBytes;
      for (const i of memory.indexes) index += i.bsize;
    }
    return { cache: 0, data, index, lua: process.memoryUsage().heapUsed, net: 0, tx: 0 };
  }

  /** box.info.gc(). */
  infoGc(): Record<string, unknown> {
    const oldest = this.checkpoints[0]?.vclock ?? new Vclock();
    return {
      vclock: oldest.toObject(),
      signature: oldest.signature(),
      checkpoint_is_in_progress: this.checkpointInProgress,
      checkpoints: this.checkpoints.map((c) => ({
        references: [],
        vclock: c.vclock.toObject(),
        signature: c.signature,
      })),
      consumers: this.gcConsumers.list().map((c) => ({
        name: c.name,
        vclock: c.vclock.toObject(),
        signature: c.vclock.signature(),
      })),
    };
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
    if (this.checkpointTimer !== undefined) clearInterval(this.checkpointTimer);
    this.wakeWritableWaiters();
    this.stats.stop();
    await this.journal?.close();
    this.lock?.release();
    this.status = 'closed';
  }
}

/** `op` with its byte views copied (for operations that wait before applying). */
function ownOperation(op: Operation): Operation {
  const own = <T>(value: T): T => (value instanceof Uint8Array ? (value.slice() as T) : value);
  switch (op.kind) {
    case 'insert':
    case 'replace':
      return { kind: op.kind, tuple: own(op.tuple) };
    case 'delete':
      return { kind: 'delete', key: own(op.key), index: op.index };
    case 'update':
      return {
        kind: 'update',
        key: own(op.key),
        ops: own(op.ops),
        index: op.index,
        indexBase: op.indexBase,
      };
    case 'upsert':
      return { kind: 'upsert', tuple: own(op.tuple), ops: own(op.ops), indexBase: op.indexBase };
  }
}

function operationOf(type: number, body: ReturnType<typeof decodeRequestBody>): Operation {
  const missing = (what: string) => new ClientError(ErrorCode.ER_MISSING_REQUEST_FIELD, what);
  switch (type) {
    case IprotoType.INSERT:
    case IprotoType.REPLACE:
      if (body.tuple === undefined) throw missing('tuple');
      return { kind: type === IprotoType.INSERT ? 'insert' : 'replace', tuple: body.tuple };
    case IprotoType.DELETE:
      if (body.key === undefined) throw missing('key');
      return { kind: 'delete', key: body.key, index: body.indexId };
    case IprotoType.UPDATE:
      if (body.key === undefined || body.tuple === undefined)
        throw missing(body.key === undefined ? 'key' : 'tuple');
      return {
        kind: 'update',
        key: body.key,
        ops: body.tuple,
        index: body.indexId,
        indexBase: body.indexBase,
      };
    case IprotoType.UPSERT:
      if (body.tuple === undefined || body.ops === undefined)
        throw missing(body.tuple === undefined ? 'tuple' : 'operations');
      return { kind: 'upsert', tuple: body.tuple, ops: body.ops, indexBase: body.indexBase };
    default:
      throw new ClientError(ErrorCode.ER_UNKNOWN_REQUEST_TYPE, type);
  }
}
