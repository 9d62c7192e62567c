// The progress port: start, throttled progress, one end; no reporter without a sink.
import { describe, expect, it } from 'vitest';
import { type ProgressEvent, ProgressReporter } from './progress.js';

function recording(): { events: ProgressEvent[]; sink: (event: ProgressEvent) => void } {
  const events: ProgressEvent[] = [];
  return { events, sink: (event) => events.push(event) };
}

describe('ProgressReporter', () => {
  it('is undefined without a sink: nothing is measured', () => {
    expect(ProgressReporter.start(undefined, { task: 'recovery', detail: 'x', unit: 'rows' })).toBe(
      undefined,
    );
  });

  it('sends start, then at most one progress per interval, then one end', () => {
    const { events, sink } = recording();
    let now = 1000;
    const reporter = ProgressReporter.start(sink, {
      task: 'checkpoint',
      detail: 'snapshot 00000000000000000042.snap',
      unit: 'tuples',
      total: 1000,
      intervalMs: 100,
      now: () => now,
    })!;
    // 1000 updates over 500 ms: one every 0.5 ms.
    for (let i = 1; i <= 1000; i++) {
      now += 0.5;
      reporter.update(i, i * 10);
    }
    reporter.finish('done');
    reporter.finish('failed');
    expect(events[0]).toMatchObject({ phase: 'start', done: 0, bytesDone: 0, elapsedMs: 0 });
    expect(events.at(-1)).toMatchObject({
      phase: 'end',
      outcome: 'done',
      done: 1000,
      total: 1000,
      bytesDone: 10_000,
      elapsedMs: 500,
    });
    const progress = events.filter((e) => e.phase === 'progress');
    expect(progress).toHaveLength(5);
    expect(progress.map((e) => e.elapsedMs)).toEqual([100, 200, 300, 400, 500]);
    expect(events.filter((e) => e.phase === 'end')).toHaveLength(1);
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    for (let i = 1; i < events.length; i++) {
      expect(events[i]!.done).toBeGreaterThanOrEqual(events[i - 1]!.done);
      expect(events[i]!.done).toBeLessThanOrEqual(1000);
    }
  });

  it('gives each task its own id', () => {
    const { events, sink } = recording();
    const a = ProgressReporter.start(sink, { task: 'relay', detail: 'a', unit: 'rows' })!;
    const b = ProgressReporter.start(sink, { task: 'relay', detail: 'b', unit: 'rows' })!;
    a.finish('done');
    b.finish('failed');
    expect(events.map((e) => [e.detail, e.phase, e.outcome])).toEqual([
      ['a', 'start', undefined],
      ['b', 'start', undefined],
      ['a', 'end', 'done'],
      ['b', 'end', 'failed'],
    ]);
    expect(events[0]!.id).not.toBe(events[1]!.id);
  });

  it('refuses counters beyond the total, going back, or after the end', () => {
    const { sink } = recording();
    const reporter = ProgressReporter.start(sink, {
      task: 'checkpoint',
      detail: 'x',
      unit: 'tuples',
      total: 10,
      bytesTotal: 100,
    })!;
    expect(() => reporter.update(11, 0)).toThrow(/beyond its total/);
    expect(() => reporter.update(1, 101)).toThrow(/beyond its total/);
    reporter.update(5, 50);
    expect(() => reporter.update(4, 50)).toThrow(/went back/);
    reporter.finish('done');
    expect(() => reporter.update(6, 60)).toThrow(/after its end/);
  });
});
