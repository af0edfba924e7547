import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/status/report.js';
import { freePort, runCli, spawnCli, type RunningCli } from '../helpers/cli.js';
import { createTestDatabase, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { makeToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

// `pingpull status` must not be green while delivery is broken elsewhere: the
// pull server answering 503 to every pull, or Livefyre refusing the pinger's
// key. Each role runs as its own process, as in a split deployment, and
// status learns of their failures from their /metrics.

const NETWORK = 'statusfail.fyre.co';
const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';

describe('status reports what the roles see', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let env: Record<string, string>;
  const processes: RunningCli[] = [];
  let pullBase: string;
  let pullMetrics: string;

  const start = (command: string, extra: Record<string, string> = {}): RunningCli => {
    const child = spawnCli([command], { ...env, ...extra });
    processes.push(child);
    return child;
  };
  const status = async (extra: Record<string, string> = {}) => {
    const human = await runCli(['status'], { ...env, ...extra });
    const json = await runCli(['status', '--json'], { ...env, ...extra });
    return { human, report: JSON.parse(json.stdout) as StatusReport, code: json.code };
  };
  const pull = async (id: string): Promise<number> => {
    const token = await makeToken({ key: NETWORK_KEY, domain: NETWORK });
    return (await fetch(`${pullBase}/livefyre/profiles/${id}?lftoken=${encodeURIComponent(token)}`)).status;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('CREATE TABLE users (id text PRIMARY KEY, display_name text, email text, avatar_url text)');
    await client.query(`INSERT INTO users VALUES ('alice', 'Alice', NULL, NULL), ('bob', 'Bob', NULL, NULL)`);
    const simPort = await freePort();
    const pullPort = await freePort();
    pullBase = `http://127.0.0.1:${pullPort}`;
    pullMetrics = `http://127.0.0.1:${await freePort()}/metrics`;
    env = {
      PINGPULL_DATABASE_URL: db.url,
      PINGPULL_KAFKA_BROKERS: kafkaBrokers(),
      PINGPULL_REPLICATION_SLOT: uniqueName('slot'),
      PINGPULL_REPLICATION_PUBLICATION: uniqueName('pub'),
      PINGPULL_KAFKA_TOPIC: uniqueName('changes'),
      PINGPULL_KAFKA_DLQ_TOPIC: uniqueName('dlq'),
      PINGPULL_KAFKA_PULLS_TOPIC: uniqueName('pulls'),
      PINGPULL_KAFKA_GROUP_ID: uniqueName('group'),
      PINGPULL_LIVEFYRE_NETWORK: NETWORK,
      PINGPULL_LIVEFYRE_NETWORK_KEY: NETWORK_KEY,
      PINGPULL_LIVEFYRE_BASE_URL: `http://127.0.0.1:${simPort}`,
      PINGPULL_SIMULATOR_PORT: String(simPort),
      PINGPULL_PULL_HOST: '127.0.0.1',
      PINGPULL_PULL_PORT: String(pullPort),
      PINGPULL_METRICS_PORT: '0',
      PINGPULL_STATUS_SAMPLE_MS: '0',
      PINGPULL_STATUS_PULL_SERVER_METRICS_URLS: pullMetrics,
      PINGPULL_LOG_LEVEL: 'warn',
    };
    start('livefyre-sim');
    await waitFor(async () => (await fetch(`${env.PINGPULL_LIVEFYRE_BASE_URL}/healthz`)).ok, { what: 'the simulator' });
    const setup = await runCli(['setup'], env);
    expect(setup.code, setup.stderr).toBe(0);
    start('pull-server', { PINGPULL_METRICS_PORT: new URL(pullMetrics).port });
    await waitFor(async () => (await fetch(`${pullBase}/readyz`)).ok, { what: 'the pull server' });
    start('connector');
  }, 60_000);

  afterAll(async () => {
    await Promise.all(processes.map((child) => child.stop()));
    await client?.end();
    if (env !== undefined) await runCli(['teardown', '--force'], env);
    await db?.drop();
  });

  it('is healthy while the pull server answers its pulls', async () => {
    expect(await pull('alice')).toBe(200);
    const healthy = await waitFor(
      async () => {
        const result = await status();
        return result.code === 0 && result.human.code === 0 ? result : undefined;
      },
      { what: 'status to report a healthy pipeline' },
    );
    expect(healthy.report.pulls).toMatchObject({ healthy: true, pullServerFailing: false });
    expect(healthy.human.code, healthy.human.stdout).toBe(0);
    expect(healthy.human.stdout).toMatch(/^pulls +ok +.*pull server answers$/m);
  });

  it('fails, naming the cause and the fix, while the pull server answers 503 to every pull', async () => {
    await client.query('ALTER TABLE users RENAME COLUMN display_name TO nick');
    try {
      expect(await pull('alice')).toBe(503);
      expect(await pull('bob')).toBe(503);
      const failing = await status();
      expect(failing.code).toBe(1);
      expect(failing.report.pulls).toMatchObject({
        healthy: false,
        pullServerFailing: true,
        pullServerFailureCause: 'column',
      });
      // Everything else is fine: only the pulls stage fails.
      expect(failing.report.database.healthy && failing.report.connector.healthy).toBe(true);
      expect(failing.human.code).toBe(1);
      expect(failing.human.stdout).toMatch(/^pulls +FAIL /m);
      const lines = failing.human.stdout.split('\n').filter((line) => line.includes('pulls fail:'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /pulls fail: the pull server answers 503 to pulls since \S+, so Livefyre gets no profiles: its profile query names a column the table no longer has \(renamed or dropped\): set source\.columns/,
      );
    } finally {
      await client.query('ALTER TABLE users RENAME COLUMN nick TO display_name');
    }
    // The column is back: the next pull is answered, and status is green again.
    expect(await pull('alice')).toBe(200);
    const back = await status();
    expect(back.code, back.human.stdout).toBe(0);
    expect(back.report.pulls.pullServerFailing).toBe(false);
  });

  it("fails saying the network key is refused once a pinger's ping got 403", async () => {
    const pingerMetrics = `http://127.0.0.1:${await freePort()}/metrics`;
    const pinger = start('pinger', {
      PINGPULL_LIVEFYRE_NETWORK_KEY: 'not-the-network-key',
      PINGPULL_METRICS_PORT: new URL(pingerMetrics).port,
    });
    await client.query(`UPDATE users SET display_name = 'Alice again' WHERE id = 'alice'`);
    await waitFor(async () => /^pingpull_livefyre_token_refused 1$/m.test(await (await fetch(pingerMetrics)).text()), {
      what: 'the pinger to have a ping refused',
      timeoutMs: 60_000,
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${pinger.output().slice(-3_000)}`);
    });

    const refused = await status({ PINGPULL_STATUS_PINGER_METRICS_URLS: pingerMetrics });
    expect(refused.code).toBe(1);
    expect(refused.report.livefyre).toMatchObject({ healthy: false, forbidden: true });
    expect(refused.human.code).toBe(1);
    expect(refused.human.stdout).toMatch(/^livefyre +FAIL .*key REFUSED \(403\)$/m);
    expect(refused.human.stdout.match(/livefyre\.networkKey is refused/g)).toHaveLength(1);
    expect(refused.human.stdout).toContain(
      "livefyre.networkKey is refused: Livefyre answers 403 to the pinger's pings",
    );
    expect(refused.human.stderr).toBe('');
    expect(refused.human.stdout).not.toContain('not-the-network-key');
  }, 90_000);
});
