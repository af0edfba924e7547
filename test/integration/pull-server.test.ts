import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/db.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import { buildPullServer } from '../../src/pull/index.js';
import { systemClock } from '../../src/time.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { badTokens, makeToken, NETWORK, NETWORK_KEY } from '../helpers/tokens.js';
import { ADA_JSON, createUsersTable, SOURCE } from '../helpers/users-fixture.js';

const PULL = { host: '127.0.0.1', port: 0, path: '/livefyre/profiles' };

describe('pull server on a table with its own column names', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: FastifyInstance;
  let metrics: Metrics;
  let token: string;
  const logLines: string[] = [];

  const build = (overrides: { pool?: Pool; source?: typeof SOURCE } = {}) =>
    buildPullServer({
      pool: overrides.pool ?? pool,
      source: overrides.source ?? SOURCE,
      pull: PULL,
      livefyre: { network: NETWORK, networkKey: NETWORK_KEY },
      logger: createLogger('debug', { write: (line: string) => void logLines.push(line) }),
      metrics,
      clock: systemClock,
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    await createUsersTable(db.url);
    pool = createPool({ url: db.url, max: 4, applicationName: 'pingpull-test' });
    metrics = createMetrics({ defaultMetrics: false });
    app = await build();
    token = await makeToken();
  });

  afterAll(async () => {
    await app?.close();
    await pool?.end();
    await db?.drop();
  });

  const get = (url: string) => app.inject({ method: 'GET', url });

  it('answers the exact profile JSON, in both URL forms', async () => {
    for (const url of [
      `/livefyre/profiles/1042?lftoken=${token}`,
      `/livefyre/profiles?id=1042&lftoken=${token}`,
      `/livefyre/profiles/?id=1042&lftoken=${token}`,
    ]) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.body).toBe(ADA_JSON);
    }
  });

  it('leaves NULL columns out instead of sending null', async () => {
    const response = await get(`/livefyre/profiles/7?lftoken=${token}`);
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('{"id":"7","display_name":"Bob"}');
  });

  it('answers 403 with an empty body for every kind of bad token', async () => {
    for (const [kind, bad] of Object.entries(await badTokens())) {
      const query = bad === undefined ? '' : `?lftoken=${encodeURIComponent(bad)}`;
      for (const url of [`/livefyre/profiles/1042${query}`, `/livefyre/profiles?id=1042${query.replace('?', '&')}`]) {
        const response = await get(url);
        expect(response.statusCode, `${kind}: ${url}`).toBe(403);
        expect(response.body, kind).toBe('');
      }
    }
    const twice = await get(`/livefyre/profiles/1042?lftoken=${token}&lftoken=${token}`);
    expect(twice.statusCode).toBe(403);
  });

  it('answers 403, not 400, to a bad id without a valid token', async () => {
    const response = await get('/livefyre/profiles/bad%20id?lftoken=nope');
    expect(response.statusCode).toBe(403);
    expect(response.body).toBe('');
  });

  it('answers 400 to an id outside the pattern', async () => {
    for (const url of [
      `/livefyre/profiles/bad%20id?lftoken=${token}`,
      `/livefyre/profiles/a$b?lftoken=${token}`,
      `/livefyre/profiles?id=&lftoken=${token}`,
      `/livefyre/profiles?lftoken=${token}`,
      `/livefyre/profiles?id=a&id=b&lftoken=${token}`,
      `/livefyre/profiles/%ZZ?lftoken=${token}`,
    ]) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(400);
    }
  });

  it('answers 404 to an id that is no user, including ids an integer column cannot hold', async () => {
    for (const id of ['999', 'abc', '007', '-0', '99999999999999999999', '1042.0', 'u1042']) {
      const response = await get(`/livefyre/profiles/${id}?lftoken=${token}`);
      expect(response.statusCode, id).toBe(404);
    }
  });

  it('keeps the token out of the logs', async () => {
    await get(`/livefyre/profiles/1042?lftoken=${token}`);
    const logs = logLines.join('');
    expect(logs).toContain('lftoken=[redacted]');
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(NETWORK_KEY);
  });

  it('counts requests by status and times them', async () => {
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/pingpull_pull_requests_total\{status="200"\} [1-9]/);
    expect(text).toMatch(/pingpull_pull_requests_total\{status="403"\} [1-9]/);
    expect(text).toMatch(/pingpull_pull_duration_seconds_count [1-9]/);
  });

  it('is alive and ready', async () => {
    expect((await get('/healthz')).statusCode).toBe(200);
    expect((await get('/readyz')).statusCode).toBe(200);
  });

  it('answers 503 with Retry-After, not 500, when the database is gone', async () => {
    const doomed = createPool({ url: db.url, max: 1, applicationName: 'pingpull-test' });
    const server = await build({ pool: doomed });
    await doomed.end();
    try {
      const response = await server.inject({ method: 'GET', url: `/livefyre/profiles/1042?lftoken=${token}` });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect((await server.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    } finally {
      await server.close();
    }
  });

  it('is not ready when the profile query fails, such as after a mapped column was renamed', async () => {
    const renamed = await createTestDatabase();
    await createUsersTable(renamed.url);
    const renamedPool = createPool({ url: renamed.url, max: 2, applicationName: 'pingpull-test' });
    const server = await build({ pool: renamedPool });
    try {
      expect((await server.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      await renamedPool.query('ALTER TABLE app.members RENAME COLUMN nick TO nickname');
      const pulled = await server.inject({ method: 'GET', url: `/livefyre/profiles/1042?lftoken=${token}` });
      expect(pulled.statusCode).toBe(503);
      const ready = await server.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ status: 'unavailable' });
    } finally {
      await server.close();
      await renamedPool.end();
      await renamed.drop();
    }
  });

  it('refuses to start when a mapped column is missing, naming it', async () => {
    const source = { ...SOURCE, columns: { ...SOURCE.columns, bio: 'about_me' } };
    await expect(build({ source })).rejects.toThrow(ConfigError);
    await expect(build({ source })).rejects.toThrow(/source\.columns\.bio: column "about_me" does not exist/);
    await expect(build({ source: { ...SOURCE, idColumn: 'uid' } })).rejects.toThrow(/source\.idColumn: column "uid"/);
    await expect(build({ source: { ...SOURCE, table: 'app.nobody' } })).rejects.toThrow(/source\.table/);
  });

  it('refuses a boolean field mapped to a text column', async () => {
    const source = { ...SOURCE, columns: { ...SOURCE.columns, moderator: 'nick' } };
    await expect(build({ source })).rejects.toThrow(/source\.columns\.moderator: needs a boolean column/);
  });
});
