import type { FastifyInstance } from 'fastify';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/db.js';
import { createSystemToken, importNetworkKey } from '../../src/livefyre/token.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { buildPullServer } from '../../src/pull/index.js';
import { signSimSystemToken, simTokenProblem } from '../../src/simulator/token.js';
import { systemClock } from '../../src/time.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { NETWORK, NETWORK_KEY } from '../helpers/tokens.js';
import { ADA_JSON, createUsersTable, SOURCE } from '../helpers/users-fixture.js';

/** The part of Livefyre's official Node library (npm `livefyre`, plain JS without types) these tests use. */
interface LivefyreNetwork {
  buildLivefyreToken(): string;
  /** Throws on a bad signature; false on a wrong domain or user, or when expired. */
  validateLivefyreToken(token: string): boolean;
}
const livefyre = createRequire(import.meta.url)('livefyre') as {
  getNetwork(network: string, networkKey: string): LivefyreNetwork;
};

/**
 * Conformance with Livefyre's own Node library: the tokens it builds pass
 * the pull server and the simulator, and the tokens pingpull and the
 * simulator build pass its validation.
 */
describe("Livefyre's official Node library", () => {
  const official = livefyre.getNetwork(NETWORK, NETWORK_KEY);
  let db: TestDatabase;
  let pool: Pool;
  let app: FastifyInstance;

  beforeAll(async () => {
    db = await createTestDatabase();
    await createUsersTable(db.url);
    pool = createPool({ url: db.url, max: 2, applicationName: 'pingpull-test' });
    app = await buildPullServer({
      pool,
      source: SOURCE,
      pull: { path: '/livefyre/profiles' },
      livefyre: { network: NETWORK, networkKey: NETWORK_KEY },
      logger: createLogger('silent'),
      metrics: createMetrics({ defaultMetrics: false }),
      clock: systemClock,
    });
  });

  afterAll(async () => {
    await app?.close();
    await pool?.end();
    await db?.drop();
  });

  it('builds system tokens the pull server accepts, in both URL forms', async () => {
    const token = encodeURIComponent(official.buildLivefyreToken());
    for (const url of [`/livefyre/profiles/1042?lftoken=${token}`, `/livefyre/profiles?id=1042&lftoken=${token}`]) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      expect(response.body).toBe(ADA_JSON);
    }
  });

  const simOptions = { network: NETWORK, networkKey: NETWORK_KEY };

  it('builds system tokens the simulator accepts', () => {
    expect(simTokenProblem(simOptions, official.buildLivefyreToken(), Date.now() / 1000)).toBeUndefined();
  });

  it('validates the tokens pingpull and the simulator build', async () => {
    const { token } = await createSystemToken({
      network: NETWORK,
      key: importNetworkKey(NETWORK_KEY),
      clock: systemClock,
    });
    expect(official.validateLivefyreToken(token)).toBe(true);
    expect(official.validateLivefyreToken(signSimSystemToken(simOptions, Date.now() / 1000))).toBe(true);
  });

  it('agrees on what is refused: another key, another network, an expired token', async () => {
    const other = livefyre.getNetwork(NETWORK, 'another-network-key');
    const response = await app.inject({
      method: 'GET',
      url: `/livefyre/profiles/1042?lftoken=${encodeURIComponent(other.buildLivefyreToken())}`,
    });
    expect(response.statusCode).toBe(403);
    const otherKey = signSimSystemToken({ network: NETWORK, networkKey: 'another-network-key' }, Date.now() / 1000);
    expect(() => official.validateLivefyreToken(otherKey)).toThrow();
    const elsewhere = signSimSystemToken({ network: 'other.fyre.co', networkKey: NETWORK_KEY }, Date.now() / 1000);
    expect(official.validateLivefyreToken(elsewhere)).toBe(false);
    const expired = signSimSystemToken(simOptions, Date.now() / 1000 - 90_000);
    expect(official.validateLivefyreToken(expired)).toBe(false);
    const clock = { now: () => Date.now() - 90_000_000 };
    const { token } = await createSystemToken({ network: NETWORK, key: importNetworkKey(NETWORK_KEY), clock });
    expect(official.validateLivefyreToken(token)).toBe(false);
  });
});
