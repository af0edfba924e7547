import pg from 'pg';
import type { Pool, PoolClient } from '../db.js';
import type { Timers } from '../time.js';

export type GateOutcome<T> =
  | { readonly status: 'done'; readonly value: T }
  /** Too many pulls already wait for or use a connection: shed this one at once. */
  | { readonly status: 'busy' }
  /** No answer within the deadline (no free connection, or a slow or blocked query). */
  | { readonly status: 'timeout' };

/**
 * Bounds the database work of pulls. At most `maxInFlight` pulls wait for or
 * hold a connection; one more is refused at once (the caller answers 503 with
 * Retry-After) instead of joining an unbounded queue in the pool. A pull that
 * is not answered within `timeoutMs` is answered "timeout", but keeps its
 * place in the count until its work really ends, so abandoned work cannot
 * pile up behind the cap; and a connection that arrives after the deadline is
 * handed back without running the query.
 */
export interface DatabaseGate {
  run<T>(work: (client: PoolClient) => Promise<T>): Promise<GateOutcome<T>>;
  readonly inFlight: number;
}

export function createDatabaseGate(options: {
  pool: Pick<Pool, 'connect'>;
  maxInFlight: number;
  timeoutMs: number;
  timers: Timers;
}): DatabaseGate {
  let inFlight = 0;
  return {
    get inFlight() {
      return inFlight;
    },
    run<T>(work: (client: PoolClient) => Promise<T>): Promise<GateOutcome<T>> {
      if (inFlight >= options.maxInFlight) return Promise.resolve({ status: 'busy' });
      inFlight += 1;
      return new Promise<GateOutcome<T>>((resolve, reject) => {
        let expired = false;
        const timer = options.timers.setTimeout(() => {
          expired = true;
          resolve({ status: 'timeout' });
        }, options.timeoutMs);
        const attempt = async (): Promise<GateOutcome<T> | undefined> => {
          const client = await options.pool.connect();
          let failure: unknown;
          try {
            if (expired) return undefined;
            return { status: 'done', value: await work(client) };
          } catch (error) {
            failure = error;
            throw error;
          } finally {
            // a server-side error (bad SQL, statement timeout) leaves the connection usable; anything else may not
            client.release(failure !== undefined && !(failure instanceof pg.DatabaseError));
          }
        };
        const settle = (): void => {
          inFlight -= 1;
          options.timers.clearTimeout(timer);
        };
        attempt().then(
          (outcome) => {
            settle();
            if (outcome !== undefined) resolve(outcome);
          },
          (error: unknown) => {
            settle();
            if (!expired) reject(error);
          },
        );
      });
    },
  };
}

/**
 * Looks many keys up with one query: `read` answers the values found (a key
 * missing from the map has none).
 */
export type BatchRead<T> = (client: PoolClient, keys: readonly string[]) => Promise<ReadonlyMap<string, T>>;

/** The database gate of one-key lookups that share queries: `undefined` is "no such key". */
export interface BatchingGate<T> {
  run(key: string): Promise<GateOutcome<T | undefined>>;
  readonly inFlight: number;
  /** Queries running or waiting for a connection. */
  readonly batches: number;
}

interface Waiter<T> {
  readonly key: string;
  expired: boolean;
  /** Taken into a batch: its work ends when the batch's query does. */
  taken: boolean;
  timer: unknown;
  resolve(outcome: GateOutcome<T | undefined>): void;
  reject(error: unknown): void;
}

/**
 * The database gate (`createDatabaseGate`) for lookups of one key each that
 * may share a query: the lookups that arrive while `maxBatches` queries run
 * (or in the same turn of the event loop) wait together and are answered by
 * one query of at most `maxBatch` keys. Every lookup keeps the gate's own
 * terms: refused at once ("busy") beyond `maxInFlight`, answered "timeout"
 * at its own deadline (counted until its query ends if one took it, dropped
 * at once if still waiting), and when the query fails, every lookup it
 * carried that has not timed out gets the error.
 */
export function createBatchingGate<T>(options: {
  pool: Pick<Pool, 'connect'>;
  read: BatchRead<T>;
  maxInFlight: number;
  timeoutMs: number;
  maxBatch: number;
  maxBatches: number;
  timers: Timers;
}): BatchingGate<T> {
  let inFlight = 0;
  let batches = 0;
  let scheduled = false;
  let waiting: Array<Waiter<T>> = [];

  const finish = (waiter: Waiter<T>): void => {
    inFlight -= 1;
    options.timers.clearTimeout(waiter.timer);
  };

  // Deferred to the check phase: every pull whose request was read in this poll phase joins the batch.
  const schedule = (): void => {
    if (scheduled || waiting.length === 0 || batches >= options.maxBatches) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      while (waiting.length > 0 && batches < options.maxBatches) void runBatch(waiting.splice(0, options.maxBatch));
    });
  };

  async function runBatch(batch: Array<Waiter<T>>): Promise<void> {
    batches += 1;
    for (const waiter of batch) waiter.taken = true;
    try {
      const client = await options.pool.connect();
      const live = batch.filter((waiter) => !waiter.expired);
      let failure: unknown;
      try {
        if (live.length === 0) return;
        const found = await options.read(client, [...new Set(live.map((waiter) => waiter.key))]);
        for (const waiter of live) {
          if (!waiter.expired) waiter.resolve({ status: 'done', value: found.get(waiter.key) });
        }
      } catch (error) {
        failure = error;
        throw error;
      } finally {
        // a server-side error (bad SQL, statement timeout) leaves the connection usable; anything else may not
        client.release(failure !== undefined && !(failure instanceof pg.DatabaseError));
      }
    } catch (error) {
      for (const waiter of batch) if (!waiter.expired) waiter.reject(error);
    } finally {
      for (const waiter of batch) finish(waiter);
      batches -= 1;
      schedule();
    }
  }

  return {
    get inFlight() {
      return inFlight;
    },
    get batches() {
      return batches;
    },
    run(key) {
      if (inFlight >= options.maxInFlight) return Promise.resolve({ status: 'busy' });
      inFlight += 1;
      return new Promise((resolve, reject) => {
        const waiter: Waiter<T> = { key, expired: false, taken: false, timer: undefined, resolve, reject };
        waiter.timer = options.timers.setTimeout(() => {
          waiter.expired = true;
          resolve({ status: 'timeout' });
          // still waiting for a batch: no work of its own is left, so it leaves the count now
          if (!waiter.taken) {
            waiting = waiting.filter((other) => other !== waiter);
            inFlight -= 1;
          }
        }, options.timeoutMs);
        waiting.push(waiter);
        schedule();
      });
    },
  };
}
