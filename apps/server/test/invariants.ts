// Invariants every campaign checks after every step (issue 15), from what an instance reports
// (box.info, box.info.gc) and from its data directory (checkWalDir of @tarantype/wal). Layer:
// apps/server tests. Each check returns violations (sentences) instead of throwing, so a
// campaign reports all of them with the seed that replays them.
//
// - the signature is the sum of the vclock's components;
// - vclock components only grow from one sample to the next of the same history (a power loss
//   in wal_mode write may legitimately move them back: the caller starts a new history);
// - the files: names, the PrevVClock chain, no rows missing between xlogs, only the newest one
//   unclosed, and no file removed that a kept checkpoint or a GC consumer (a replica, a JOIN)
//   still needs.
import { Vclock } from '@tarantype/core';
import { checkWalDir, type FileSystem } from '@tarantype/wal';

/** box.info's vclock ({id: lsn}) as a Vclock; undefined when malformed. */
export function vclockOf(value: unknown): Vclock | undefined {
  if (value instanceof Map)
    return new Vclock([...value].map(([id, lsn]) => [Number(id), Number(lsn)] as const));
  if (Array.isArray(value)) {
    // msgpack of a Lua array-like vclock {[1] = 5, [2] = 7} may come back as an array.
    return new Vclock(
      value.map((lsn, i) => [i + 1, Number(lsn)] as const).filter(([, l]) => l > 0),
    );
  }
  if (value === null || typeof value !== 'object') return undefined;
  return new Vclock(
    Object.entries(value as Record<string, unknown>).map(
      ([id, lsn]) => [Number(id), Number(lsn)] as const,
    ),
  );
}

/** Checks box.info samples of one history: signature = sum, components never decrease. */
export class VclockHistory {
  private last: Vclock | undefined;

  /** Forgets the previous sample (after a loss the promises allow, e.g. write mode's tail). */
  reset(): void {
    this.last = undefined;
  }

  check(info: Readonly<Record<string, unknown>>, label: string): string[] {
    const violations: string[] = [];
    const vclock = vclockOf(info.vclock);
    if (vclock === undefined)
      return [`${label}: box.info.vclock is ${JSON.stringify(info.vclock)}`];
    if (Number(info.signature) !== vclock.signature())
      violations.push(
        `${label}: box.info.signature ${String(info.signature)} is not the sum ${vclock.signature()} of the vclock ${vclock}`,
      );
    const last = this.last;
    if (last !== undefined)
      for (const [id, lsn] of last.entries())
        if (vclock.get(id) < lsn)
          violations.push(
            `${label}: vclock component ${id} went back from ${lsn} to ${vclock.get(id)}`,
          );
    this.last = vclock;
    return violations;
  }
}

/** box.info.gc().consumers as the `needed` list of checkWalDir. */
export function consumersOf(
  gc: Readonly<Record<string, unknown>>,
): { name: string; vclock: Vclock }[] {
  const consumers = Array.isArray(gc.consumers) ? gc.consumers : [];
  return consumers.flatMap((c: { name?: unknown; vclock?: unknown }) => {
    const vclock = vclockOf(c.vclock);
    return vclock === undefined ? [] : [{ name: String(c.name), vclock }];
  });
}

/**
 * The file invariants of `walDir` (and `memtxDir`), with the GC consumers of box.info.gc()
 * that must still have their rows. `allowTorn` for a directory recovery has not repaired.
 */
export async function checkDataDir(
  walDir: string,
  options: {
    readonly memtxDir?: string;
    readonly fs?: FileSystem;
    readonly gc?: Readonly<Record<string, unknown>>;
    readonly allowTorn?: boolean;
    readonly label?: string;
  } = {},
): Promise<string[]> {
  const report = await checkWalDir(walDir, {
    ...(options.fs === undefined ? {} : { fs: options.fs }),
    ...(options.memtxDir === undefined ? {} : { snapDir: options.memtxDir }),
    ...(options.gc === undefined ? {} : { needed: consumersOf(options.gc) }),
    ...(options.allowTorn === undefined ? {} : { allowTorn: options.allowTorn }),
  });
  const label = options.label === undefined ? '' : `${options.label}: `;
  return report.violations.map((v) => `${label}${v}`);
}
