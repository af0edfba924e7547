import { isRetriable, LivefyreError } from '../errors.js';
import type { Random } from '../time.js';

/**
 * Full jitter spreads retries over [0, backoff]; equal jitter over
 * [backoff/2, backoff], which keeps a floor under the delay.
 */
export type Jitter = 'full' | 'equal';

export interface RetryOptions {
  baseMs: number;
  maxMs: number;
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  jitter?: Jitter;
}

export type RetryDecision = number | 'stop';

/** `attempt` is the number of attempts made so far (1 after the first failure). */
export type RetryPolicy = (attempt: number, error: unknown, random: Random) => RetryDecision;

export function createRetryPolicy(options: RetryOptions): RetryPolicy {
  const jitter = options.jitter ?? 'equal';
  return (attempt, error, random) => {
    if (!isRetriable(error) || attempt >= options.maxAttempts) return 'stop';
    const backoff = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
    const jittered = jitter === 'full' ? random() * backoff : backoff / 2 + (random() * backoff) / 2;
    // The server's Retry-After wins over a shorter backoff, but never beyond
    // maxMs: an absurd header must not park a user for hours.
    const retryAfterMs = error instanceof LivefyreError ? (error.retryAfterMs ?? 0) : 0;
    const floor = Math.min(retryAfterMs, options.maxMs);
    return Math.round(Math.max(jittered, floor));
  };
}
