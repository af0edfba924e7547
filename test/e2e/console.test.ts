import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterView } from '../../src/console/cluster.js';
import type { ConsoleView } from '../../src/console/console.js';
import { ensureChromium, withBrowser } from '../helpers/chromium.js';
import { freePort, runCli, spawnCli, type RunningCli } from '../helpers/cli.js';
import { createTestDatabase, databaseUrl, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

// The operator console as a person sees it: `pingpull run` with a known
// workload (new users, updates of an unmapped column, a ping Livefyre
// rejects), then a pinger-only process whose key Livefyre refuses.

const NETWORK = 'console.fyre.co';
const NETWORK_KEY = 'Q29uc29sZVRlc3RLZXkxMjM0NTY3OA==';
const UNMAPPED_VALUE = 'private-note-7f3a9c';
const USERS = 24;
const UNMAPPED_UPDATES = 9;
const CHARTS = [
  'slot-lag',
  'retained-wal',
  'consumer-lag',
  'source-lag',
  'events-rate',
  'pings-rate',
  'pulls-rate',
  'delay-p50',
  'delay-p99',
  'pull-p50',
  'pull-p99',
];

const noBrowser = ensureChromium();

describe('the operator console', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let env: Record<string, string>;
  let simulator: RunningCli;
  let pipeline: RunningCli;
  let refused: RunningCli | undefined;
  let refusedConsole: string | undefined;
  let consoleUrl: string;
  let simUrl: string;

  const view = async (base = consoleUrl) => (await (await fetch(`${base}/status.json`)).json()) as ConsoleView;
  const figure = (current: ConsoleView, key: string) => current.funnel.find((row) => row.key === key)?.total;

  // The shared services' password may be a word any page holds ("pingpull"): the pipeline logs in as a
  // role of its own, with a password that can only come from the configuration.
  const role = uniqueName('console_operator');
  const rolePassword = `pw-${uniqueName('secret')}`;
  let pipelineUrl: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${rolePassword}'`);
    const url = new URL(db.url);
    url.username = role;
    url.password = rolePassword;
    pipelineUrl = url.toString();
    await client.query('CREATE TABLE users (id text PRIMARY KEY, display_name text, private_note text)');
    const [simPort, pullPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    simUrl = `http://127.0.0.1:${simPort}`;
    consoleUrl = `http://127.0.0.1:${metricsPort}`;
    env = {
      PINGPULL_DATABASE_URL: pipelineUrl,
      PINGPULL_KAFKA_BROKERS: kafkaBrokers(),
      PINGPULL_SOURCE_COLUMNS: JSON.stringify({ display_name: 'display_name' }),
      PINGPULL_REPLICATION_SLOT: uniqueName('slot'),
      PINGPULL_REPLICATION_PUBLICATION: uniqueName('pub'),
      PINGPULL_KAFKA_TOPIC: uniqueName('changes'),
      PINGPULL_KAFKA_DLQ_TOPIC: uniqueName('dlq'),
      PINGPULL_KAFKA_GROUP_ID: uniqueName('group'),
      PINGPULL_LIVEFYRE_NETWORK: NETWORK,
      PINGPULL_LIVEFYRE_NETWORK_KEY: NETWORK_KEY,
      PINGPULL_LIVEFYRE_BASE_URL: simUrl,
      PINGPULL_SIMULATOR_PORT: String(simPort),
      PINGPULL_PULL_HOST: '127.0.0.1',
      PINGPULL_PULL_PORT: String(pullPort),
      PINGPULL_METRICS_HOST: '127.0.0.1',
      PINGPULL_METRICS_PORT: String(metricsPort),
      PINGPULL_METRICS_LAG_INTERVAL_MS: '300',
      PINGPULL_CONSOLE_SAMPLE_MS: '300',
      PINGPULL_PINGER_COALESCE_MS: '50',
      PINGPULL_LOG_LEVEL: 'error',
    };
    simulator = spawnCli(['livefyre-sim'], env);
    await waitFor(async () => (await fetch(`${simUrl}/healthz`)).ok, { what: 'the simulator' });
    const setup = await runCli(['setup'], env);
    expect(setup.code, setup.stderr).toBe(0);
    pipeline = spawnCli(['run'], env);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${pullPort}/readyz`)).ok, { what: 'the pull server' });
    const registered = await runCli(['register-pull-url', `http://127.0.0.1:${pullPort}/livefyre/profiles/{id}`], env);
    expect(registered.code, registered.stderr).toBe(0);
  });

  afterAll(async () => {
    await Promise.all([refused?.stop(), pipeline?.stop(), simulator?.stop()]);
    if (env !== undefined) await runCli(['teardown', '--force'], env);
    await client?.query(`DROP OWNED BY ${role}`).catch(() => undefined);
    await client?.end();
    await db?.drop();
    const admin = new pg.Client({ connectionString: databaseUrl() });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`).finally(() => admin.end());
  });

  it('counts a known workload through the funnel, stage by stage', async () => {
    await client.query(`INSERT INTO users SELECT 'u' || n, 'user ' || n, NULL FROM generate_series(1, ${USERS}) AS n`);
    await client.query(`UPDATE users SET private_note = $1 WHERE id IN (SELECT id FROM users LIMIT $2)`, [
      UNMAPPED_VALUE,
      UNMAPPED_UPDATES,
    ]);
    const settled = await waitFor(
      async () => {
        const current = await view();
        return figure(current, 'pulls-ok') === USERS &&
          figure(current, 'skipped') === UNMAPPED_UPDATES &&
          figure(current, 'confirmed') === USERS
          ? current
          : undefined;
      },
      { what: 'the funnel to count every pull and skip', timeoutMs: 60_000 },
    );
    expect(Object.fromEntries(settled.funnel.map((row) => [row.key, row.total]))).toEqual({
      'row-changes': USERS + UNMAPPED_UPDATES,
      skipped: UNMAPPED_UPDATES,
      'null-ids': 0,
      events: USERS,
      truncates: 0,
      pings: USERS,
      'pings-ok': USERS,
      'pings-retried': 0,
      'pings-refused': 0,
      'pings-dead': 0,
      pulls: USERS,
      'pulls-ok': USERS,
      'pulls-4xx': 0,
      'pulls-503': 0,
      confirmed: USERS,
    });
    // The stages add up: every row change was skipped or published, every published event pinged OK once.
    const total = (key: string) => figure(settled, key) ?? Number.NaN;
    expect(total('skipped') + total('events')).toBe(total('row-changes'));
    expect(total('pings-ok') + total('pings-retried') + total('pings-refused') + total('pings-dead')).toBe(
      total('pings'),
    );
    expect(settled.otherRoles).toEqual([]);
    expect(settled.alive.map((alive) => [alive.role, alive.state]).sort()).toEqual([
      ['connector', 'streaming'],
      ['pinger', 'running'],
      ['pull-server', 'ready'],
    ]);
  }, 90_000);

  it('shows a ping Livefyre rejects in recent problems within seconds, with its user and reason', async () => {
    const fault = await fetch(`${simUrl}/sim/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 400, count: 1 }),
    });
    expect(fault.ok).toBe(true);
    await client.query(`UPDATE users SET display_name = 'rejected once' WHERE id = 'u1'`);
    const current = await waitFor(
      async () => {
        const seen = await view();
        return seen.problems.some((problem) => problem.context.userId === 'u1' && problem.context.reason === 'rejected')
          ? seen
          : undefined;
      },
      { what: 'the dead letter in recent problems', timeoutMs: 15_000 },
    );
    expect(figure(current, 'pings-dead'), JSON.stringify(current.funnel)).toBe(1);
  }, 30_000);

  it.skipIf(noBrowser !== undefined)(
    `shows the funnel, a drawn line in every chart and the problems on first load${
      noBrowser ? ` (skipped: ${noBrowser})` : ''
    }`,
    async () => {
      await withBrowser(async (browser) => {
        const page = await browser.newPage();
        await page.setViewportSize({ width: 1280, height: 900 });
        const refusedByPolicy: string[] = [];
        page.on('console', (message) => {
          if (message.type() === 'error') refusedByPolicy.push(message.text());
        });
        const response = await page.goto(`${consoleUrl}/`);
        expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
        const cell = async (key: string) =>
          (await page.textContent(`#funnel tr[data-funnel="${key}"] td:nth-child(2)`))?.trim();
        expect(await cell('row-changes')).toBe(String(USERS + UNMAPPED_UPDATES + 1));
        expect(await cell('events')).toBe(String(USERS + 1));
        expect(await cell('pulls-ok')).toBe(String(USERS));
        expect(await cell('pings-dead')).toBe('1');
        expect(await cell('confirmed')).toBe(String(USERS));
        for (const chart of CHARTS) {
          const points = (await page.getAttribute(`#chart-${chart} polyline.line`, 'points')) ?? '';
          expect(points.split(' ').length, chart).toBeGreaterThanOrEqual(2);
        }
        expect(await page.textContent('#chart-retained-wal figcaption b')).toMatch(/^\d[\d,.]* (B|KB|MB|GB)$/);
        expect(await page.textContent('#problems')).toContain('giving up on a ping');
        expect(await page.textContent('#alive tr[data-role="pull-server"]')).toContain('ready');
        expect(refusedByPolicy).toEqual([]);

        // A phone: no horizontal scrolling.
        await page.setViewportSize({ width: 390, height: 844 });
        const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
        expect(overflow).toBeLessThanOrEqual(0);
      });
    },
    60_000,
  );

  it('shows a 403 on the console of a pinger-only process, which says what it does not host', async () => {
    const metricsPort = await freePort();
    const base = `http://127.0.0.1:${metricsPort}`;
    refusedConsole = base;
    refused = spawnCli(['pinger'], {
      ...env,
      PINGPULL_LIVEFYRE_NETWORK_KEY: 'd3JvbmcgbmV0d29yayBrZXkgZm9yIHRoZSB0ZXN0',
      PINGPULL_KAFKA_GROUP_ID: uniqueName('refused'),
      PINGPULL_METRICS_PORT: String(metricsPort),
    });
    await client.query(`UPDATE users SET display_name = 'refused ' || id WHERE id = 'u2'`);
    const current = await waitFor(
      async () => {
        const seen = await view(base);
        return seen.problems.some((problem) => problem.context.status === 403) ? seen : undefined;
      },
      { what: 'the 403 in recent problems', timeoutMs: 30_000 },
    );
    expect(current.otherRoles).toEqual(['connector', 'pull-server']);
    expect(current.alive.find((alive) => alive.role === 'pinger')?.state).toBe('paused (403)');
    expect(current.funnel.find((row) => row.key === 'events')?.unavailable).toContain('another process');
    // The roles it does not host still show, as Postgres and Kafka see them.
    const cluster = current.cluster as ClusterView;
    expect(cluster.stages.find((stage) => stage.stage === 'replication slot')?.figures).toMatch(
      /streamed from, wal reserved, lag [\d,.]+ (B|KB|MB)/,
    );
    const html = await (await fetch(`${base}/`)).text();
    expect(html).toContain('This process does not host: connector, pull-server');
  }, 60_000);

  it('never shows the network key, the database password or an unmapped column value', async () => {
    for (const base of [consoleUrl, refusedConsole ?? consoleUrl]) {
      for (const path of ['/', '/status.json']) {
        const body = await (await fetch(`${base}${path}`)).text();
        for (const secret of [NETWORK_KEY, UNMAPPED_VALUE, rolePassword, pipelineUrl]) {
          expect(body, `${path} holds a secret`).not.toContain(secret);
        }
      }
    }
  });
});
