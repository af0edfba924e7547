import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { buildSimulatorApp, type SimulatorCore } from '../../../src/simulator/index.js';
import { makeToken, NETWORK, NETWORK_KEY } from '../../helpers/tokens.js';
import { FakeTime, flush } from '../../helpers/fake-time.js';

const quiet = createLogger('silent');
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('simulator routes (no network)', () => {
  let core: SimulatorCore | undefined;
  afterEach(async () => {
    await core?.stop();
    await core?.app.close();
  });

  /** A simulator whose pulls never fall due, so pings stay queued. */
  function build(random: () => number = () => 0) {
    const time = new FakeTime(Date.now());
    core = buildSimulatorApp({
      network: NETWORK,
      networkKey: NETWORK_KEY,
      pullDelayMs: 60_000,
      logger: quiet,
      clock: time,
      timers: time,
      random,
    });
    return { app: core.app, time, core };
  }

  it('takes lftoken from a form body or the query string, and coalesces waiting pulls', async () => {
    const { app, core } = build();
    const token = await makeToken();
    const body = `lftoken=${encodeURIComponent(token)}`;
    const first = await app.inject({ method: 'POST', url: '/api/v3_0/user/u1/refresh', headers: FORM, payload: body });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ status: 'ok', code: 200, data: {} });
    const second = await app.inject({ method: 'POST', url: `/api/v3_0/user/u1/refresh?${body}` });
    expect(second.statusCode).toBe(200);
    expect(core.state.pings.list().map((p) => [p.id, p.status, p.coalesced])).toEqual([
      ['u1', 200, false],
      ['u1', 200, true],
    ]);
    expect(core.queue.size()).toBe(1);
  });

  it('answers 403 before looking at the id, and 400 for a bad id with a good token', async () => {
    const { app } = build();
    const noToken = await app.inject({ method: 'POST', url: '/api/v3_0/user/bad%20id/refresh' });
    expect(noToken.statusCode).toBe(403);
    const token = await makeToken();
    const badId = await app.inject({
      method: 'POST',
      url: '/api/v3_0/user/bad%20id/refresh',
      headers: FORM,
      payload: `lftoken=${token}`,
    });
    expect(badId.statusCode).toBe(400);
  });

  it('injects faults reproducibly from the given random source, with Retry-After', async () => {
    const draws = [0.1, 0.9, 0.2, 0.95];
    const { app } = build(() => draws.shift() ?? 1);
    const token = await makeToken();
    const set = await app.inject({
      method: 'POST',
      url: '/sim/faults',
      payload: { status: 503, rate: 0.5, retryAfterSeconds: 2 },
    });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toEqual({ active: { spec: { status: 503, rate: 0.5, retryAfterSeconds: 2 }, injected: 0 } });
    const answers = [];
    for (let i = 0; i < 4; i++) {
      const response = await app.inject({ method: 'POST', url: `/api/v3_0/user/u${i}/refresh?lftoken=${token}` });
      answers.push([response.statusCode, response.headers['retry-after']]);
    }
    expect(answers).toEqual([
      [503, '2'],
      [200, undefined],
      [503, '2'],
      [200, undefined],
    ]);
    expect((await app.inject({ method: 'GET', url: '/sim/faults' })).json()).toMatchObject({ active: { injected: 2 } });
    expect((await app.inject({ method: 'DELETE', url: '/sim/faults' })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/sim/faults' })).json()).toEqual({ active: null });
    const pings = (await app.inject({ method: 'GET', url: '/sim/pings' })).json() as Array<{ injected: boolean }>;
    expect(pings.map((p) => p.injected)).toEqual([true, false, true, false]);
  });

  it('delays an injected failure by delayMs', async () => {
    const { app, time } = build();
    await app.inject({ method: 'POST', url: '/sim/faults', payload: { status: 500, count: 1, delayMs: 5000 } });
    let done = false;
    const pending = app.inject({ method: 'POST', url: '/api/v3_0/user/u1/refresh' }).then((r) => {
      done = true;
      return r;
    });
    for (let i = 0; i < 10; i++) await flush();
    expect(done).toBe(false);
    await time.advance(5000);
    expect((await pending).statusCode).toBe(500);
  });

  it('refuses a bad fault spec with 400 and a reason', async () => {
    const { app } = build();
    const response = await app.inject({ method: 'POST', url: '/sim/faults', payload: { status: 503, rate: 7 } });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toMatch(/rate/);
  });

  it('registers a template and reports it', async () => {
    const { app } = build();
    const token = await makeToken();
    const template = 'https://example.com/some_path/?id={id}';
    const query = new URLSearchParams({ actor_token: token, pull_profile_url: template });
    expect((await app.inject({ method: 'POST', url: `/?${query}` })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/sim/pull-url' })).json()).toEqual({
      template,
      registeredAt: expect.any(Number),
    });
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('loses pulls on request (no request, never retried) and shows and clears the losses', async () => {
    const { app, core, time } = build();
    const token = await makeToken();
    const bad = await app.inject({ method: 'POST', url: '/sim/pull-faults', payload: { count: 0 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'invalid_pull_fault', message: expect.stringMatching(/count/) });
    const set = await app.inject({ method: 'POST', url: '/sim/pull-faults', payload: { id: 'u1' } });
    expect(set.json()).toEqual({ active: [{ id: 'u1', remaining: 1 }] });
    for (const id of ['u1', 'u2']) {
      await app.inject({
        method: 'POST',
        url: `/api/v3_0/user/${id}/refresh`,
        headers: FORM,
        payload: `lftoken=${token}`,
      });
    }
    time.advance(60_000);
    await core.queue.idle();
    const pulls = (await app.inject({ method: 'GET', url: '/sim/pulls' })).json() as Array<Record<string, unknown>>;
    expect(pulls.map((pull) => [pull.id, pull.outcome])).toEqual([
      ['u1', 'lost'],
      ['u2', 'no_pull_url'],
    ]);
    time.advance(3_600_000);
    await core.queue.idle();
    expect(core.state.pulls.list()).toHaveLength(2);
    expect((await app.inject({ method: 'GET', url: '/sim/pull-faults' })).json()).toEqual({ active: [] });
    await app.inject({ method: 'POST', url: '/sim/pull-faults', payload: { count: 5 } });
    expect((await app.inject({ method: 'DELETE', url: '/sim/pull-faults' })).statusCode).toBe(204);
    expect(core.pullLoss.current()).toEqual([]);
  });

  it('lists the invalid profiles it saw, and forgets them on reset', async () => {
    const { app, core } = build();
    core.state.invalidProfiles.push({
      id: 'u1',
      pulledAt: 1,
      errors: ['display_name: blank'],
      body: { id: 'u1', display_name: ' ' },
    });
    expect((await app.inject({ method: 'GET', url: '/sim/invalid-profiles' })).json()).toEqual([
      { id: 'u1', pulledAt: 1, errors: ['display_name: blank'], body: { id: 'u1', display_name: ' ' } },
    ]);
    expect((await app.inject({ method: 'POST', url: '/sim/reset' })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/sim/invalid-profiles' })).json()).toEqual([]);
  });
});
