// An in-memory box behind the replication ports, for relay and applier tests. Not a database:
// rows are kept as transactions of Xrows; a "space" is only the tuples keyed by their first
// field, enough to see duplicates, and `_schema` / `_cluster` are read from initial data the way
// box would. Fault injection: a slow WAL scan, a sink that rejects a key as a duplicate.
import {
  ClientError,
  decode,
  ErrorCode,
  encode,
  IprotoType,
  SystemSpace,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import type { LogLevel } from '../src/log.js';
import type {
  DiscardableBootstrapTarget,
  GcConsumers,
  JoinSource,
  JoinView,
  MasterStatus,
  Membership,
  RowSource,
  TransactionSink,
} from '../src/ports.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `check()` is true (polling every 5 ms), or fails after `timeoutMs`. */
export async function until(
  check: () => boolean,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export function insertBody(spaceId: number, tuple: unknown[]): Uint8Array {
  return encode(
    new Map<number, unknown>([
      [0x10, spaceId],
      [0x21, tuple],
    ]),
  );
}

export function bodyOf(row: Xrow): { space: number; tuple: unknown[] } {
  const map = decode(row.body) as Map<number, unknown>;
  return { space: map.get(0x10) as number, tuple: map.get(0x21) as unknown[] };
}

/** Collects log lines as "<level> <fiber> <text>". */
export class LogRecorder {
  readonly lines: string[] = [];
  readonly log = (level: LogLevel, fiber: string, message: string) => {
    this.lines.push(`${level} ${fiber} ${message}`);
  };
  texts(): string[] {
    return this.lines.map((line) => line.split(' ').slice(2).join(' '));
  }
}

/** A WAL in memory: transactions in order, and followers woken on each append. */
export class MemoryWal implements RowSource {
  readonly transactions: Xrow[][] = [];
  readonly vclock = new Vclock();
  private waiters: Array<() => void> = [];
  /** Delay between transactions while replaying old ones (a long file scan). */
  scanDelayMs = 0;
  /** Set to make follow() fail (files gone). */
  gap: Error | undefined;

  /** Appends one transaction of `replicaId` (lsns assigned here unless given). */
  append(
    replicaId: number,
    bodies: Array<{ type?: number; body: Uint8Array; groupId?: number }>,
  ): Xrow[] {
    const first = this.vclock.get(replicaId) + 1;
    const rows = bodies.map((b, i) => ({
      type: b.type ?? IprotoType.INSERT,
      replica_id: replicaId,
      group_id: b.groupId ?? 0,
      lsn: first + i,
      tsn: first,
      timestamp: Date.now() / 1000,
      is_commit: i === bodies.length - 1,
      sync: 0,
      body: b.body,
    }));
    this.vclock.set(replicaId, first + bodies.length - 1);
    this.transactions.push(rows);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
    return rows;
  }

  async *follow(from: Vclock, signal: AbortSignal): AsyncIterable<readonly Xrow[]> {
    if (this.gap !== undefined) throw this.gap;
    let index = 0;
    while (!signal.aborted) {
      if (index < this.transactions.length) {
        const transaction = this.transactions[index++]!;
        const rows = transaction.filter((row) => row.lsn > from.get(row.replica_id));
        if (rows.length === 0) continue;
        if (this.scanDelayMs > 0 && index < this.transactions.length) await sleep(this.scanDelayMs);
        yield rows;
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.waiters.push(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}

/** The master side: membership, status, a join source over a "snapshot", GC consumers. */
export class FakeMaster implements Membership, MasterStatus, JoinSource, GcConsumers {
  readonly wal = new MemoryWal();
  readonly cluster = new Map<string, number>();
  readonly gcPositions = new Map<string, string>();
  readonly gcAdvances: Array<[string, string]> = [];
  loading = false;
  readOnly = false;
  mode: 'none' | 'write' | 'fsync' = 'write';
  /** Tuples of the read view: [space id, tuple]; system-ish spaces first. */
  snapshot: Array<[number, unknown[]]> = [];
  openViews = 0;
  joinBatchDelayMs = 0;
  /** When set, the read view sends these rows instead of `snapshot` (a recorded 2.6 JOIN). */
  initialRows: Xrow[] | undefined;

  constructor(
    readonly instanceUuid: string,
    readonly replicaset: string,
  ) {
    this.cluster.set(instanceUuid, 1);
    this.snapshot.push([SystemSpace.SCHEMA, ['cluster', replicaset]]);
    this.snapshot.push([SystemSpace.CLUSTER, [1, instanceUuid]]);
  }

  instanceId(): number {
    return this.cluster.get(this.instanceUuid) ?? 0;
  }
  replicasetUuid(): string {
    return this.replicaset;
  }
  idOf(uuid: string): number | undefined {
    return this.cluster.get(uuid);
  }
  async register(uuid: string): Promise<number> {
    const used = new Set(this.cluster.values());
    let id = 1;
    while (used.has(id)) id++;
    if (id >= 32) throw new ClientError(ErrorCode.ER_REPLICA_MAX, 32);
    this.cluster.set(uuid, id);
    this.wal.append(1, [{ body: insertBody(SystemSpace.CLUSTER, [id, uuid]) }]);
    return id;
  }
  checkReplicationAccess(userId: number): void {
    if (userId === 0)
      throw new ClientError(ErrorCode.ER_ACCESS_DENIED, 'Read', 'universe', '', 'guest');
  }
  isLoading(): boolean {
    return this.loading;
  }
  walMode(): 'none' | 'write' | 'fsync' {
    return this.mode;
  }
  checkRegistration(_userId: number): void {
    if (this.readOnly) throw new ClientError(ErrorCode.ER_READONLY);
  }
  vclock(): Vclock {
    return this.wal.vclock.copy();
  }
  async openJoinView(): Promise<JoinView> {
    const vclock = this.wal.vclock.copy();
    // The view: the snapshot plus every row applied so far, as INSERTs (enough for tests).
    const rows: Xrow[] = (this.initialRows ?? []).slice();
    if (this.initialRows === undefined)
      rows.push(
        ...this.snapshot.map(([space, tuple]) => ({
          type: IprotoType.INSERT,
          replica_id: 0,
          group_id: 0,
          lsn: 0,
          tsn: 0,
          timestamp: 0,
          is_commit: true,
          sync: 0,
          body: insertBody(space, tuple),
        })),
      );
    for (const tx of this.wal.transactions)
      for (const row of tx) rows.push({ ...row, replica_id: 0, lsn: 0, tsn: 0, timestamp: 0 });
    this.openViews++;
    const delay = this.joinBatchDelayMs;
    return {
      vclock,
      async *rows() {
        for (let i = 0; i < rows.length; i += 2) {
          if (delay > 0) await sleep(delay);
          yield rows.slice(i, i + 2);
        }
      },
      release: () => {
        this.openViews--;
      },
    };
  }
  advance(replicaUuid: string, vclock: Vclock): void {
    this.gcPositions.set(replicaUuid, vclock.toString());
    this.gcAdvances.push([replicaUuid, vclock.toString()]);
  }
  drop(replicaUuid: string): void {
    this.gcPositions.delete(replicaUuid);
  }
}

/** The replica side: a sink keeping tuples by [space, first field], and a bootstrap target. */
export class FakeReplica implements Membership, TransactionSink, DiscardableBootstrapTarget {
  readonly applied: Xrow[][] = [];
  readonly tuples = new Map<string, unknown[]>();
  readonly localVclock = new Vclock();
  initialRows: Xrow[] = [];
  initialVclock: Vclock | undefined;
  finalTransactions: Xrow[][] = [];
  finishedAt: Vclock | undefined;
  discards = 0;
  /** Delay of each applyTransaction (a slow WAL). */
  applyDelayMs = 0;
  replicaset = '00000000-0000-0000-0000-000000000000';
  cluster = new Map<string, number>();

  constructor(readonly instanceUuid: string) {}

  instanceId(): number {
    return this.cluster.get(this.instanceUuid) ?? 0;
  }
  replicasetUuid(): string {
    return this.replicaset;
  }
  idOf(uuid: string): number | undefined {
    return this.cluster.get(uuid);
  }
  async register(): Promise<number> {
    throw new Error('a replica does not register');
  }
  checkReplicationAccess(): void {}

  vclock(): Vclock {
    return this.localVclock.copy();
  }

  private applyRow(row: Xrow, initial = false): void {
    if (row.type === IprotoType.NOP || row.body.length === 0) return;
    const map = decode(row.body) as Map<number, unknown>;
    const space = map.get(0x10) as number;
    if (row.type === IprotoType.DELETE || row.type === IprotoType.UPDATE) {
      // Enough for tests: DELETE removes the key, UPDATE marks the tuple as updated.
      const key = `${space}:${JSON.stringify((map.get(0x20) as unknown[])[0])}`;
      if (row.type === IprotoType.DELETE) this.tuples.delete(key);
      else if (this.tuples.has(key)) this.tuples.set(key, [...this.tuples.get(key)!, 'updated']);
      return;
    }
    const tuple = map.get(0x21) as unknown[];
    // Keyed by the first field (enough for user spaces in tests); system spaces with composite
    // keys come only in initial data, which is trusted as a snapshot is.
    const key = `${space}:${JSON.stringify(initial && space < 512 ? tuple : tuple[0])}`;
    if (row.type === IprotoType.INSERT && this.tuples.has(key))
      throw new ClientError(ErrorCode.ER_TUPLE_FOUND, 'primary', String(space));
    this.tuples.set(key, tuple);
    if (space === SystemSpace.CLUSTER) this.cluster.set(tuple[1] as string, tuple[0] as number);
    if (space === SystemSpace.SCHEMA && tuple[0] === 'cluster')
      this.replicaset = tuple[1] as string;
  }

  async applyTransaction(rows: readonly Xrow[]): Promise<'applied' | 'skipped'> {
    const fresh = rows.filter((row) => row.lsn > this.localVclock.get(row.replica_id));
    if (fresh.length === 0) return 'skipped';
    if (this.applyDelayMs > 0) await sleep(this.applyDelayMs);
    const saved = new Map(this.tuples);
    try {
      for (const row of fresh) {
        try {
          this.applyRow(row);
        } catch (error) {
          // As box does: the error names the row that failed (the applier logs it).
          throw Object.assign(error as Error, { failedRow: row });
        }
      }
    } catch (error) {
      this.tuples.clear();
      for (const [k, v] of saved) this.tuples.set(k, v);
      throw error;
    }
    const last = fresh[fresh.length - 1]!;
    this.localVclock.set(last.replica_id, last.lsn);
    this.applied.push([...fresh]);
    return 'applied';
  }

  loadInitial(rows: readonly Xrow[]): void {
    for (const row of rows) {
      this.initialRows.push(row);
      this.applyRow(row, true);
    }
  }
  async initialLoaded(vclock: Vclock): Promise<void> {
    this.initialVclock = vclock.copy();
    this.localVclock.assign(vclock);
  }
  async applyFinal(rows: readonly Xrow[]): Promise<void> {
    for (const row of rows) this.applyRow(row);
    const last = rows[rows.length - 1]!;
    this.localVclock.set(last.replica_id, last.lsn);
    this.finalTransactions.push([...rows]);
  }
  async finish(vclock: Vclock): Promise<void> {
    this.finishedAt = vclock.copy();
  }
  discard(): void {
    this.discards++;
    this.initialRows = [];
    this.finalTransactions = [];
    this.tuples.clear();
    this.cluster.clear();
    this.localVclock.assign(new Vclock());
  }
}
