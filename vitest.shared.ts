import { defineConfig } from 'vitest/config';

// libtensorflow reads its log level only from the environment it starts with; test workers inherit this one.
// Level 2 hides its start-up notices (oneDNN, CPU features) and keeps errors.
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';

/** The vitest config every package uses: tests in test/, one file at a time (tfjs-node uses both cores). */
export const sharedConfig = defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
