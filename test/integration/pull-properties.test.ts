import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/db.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { buildPullServer } from '../../src/pull/index.js';
import { validateProfile } from '../../src/simulator/validate-profile.js';
import { systemClock } from '../../src/time.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { libraryClaims, libraryToken } from '../helpers/tokens.js';
import { createUsersTable, SOURCE } from '../helpers/users-fixture.js';

const ANSWERS = [200, 400, 403, 404];

/**
 * Whatever Livefyre, a scanner or a fuzzer sends, the pull endpoint answers
 * 200, 400, 403 or 404: never a 5xx for bad input. Random ids (valid, integer
 * edge cases, any characters), tokens (valid, mutated, random) and query
 * strings (extra, repeated, odd parameters), against a real database.
 */
describe('pull endpoint, property-based', () => {
  let db: TestDatabase;
  let pool: Pool;
  let servers: FastifyInstance[];
  const valid = libraryToken(libraryClaims(Date.now()));

  beforeAll(async () => {
    db = await createTestDatabase();
    await createUsersTable(db.url);
    pool = createPool({ url: db.url, max: 4, applicationName: 'pingpull-test' });
    const base = {
      pool,
      livefyre: { network: 'example.fyre.co', networkKey: 'hnoVNQcTknTarpqj51WXQ6fXyAo=' },
      logger: createLogger('silent'),
      metrics: createMetrics({ defaultMetrics: false }),
      clock: systemClock,
    };
    servers = [
      // bigint ids, table mapping
      await buildPullServer({ ...base, source: SOURCE, pull: { path: '/livefyre/profiles' } }),
      // a custom query whose parameter is numeric: odd ids reach Postgres and must still not give a 5xx
      await buildPullServer({
        ...base,
        source: SOURCE,
        pull: {
          path: '/p',
          query: 'SELECT nick AS display_name, pic AS image_url FROM app.members WHERE user_id = $1::numeric',
          fields: { profile_url: { template: 'https://example.com/people/{id}' } },
        },
      }),
    ];
  });

  afterAll(async () => {
    await Promise.all((servers ?? []).map((server) => server.close()));
    await pool?.end();
    await db?.drop();
  });

  const id = fc.oneof(
    fc.constantFrom(
      '1042',
      '7',
      '8',
      '0',
      '-1',
      '007',
      '1e3',
      '9223372036854775807',
      '9223372036854775808',
      'NaN',
      '1.5',
      ' 7',
      '',
    ),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
    fc.stringMatching(/^[a-zA-Z0-9_.-]{1,20}$/),
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'binary', maxLength: 12 }),
  );
  const token = fc.oneof(
    fc.constant(valid),
    fc.constant(undefined),
    fc.string({ maxLength: 60 }),
    // a valid token with one character changed, dropped or added
    fc
      .tuple(fc.nat({ max: valid.length - 1 }), fc.constantFrom('', 'A', '.', '-', '_', '=', '%'))
      .map(([at, char]) => valid.slice(0, at) + char + valid.slice(at + 1)),
    fc.array(fc.base64String({ maxLength: 40 }), { minLength: 1, maxLength: 4 }).map((parts) => parts.join('.')),
  );
  const extra = fc.array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom('id', 'lftoken', 'x', 'id[]', 'lftoken[a]', '__proto__', 'constructor'),
        fc.string({ maxLength: 8 }),
      ),
      fc.string({ maxLength: 12 }),
    ),
    { maxLength: 3 },
  );
  const form = fc.constantFrom('path', 'query', 'slash', 'raw');

  it('answers only 200, 400, 403 or 404', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 1 }), form, id, token, extra, async (server, shape, userId, lftoken, params) => {
        const app = servers[server] as FastifyInstance;
        const path = server === 0 ? '/livefyre/profiles' : '/p';
        const query = new URLSearchParams();
        if (shape !== 'path' && shape !== 'raw') query.append('id', userId);
        if (lftoken !== undefined) query.append('lftoken', lftoken);
        for (const [key, value] of params) query.append(key, value);
        const url =
          shape === 'path'
            ? `${path}/${encodeURIComponent(userId)}?${query}`
            : shape === 'slash'
              ? `${path}/?${query}`
              : shape === 'raw'
                ? `${path}/${userId.replace(/[\s#?]/g, '')}?${query}`
                : `${path}?${query}`;
        const response = await app.inject({ method: 'GET', url });
        expect(ANSWERS, `${response.statusCode} for ${url}: ${response.body}`).toContain(response.statusCode);
        if (response.statusCode === 403) expect(response.body).toBe('');
        if (response.statusCode === 200) {
          expect(lftoken).toBe(valid);
          const profile = response.json() as { id: string };
          expect(validateProfile(profile, profile.id)).toMatchObject({ ok: true });
        }
      }),
      { numRuns: 400 },
    );
  });
});
