import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LivefyreError, ReplicationError, UsageError } from '../../src/errors.js';
import { loadConfig } from '../../src/config/index.js';
import { createRetryPolicy, deadLetterSchedule, RECONNECT } from '../../src/retry.js';

const transient = new LivefyreError('503', { status: 503, retriable: true });
const options = { baseMs: 500, maxMs: 60_000, maxAttempts: 8 };

describe('retry policy', () => {
  it('doubles from baseMs, capped at maxMs (full jitter at its top)', () => {
    const policy = createRetryPolicy({ ...options, jitter: 'full' });
    const delays = [1, 2, 3, 4, 5, 6, 7].map((attempt) => policy(attempt, transient, () => 0.999999));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 32000]);
    const capped = createRetryPolicy({ ...options, maxAttempts: 20, jitter: 'full' });
    expect(capped(12, transient, () => 0.999999)).toBe(60_000);
  });

  it('full jitter spreads over [0, backoff], equal jitter over [backoff/2, backoff]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, r) => {
          const backoff = Math.min(60_000, 500 * 2 ** (attempt - 1));
          const full = createRetryPolicy({ ...options, jitter: 'full' })(attempt, transient, () => r) as number;
          const equal = createRetryPolicy({ ...options, jitter: 'equal' })(attempt, transient, () => r) as number;
          expect(full).toBeGreaterThanOrEqual(0);
          expect(full).toBeLessThanOrEqual(backoff);
          expect(equal).toBeGreaterThanOrEqual(backoff / 2);
          expect(equal).toBeLessThanOrEqual(backoff);
        },
      ),
    );
  });

  it('stops after maxAttempts attempts in all', () => {
    const policy = createRetryPolicy({ ...options, maxAttempts: 3 });
    expect(policy(2, transient, () => 0.5)).toBeTypeOf('number');
    expect(policy(3, transient, () => 0.5)).toBe('stop');
  });

  it('stops at once for errors a retry cannot fix', () => {
    const policy = createRetryPolicy(options);
    expect(policy(1, new LivefyreError('404', { status: 404, retriable: false }), () => 0.5)).toBe('stop');
    expect(policy(1, new UsageError('bad'), () => 0.5)).toBe('stop');
    expect(policy(1, new TypeError('bug'), () => 0.5)).toBe('stop');
  });

  it('honours Retry-After over a shorter backoff, but not beyond maxMs', () => {
    const policy = createRetryPolicy({ ...options, jitter: 'full' });
    const tooMany = (ms: number) => new LivefyreError('429', { status: 429, retriable: true, retryAfterMs: ms });
    expect(policy(1, tooMany(7_000), () => 0)).toBe(7_000);
    expect(policy(7, tooMany(1_000), () => 0.999999)).toBe(32_000);
    expect(policy(1, tooMany(3_600_000), () => 0)).toBe(60_000);
  });
});

describe('reconnecting replication sessions', () => {
  const reconnect = createRetryPolicy(RECONNECT);
  const broken = new ReplicationError('connection reset', { retriable: true });

  it('grows exponentially to a ceiling, with jitter in the upper half', () => {
    expect(reconnect(1, broken, () => 0)).toBe(500);
    expect(reconnect(1, broken, () => 1)).toBe(1_000);
    expect(reconnect(4, broken, () => 1)).toBe(8_000);
    expect(reconnect(100, broken, () => 1)).toBe(RECONNECT.maxMs);
  });

  it('never gives up on a retriable failure', () => {
    expect(reconnect(10_000, broken, () => 0.5)).toBeTypeOf('number');
  });

  it('polls steadily as a standby', () => {
    const slotInUse = new ReplicationError('slot active', { retriable: true, sqlState: '55006' });
    expect(reconnect(9, slotInUse, () => 0.5)).toBe(2_000);
    expect(reconnect(1, slotInUse, () => 0)).toBe(2_000);
  });
});

describe('retrying dead letter writes', () => {
  const retry = createRetryPolicy(deadLetterSchedule({ retryBaseMs: 500, retryMaxMs: 60_000 }));

  it('doubles from retryBaseMs without jitter, capped at retryMaxMs', () => {
    const delays = [1, 2, 3, 8, 50].map((attempt) => retry(attempt, new Error('broker down'), () => 0));
    expect(delays).toEqual([500, 1_000, 2_000, 60_000, 60_000]);
  });

  it('retries any error, unclassified ones included', () => {
    expect(retry(1_000, new TypeError('kafkajs said no'), () => 0.5)).toBe(60_000);
  });
});

describe('the default ping schedule', () => {
  it('rides out a Livefyre outage of at least an hour before a change is dead-lettered', () => {
    const { pinger } = loadConfig({ env: {} });
    const policy = createRetryPolicy({
      baseMs: pinger.retryBaseMs,
      maxMs: pinger.retryMaxMs,
      maxAttempts: pinger.maxAttempts,
    });
    // The shortest waits equal jitter can draw: every retry at half its backoff.
    let waitedMs = 0;
    for (let attempt = 1; ; attempt += 1) {
      const decision = policy(attempt, transient, () => 0);
      if (decision === 'stop') break;
      waitedMs += decision;
    }
    expect(waitedMs).toBeGreaterThanOrEqual(60 * 60 * 1000);
    expect(policy(pinger.maxAttempts, transient, () => 0)).toBe('stop');
  });
});
