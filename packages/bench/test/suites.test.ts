// Every benchmark suite runs at its small scale in the test suite so benchmarks cannot rot.
// This checks that each produces finite, positive figures; it does not judge speed (benchmarks
// are not timed tests).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchSuite } from '../src/harness.js';

const suitesDir = new URL('../src/suites', import.meta.url).pathname;
const files = readdirSync(suitesDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

describe('benchmark suites at small scale', () => {
  it('has suites', () => expect(files.length).toBeGreaterThan(0));
  for (const file of files) {
    it(`${file} runs`, { timeout: 180_000 }, async () => {
      const suite = ((await import(join(suitesDir, file))) as { default: BenchSuite }).default;
      const report = await suite.run('small');
      expect(report.figures.length).toBeGreaterThan(0);
      for (const figure of report.figures) {
        expect(Number.isFinite(figure.value), figure.name).toBe(true);
        if (figure.canBeZero === true) expect(figure.value, figure.name).toBeGreaterThanOrEqual(0);
        else expect(figure.value, figure.name).toBeGreaterThan(0);
      }
      expect(Number.isFinite(report.checksum)).toBe(true);
    });
  }
});
