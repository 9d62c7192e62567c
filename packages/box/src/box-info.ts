// box.info, box.info.memory() and box.info.gc(): what an instance reports of itself, with
// Tarantool 2.6's field names and units. Layer: box. Read-only views over the instance; the
// replication part (upstream/downstream of each member) comes from the replication status
// the instance holds. box.info.gc_wal() (beyond Tarantool) adds the bytes of xlog each GC
// consumer holds, read from wal_dir when asked (so it is async, and not in box.info.gc()).
import { TARANTOOL_VERSION, Vclock } from '@tarantype/core';
import type { DownstreamInfo, UpstreamInfo } from '@tarantype/replication';
import { XlogDir } from '@tarantype/wal';
import type { Box } from './box.js';
import type { ReplicationConflict } from './write-path.js';

export const TARANTYPE_VERSION = `${TARANTOOL_VERSION}-0-tarantype`;

/** box.info() with Tarantool's field names. */
export function boxInfo(box: Box): Record<string, unknown> {
  const vclock = box.journal?.vclock ?? new Vclock();
  const replication: Record<number, unknown> = {};
  for (const [id, uuid] of [...box.catalog.cluster].sort((a, b) => a[0] - b[0])) {
    const member: Record<string, unknown> = { id, uuid, lsn: vclock.get(id) };
    const upstream = box.replicaSet.upstream(uuid);
    if (upstream !== undefined && uuid !== box.instanceUuid) {
      member.upstream = upstreamInfo(upstream);
      // Beyond Tarantool: the row that collided, until cleared (replica-set.ts).
      const conflict = box.replicaSet.conflict(uuid);
      if (conflict !== undefined)
        (member.upstream as Record<string, unknown>).conflict = conflictInfo(conflict);
    }
    const downstream = box.replicaSet.downstream(uuid);
    if (downstream !== undefined && uuid !== box.instanceUuid)
      member.downstream = downstreamInfo(downstream);
    replication[id] = member;
  }
  return {
    version: TARANTYPE_VERSION,
    id: box.instanceId,
    ro: box.readOnly,
    uuid: box.instanceUuid,
    package: 'tarantype',
    cluster: { uuid: box.catalog.replicasetUuid },
    listen: box.cfgValues.listen,
    replication,
    signature: vclock.signature(),
    status: box.status === 'running' && box.replicaSet.isOrphan ? 'orphan' : box.status,
    vclock: vclock.toObject(),
    uptime: Math.floor((Date.now() - box.startedAt) / 1000),
    lsn: vclock.get(box.instanceId),
    pid: process.pid,
  };
}

/** box.info.memory(): bytes of tuples (data) and indexes, plus Node's heap (lua's place). */
export function boxInfoMemory(box: Box): Record<string, number> {
  let data = 0;
  let index = 0;
  for (const entry of box.catalog.byId.values()) {
    if (entry.memtx === undefined) continue;
    const memory = entry.memtx.memory();
    data += memory.tupleBytes;
    for (const i of memory.indexes) index += i.bsize;
  }
  return { cache: 0, data, index, lua: process.memoryUsage().heapUsed, net: 0, tx: 0 };
}

/** box.info.gc(). */
export function boxInfoGc(box: Box): Record<string, unknown> {
  const oldest = box.checkpoints[0]?.vclock ?? new Vclock();
  return {
    vclock: oldest.toObject(),
    signature: oldest.signature(),
    checkpoint_is_in_progress: box.checkpointInProgress,
    checkpoints: box.checkpoints.map((c) => ({
      references: [],
      vclock: c.vclock.toObject(),
      signature: c.signature,
    })),
    consumers: box.gcConsumers.list().map((c) => ({
      name: c.name,
      vclock: c.vclock.toObject(),
      signature: c.vclock.signature(),
    })),
  };
}

/**
 * box.info.gc_wal() (beyond Tarantool, box.info.gc()'s consumer shape): `wal_bytes` is the size
 * of every xlog in wal_dir; each consumer's `wal_bytes` is the size of the xlogs it still
 * needs, whole files: from the one holding its first row not yet passed through the newest
 * (the file being written counts, so a caught-up replica holds the current file). A consumer
 * older than the first file (its rows are gone) holds every file. Local rows (component 0)
 * are not counted as needed, since they never replicate.
 */
export async function boxInfoGcWal(box: Box): Promise<Record<string, unknown>> {
  const held = await walHeld(box, box.gcConsumers.list());
  return {
    wal_bytes: held.bytes,
    consumers: held.holders.map((h) => ({
      name: h.name,
      vclock: h.vclock.toObject(),
      signature: h.vclock.signature(),
      wal_bytes: h.bytes,
    })),
  };
}

/** What one holder of WAL (a GC consumer, or recovery from a checkpoint) keeps on disk. */
export interface WalHolder {
  readonly name: string;
  readonly vclock: Vclock;
  /** Whole xlog files it needs, from the one holding its first row not yet passed. */
  readonly files: number;
  readonly bytes: number;
}

/**
 * The xlogs of wal_dir (count, bytes) and what each of `holders` keeps of them (the rule of
 * box.info.gc_wal() above): what the full-disk path logs and box.info.gc_wal() reports.
 */
export async function walHeld(
  box: Box,
  holders: readonly { readonly name: string; readonly vclock: Vclock }[],
): Promise<{ files: number; bytes: number; holders: WalHolder[] }> {
  const xlogs = await XlogDir.scan(box.fs, box.walDir, 'XLOG', box.hasher);
  const sizes: number[] = [];
  for (const file of xlogs.files) sizes.push((await box.fs.size(file.path)) ?? 0);
  const total = sizes.reduce((sum, size) => sum + size, 0);
  return {
    files: sizes.length,
    bytes: total,
    holders: holders.map((c) => {
      // The first file a consumer needs: the one after the last file whose successor's
      // VClock it has passed (XlogDir.collectGarbage's rule 15, per consumer).
      let first = 0;
      while (
        first + 1 < xlogs.files.length &&
        xlogs.files[first + 1]!.meta?.vclock.isLessOrEqual(c.vclock, true) === true
      )
        first++;
      let held = 0;
      for (let i = first; i < sizes.length; i++) held += sizes[i]!;
      return {
        name: c.name,
        vclock: c.vclock,
        files: Math.max(0, sizes.length - first),
        bytes: held,
      };
    }),
  };
}

/** upstream as 2.6 prints it: status, idle, peer, lag, then message/system_message on error. */
function upstreamInfo(info: UpstreamInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    status: info.status,
    idle: info.idle,
    peer: info.peer,
    lag: info.lag,
  };
  if (info.message !== undefined) out.message = info.message;
  if (info.system_message !== undefined) out.system_message = info.system_message;
  return out;
}

/** downstream as 2.6 prints it: status, idle, vclock while following; message when stopped. */
function downstreamInfo(info: DownstreamInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { status: info.status };
  if (info.idle !== undefined) out.idle = info.idle;
  if (info.vclock !== undefined) out.vclock = info.vclock.toObject();
  if (info.lag !== undefined) out.lag = info.lag;
  if (info.message !== undefined) out.message = info.message;
  if (info.system_message !== undefined) out.system_message = info.system_message;
  return out;
}

/** upstream.conflict: plain values only (fields without a value left out, as Lua's nil). */
function conflictInfo(conflict: ReplicationConflict): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(conflict)) if (value !== undefined) out[key] = value;
  return out;
}
