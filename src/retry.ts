import { isRetriable, LivefyreError, ReplicationError } from './errors.js';
import type { Random } from './time.js';

/**
 * Full jitter spreads retries over [0, backoff]; equal jitter over
 * [backoff/2, backoff], which keeps a floor under the delay; none waits the
 * backoff itself.
 */
export type Jitter = 'full' | 'equal' | 'none';

/** How one use of the policy retries; the defaults below are data, not code. */
export interface RetrySchedule {
  /** The backoff before the first retry; it doubles with each further attempt. */
  baseMs: number;
  maxMs: number;
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  jitter: Jitter;
  /** Whether only errors classified as retriable are retried, or any error. */
  retries: 'retriable' | 'any';
  /** A steady delay for errors that mean "wait your turn" rather than "something broke". */
  steady?: { delayMs: number; when: (error: unknown) => boolean };
}

export type RetryDecision = number | 'stop';

/** `attempt` is the number of attempts made so far (1 after the first failure). */
export type RetryPolicy = (attempt: number, error: unknown, random: Random) => RetryDecision;

const DEFAULTS = { maxAttempts: Number.POSITIVE_INFINITY, jitter: 'equal', retries: 'retriable' } as const;

/** Replication sessions: retried for as long as the failure is retriable. */
export const RECONNECT: RetrySchedule = {
  ...DEFAULTS,
  baseMs: 1_000,
  maxMs: 30_000,
  // A standby polls at a steady pace: it takes over as soon as the slot is free.
  steady: { delayMs: 2_000, when: (error) => error instanceof ReplicationError && error.slotInUse },
};

/**
 * A long-running role whose Kafka does not answer at start waits for it as
 * long as it takes, as the reconnect loops do. The caller decides what is
 * worth waiting for (an unreachable broker, not a refused password).
 */
export const KAFKA_AT_START: RetrySchedule = { ...DEFAULTS, baseMs: 1_000, maxMs: 30_000, retries: 'any' };

/** Writes to the dead letter topic: whatever failed, the letters must get there eventually. */
export function deadLetterSchedule(settings: { retryBaseMs: number; retryMaxMs: number }): RetrySchedule {
  return { ...DEFAULTS, baseMs: settings.retryBaseMs, maxMs: settings.retryMaxMs, jitter: 'none', retries: 'any' };
}

export function createRetryPolicy(
  schedule: Pick<RetrySchedule, 'baseMs' | 'maxMs'> & Partial<RetrySchedule>,
): RetryPolicy {
  const { baseMs, maxMs, maxAttempts, jitter, retries, steady } = { ...DEFAULTS, ...schedule };
  return (attempt, error, random) => {
    if ((retries === 'retriable' && !isRetriable(error)) || attempt >= maxAttempts) return 'stop';
    if (steady !== undefined && steady.when(error)) return steady.delayMs;
    // The exponent is capped so the power stays finite however long the outage.
    const backoff = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
    const jittered =
      jitter === 'full' ? random() * backoff : jitter === 'equal' ? backoff / 2 + (random() * backoff) / 2 : backoff;
    // The server's Retry-After wins over a shorter backoff, but never beyond
    // maxMs: an absurd header must not park a user for hours.
    const retryAfterMs = error instanceof LivefyreError ? (error.retryAfterMs ?? 0) : 0;
    const floor = Math.min(retryAfterMs, maxMs);
    return Math.round(Math.max(jittered, floor));
  };
}
