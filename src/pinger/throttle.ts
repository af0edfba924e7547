import type { Clock, Timers } from '../time.js';

export interface ThrottleOptions {
  /** Token bucket refill rate; Infinity: no bucket, only the concurrency ceiling (a semaphore). */
  ratePerSecond: number;
  /** Ceiling of permits held at once. */
  concurrency: number;
  /** Bucket size: how many requests may start back to back after an idle spell. */
  burst?: number;
  clock: Clock;
  timers: Timers;
}

/** Gives back the concurrency slot of a granted permit; calling it twice is harmless. */
export type Release = () => void;

export interface Throttle {
  /** Resolves with a release function once a request may start, in FIFO order; with undefined once closed. */
  acquire(): Promise<Release | undefined>;
  /** Refuses all waiting and future acquisitions. */
  close(): void;
  readonly inFlight: number;
  readonly waiting: number;
}

/**
 * A token bucket (rate) in front of a semaphore (concurrency). The bucket
 * defaults to a tenth of a second's worth of tokens, so output stays smooth
 * instead of starting with a full second's burst. Without a rate (Infinity)
 * it is only the semaphore.
 */
export function createThrottle(options: ThrottleOptions): Throttle {
  const { clock, timers, ratePerSecond, concurrency } = options;
  const metered = Number.isFinite(ratePerSecond);
  const capacity = Math.max(1, options.burst ?? Math.ceil(ratePerSecond / 10));
  const waiters: Array<(release: Release | undefined) => void> = [];
  let tokens = capacity;
  let refilledAt = clock.now();
  let inFlight = 0;
  let timer: unknown;
  let closed = false;

  function refill(): void {
    const now = clock.now();
    tokens = Math.min(capacity, tokens + ((now - refilledAt) * ratePerSecond) / 1000);
    refilledAt = now;
  }

  function grant(): Release {
    inFlight += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      inFlight -= 1;
      pump();
    };
  }

  function pump(): void {
    while (!closed && waiters.length > 0 && inFlight < concurrency) {
      if (metered) refill();
      if (metered && tokens < 1) {
        if (timer === undefined) {
          const waitMs = Math.max(1, Math.ceil(((1 - tokens) * 1000) / ratePerSecond));
          timer = timers.setTimeout(() => {
            timer = undefined;
            pump();
          }, waitMs);
        }
        return;
      }
      if (metered) tokens -= 1;
      const resolve = waiters.shift() as (release: Release | undefined) => void;
      resolve(grant());
    }
  }

  return {
    acquire() {
      if (closed) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        waiters.push(resolve);
        pump();
      });
    },
    close() {
      closed = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
      for (const resolve of waiters.splice(0)) resolve(undefined);
    },
    get inFlight() {
      return inFlight;
    },
    get waiting() {
      return waiters.length;
    },
  };
}
