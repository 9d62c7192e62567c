// Persistent WAL GC consumers of replicas: the master keeps every xlog a replica has not yet
// acknowledged, across restarts of the master (Tarantool 2.6 forgets them at a restart; 3.3
// persists them). Layer: box. Implements @tarantype/replication's GcConsumers port over the
// in-memory GcConsumers of box, and stores them in `<wal_dir>/replica-gc.json`:
//
//   {"version": 1, "consumers": {"<replica uuid>": {"<replica id>": <lsn>, …}, …}}
//
// written whole to replica-gc.json.inprogress, fdatasync'ed, renamed over the old file and the
// directory synced, so a crash leaves the old or the new file, never a torn one. Writes are
// coalesced: one in flight, the latest state written after it; an ack only moves a consumer
// forward, so its write waits up to ADVANCE_PERSIST_DELAY_MS (acks come with every batch a
// replica applies; an fsync each would compete with the WAL), while a new or dropped consumer
// is written at once. The persisted vclock of a
// consumer is never ahead of what the replica acknowledged (it only lags), so a crash can make
// the master keep more, never less. A consumer is dropped when its replica leaves `_cluster`,
// and by the full-disk rule (dropOldest), loudly.
import { join } from 'node:path';
import { Vclock } from '@tarantype/core';
import type { FileSystem, Logger } from '@tarantype/wal';
import type { GcConsumers } from './gc-consumers.js';

export const REPLICA_GC_FILE = 'replica-gc.json';
const PREFIX = 'replica ';
/** How long a consumer's advance may wait before it is written (a lagging file keeps more WAL). */
const ADVANCE_PERSIST_DELAY_MS = 1000;

interface StoredState {
  readonly version: 1;
  readonly consumers: Record<string, Record<string, number>>;
}

export class ReplicaGc {
  private writing: Promise<void> | undefined;
  private dirty = false;
  private delayed: NodeJS.Timeout | undefined;

  constructor(
    private readonly consumers: GcConsumers,
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  /** Loads the consumers saved by the previous run (none when there is no file). */
  async load(): Promise<number> {
    const path = join(this.dir, REPLICA_GC_FILE);
    const size = await this.fs.size(path);
    if (size === undefined) return 0;
    const handle = await this.fs.open(path, 'read');
    let text: string;
    try {
      const bytes = new Uint8Array(size);
      await handle.read(bytes, 0, size, 0);
      text = new TextDecoder().decode(bytes);
    } finally {
      await handle.close();
    }
    let state: StoredState;
    try {
      state = JSON.parse(text) as StoredState;
      if (state.version !== 1 || typeof state.consumers !== 'object') throw new Error('version');
    } catch {
      // The file is written atomically; a damaged one is not ours to guess at. Keeping no
      // consumer could let GC remove xlogs a replica needs, so refuse loudly.
      throw new Error(`${path} is damaged: remove it to start without replica GC consumers`);
    }
    let loaded = 0;
    for (const [uuid, components] of Object.entries(state.consumers)) {
      const vclock = new Vclock();
      for (const [id, lsn] of Object.entries(components)) vclock.set(Number(id), lsn);
      this.consumers.register(PREFIX + uuid, vclock);
      loaded++;
    }
    return loaded;
  }

  /** The replica `uuid` acknowledged `vclock`: keep only what comes after it. */
  advance(uuid: string, vclock: Vclock): void {
    const name = PREFIX + uuid;
    if (this.consumers.list().some((c) => c.name === name)) {
      this.consumers.advance(name, vclock);
      this.scheduleLater();
    } else {
      this.consumers.register(name, vclock);
      this.schedule();
    }
  }

  drop(uuid: string): void {
    if (this.consumers.unregister(PREFIX + uuid)) this.schedule();
  }

  /** Replica uuids with a consumer. */
  uuids(): string[] {
    return this.consumers
      .list()
      .filter((c) => c.name.startsWith(PREFIX))
      .map((c) => c.name.slice(PREFIX.length));
  }

  /**
   * The full-disk rule: drops the consumer holding the oldest rows and says so (with what it
   * holds, from `holds` given the consumer's name). Returns its uuid, or undefined when there
   * is none.
   */
  dropOldest(holds: (name: string) => string = () => ''): string | undefined {
    const oldest = this.consumers
      .list()
      .filter((c) => c.name.startsWith(PREFIX))
      .sort((a, b) => a.vclock.signature() - b.vclock.signature())[0];
    if (oldest === undefined) return undefined;
    const uuid = oldest.name.slice(PREFIX.length);
    this.logger.warn(
      `disk is full: dropping the WAL GC consumer of replica ${uuid} at ${oldest.vclock.toString()}${holds(oldest.name)}; ` +
        'it will have to rejoin if the xlogs it needs are removed',
    );
    // 2.6's line (gc.c, say_crit) for the same event, for whoever greps for it.
    this.logger.warn(`deactivated WAL consumer ${oldest.name} at ${oldest.vclock.toString()}`);
    this.drop(uuid);
    return uuid;
  }

  /** Resolves once every change so far is on disk. */
  async flush(): Promise<void> {
    if (this.delayed !== undefined) {
      clearTimeout(this.delayed);
      this.delayed = undefined;
      this.dirty = true;
    }
    while (this.writing !== undefined || this.dirty) {
      if (this.writing === undefined) this.schedule();
      await this.writing;
    }
  }

  private scheduleLater(): void {
    if (this.delayed !== undefined) return;
    this.delayed = setTimeout(() => {
      this.delayed = undefined;
      this.schedule();
    }, ADVANCE_PERSIST_DELAY_MS);
    this.delayed.unref();
  }

  private schedule(): void {
    this.dirty = true;
    if (this.writing !== undefined) return;
    this.writing = (async () => {
      while (this.dirty) {
        this.dirty = false;
        try {
          await this.write();
        } catch (error) {
          this.logger.error(`cannot save ${REPLICA_GC_FILE}: ${(error as Error).message}`);
          break;
        }
      }
    })().finally(() => {
      this.writing = undefined;
    });
  }

  private async write(): Promise<void> {
    const consumers: Record<string, Record<string, number>> = {};
    for (const consumer of this.consumers.list()) {
      if (!consumer.name.startsWith(PREFIX)) continue;
      consumers[consumer.name.slice(PREFIX.length)] = consumer.vclock.toObject() as Record<
        string,
        number
      >;
    }
    const bytes = new TextEncoder().encode(
      `${JSON.stringify({ version: 1, consumers } satisfies StoredState)}\n`,
    );
    const path = join(this.dir, REPLICA_GC_FILE);
    const inprogress = `${path}.inprogress`;
    if ((await this.fs.size(inprogress)) !== undefined) await this.fs.unlink(inprogress);
    const handle = await this.fs.open(inprogress, 'create');
    try {
      await handle.write(bytes, 0);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await this.fs.rename(inprogress, path);
    await this.fs.syncDir(this.dir);
  }
}
