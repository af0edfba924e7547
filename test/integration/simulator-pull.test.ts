import type { FastifyInstance } from 'fastify';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/db.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { buildPullServer } from '../../src/pull/index.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { systemClock } from '../../src/time.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { badTokens, makeToken, NETWORK, NETWORK_KEY } from '../helpers/tokens.js';
import { ADA_JSON, createUsersTable, SOURCE } from '../helpers/users-fixture.js';

describe('Livefyre simulator with the pull server, end to end', () => {
  let db: TestDatabase;
  let pool: Pool;
  let pullServer: FastifyInstance;
  let pullBase: string;
  let sim: Simulator;
  let token: string;
  const logLines: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logLines.push(line) });

  beforeAll(async () => {
    db = await createTestDatabase();
    await createUsersTable(db.url);
    pool = createPool({ url: db.url, max: 4, applicationName: 'pingpull-test' });
    pullServer = await buildPullServer({
      pool,
      source: SOURCE,
      pull: { host: '127.0.0.1', port: 0, path: '/livefyre/profiles' },
      livefyre: { network: NETWORK, networkKey: NETWORK_KEY },
      logger,
      metrics: createMetrics({ defaultMetrics: false }),
      clock: systemClock,
    });
    pullBase = await pullServer.listen({ host: '127.0.0.1', port: 0 });
    sim = await startSimulator({ network: NETWORK, networkKey: NETWORK_KEY, port: 0, pullDelayMs: 0, logger });
    token = await makeToken();
  });

  afterAll(async () => {
    await sim?.close();
    await pullServer?.close();
    await pool?.end();
    await db?.drop();
  });

  beforeEach(() => sim.clearFaults());

  // no default parameter values: `undefined` means "send no token" here
  const register = (template: string, actorToken: string | undefined) => {
    const query = new URLSearchParams({ pull_profile_url: template });
    if (actorToken !== undefined) query.set('actor_token', actorToken);
    return request(`${sim.url}/?${query}`, { method: 'POST' });
  };
  const ping = (id: string, lftoken: string | undefined, via: 'body' | 'query' = 'body') => {
    const form = lftoken === undefined ? '' : new URLSearchParams({ lftoken }).toString();
    const path = `${sim.url}/api/v3_0/user/${encodeURIComponent(id)}/refresh`;
    return via === 'body'
      ? request(path, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
      : request(`${path}?${form}`, { method: 'POST' });
  };
  const json = async (path: string) => {
    const response = await request(`${sim.url}${path}`);
    return { status: response.statusCode, body: (await response.body.json()) as unknown };
  };

  it('registers a pull URL template (204) and shows it', async () => {
    const response = await register(`${pullBase}/livefyre/profiles/{id}`, token);
    expect(response.statusCode).toBe(204);
    expect((await json('/sim/pull-url')).body).toMatchObject({ template: `${pullBase}/livefyre/profiles/{id}` });
  });

  it('pulls and stores exactly the profile the pull server serves after a ping', async () => {
    const response = await ping('1042', token);
    expect(response.statusCode).toBe(200);
    await response.body.dump();
    await sim.idle();
    expect(sim.profile('1042')?.profile).toEqual(JSON.parse(ADA_JSON));
    const stored = await json('/sim/profiles/1042');
    expect(stored.status).toBe(200);
    expect(stored.body).toMatchObject({ id: '1042', profile: JSON.parse(ADA_JSON), pulledAt: expect.any(Number) });
    expect(sim.pulls().at(-1)).toMatchObject({ id: '1042', outcome: 'stored', status: 200 });
    expect((await json('/sim/pings')).body).toContainEqual(
      expect.objectContaining({ id: '1042', status: 200, injected: false, receivedAt: expect.any(Number) }),
    );
  });

  it('works with the query-string template form and a token in the query string', async () => {
    expect((await register(`${pullBase}/livefyre/profiles?id={id}`, token)).statusCode).toBe(204);
    const response = await ping('7', token, 'query');
    expect(response.statusCode).toBe(200);
    await response.body.dump();
    await sim.idle();
    expect(sim.profile('7')?.profile).toEqual({ id: '7', display_name: 'Bob' });
  });

  it('records what goes wrong with a pull: an unknown user', async () => {
    await (await ping('999', token)).body.dump();
    await sim.idle();
    const pulls = (await json('/sim/pulls')).body as Array<Record<string, unknown>>;
    expect(pulls).toContainEqual(expect.objectContaining({ id: '999', outcome: 'http_error', status: 404 }));
    expect((await json('/sim/profiles/999')).status).toBe(404);
    expect(JSON.stringify(pulls)).not.toContain(token.split('.')[2]);
  });

  it('gets valid profiles for NULL, empty and blank display names: the id stands in', async () => {
    for (const id of ['8', '9', '10']) await (await ping(id, token)).body.dump();
    await sim.idle();
    expect(sim.profile('8')?.profile).toEqual({ id: '8', display_name: '8', email: 'nameless@example.com' });
    expect(sim.profile('9')?.profile).toEqual({ id: '9', display_name: '9' });
    expect(sim.profile('10')?.profile).toEqual({ id: '10', display_name: '10' });
    expect(sim.invalidProfiles()).toEqual([]);
  });

  it('loses a pull on request and never retries it; the next ping is pulled', async () => {
    sim.losePulls({ id: '7' });
    await (await ping('7', token)).body.dump();
    await sim.idle();
    expect(
      sim
        .pulls()
        .filter((pull) => pull.id === '7')
        .at(-1),
    ).toMatchObject({ outcome: 'lost' });
    expect(sim.pullLosses()).toEqual([]);
    const before = sim.pulls().length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(sim.pulls()).toHaveLength(before);
    await (await ping('7', token)).body.dump();
    await sim.idle();
    expect(
      sim
        .pulls()
        .filter((pull) => pull.id === '7')
        .at(-1),
    ).toMatchObject({ outcome: 'stored' });
  });

  it('refuses bad tokens on pings with 403 and records them', async () => {
    for (const [kind, bad] of Object.entries(await badTokens())) {
      const response = await ping('1042', bad);
      expect(response.statusCode, kind).toBe(403);
      await response.body.dump();
    }
    expect(sim.pings().filter((p) => p.status === 403).length).toBeGreaterThanOrEqual(10);
  });

  it('answers 400 to a ping for an id outside the pattern', async () => {
    const response = await ping('bad id!', token);
    expect(response.statusCode).toBe(400);
    await response.body.dump();
  });

  it('refuses registrations with a bad token (403) or a bad template (400)', async () => {
    const statuses = [];
    for (const [template, actor] of [
      [`${pullBase}/livefyre/profiles/{id}`, 'nope'],
      [`${pullBase}/livefyre/profiles/{id}`, undefined],
      [`${pullBase}/livefyre/profiles/`, token],
      ['/livefyre/profiles/{id}', token],
    ] as const) {
      const response = await register(template, actor);
      statuses.push(response.statusCode);
      await response.body.dump();
    }
    expect(statuses).toEqual([403, 403, 400, 400]);
  });

  it('injects faults into pings and records them', async () => {
    const set = await request(`${sim.url}/sim/faults`, {
      method: 'POST',
      body: JSON.stringify({ status: 503, count: 2, retryAfterSeconds: 1 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(set.statusCode).toBe(200);
    await set.body.dump();
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const response = await ping('7', token);
      answers.push([response.statusCode, response.headers['retry-after']]);
      await response.body.dump();
    }
    expect(answers).toEqual([
      [503, '1'],
      [503, '1'],
      [200, undefined],
    ]);
    const injected = sim.pings().filter((p) => p.injected);
    expect(injected).toEqual([
      expect.objectContaining({ id: '7', status: 503 }),
      expect.objectContaining({ id: '7', status: 503 }),
    ]);
    const bad = await request(`${sim.url}/sim/faults`, {
      method: 'POST',
      body: JSON.stringify({ status: 200 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.statusCode).toBe(400);
    await bad.body.dump();
    const cleared = await request(`${sim.url}/sim/faults`, { method: 'DELETE' });
    expect(cleared.statusCode).toBe(204);
    await cleared.body.dump();
    await sim.idle();
  });

  it('saw no profile Livefyre would refuse', () => {
    expect(sim.invalidProfiles()).toEqual([]);
    expect(sim.pulls().filter((pull) => pull.outcome === 'invalid_profile')).toEqual([]);
  });

  it('reports a 200 answer Livefyre would refuse as an invalid profile, with the reasons', async () => {
    const bodies: Record<string, string> = {
      u1: JSON.stringify({ id: 'u1', display_name: ' ', email_notifications: { replies: 'never' }, karma: 3 }),
      u2: 'not json',
    };
    const endpoint = createServer((req, res) => {
      const id = new URL(req.url ?? '/', 'http://localhost').searchParams.get('id') ?? '';
      res.writeHead(200, { 'content-type': 'application/json' }).end(bodies[id] ?? '{}');
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    const strict = await startSimulator({ network: NETWORK, networkKey: NETWORK_KEY, port: 0, pullDelayMs: 0, logger });
    try {
      const { port } = endpoint.address() as AddressInfo;
      const template = `http://127.0.0.1:${port}/profiles?id={id}`;
      const query = new URLSearchParams({ actor_token: token, pull_profile_url: template });
      const registered = await request(`${strict.url}/?${query}`, { method: 'POST' });
      expect(registered.statusCode).toBe(204);
      await registered.body.dump();
      for (const id of ['u1', 'u2']) {
        const response = await request(`${strict.url}/api/v3_0/user/${id}/refresh`, {
          method: 'POST',
          body: new URLSearchParams({ lftoken: token }).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        await response.body.dump();
      }
      await strict.idle();
      expect(strict.profiles()).toEqual([]);
      expect(strict.invalidProfiles()).toEqual([
        {
          id: 'u1',
          pulledAt: expect.any(Number),
          errors: [
            'karma: unknown field',
            'display_name: blank',
            expect.stringMatching(/^email_notifications\.comments: required/),
            expect.stringMatching(/^email_notifications\.likes: required/),
            expect.stringMatching(/^email_notifications\.moderator_comments: required/),
            expect.stringMatching(/^email_notifications\.moderator_flags: required/),
          ],
          body: JSON.parse(bodies.u1 as string),
        },
        { id: 'u2', pulledAt: expect.any(Number), errors: ['the answer is not JSON'], body: 'not json' },
      ]);
      const listed = await request(`${strict.url}/sim/invalid-profiles`);
      expect(((await listed.body.json()) as unknown[]).length).toBe(2);
    } finally {
      await strict.close();
      await new Promise((resolve) => endpoint.close(resolve));
    }
  });

  it('never logs a token or the network key', () => {
    const logs = logLines.join('');
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(NETWORK_KEY);
    expect(logs).toContain('[redacted]');
  });
});
