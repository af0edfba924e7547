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
