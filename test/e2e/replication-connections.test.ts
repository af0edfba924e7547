import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, spawnCli, type RunningCli } from '../helpers/cli.js';
import { createTestDatabase, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startBlackHoleProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { createKafka, plaintextConnection } from '../../src/events/kafka.js';
import { createLogger } from '../../src/log.js';

/**
 * Beside a production database: every pingpull process holds at most one
 * replication connection in every state (streaming, standby, reconnecting,
 * failing), and SIGTERM ends it within 10 s with exit 0. Walsenders are
 * counted in pg_stat_activity while the processes run.
 */
const STOP_WITHIN_MS = 10_000;

describe('replication connections and SIGTERM', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  let env: Record<string, string>;
  const running: RunningCli[] = [];

  const walsenders = async (): Promise<number> => {
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'walsender' AND datname = $1`,
      [db.name],
    );
    return rows[0]?.n ?? 0;
  };

  /** Samples the walsender count for `ms`, returning the largest count seen. */
  const mostWalsendersDuring = async (ms: number): Promise<number> => {
    let most = 0;
    const end = Date.now() + ms;
    while (Date.now() < end) {
      most = Math.max(most, await walsenders());
      // Sampling pace: a few looks per standby poll (every 2 s).
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return most;
  };

  const start = async (command: string, extra: Record<string, string> = {}): Promise<RunningCli> => {
    const process = spawnCli([command], { ...env, PINGPULL_PULL_PORT: String(await freePort()), ...extra });
    running.push(process);
    return process;
  };

  /** SIGTERM, then the exit code and how long the process took to go. */
  const terminate = async (process: RunningCli): Promise<{ code: number | null; ms: number }> => {
    const begin = Date.now();
    const code = await process.stop(STOP_WITHIN_MS + 5_000);
    return { code, ms: Date.now() - begin };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query('CREATE TABLE users (id bigint PRIMARY KEY, display_name text, email text, avatar_url text)');
    env = {
      PINGPULL_DATABASE_URL: db.url,
      PINGPULL_KAFKA_BROKERS: kafkaBrokers(),
      PINGPULL_REPLICATION_SLOT: uniqueName('slot'),
      PINGPULL_REPLICATION_PUBLICATION: uniqueName('pub'),
      PINGPULL_KAFKA_TOPIC: uniqueName('changes'),
      PINGPULL_KAFKA_DLQ_TOPIC: uniqueName('dlq'),
      PINGPULL_KAFKA_GROUP_ID: uniqueName('group'),
      PINGPULL_LIVEFYRE_NETWORK: 'conn.fyre.co',
      PINGPULL_LIVEFYRE_NETWORK_KEY: 'hnoVNQcTknTarpqj51WXQ6fXyAo=',
      // Nobody answers there: the pinger's pings fail and retry, which is no concern here.
      PINGPULL_LIVEFYRE_BASE_URL: 'http://127.0.0.1:9',
      PINGPULL_PULL_HOST: '127.0.0.1',
      PINGPULL_METRICS_PORT: '0',
      PINGPULL_LOG_LEVEL: 'info',
    };
    const setup = await runCli(['setup'], env);
    expect(setup.code, setup.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const process of running) await process.stop(1_000);
    await admin?.end();
    await db?.drop();
  });

  it('one walsender per process while streaming and standing by; SIGTERM ends each within 10 s', async () => {
    const active = await start('run');
    await waitFor(async () => (await walsenders()) === 1, { what: 'the active process to stream', timeoutMs: 30_000 });

    for (const command of ['connector', 'run']) {
      const standby = await start(command);
      await waitFor(() => standby.output().includes('waiting as a standby'), {
        what: `${command} to wait as a standby`,
        timeoutMs: 30_000,
      });
      // Before the fix this climbed by one idle walsender per poll (every 2 s).
      expect(await mostWalsendersDuring(7_000), `${command} as a standby`).toBeLessThanOrEqual(2);
      const stopped = await terminate(standby);
      expect(stopped, standby.output()).toEqual({ code: 0, ms: expect.any(Number) });
      expect(stopped.ms).toBeLessThan(STOP_WITHIN_MS);
      console.info(`replication-connections: ${command} as a standby stopped in ${stopped.ms} ms`);
      await waitFor(async () => (await walsenders()) === 1, { what: 'the standby walsender to go' });
    }

    // Reconnecting: the active walsender is killed; the process comes back with one, never two.
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'walsender' AND datname = $1`,
      [db.name],
    );
    expect(await mostWalsendersDuring(4_000)).toBeLessThanOrEqual(1);
    await waitFor(async () => (await walsenders()) === 1, { what: 'the active process to stream again' });

    const stopped = await terminate(active);
    expect(stopped.code, active.output()).toBe(0);
    expect(stopped.ms).toBeLessThan(STOP_WITHIN_MS);
    console.info(`replication-connections: run while streaming stopped in ${stopped.ms} ms`);
    expect(await walsenders()).toBe(0);
  }, 120_000);

  it('a connector started while Kafka is unreachable waits for it, then streams', async (context) => {
    const port = await freePort();
    const waiting = await start('connector', { PINGPULL_KAFKA_BROKERS: `127.0.0.1:${port}` });
    await waitFor(
      () => (waiting.output().match(/the connector waits for Kafka and tries again in [0-9.]+ s/g) ?? []).length >= 2,
      { what: 'two warnings that the connector waits for Kafka', timeoutMs: 60_000 },
    );
    expect(waiting.child.exitCode, waiting.output()).toBeNull();
    expect(waiting.output()).toContain(`kafka.brokers: cannot reach 127.0.0.1:${port} (connection refused)`);
    expect(await walsenders()).toBe(0);

    // Kafka comes: the bootstrap address forwards to the broker, whose metadata points at itself.
    const broker = new URL(`kafka://${kafkaBrokers().split(',')[0] ?? ''}`);
    const forwarder = await startBlackHoleProxy({ host: broker.hostname, port: Number(broker.port) }, port);
    context.onTestFinished(() => forwarder.close());
    await waitFor(async () => (await walsenders()) === 1, { what: 'the connector to stream', timeoutMs: 60_000 });
    const kafka = createKafka({
      connection: plaintextConnection(kafkaBrokers()),
      clientId: 'e2e-late-kafka',
      logger: createLogger('silent'),
    });
    const kafkaAdmin = kafka.admin();
    await kafkaAdmin.connect();
    context.onTestFinished(() => kafkaAdmin.disconnect());
    const published = async (): Promise<number> =>
      (await kafkaAdmin.fetchTopicOffsets(env.PINGPULL_KAFKA_TOPIC as string)).reduce((n, p) => n + Number(p.high), 0);
    const before = await published();
    await admin.query(`INSERT INTO users VALUES (4242, 'late kafka', NULL, NULL)`);
    await waitFor(async () => (await published()) > before, { what: 'the change event in Kafka', timeoutMs: 30_000 });
    expect((await terminate(waiting)).code, waiting.output()).toBe(0);
  }, 120_000);

  // (`run` refuses to start without its database: the pull server checks the columns first.)
  it('a connector that keeps failing to reach its database stops within 10 s on SIGTERM', async () => {
    const unreachable = new URL(db.url);
    unreachable.port = String(await freePort());
    const failing = await start('connector', { PINGPULL_DATABASE_URL: unreachable.toString() });
    await waitFor(() => (failing.output().match(/replication session failed/g) ?? []).length >= 2, {
      what: 'the connector to fail and retry',
      timeoutMs: 30_000,
    });
    const stopped = await terminate(failing);
    expect(stopped.code, failing.output()).toBe(0);
    expect(stopped.ms).toBeLessThan(STOP_WITHIN_MS);
    console.info(`replication-connections: a failing connector stopped in ${stopped.ms} ms`);
  }, 60_000);
});
