import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/db.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { buildPullServer } from '../../src/pull/index.js';
import { systemClock } from '../../src/time.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { makeToken, NETWORK, NETWORK_KEY } from '../helpers/tokens.js';
import { ADA_JSON, createUsersTable, SOURCE } from '../helpers/users-fixture.js';

/**
 * Pulls that arrive together share one profile query (README, "The pull
 * server under load"): each must still get its own answer, whatever the id column's
 * type, and each its 503 when the query fails.
 */
describe('pull server answering concurrent pulls with shared queries', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  let token: string;
  const pools: Pool[] = [];
  const apps: FastifyInstance[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await createUsersTable(db.url);
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`
      CREATE TABLE app.text_users (handle text PRIMARY KEY, nick text);
      INSERT INTO app.text_users VALUES ('ada', 'Ada'), ('Ada', 'Big Ada'), ('a.b-c_d', 'Dotted'), ('007', 'Bond');
      CREATE TABLE app.uuid_users (id uuid PRIMARY KEY, nick text);
      INSERT INTO app.uuid_users VALUES
        ('6f1c2a7e-8d4b-4c1e-9a3f-2b5d7e9f0a1c', 'First'), ('00000000-0000-0000-0000-00000000002a', 'Second');
    `);
    token = await makeToken();
  });

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await Promise.all(pools.map((pool) => pool.end()));
    await admin?.end();
    await db?.drop();
  });

  /** A server on its own pool; `acquired` counts the connections its pulls took from the pool. */
  const build = async (
    source: typeof SOURCE | { table: string; idColumn: string; columns: Record<string, string> },
  ) => {
    const pool = createPool({ url: db.url, max: 2, applicationName: 'pingpull-test' });
    pools.push(pool);
    const counter = { acquired: 0 };
    pool.on('acquire', () => void (counter.acquired += 1));
    const app = await buildPullServer({
      pool,
      source,
      pull: { path: '/livefyre/profiles' },
      livefyre: { network: NETWORK, networkKey: NETWORK_KEY },
      logger: createLogger('silent'),
      metrics: createMetrics({ defaultMetrics: false }),
      clock: systemClock,
    });
    apps.push(app);
    counter.acquired = 0;
    return { app, counter };
  };

  const pullAll = (app: FastifyInstance, ids: readonly string[]) =>
    Promise.all(ids.map((id) => app.inject({ method: 'GET', url: `/livefyre/profiles/${id}?lftoken=${token}` })));

  /** Pulls `ids` at once: each answers its display name, or 404 where `expected` has none. */
  const expectNames = async (
    app: FastifyInstance,
    ids: readonly string[],
    expected: Record<string, string | undefined>,
  ): Promise<void> => {
    const responses = await pullAll(app, ids);
    responses.forEach((response, i) => {
      const id = ids[i] as string;
      const name = expected[id];
      if (name === undefined) expect(response.statusCode, id).toBe(404);
      else expect(response.json(), id).toEqual({ id, display_name: name });
    });
  };

  it('answers each of many concurrent pulls of existing and missing bigint ids right, with few queries', async () => {
    const { app, counter } = await build(SOURCE);
    const existing = ['1042', '7', '8', '9', '10'];
    const ids = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? String(100_000 + i) : (existing[i % 5] as string)));
    // one pull at a time, for what each answer must be
    const alone = new Map<string, { statusCode: number; body: string }>();
    for (const id of new Set(ids)) {
      const response = (await pullAll(app, [id]))[0];
      if (response !== undefined) alone.set(id, { statusCode: response.statusCode, body: response.body });
    }
    expect(alone.get('1042')).toEqual({ statusCode: 200, body: ADA_JSON });
    expect(alone.get('100000')?.statusCode).toBe(404);

    counter.acquired = 0;
    const responses = await pullAll(app, ids);
    responses.forEach((response, i) => {
      const id = ids[i] as string;
      expect({ statusCode: response.statusCode, body: response.body }, id).toEqual(alone.get(id));
    });
    expect(counter.acquired).toBeGreaterThan(0);
    // one pull per connection would take 60
    expect(counter.acquired).toBeLessThanOrEqual(5);
  });

  it('matches text ids exactly, case and punctuation included', async () => {
    const { app } = await build({ table: 'app.text_users', idColumn: 'handle', columns: { display_name: 'nick' } });
    const expected: Record<string, string | undefined> = {
      ada: 'Ada',
      Ada: 'Big Ada',
      ADA: undefined,
      'a.b-c_d': 'Dotted',
      '007': 'Bond',
      '7': undefined,
    };
    const ids = [...Object.keys(expected), ...Object.keys(expected)];
    await expectNames(app, ids, expected);
  });

  it('matches uuid ids in their canonical form only', async () => {
    const { app } = await build({ table: 'app.uuid_users', idColumn: 'id', columns: { display_name: 'nick' } });
    const expected: Record<string, string | undefined> = {
      '6f1c2a7e-8d4b-4c1e-9a3f-2b5d7e9f0a1c': 'First',
      '6F1C2A7E-8D4B-4C1E-9A3F-2B5D7E9F0A1C': undefined,
      '00000000-0000-0000-0000-00000000002a': 'Second',
      '00000000-0000-0000-0000-00000000002b': undefined,
      'not-a-uuid': undefined,
    };
    const ids = Object.keys(expected);
    await expectNames(app, ids, expected);
  });

  it('answers every pull of a failing query 503 with Retry-After, and serves them again once it works', async () => {
    const { app } = await build({ table: 'app.text_users', idColumn: 'handle', columns: { display_name: 'nick' } });
    const ids = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'ada' : `missing${i}`));
    await admin.query('ALTER TABLE app.text_users RENAME COLUMN nick TO nick_gone');
    try {
      const responses = await pullAll(app, ids);
      for (const response of responses) {
        expect(response.statusCode).toBe(503);
        expect(response.headers['retry-after']).toBe('5');
      }
    } finally {
      await admin.query('ALTER TABLE app.text_users RENAME COLUMN nick_gone TO nick');
    }
    const again = await pullAll(app, ids);
    expect(again.map((response) => response.statusCode)).toEqual(ids.map((id) => (id === 'ada' ? 200 : 404)));
  });
});
