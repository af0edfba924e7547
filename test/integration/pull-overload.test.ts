import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../src/db.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { buildPullServer, createPullPool, type PullOptions } from '../../src/pull/index.js';
import { systemClock } from '../../src/time.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { makeToken, NETWORK, NETWORK_KEY } from '../helpers/tokens.js';
import { createUsersTable, SOURCE } from '../helpers/users-fixture.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Overload without timing assertions: another session holds an ACCESS
 * EXCLUSIVE lock on the users table, so every pull query blocks until the
 * test lets go. What is asserted is which answers come, never how fast.
 */
describe('pull server under overload', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  let locker: pg.Client;
  let token: string;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await createUsersTable(db.url);
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    token = await makeToken();
  });

  afterAll(async () => {
    await locker?.end().catch(() => undefined);
    await admin?.end();
    await Promise.all(pools.map((pool) => pool.end()));
    await db?.drop();
  });

  const build = async (pull: Partial<PullOptions>, pool: { poolSize: number; statementTimeoutMs: number }) => {
    const created = createPullPool(db.url, pool);
    pools.push(created);
    return buildPullServer({
      pool: created,
      source: SOURCE,
      pull: { path: '/livefyre/profiles', ...pull },
      livefyre: { network: NETWORK, networkKey: NETWORK_KEY },
      logger: createLogger('silent'),
      metrics: createMetrics({ defaultMetrics: false }),
      clock: systemClock,
    });
  };

  const lockTable = async () => {
    locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE app.members IN ACCESS EXCLUSIVE MODE');
  };
  const unlockTable = async () => {
    await locker.query('COMMIT');
    await locker.end();
  };
  /** Waits until `count` pull queries are blocked on the lock. */
  const blockedPulls = (count: number) =>
    waitFor(
      async () => {
        const { rows } = await admin.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'pingpull-pull' AND wait_event_type = 'Lock'`,
        );
        return (rows[0]?.n ?? 0) >= count;
      },
      { what: `${count} blocked pull queries` },
    );

  it('sheds pulls beyond the in-flight cap with 503 and Retry-After, and serves the held ones afterwards', async () => {
    // two connections: each pull's query runs (one per batch) and blocks, so both are visibly in flight
    const app = await build({ maxInFlight: 2, requestTimeoutMs: 60_000 }, { poolSize: 2, statementTimeoutMs: 60_000 });
    const get = (url: string) => app.inject({ method: 'GET', url });
    await lockTable();
    try {
      const held = get(`/livefyre/profiles/1042?lftoken=${token}`);
      await blockedPulls(1);
      const queued = get(`/livefyre/profiles/7?lftoken=${token}`);
      await blockedPulls(2);

      const shed = await get(`/livefyre/profiles/8?lftoken=${token}`);
      expect(shed.statusCode).toBe(503);
      expect(shed.headers['retry-after']).toBe('1');
      expect(shed.body).toBe('');

      // bad input still gets its 4xx, and liveness does not depend on the database
      expect((await get('/livefyre/profiles/8?lftoken=nope')).statusCode).toBe(403);
      expect((await get(`/livefyre/profiles/bad%20id?lftoken=${token}`)).statusCode).toBe(400);
      expect((await get(`/livefyre/profiles/007?lftoken=${token}`)).statusCode).toBe(404);
      expect((await get('/healthz')).statusCode).toBe(200);

      await unlockTable();
      expect((await held).statusCode).toBe(200);
      expect((await queued).statusCode).toBe(200);
      expect((await get(`/livefyre/profiles/8?lftoken=${token}`)).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('answers 503 with Retry-After when a pull misses its deadline, then recovers', async () => {
    const app = await build({ maxInFlight: 8, requestTimeoutMs: 200 }, { poolSize: 1, statementTimeoutMs: 60_000 });
    await lockTable();
    try {
      const late = await app.inject({ method: 'GET', url: `/livefyre/profiles/1042?lftoken=${token}` });
      expect(late.statusCode).toBe(503);
      expect(late.headers['retry-after']).toBe('1');
      await unlockTable();
      await waitFor(
        async () => {
          const response = await app.inject({ method: 'GET', url: `/livefyre/profiles/1042?lftoken=${token}` });
          return response.statusCode === 200;
        },
        { what: 'the pull server to answer again' },
      );
    } finally {
      await app.close();
    }
  });

  it("lets Postgres end a blocked pull query through the pull pool's statement timeout (503, not 500)", async () => {
    const app = await build({ maxInFlight: 8, requestTimeoutMs: 60_000 }, { poolSize: 1, statementTimeoutMs: 200 });
    await lockTable();
    try {
      const response = await app.inject({ method: 'GET', url: `/livefyre/profiles/1042?lftoken=${token}` });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBeDefined();
    } finally {
      await unlockTable();
    }
    try {
      expect((await app.inject({ method: 'GET', url: `/livefyre/profiles/1042?lftoken=${token}` })).statusCode).toBe(
        200,
      );
    } finally {
      await app.close();
    }
  });
});
