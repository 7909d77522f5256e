import { defineConfig } from 'vitest/config';

/** The vitest config every package uses: tests in test/, one file at a time (tfjs-node uses both cores). */
export const sharedConfig = defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
