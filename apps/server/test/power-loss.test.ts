// Seeded power-loss rounds (power-loss-model.ts): an in-process Box on a PowerLossDisk loses
// power under concurrent writers and checkpoints. wal_mode fsync: every acknowledged write
// survives; write: the loss is the unsynced tail only (CONSISTENCY.md). The full campaigns are
// `npm run chaos` (power-loss, power-loss-write); SEED= replays a round.
import { describe, expect, it } from 'vitest';
import { runPowerLossRound } from './power-loss-model.js';

const base = process.env.SEED === undefined ? 20261201 : Number(process.env.SEED);
const rounds = process.env.SEED === undefined ? 2 : 1;

describe('power loss', () => {
  for (const mode of ['fsync', 'write'] as const) {
    it(`wal_mode ${mode}: ${rounds} seeded rounds from seed ${base}`, {
      timeout: 60_000,
    }, async () => {
      let checked = 0;
      for (let i = 0; i < rounds; i++) {
        const result = await runPowerLossRound(base + i, mode);
        expect(result.failures, result.failures.join('\n')).toEqual([]);
        expect(result.powerLosses).toBeGreaterThanOrEqual(1);
        checked += result.acknowledgedChecked;
      }
      expect(checked).toBeGreaterThan(0);
    });
  }
});
