// The replica-set status as a text table for a terminal (`tarantype status`). Layer:
// apps/server. One row per member: id, uuid, address, status, the queried member's upstream
// and downstream to it, lag, vclock, WAL held; then one line per member that is down or has a
// conflict saying why. Plain text (no colour), columns padded to the widest cell.
import type { MemberStatus, ReplicaSetStatus } from './model.js';

const HEADERS = [
  'id',
  'uuid',
  'address',
  'status',
  'upstream',
  'downstream',
  'lag',
  'vclock',
  'wal held',
] as const;

/** 1536 → "1.5 KiB"; null → "-". */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** {1: 24, 2: 3} as box.info prints it. */
export function formatVclock(vclock: Record<number, number> | null): string {
  if (vclock === null) return '-';
  const parts = Object.entries(vclock)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([id, lsn]) => `${id}: ${lsn}`);
  return `{${parts.join(', ')}}`;
}

/** Seconds with millisecond precision ("0.003"), "-" when unknown. */
export function formatLag(lag: number | null): string {
  return lag === null ? '-' : lag.toFixed(3);
}

function row(member: MemberStatus, queriedId: number): string[] {
  const self = member.source === 'queried';
  return [
    member.id === null ? '-' : `${member.id}${self ? '*' : ''}`,
    member.uuid ?? '-',
    member.address ?? '-',
    member.box_status !== null && member.status === 'up'
      ? `up (${member.box_status})`
      : member.status,
    self ? 'self' : (member.upstream?.status ?? '-'),
    self ? 'self' : (member.downstream?.status ?? '-'),
    formatLag(member.lag),
    formatVclock(member.vclock),
    member.id === queriedId ? '-' : formatBytes(member.wal_held_bytes),
  ];
}

/** The whole table with its title line and notes, ending in a newline. */
export function renderStatusTable(status: ReplicaSetStatus): string {
  const rows = [[...HEADERS], ...status.members.map((member) => row(member, status.queried_id))];
  const widths = HEADERS.map((_, column) => Math.max(...rows.map((r) => r[column]!.length)));
  const lines = rows.map((r) =>
    r
      .map((cell, column) => (column === r.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
  const up = status.members.filter((m) => m.status === 'up').length;
  const title =
    `replica set ${status.replicaset_uuid ?? '-'} as seen from ${status.queried} ` +
    `(id ${status.queried_id}, marked *): ${up} of ${status.members.length} up`;
  const notes: string[] = [];
  for (const member of status.members) {
    const who = member.id === null ? (member.address ?? '?') : `${member.id}`;
    if (member.error !== null) notes.push(`${who}: ${member.error}`);
    const conflict = member.last_conflict;
    if (conflict !== null)
      notes.push(
        `${who}: last conflict from ${conflict.upstream_id}: ${String(conflict.message)}` +
          `${conflict.skipped === true ? ' (skipped)' : ''}`,
      );
  }
  return `${[title, ...lines, ...notes].join('\n')}\n`;
}
