// Seeded storage-fault rounds (storage-faults-model.ts): each fault (EIO on a write, a torn
// write, a failed fdatasync, a full disk) in each target (the WAL under writers, the snapshot
// writer during box.snapshot(), a joining replica's files), and a power loss of the master
// while a replica joins. The full campaign is `npm run
// chaos` (storage-faults); SEED= replays a round.
import { describe, expect, it } from 'vitest';
import { runStorageFaultRound } from './storage-faults-model.js';

const base = process.env.SEED === undefined ? 20261215 : Number(process.env.SEED);

describe('storage faults', () => {
  for (const target of ['wal', 'snapshot', 'join'] as const) {
    it(`${target}: EIO, a torn write, a failed fdatasync and ENOSPC (seed ${base})`, {
      timeout: 60_000,
    }, async () => {
      let faults = 0;
      let acknowledged = 0;
      let failed = 0;
      for (const [i, kind] of (['eio', 'torn', 'fdatasync', 'enospc'] as const).entries()) {
        const result = await runStorageFaultRound(base + i, { target, kind });
        expect(result.failures, result.failures.join('\n')).toEqual([]);
        expect(result.failedStarts).toBe(0);
        faults += result.faults;
        acknowledged += result.acknowledgedChecked;
        failed += result.failedChecked;
      }
      expect(faults).toBeGreaterThanOrEqual(2);
      expect(acknowledged).toBeGreaterThan(0);
      // Faults in the WAL fail transactions (checked absent after the restart).
      if (target === 'wal') expect(failed).toBeGreaterThan(0);
    });
  }

  it(`master-join: the master loses power while a replica joins, twice (seed ${base})`, {
    timeout: 60_000,
  }, async () => {
    let acknowledged = 0;
    for (let i = 0; i < 2; i++) {
      const result = await runStorageFaultRound(base + i, { target: 'master-join' });
      expect(result.failures, result.failures.join('\n')).toEqual([]);
      expect(result.faults).toBe(1);
      expect(result.failedStarts).toBe(0);
      acknowledged += result.acknowledgedChecked;
    }
    expect(acknowledged).toBeGreaterThan(0);
  });
});
