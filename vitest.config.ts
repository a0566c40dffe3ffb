import { defineConfig } from 'vitest/config';

// Tests run on slow shared 2-core CI machines: generous timeouts, no timing assertions.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
