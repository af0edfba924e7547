import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    // A cold first run downloads the Kafka jars inside the global setup.
    hookTimeout: 180_000,
    reporters: ['default', './test/setup/summary-reporter.ts'],
    pool: 'forks',
    // The machine has 2 cores, and Postgres and Kafka need some of them too.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        // Unit tests need no services, so they start none and run in seconds.
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          // Starts (or reuses) the local PostgreSQL and Kafka once for all these files.
          globalSetup: ['test/setup/global.ts'],
        },
      },
    ],
  },
});
