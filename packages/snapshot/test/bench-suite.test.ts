// The snapshot benchmark suite at small scale, from this package (the bench package runs every
// suite too, once it depends on @tarantype/snapshot): it must run and produce finite figures.
import { expect, it } from 'vitest';
import type { BenchSuite } from '../../bench/src/harness.js';

it('the snapshot benchmark suite runs at small scale', { timeout: 120_000 }, async () => {
  const suite = ((await import('../../bench/src/suites/snapshot.js')) as { default: BenchSuite }).default;
  const report = await suite.run('small');
  expect(report.suite).toBe('snapshot');
  expect(report.figures.length).toBeGreaterThan(8);
  for (const figure of report.figures) {
    expect(Number.isFinite(figure.value), figure.name).toBe(true);
    expect(figure.value, figure.name).toBeGreaterThan(0);
  }
  expect(report.checksum).toBeGreaterThan(0);
});
