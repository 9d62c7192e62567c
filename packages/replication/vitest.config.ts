import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'replication',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    deps: { interopDefault: false },
    testTimeout: 30_000,
  },
});
