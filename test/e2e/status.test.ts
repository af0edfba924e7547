import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/status/report.js';
import { ensureChromium, withBrowser } from '../helpers/chromium.js';
import { freePort, runCli, spawnCli, type RunningCli } from '../helpers/cli.js';
import { createTestDatabase, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

// Lag as a user sees it: `/metrics` of the roles and `pingpull status --json`
// while connector, pinger and pull server run as separate processes, so one
// stage can stop while the others keep going.

const NETWORK = 'status.fyre.co';
const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';

const noBrowser = ensureChromium();

/** Sum of a metric's samples in a Prometheus text exposition (NaN when absent). */
function metricSum(text: string, name: string): number {
  let sum = Number.NaN;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    sum = (Number.isNaN(sum) ? 0 : sum) + Number(match[3]);
  }
  return sum;
}

describe('lag and health as a user sees them', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let env: Record<string, string>;
  let simulator: RunningCli;
  let connector: RunningCli | undefined;
  let pinger: RunningCli | undefined;
  let pullServer: RunningCli;
  let connectorMetrics: string;
  let pullBase: string;
  let edits = 0;

  const scrape = async (url: string) => (await fetch(url)).text();
  const status = async (extra: Record<string, string> = {}) => {
    const result = await runCli(['status', '--json'], { ...env, ...extra });
    let report: StatusReport | undefined;
    try {
      report = JSON.parse(result.stdout) as StatusReport;
    } catch {
      report = undefined;
    }
    return { ...result, report };
  };
  const editUsers = async (count: number) => {
    edits += 1;
    await client.query(
      `UPDATE users SET display_name = 'edit ${edits} of ' || id WHERE id IN (SELECT id FROM users ORDER BY id LIMIT $1)`,
      [count],
    );
  };
  const startConnector = async () => {
    connector = spawnCli(['connector'], { ...env, PINGPULL_METRICS_PORT: String(new URL(connectorMetrics).port) });
    await waitFor(async () => (await fetch(connectorMetrics)).ok, { what: 'the connector metrics' });
  };
  const startPinger = async () => {
    pinger = spawnCli(['pinger'], { ...env, PINGPULL_METRICS_PORT: String(await freePort()) });
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(
      'CREATE TABLE users (id text PRIMARY KEY, display_name text NOT NULL, email text, avatar_url text)',
    );
    await client.query(
      `INSERT INTO users SELECT 'u' || lpad(n::text, 3, '0'), 'user ' || n, NULL, NULL FROM generate_series(1, 40) AS n`,
    );

    const simPort = await freePort();
    const pullPort = await freePort();
    connectorMetrics = `http://127.0.0.1:${await freePort()}/metrics`;
    pullBase = `http://127.0.0.1:${pullPort}`;
    env = {
      PINGPULL_DATABASE_URL: db.url,
      PINGPULL_KAFKA_BROKERS: kafkaBrokers(),
      PINGPULL_REPLICATION_SLOT: uniqueName('slot'),
      PINGPULL_REPLICATION_PUBLICATION: uniqueName('pub'),
      PINGPULL_KAFKA_TOPIC: uniqueName('changes'),
      PINGPULL_KAFKA_DLQ_TOPIC: uniqueName('dlq'),
      PINGPULL_KAFKA_GROUP_ID: uniqueName('group'),
      PINGPULL_KAFKA_PARTITIONS: '3',
      PINGPULL_LIVEFYRE_NETWORK: NETWORK,
      PINGPULL_LIVEFYRE_NETWORK_KEY: NETWORK_KEY,
      PINGPULL_LIVEFYRE_BASE_URL: `http://127.0.0.1:${simPort}`,
      PINGPULL_SIMULATOR_PORT: String(simPort),
      PINGPULL_PULL_HOST: '127.0.0.1',
      PINGPULL_PULL_PORT: String(pullPort),
      PINGPULL_METRICS_PORT: '0',
      PINGPULL_METRICS_LAG_INTERVAL_MS: '300',
      PINGPULL_PINGER_COALESCE_MS: '50',
      PINGPULL_STATUS_SAMPLE_MS: '500',
      // Off by default since the operator console moved to the metrics listener; this file checks the old page.
      PINGPULL_STATUS_PAGE: 'true',
      PINGPULL_LOG_LEVEL: 'warn',
    };

    simulator = spawnCli(['livefyre-sim'], env);
    await waitFor(async () => (await fetch(`${env.PINGPULL_LIVEFYRE_BASE_URL}/healthz`)).ok, { what: 'the simulator' });
    const setup = await runCli(['setup'], env);
    expect(setup.code, setup.stderr).toBe(0);
    pullServer = spawnCli(['pull-server'], env);
    await waitFor(async () => (await fetch(`${pullBase}/readyz`)).ok, { what: 'the pull server' });
    await startConnector();
    await startPinger();
  });

  afterAll(async () => {
    await Promise.all([connector?.stop(), pinger?.stop(), pullServer?.stop(), simulator?.stop()]);
    await client?.end();
    if (env !== undefined) await runCli(['teardown', '--force'], env);
    await db?.drop();
  });

  it('is healthy, with every lag at 0, once the pipeline has caught up', async () => {
    await editUsers(3);
    const { report, code } = await waitFor(
      async () => {
        const result = await status();
        return result.code === 0 &&
          result.report?.kafka.consumerLagMessages === 0 &&
          result.report.connector.sourceLagSeconds === 0
          ? result
          : undefined;
      },
      { what: 'status to report a caught-up, healthy pipeline' },
    );
    expect(code).toBe(0);
    expect(report?.connector).toMatchObject({ exists: true, active: true, walStatus: 'reserved', sourceLagSeconds: 0 });
    expect(report?.kafka.partitions).toHaveLength(3);
    expect(report?.deadLetters.messages).toBe(0);
    expect(report?.livefyre).toMatchObject({ reachable: true, forbidden: null });

    const human = await runCli(['status'], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^pingpull healthy at /);
    expect(human.stdout).toMatch(/^connector +ok +slot \S+ active/m);

    const text = await scrape(connectorMetrics);
    for (const name of [
      'pingpull_replication_lag_bytes',
      'pingpull_replication_retained_bytes',
      'pingpull_source_lag_seconds',
    ]) {
      expect(metricSum(text, name), name).toBeGreaterThanOrEqual(0);
    }
    expect(text).toContain('pingpull_replication_slot_wal_status{status="reserved"} 1');
    expect(text).toContain('pingpull_replication_slot_active 1');
    expect(text).toMatch(
      new RegExp(`pingpull_consumer_lag_messages\\{topic="${env.PINGPULL_KAFKA_TOPIC}",partition="0"\\} `),
    );
    expect(text).not.toMatch(/u0\d\d/);
  });

  it('shows consumer lag rising while the pinger is down and falling to 0 once it is back', async () => {
    await pinger?.stop();
    await editUsers(6);
    await waitFor(async () => metricSum(await scrape(connectorMetrics), 'pingpull_consumer_lag_messages') >= 6, {
      what: 'consumer lag in the metrics',
    });
    const behind = await status();
    expect(behind.report?.kafka.consumerLagMessages).toBeGreaterThanOrEqual(6);
    expect(behind.report?.kafka.partitions.reduce((sum, p) => sum + p.lag, 0)).toBe(
      behind.report?.kafka.consumerLagMessages,
    );

    const strict = await status({ PINGPULL_STATUS_MAX_CONSUMER_LAG_MESSAGES: '2' });
    expect(strict.code).toBe(1);
    expect(strict.report?.kafka.healthy).toBe(false);
    expect(strict.report?.kafka.problems.join(' ')).toContain('consumer lag above 2');

    await startPinger();
    await waitFor(async () => metricSum(await scrape(connectorMetrics), 'pingpull_consumer_lag_messages') === 0, {
      what: 'consumer lag back to 0',
    });
    const caughtUp = await waitFor(
      async () => {
        const result = await status();
        return result.report?.kafka.consumerLagMessages === 0 ? result : undefined;
      },
      { what: 'status to see the pinger caught up' },
    );
    expect(caughtUp.report?.kafka.healthy).toBe(true);
  }, 90_000);

  it('shows replication and source lag rising while the connector is down and falling once it is back', async () => {
    await connector?.stop();
    const down = await waitFor(
      async () => {
        const result = await status();
        return result.report?.connector.active === false ? result : undefined;
      },
      { what: 'status to see the slot inactive' },
    );
    expect(down.code).toBe(1);
    expect(down.report?.connector.problems).toContain('no connector is streaming from the replication slot');

    await editUsers(5);
    const behind = await status();
    expect(behind.code).toBe(1);
    expect(behind.report?.connector.replicationLagBytes).toBeGreaterThan(0);
    // The slot did not move while status watched it: at least the watching time behind.
    expect(behind.report?.connector.sourceLagSeconds).toBeGreaterThan(0);

    await startConnector();
    const back = await waitFor(
      async () => {
        const result = await status();
        return result.code === 0 && result.report?.connector.sourceLagSeconds === 0 ? result : undefined;
      },
      { what: 'status to see the connector caught up' },
    );
    expect(back.report?.connector.active).toBe(true);
    await waitFor(async () => metricSum(await scrape(connectorMetrics), 'pingpull_source_lag_seconds') === 0, {
      what: 'source lag 0 in the metrics',
    });
  }, 90_000);

  it('exits 1 naming the stage when the slot is missing or Kafka is unreachable, 2 on bad config', async () => {
    const noSlot = await status({ PINGPULL_REPLICATION_SLOT: uniqueName('nosuchslot') });
    expect(noSlot.code).toBe(1);
    expect(noSlot.report?.connector).toMatchObject({ healthy: false, exists: false });
    expect(noSlot.report?.kafka.healthy).toBe(true);

    const closedPort = await freePort();
    const noKafka = await status({
      PINGPULL_KAFKA_BROKERS: `127.0.0.1:${closedPort}`,
      PINGPULL_STATUS_TIMEOUT_MS: '3000',
    });
    expect(noKafka.code).toBe(1);
    expect(noKafka.report?.kafka).toMatchObject({ healthy: false, reachable: false });
    expect(noKafka.report?.kafka.error).toBeTruthy();
    expect(noKafka.report?.deadLetters.healthy).toBe(false);
    expect(noKafka.report?.connector.healthy).toBe(true);

    const human = await runCli(['status'], {
      ...env,
      PINGPULL_KAFKA_BROKERS: `127.0.0.1:${closedPort}`,
      PINGPULL_STATUS_TIMEOUT_MS: '3000',
    });
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^pingpull UNHEALTHY/);
    expect(human.stdout).toMatch(/^kafka +FAIL/m);

    const badConfig = await runCli(['status'], { ...env, PINGPULL_STATUS_MAX_DEAD_LETTERS: '-1' });
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toContain('status.maxDeadLetters');
  });

  it('serves the same figures at /status.json on the pull server, without names or secrets', async () => {
    const response = await fetch(`${pullBase}/status.json`);
    expect(response.status).toBe(200);
    const body = await response.text();
    const page = JSON.parse(body) as { healthy: boolean; stages: Record<string, unknown>; history: unknown[] };
    expect(Object.keys(page.stages).sort()).toEqual([
      'connector',
      'database',
      'deadLetters',
      'kafka',
      'livefyre',
      'pulls',
    ]);
    expect(page.history.length).toBeGreaterThan(0);
    for (const secret of [
      NETWORK_KEY,
      env.PINGPULL_REPLICATION_SLOT,
      env.PINGPULL_KAFKA_TOPIC,
      env.PINGPULL_KAFKA_GROUP_ID,
      db.name,
      'u001',
      'postgres://',
    ]) {
      expect(body).not.toContain(secret);
    }
  });

  it.skipIf(noBrowser !== undefined)(
    `draws the status page with its figures and lag charts in a real browser${noBrowser ? ` (skipped: ${noBrowser})` : ''}`,
    async () => {
      await withBrowser(async (browser) => {
        const page = await browser.newPage();
        const blocked: string[] = [];
        page.on('console', (message) => {
          if (message.type() === 'error') blocked.push(message.text());
        });
        await page.goto(`${pullBase}/status`);
        await page.waitForSelector('#stages tr[data-stage="connector"]');
        expect(await page.textContent('#overall')).toMatch(/^(healthy|UNHEALTHY)$/);
        const connectorRow = await page.textContent('#stages tr[data-stage="connector"]');
        // Human units: bytes as B/KB/MB, lag in seconds or minutes.
        expect(connectorRow).toMatch(
          /slot active, wal reserved, lag [\d.]+ [KMGT]?B, retained [\d.]+ [KMGT]?B, source lag [\d.]+ (seconds|minutes|hours)/,
        );
        expect(await page.textContent('#stages tr[data-stage="kafka"]')).toMatch(
          /consumer lag \d+ message\(s\), \d+ pinger\(s\) \(p0=\d+ p1=\d+ p2=\d+\)/,
        );
        // Two refreshes give the chart a line (at least two points).
        // (Polled from here: the page's CSP forbids the evaluated strings of waitForFunction.)
        const points = await waitFor(
          async () => {
            const value = (await page.getAttribute('#chart-consumerLagMessages polyline', 'points')) ?? '';
            return value.split(' ').length >= 2 ? value : undefined;
          },
          { what: 'a line in the consumer lag chart' },
        );
        expect(points).toMatch(/^[\d.]+,[\d.]+( [\d.]+,[\d.]+)+$/);
        for (const chart of ['replicationLagBytes', 'consumerLagMessages', 'sourceLagSeconds']) {
          expect(await page.locator(`#chart-${chart} polyline`).count()).toBe(1);
        }
        // The page's own script ran under its strict Content-Security-Policy: nothing was refused.
        expect(blocked.filter((text) => text.includes('Content Security Policy'))).toEqual([]);
      });
    },
  );
});
