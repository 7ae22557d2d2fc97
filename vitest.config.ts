import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration suites share one Kafka broker and one CPU-bound local model: run files one
    // after another so timings stay sane on a 2-core machine.
    fileParallelism: false,
  },
});
