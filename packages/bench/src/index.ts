// @tarantype/bench: benchmark suites (src/suites) and their harness. Private, dev only.
export {
  type BenchFigure,
  type BenchReport,
  type BenchScale,
  type BenchSuite,
  formatReport,
  medianMs,
  percentile,
} from './harness.js';
