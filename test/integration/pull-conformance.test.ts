import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/db.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { buildPullServer } from '../../src/pull/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { libraryClaims, libraryToken, NETWORK, NETWORK_KEY } from '../helpers/tokens.js';
import { ADA_JSON, createUsersTable, SOURCE } from '../helpers/users-fixture.js';

const NOW_MS = 1_780_000_000_123;
const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/**
 * The pull endpoint against tokens built the way Livefyre's official
 * libraries build them, by hand with node:crypto:
 * what they build must be accepted, and each way a token can be wrong must
 * get the same empty 403.
 */
describe('pull endpoint token conformance', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: FastifyInstance;
  let now = NOW_MS;
  const clock = { now: () => now };

  const build = (networkKey = NETWORK_KEY) =>
    buildPullServer({
      pool,
      source: SOURCE,
      pull: { path: '/livefyre/profiles' },
      livefyre: { network: NETWORK, networkKey },
      logger: createLogger('silent'),
      metrics: createMetrics({ defaultMetrics: false }),
      clock,
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    await createUsersTable(db.url);
    pool = createPool({ url: db.url, max: 2, applicationName: 'pingpull-test' });
    app = await build();
  });

  afterAll(async () => {
    await app?.close();
    await pool?.end();
    await db?.drop();
  });

  const pull = (token: string | undefined, form: 'path' | 'query' = 'path', server = app) => {
    const lftoken = token === undefined ? '' : `lftoken=${encodeURIComponent(token)}`;
    const url = form === 'path' ? `/livefyre/profiles/1042?${lftoken}` : `/livefyre/profiles/?id=1042&${lftoken}`;
    return server.inject({ method: 'GET', url });
  };

  it('accepts a system token as the official libraries build it (HS256, key string bytes, fractional expires, iat)', async () => {
    const token = libraryToken(libraryClaims(NOW_MS));
    expect(JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).expires % 1).not.toBe(0);
    for (const form of ['path', 'query'] as const) {
      const response = await pull(token, form);
      expect(response.statusCode, form).toBe(200);
      expect(response.body).toBe(ADA_JSON);
    }
  });

  it('accepts tokens with extra claims, without iat or typ, and with expires a second away', async () => {
    const header = b64({ alg: 'HS256' });
    const claims = b64({
      domain: NETWORK,
      user_id: 'system',
      expires: NOW_MS / 1000 + 1,
      display_name: 'system',
      extra: [1],
    });
    const signature = createHmac('sha256', NETWORK_KEY).update(`${header}.${claims}`).digest('base64url');
    expect((await pull(`${header}.${claims}.${signature}`)).statusCode).toBe(200);
    expect(
      (await pull(libraryToken(libraryClaims(NOW_MS, { iat: undefined, email: 'x@example.com' })))).statusCode,
    ).toBe(200);
  });

  it('signs with the key string exactly, whatever characters it has', async () => {
    const key = 'clé-ñ/+=Ω';
    const server = await build(key);
    try {
      expect((await pull(libraryToken(libraryClaims(NOW_MS), { key }), 'path', server)).statusCode).toBe(200);
      expect(
        (await pull(libraryToken(libraryClaims(NOW_MS), { key: Buffer.from(key, 'latin1') }), 'path', server))
          .statusCode,
      ).toBe(403);
    } finally {
      await server.close();
    }
  });

  const claims = libraryClaims(NOW_MS);
  const valid = libraryToken(claims);
  const [validHeader, validBody, validSignature] = valid.split('.') as [string, string, string];
  const rejected: Record<string, string | undefined> = {
    missing: undefined,
    empty: '',
    'bad signature (another key)': libraryToken(claims, { key: 'another-network-key' }),
    'signed with the base64-decoded key': libraryToken(claims, { key: Buffer.from(NETWORK_KEY, 'base64') }),
    'signature of other claims': `${validHeader}.${b64({ ...claims, user_id: 'u1' })}.${validSignature}`,
    'signature flipped': `${validHeader}.${validBody}.${validSignature.startsWith('A') ? 'B' : 'A'}${validSignature.slice(1)}`,
    'other network': libraryToken({ ...claims, domain: 'other.fyre.co' }),
    'network name only': libraryToken({ ...claims, domain: 'example' }),
    'no domain': libraryToken({ ...claims, domain: undefined }),
    'other user': libraryToken({ ...claims, user_id: 'u1042' }),
    'System in capitals': libraryToken({ ...claims, user_id: 'System' }),
    'no user': libraryToken({ ...claims, user_id: undefined }),
    'expired a millisecond ago': libraryToken({ ...claims, expires: NOW_MS / 1000 - 0.001 }),
    'expired a day ago': libraryToken({ ...claims, expires: NOW_MS / 1000 - 86_400 }),
    'expires missing': libraryToken({ ...claims, expires: undefined }),
    'expires as a string': libraryToken({ ...claims, expires: String(NOW_MS / 1000 + 3600) }),
    'registered exp instead of expires': libraryToken({
      ...claims,
      expires: undefined,
      exp: Math.floor(NOW_MS / 1000) + 3600,
    }),
    'alg none without signature': libraryToken(claims, { alg: 'none', hash: 'none' }),
    'alg none with a signature': libraryToken(claims, { alg: 'none' }),
    HS384: libraryToken(claims, { alg: 'HS384', hash: 'sha384' }),
    HS512: libraryToken(claims, { alg: 'HS512', hash: 'sha512' }),
    'HS384 header, HS256 signature': libraryToken(claims, { alg: 'HS384' }),
    'RS256 header, HMAC signature (key confusion)': libraryToken(claims, { alg: 'RS256' }),
    'RS256 header, RSA-sized signature': `${b64({ typ: 'JWT', alg: 'RS256' })}.${validBody}.${randomBytes(256).toString('base64url')}`,
    'ES256 header': libraryToken(claims, { alg: 'ES256' }),
    'two parts': `${validHeader}.${validBody}`,
    'four parts': `${valid}.${validSignature}`,
    'header not base64url': `%%%.${validBody}.${validSignature}`,
    'header not JSON': `${b64('not json')}.${validBody}.${validSignature}`,
    'claims not JSON': libraryToken(claims).replace(validBody, b64('not json')),
    'claims an array': `${validHeader}.${b64([claims])}.${validSignature}`,
    'padded base64': `${validHeader}=.${validBody}.${validSignature}`,
    garbage: 'not-a-jwt',
    'very long': `${valid}${'A'.repeat(10_000)}`,
  };

  it.each(Object.entries(rejected))('answers 403 with an empty body to a token: %s', async (_kind, token) => {
    for (const form of ['path', 'query'] as const) {
      const response = await pull(token, form);
      expect(response.statusCode, form).toBe(403);
      expect(response.body).toBe('');
    }
  });

  it('stops accepting a token, even a remembered one, once its expires has passed', async () => {
    const token = libraryToken(libraryClaims(NOW_MS, { expires: NOW_MS / 1000 + 60.5 }));
    expect((await pull(token)).statusCode).toBe(200);
    expect((await pull(token)).statusCode).toBe(200);
    now = NOW_MS + 60_000;
    expect((await pull(token)).statusCode).toBe(200);
    now = NOW_MS + 60_501;
    try {
      expect((await pull(token)).statusCode).toBe(403);
    } finally {
      now = NOW_MS;
    }
  });
});
