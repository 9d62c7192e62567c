import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'snapshot',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    deps: { interopDefault: false },
    testTimeout: 30_000,
  },
});
