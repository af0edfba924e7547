import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts (or reuses) the local PostgreSQL and Kafka once for all test files.
    globalSetup: ['test/setup/global.ts'],
    testTimeout: 60_000,
    // A cold first run downloads the Kafka jars inside the global setup.
    hookTimeout: 180_000,
    reporters: ['default', './test/setup/summary-reporter.ts'],
    pool: 'forks',
    // The machine has 2 cores, and Postgres and Kafka need some of them too.
    maxWorkers: 2,
  },
});
