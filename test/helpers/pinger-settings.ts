import type { Config } from '../../src/config/index.js';

/**
 * The pinger's settings for a test: quick retries and commits, the pull
 * confirmation loop off, and each test's own choices on top (the ones its
 * behaviour depends on). A new `pinger.*` key gets its test value here once.
 */
export function testPingerSettings(overrides: Partial<Config['pinger']> = {}): Config['pinger'] {
  return {
    ratePerSecond: 500,
    concurrency: 10,
    coalesceMs: 50,
    maxAttempts: 4,
    retryBaseMs: 50,
    retryMaxMs: 300,
    forbiddenPauseMs: 60_000,
    commitIntervalMs: 100,
    maxPendingEvents: 10_000,
    stopGraceMs: 1_000,
    heartbeatIntervalMs: 1_000,
    sessionTimeoutMs: 30_000,
    pullConfirmMs: 0,
    pullConfirmAttempts: 4,
    ...overrides,
  };
}
