import { defineConfig } from 'vitest/config';

// The feature bench (bench/features.bench-run.ts, docs/performance-features.md) with vitest as its TypeScript runner:
// it needs the TypeScript harnesses of test/helpers (a real kube-apiserver, a real docker-registry). Not a test and
// never part of `npm test` (vitest.config.ts includes test/**/*.test.ts only). Run after `npm run build`:
//   npx vitest run --config vitest.features.config.ts
export default defineConfig({
  test: {
    include: ['bench/**/*.bench-run.ts'],
    // A bench run takes minutes; its figures are printed, never asserted.
    testTimeout: 3_600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
    // The tables go straight to the terminal, as from any other bench script.
    disableConsoleIntercept: true,
  },
});
