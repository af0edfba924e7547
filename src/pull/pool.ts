import type { Config } from '../config/index.js';
import { createPool, type Pool } from '../db.js';

/**
 * The pull server's own pool: Livefyre's pulls then never wait behind
 * resync or lag queries (nor those behind a burst of pulls), and Postgres
 * itself ends a pull query that runs or waits for a lock longer than
 * `pull.statementTimeoutMs`, which a shared pool could not impose on pulls alone.
 */
export function createPullPool(
  databaseUrl: string,
  pull: Pick<Config['pull'], 'poolSize' | 'statementTimeoutMs'>,
): Pool {
  return createPool({
    url: databaseUrl,
    max: pull.poolSize,
    applicationName: 'pingpull-pull',
    statementTimeoutMs: pull.statementTimeoutMs,
  });
}
