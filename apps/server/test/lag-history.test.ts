// The status page's lag history: a ring per upstream that keeps the newest samples in order,
// and a sampler that stops by itself when the instance stops (no timer left behind).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LagHistory } from '../src/http/lag-history.js';
import { createStatusPage } from '../src/http/status-page.js';
import { startInstance, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

describe('LagHistory', () => {
  it('keeps the newest samples of each upstream, oldest first, once the ring is full', () => {
    const history = new LagHistory(4);
    for (let t = 1; t <= 10; t++) history.add('uuid-b', 3, 'u@h:2', [t, t / 1000, 'follow']);
    history.add('uuid-a', 1, 'u@h:1', [5, null, 'disconnected']);
    const snapshot = history.snapshot();
    expect(snapshot.map((u) => u.id)).toEqual([1, 3]);
    expect(snapshot[1]!.samples.map(([t]) => t)).toEqual([7, 8, 9, 10]);
    expect(snapshot[0]!.samples).toEqual([[5, null, 'disconnected']]);
  });

  it('samples a running instance and stops once it stops', async () => {
    const { instance } = await startInstance(dir);
    const page = createStatusPage(instance, { sampleIntervalMs: 20 });
    try {
      expect(page.history.running).toBe(true);
      await new Promise((r) => setTimeout(r, 60));
      // No upstreams on a lone instance: nothing to record, and the sampler goes on.
      expect(page.history.snapshot()).toEqual([]);
      expect(page.history.running).toBe(true);
      await instance.stop();
      await new Promise((r) => setTimeout(r, 60));
      expect(page.history.running).toBe(false);
    } finally {
      page.stop();
      await instance.stop();
    }
  });
});
