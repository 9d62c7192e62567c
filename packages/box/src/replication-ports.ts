// box's side of the replication ports: what the relay and the applier of
// @tarantype/replication see of this instance. Layer: box (the one place layers meet).
// - TransactionSink → the write path's applyTransaction (write-path.ts).
// - JoinSource → read views of every space but temporary and is_local ones, taken at a quiet
//   moment with the vclock of that instant, held with a GC consumer so no xlog after the view
//   is removed while a JOIN streams it.
// - RowSource → the WAL follower (files, then live writes).
// - Membership → `_cluster`, `_schema.cluster`, universe privileges.
// - GcConsumers → ReplicaGc (persisted).
// It adds no behaviour of its own beyond translating between the ports and box's modules.
import {
  ClientError,
  ErrorCode,
  encodeTupleBody,
  GroupId,
  IprotoType,
  makeXrow,
  Privilege,
  SystemSpace,
  UserId,
  VCLOCK_MAX,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import type { Ballot } from '@tarantype/iproto';
import type {
  GcConsumers as GcConsumersPort,
  JoinSource,
  JoinView,
  MasterStatus,
  Membership,
  RowSource,
  TransactionSink,
} from '@tarantype/replication';
import { followWal } from '@tarantype/wal';
import type { Box } from './box.js';
import type { SpaceEntry } from './catalog.js';
import { ProgressReporter } from './progress.js';
import type { ApplyObserver } from './write-path.js';

/** Rows per batch of a JOIN's initial data (the relay yields between batches). */
const JOIN_BATCH_ROWS = 1024;
/** Delay of the WAL GC pass an ack triggers (acks are frequent; a pass scans the directory). */
const GC_AFTER_ACK_DELAY_MS = 1000;

export class BoxReplicationPorts
  implements TransactionSink, JoinSource, RowSource, Membership, GcConsumersPort, MasterStatus
{
  private joins = 0;
  private gcTimer: NodeJS.Timeout | undefined;

  constructor(private readonly box: Box) {}

  // {{{ TransactionSink

  vclock(): Vclock {
    return this.box.writes.vclock();
  }

  applyTransaction(
    rows: readonly Xrow[],
    observer?: ApplyObserver,
  ): Promise<'applied' | 'skipped'> {
    return this.box.writes.applyTransaction(rows, observer);
  }

  // }}}
  // {{{ JoinSource

  openJoinView(replicaUuid?: string): Promise<JoinView> {
    const box = this.box;
    return box.writes.atQuietMoment(async () => {
      // Synchronously at the quiet moment: the vclock and every read view of one instant.
      const vclock = box.journal.vclock.copy();
      const views: Array<{
        entry: SpaceEntry;
        view: ReturnType<NonNullable<SpaceEntry['memtx']>['readView']>;
      }> = [];
      for (const entry of [...box.catalog.byId.values()].sort((a, b) => a.def.id - b.def.id)) {
        if (!joinable(entry)) continue;
        views.push({ entry, view: entry.memtx!.readView() });
      }
      const name = `join ${++this.joins}`;
      box.gcConsumers.register(name, vclock);
      let released = false;
      return {
        vclock: vclock.copy(),
        async *rows() {
          // The relay has sent a batch once it asks for the next one.
          const reporter = ProgressReporter.start(box.onProgress, {
            task: 'relay',
            detail: `initial data to replica ${replicaUuid ?? '(unnamed)'}`,
            unit: 'rows',
            total: views.reduce((n, { view }) => n + view.len, 0),
            bytesTotal: views.reduce((n, { view }) => n + view.bsize, 0),
          });
          let rows = 0;
          let bytes = 0;
          let batch: Xrow[] = [];
          let batchBytes = 0;
          try {
            for (const { entry, view } of views) {
              for (const tuple of view.tuples()) {
                batch.push(makeXrow(IprotoType.INSERT, encodeTupleBody(entry.def.id, tuple)));
                batchBytes += tuple.length;
                if (batch.length >= JOIN_BATCH_ROWS) {
                  yield batch;
                  rows += batch.length;
                  bytes += batchBytes;
                  reporter?.update(rows, bytes);
                  batch = [];
                  batchBytes = 0;
                }
              }
            }
            if (batch.length > 0) yield batch;
            reporter?.update(rows + batch.length, bytes + batchBytes);
            reporter?.finish('done');
          } finally {
            reporter?.finish('failed');
          }
        },
        release() {
          if (released) return;
          released = true;
          for (const { view } of views) view.close();
          box.gcConsumers.unregister(name);
        },
      } satisfies JoinView;
    });
  }

  // }}}
  // {{{ RowSource

  follow(from: Vclock, signal: AbortSignal): AsyncIterable<readonly Xrow[]> {
    const box = this.box;
    return followWal({
      fs: box.fs,
      dir: box.walDir,
      hasher: box.hasher,
      from,
      journal: box.journal,
      signal,
    });
  }

  // }}}
  // {{{ Membership

  get instanceUuid(): string {
    return this.box.instanceUuid;
  }

  instanceId(): number {
    return this.box.instanceId;
  }

  replicasetUuid(): string {
    return this.box.catalog.replicasetUuid ?? '';
  }

  idOf(uuid: string): number | undefined {
    for (const [id, member] of this.box.catalog.cluster) if (member === uuid) return id;
    return undefined;
  }

  async register(uuid: string): Promise<number> {
    const existing = this.idOf(uuid);
    if (existing !== undefined) return existing;
    let id = 1;
    while (id < VCLOCK_MAX && this.box.catalog.cluster.has(id)) id++;
    if (id >= VCLOCK_MAX) throw new ClientError(ErrorCode.ER_REPLICA_MAX, id); // 2.6: the id tried
    await this.box.write(
      UserId.ADMIN,
      SystemSpace.CLUSTER,
      { kind: 'insert', tuple: [id, uuid] },
      'INSERT',
    );
    return id;
  }

  checkReplicationAccess(userId: number): void {
    // 2.6: "Read access to universe '' is denied for user 'norepl'". Registering a new replica
    // also needs Write on _cluster (checkRegistration): the replication role gives both.
    this.box.catalog.access.check(userId, Privilege.READ, 'universe', 0, '');
  }

  // }}}
  // {{{ MasterStatus

  isLoading(): boolean {
    return this.box.status === 'loading';
  }

  walMode(): 'none' | 'write' | 'fsync' {
    return this.box.cfgValues.wal_mode;
  }

  checkRegistration(userId: number): void {
    if (this.box.readOnly) throw new ClientError(ErrorCode.ER_READONLY);
    const cluster = this.box.catalog.spaceOrThrow(SystemSpace.CLUSTER);
    this.box.catalog.access.check(
      userId,
      Privilege.WRITE,
      'space',
      cluster.def.id,
      cluster.def.name,
      cluster.def.owner,
    );
  }

  // }}}
  // {{{ GcConsumers

  advance(replicaUuid: string, vclock: Vclock): void {
    this.box.replicaGc.advance(replicaUuid, vclock);
    // Acks arrive often; a GC pass scans the directory, so run one at most every second.
    if (this.gcTimer !== undefined) return;
    this.gcTimer = setTimeout(() => {
      this.gcTimer = undefined;
      if (this.box.status !== 'running') return;
      this.box
        .collectWalGarbageNow()
        .catch((error: Error) =>
          this.box.logger.error(`WAL GC after a replica's ack failed: ${error.message}`),
        );
    }, GC_AFTER_ACK_DELAY_MS);
    this.gcTimer.unref();
  }

  drop(replicaUuid: string): void {
    this.box.replicaGc.drop(replicaUuid);
  }

  // {{{ VOTE

  /** The ballot a VOTE request gets (a fresh replica picks its bootstrap leader from them). */
  ballot(): Ballot {
    const box = this.box;
    // The oldest vclock still in the WAL: the oldest checkpoint's, or older where a GC
    // consumer (a replica, a JOIN in progress) keeps xlogs from before it. A fresh replica and
    // a restarting one decide from it whether they can follow (rebootstrap, reference §7f).
    const gc = (box.checkpoints[0]?.vclock ?? new Vclock()).copy();
    const consumers = box.gcConsumers.list();
    for (const [id, lsn] of gc.entries())
      gc.set(id, Math.min(lsn, ...consumers.map((c) => c.vclock.get(id))));
    return {
      is_ro: box.readOnly,
      is_loading: box.status !== 'running' || box.readOnly,
      // Before the WAL opens (a fresh instance picking its bootstrap leader): empty.
      vclock: box.status === 'loading' ? new Vclock() : box.journal.vclock.copy(),
      gc_vclock: gc.copy(),
    };
  }

  // }}}
}

/** Spaces whose tuples a JOIN sends: stored, not temporary, not is_local, with a primary key. */
function joinable(entry: SpaceEntry): boolean {
  return (
    entry.memtx !== undefined &&
    !entry.def.temporary &&
    entry.def.group_id !== GroupId.LOCAL &&
    entry.memtx.index(0) !== undefined
  );
}
