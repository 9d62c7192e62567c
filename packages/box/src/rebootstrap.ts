// Rebootstrap of a replica too old for its masters' xlogs (reference §7f, 2.6's
// replicaset_needs_rejoin). Layer: box. At startup, before local recovery, an instance with
// data and replication sources scans its files for its vclock (the newest snapshot's, then the
// rows of the xlogs after it), asks every source for its ballot (a silent VOTE), and:
// - if some source still keeps the xlogs it needs (gc_vclock ≤ local vclock), recovers as usual;
// - else logs "can't follow <uuid> at <addr>: required <local> available <gc>" for each, and
//   for a source that lacks rows this instance has, "can't rebootstrap from … replica has
//   local rows: local … remote …" (recovery then goes on, and the relay ends with XlogGapError);
// - else logs "replica is too old, initiating rebootstrap": the caller moves the old files
//   aside and JOINs afresh with the same instance uuid (so the same id in `_cluster`).
// Deviation: 2.6 leaves the old files next to the new ones; tarantype moves them into
// `rebootstrap-<time>/` of their directory, so no later recovery or GC confuses the two lives.
import { join } from 'node:path';
import type { Hasher, Vclock } from '@tarantype/core';
import { type PeerBallot, probeBallot } from '@tarantype/replication';
import { type FileSystem, type Logger, XlogCursor, XlogDir } from '@tarantype/wal';

/** What a startup needs to know of its files before recovering them. */
export interface LocalState {
  readonly vclock: Vclock;
  readonly instanceUuid: string;
}

/**
 * The instance uuid the newest snapshot records (a restart keeps it), or undefined for an empty
 * directory. Reads only the snapshots' headers: a server that listens before recovery greets
 * with it, so peers never see a stand-in uuid while recovery or a rebootstrap check runs.
 */
export async function recordedInstanceUuid(
  fs: FileSystem,
  memtxDir: string,
  hasher: Hasher,
): Promise<string | undefined> {
  const snaps = await XlogDir.scan(fs, memtxDir, 'SNAP', hasher);
  return [...snaps.files].reverse().find((f) => f.meta !== undefined)?.meta?.instanceUuid;
}

/** The vclock and uuid of the files, or undefined when there is no snapshot (a fresh instance). */
export async function scanLocalState(
  fs: FileSystem,
  walDir: string,
  memtxDir: string,
  hasher: Hasher,
): Promise<LocalState | undefined> {
  const snaps = await XlogDir.scan(fs, memtxDir, 'SNAP', hasher);
  const snap = [...snaps.files].reverse().find((f) => f.meta !== undefined);
  if (snap?.meta === undefined) return undefined;
  const vclock = snap.meta.vclock.copy();
  const xlogs = await XlogDir.scan(fs, walDir, 'XLOG', hasher);
  const found = xlogs.indexFor(vclock);
  const first = found === undefined || found < 0 ? 0 : found;
  for (const file of xlogs.files.slice(first)) {
    if (file.meta === undefined) continue;
    const cursor = await XlogCursor.open(fs, file.path, 'XLOG', hasher);
    if (cursor === undefined) continue;
    try {
      for (let tx = await cursor.next(); tx !== undefined; tx = await cursor.next())
        for (const row of tx.rows)
          if (row.lsn > vclock.get(row.replica_id)) vclock.set(row.replica_id, row.lsn);
    } catch {
      // A torn or damaged tail: local recovery says what it is; the rows before it count.
    } finally {
      await cursor.close();
    }
  }
  return { vclock, instanceUuid: snap.meta.instanceUuid };
}

/**
 * The source to rebootstrap from, or undefined to recover locally. `log(level, text)` gets
 * 2.6's lines. Of several candidates the one with the greatest vclock signature wins.
 */
export async function rejoinSource(
  local: Vclock,
  uris: readonly string[],
  timeoutMs: number,
  log: (level: 'info' | 'crit', text: string) => void,
): Promise<PeerBallot | undefined> {
  const ballots = await Promise.all(uris.map((uri) => probeBallot(uri, timeoutMs)));
  let source: PeerBallot | undefined;
  for (const peer of ballots) {
    if (peer === undefined) continue;
    const { ballot } = peer;
    // One source that still has what this instance needs is enough to recover and follow.
    if (ballot.gc_vclock.isLessOrEqual(local, true)) return undefined;
    log(
      'info',
      `can't follow ${peer.uuid} at ${peer.address}: required ${local.toString()} available ${ballot.gc_vclock.toString()}`,
    );
    if (!local.isLessOrEqual(ballot.vclock, true)) {
      log(
        'info',
        `can't rebootstrap from ${peer.uuid} at ${peer.address}: replica has local rows: local ${local.toString()} remote ${ballot.vclock.toString()}`,
      );
      continue;
    }
    if (source === undefined || ballot.vclock.signature() > source.ballot.vclock.signature())
      source = peer;
  }
  if (source !== undefined) log('crit', 'replica is too old, initiating rebootstrap');
  return source;
}

/** Moves every snapshot and xlog of `dirs` into `rebootstrap-<time>/` of its directory. */
export async function moveAside(
  fs: FileSystem,
  dirs: readonly string[],
  logger: Logger,
): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (const dir of new Set(dirs)) {
    const names = (await fs.readdir(dir)).filter((n) => /\.(xlog|snap)(\.inprogress)?$/.test(n));
    if (names.length === 0) continue;
    const aside = join(dir, `rebootstrap-${stamp}`);
    await fs.mkdir(aside);
    for (const name of names) await fs.rename(join(dir, name), join(aside, name));
    await fs.syncDir(dir);
    logger.info(`moved ${names.length} files of the old instance to ${aside}`);
  }
}

/** Thrown by Box.start when the files must be set aside and the instance joined afresh. */
export class RebootstrapNeeded extends Error {
  constructor(readonly instanceUuid: string) {
    super('replica is too old, initiating rebootstrap');
  }
}
