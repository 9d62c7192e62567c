// The watchdog against real stalls of this process (a synchronous spin) and an injected clock.
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoopWatchdog } from './watchdog.js';

/** Blocks this process' event loop for `ms`. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let watchdog: EventLoopWatchdog | undefined;
afterEach(() => watchdog?.stop());

describe('EventLoopWatchdog', () => {
  it('logs one line per stall above the threshold, with its length, and counts it', async () => {
    const lines: string[] = [];
    watchdog = new EventLoopWatchdog({ thresholdS: () => 0.3, warn: (m) => lines.push(m) });
    watchdog.start();
    await tick(150);
    block(150); // below the threshold
    await tick(250);
    expect(lines).toEqual([]);
    block(600);
    await tick(250);
    expect(lines).toHaveLength(1);
    const seconds = Number(/^event loop stalled for (\d+\.\d{3}) s$/.exec(lines[0]!)?.[1]);
    expect(seconds).toBeGreaterThanOrEqual(0.45);
    expect(seconds).toBeLessThan(1.5);
    expect(watchdog.stats.stalls).toBe(1);
    expect(watchdog.stats.longestSeconds).toBeCloseTo(seconds, 2);
  });

  it('reads the threshold at each check (box.cfg.too_long_threshold is dynamic)', async () => {
    const lines: string[] = [];
    let threshold = 5;
    watchdog = new EventLoopWatchdog({ thresholdS: () => threshold, warn: (m) => lines.push(m) });
    watchdog.start();
    await tick(150);
    block(400);
    await tick(250);
    expect(lines).toEqual([]);
    threshold = 0.2;
    block(400);
    await tick(250);
    expect(lines).toHaveLength(1);
  });

  it('a threshold below one period does not report the timer jitter', async () => {
    const lines: string[] = [];
    // A clock on which every tick is 60 ms late: jitter, below one period (100 ms).
    let clock = 0;
    watchdog = new EventLoopWatchdog({
      thresholdS: () => 0,
      warn: (m) => lines.push(m),
      now: () => {
        clock += 160;
        return clock;
      },
    });
    watchdog.start();
    await tick(450);
    expect(lines).toEqual([]);
    expect(watchdog.stats.stalls).toBe(0);
  });
});
