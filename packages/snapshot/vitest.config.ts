import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';

const source = (file: string) => fileURLToPath(new URL(`./src/${file}`, import.meta.url));

export default defineProject({
  // The bench suite (packages/bench/src/suites/snapshot.ts) imports this package by name; the
  // bench package may not list it yet, so test/bench-suite.test.ts resolves it here.
  resolve: {
    alias: [
      { find: /^@tarantype\/snapshot$/, replacement: source('index.ts') },
      { find: /^@tarantype\/snapshot\/testing$/, replacement: source('testing.ts') },
    ],
  },
  test: {
    name: 'snapshot',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    deps: { interopDefault: false },
    testTimeout: 30_000,
  },
});
