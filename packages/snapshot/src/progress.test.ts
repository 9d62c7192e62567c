import { describe, expect, it } from 'vitest';
import { MEGABYTE, ProgressMeter, type SnapshotProgress } from './progress.js';

describe('ProgressMeter', () => {
  it('calls the hook at most once per interval and once at the end', () => {
    let now = 0;
    const calls: SnapshotProgress[] = [];
    const meter = new ProgressMeter(
      (p) => calls.push(p),
      1000,
      100,
      undefined,
      () => now,
    );
    for (let i = 1; i <= 100; i++) {
      now += 50;
      meter.rows = i;
      meter.bytes = i * MEGABYTE;
      meter.tick();
    }
    expect(calls.map((c) => c.rows)).toEqual([20, 40, 60, 80, 100]);
    const last = meter.finish();
    expect(last).toMatchObject({
      rows: 100,
      rowsTotal: 100,
      bytes: 100 * MEGABYTE,
      elapsedMs: 5000,
      rateMBps: 20,
      done: true,
    });
    expect(calls.length).toBe(6);
    expect(calls.slice(0, -1).every((c) => !c.done)).toBe(true);
  });

  it('costs nothing without a hook', () => {
    const meter = new ProgressMeter(undefined, 0, undefined, 10, () => 0);
    meter.tick();
    expect(meter.finish()).toMatchObject({ rows: 0, bytesTotal: 10, rateMBps: 0, done: true });
  });
});
