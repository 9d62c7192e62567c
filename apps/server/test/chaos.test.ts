// The chaos runner (scripts/chaos.ts) and a seeded round of each of its campaigns through the
// Campaign contract (scripts/chaos/campaign.ts). The full campaigns are `npm run chaos`.
import { describe, expect, it } from 'vitest';
import type { CampaignResult } from '../scripts/chaos/campaign.js';
import { discoverCampaigns, failed, formatTable } from '../scripts/chaos.js';

const seed = process.env.SEED === undefined ? 424242 : Number(process.env.SEED);
const campaigns = await discoverCampaigns();
const byName = (name: string) => campaigns.find((c) => c.name === name);

function run(name: string, rounds: number): Promise<CampaignResult> {
  const campaign = byName(name);
  if (campaign === undefined) throw new Error(`no campaign ${name}`);
  return campaign.run({ seed, rounds, deadlineMs: 60_000, progress: () => {} });
}

describe('npm run chaos', () => {
  it('discovers every module of scripts/chaos/ that exports a campaign', () => {
    const names = campaigns.map((c) => c.name);
    for (const name of ['kill-9', 'power-loss', 'power-loss-write', 'power-loss-replica'])
      expect(names).toContain(name);
    expect(byName('power-loss')!.fullRounds).toBeGreaterThanOrEqual(100);
    expect(byName('kill-9')!.fullRounds).toBeGreaterThanOrEqual(100);
  });

  it('prints one markdown row per campaign and fails on any loss, divergence or failed start', () => {
    const ok: CampaignResult = {
      campaign: 'x',
      seed: 1,
      rounds: 2,
      faults: 3,
      acknowledgedChecked: 4,
      lost: 0,
      diverged: 0,
      failedStarts: 0,
      failures: [],
    };
    const table = formatTable([{ result: ok, seconds: 1.25 }]).split('\n');
    expect(table[0]!.split('|').map((c) => c.trim())).toEqual([
      '',
      'campaign',
      'rounds',
      'faults injected',
      'acknowledged writes checked',
      'lost',
      'diverged',
      'failed starts',
      'seed',
      'time',
      '',
    ]);
    expect(table[1]).toMatch(/^\|-+\|(-+:\|){8}$/);
    expect(table[2]).toBe(
      '| x        |      2 |               3 |                           4 |    0 |        0 |             0 |    1 | 1.3 s |',
    );
    expect(failed(ok)).toBe(false);
    for (const bad of [{ lost: 1 }, { diverged: 1 }, { failedStarts: 1 }, { failures: ['x'] }])
      expect(failed({ ...ok, ...bad })).toBe(true);
  });

  for (const name of ['power-loss', 'power-loss-write', 'power-loss-replica']) {
    it(`${name}: 2 seeded rounds (SEED=${seed})`, { timeout: 60_000 }, async () => {
      const result = await run(name, 2);
      expect(result.failures).toEqual([]);
      expect(result.rounds).toBe(2);
      expect(result.faults).toBeGreaterThanOrEqual(2);
      expect(result.acknowledgedChecked).toBeGreaterThan(0);
      expect(failed(result)).toBe(false);
    });
  }

  it(`simulator: 20 seeded schedules of the replication simulator (SEED=${seed})`, async () => {
    const result = await run('simulator', 20);
    expect(result.failures).toEqual([]);
    expect(result.rounds).toBe(20);
    expect(result.faults).toBeGreaterThan(20);
    expect(result.acknowledgedChecked).toBeGreaterThan(100);
    expect(failed(result)).toBe(false);
    expect(byName('simulator')!.fullRounds).toBe(100_000);
  });

  it(`kill-9: 1 seeded round of real processes ending in a SIGKILL during box.snapshot() (SEED=${seed})`, {
    timeout: 90_000,
  }, async () => {
    const result = await run('kill-9', 1);
    expect(result.failures).toEqual([]);
    expect(result.rounds).toBe(1);
    expect(result.faults).toBeGreaterThanOrEqual(1);
    expect(result.acknowledgedChecked).toBeGreaterThan(0);
    expect(failed(result)).toBe(false);
  });
});
