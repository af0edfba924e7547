import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, type TestContext } from 'vitest';
import { createKafka, plaintextConnection } from '../../src/events/kafka.js';
import { createLogger } from '../../src/log.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { freePort, runCli, spawnCli, type RunningCli } from '../helpers/cli.js';
import { createMembersDatabase } from '../helpers/members-table.js';
import { changeEventJson, okUserIds } from '../helpers/pinger-rig.js';
import { createTopic, kafkaBrokers, uniqueName } from '../helpers/services.js';
import { startBlackHoleProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

// The pinger and the Livefyre commands as a user runs them: `pingpull
// pinger`, `ping`, `register-pull-url`, against the simulator.

const NETWORK = 'pingere2e.fyre.co';
const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';
const WRONG_KEY = 'not-the-network-key';
const logger = createLogger('silent');

async function simulator(context: TestContext): Promise<Simulator> {
  const sim = await startSimulator({ network: NETWORK, networkKey: NETWORK_KEY, logger });
  context.onTestFinished(() => sim.close());
  return sim;
}

// No database.url: a host that only pings, whose `ping` cannot look users up.
const livefyreEnv = (sim: Simulator, key = NETWORK_KEY): Record<string, string | undefined> => ({
  PINGPULL_DATABASE_URL: undefined,
  PINGPULL_LIVEFYRE_NETWORK: NETWORK,
  PINGPULL_LIVEFYRE_NETWORK_KEY: key,
  PINGPULL_LIVEFYRE_BASE_URL: sim.url,
  PINGPULL_LIVEFYRE_TIMEOUT_MS: '5000',
  PINGPULL_LOG_LEVEL: 'warn',
});

/** Own topics and group; events produced directly; `pingpull pinger` children stopped at the end. */
async function pipeline(context: TestContext, sim: Simulator, partitions = 3) {
  const topic = await createTopic(uniqueName('e2e_pinger_changes'), partitions);
  const dlqTopic = await createTopic(uniqueName('e2e_pinger_dlq'), 1);
  const groupId = uniqueName('e2e_pinger_group');
  const kafka = createKafka({
    connection: plaintextConnection(kafkaBrokers()),
    clientId: 'pingpull-e2e-pinger',
    logger,
  });
  const producer = kafka.producer();
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  const children: RunningCli[] = [];
  context.onTestFinished(async () => {
    await Promise.all(children.map((child) => child.stop(5_000)));
    await producer.disconnect();
    await admin.disconnect();
  });
  const env = (overrides: Record<string, string> = {}): Record<string, string> => ({
    ...livefyreEnv(sim),
    PINGPULL_KAFKA_BROKERS: kafkaBrokers(),
    PINGPULL_KAFKA_TOPIC: topic,
    PINGPULL_KAFKA_DLQ_TOPIC: dlqTopic,
    PINGPULL_KAFKA_GROUP_ID: groupId,
    PINGPULL_METRICS_PORT: '0',
    PINGPULL_PINGER_COALESCE_MS: '20',
    PINGPULL_PINGER_COMMIT_INTERVAL_MS: '200',
    PINGPULL_LOG_LEVEL: 'info',
    ...overrides,
  });
  return {
    topic,
    dlqTopic,
    produce: (ids: readonly string[]) =>
      producer.send({ topic, acks: -1, messages: ids.map((id) => ({ key: id, value: changeEventJson(id) })) }),
    pinger(overrides: Record<string, string> = {}): RunningCli {
      const child = spawnCli(['pinger'], env(overrides));
      children.push(child);
      return child;
    },
    async committedTotal(): Promise<number> {
      const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return (entry?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    },
    async endTotal(name = topic): Promise<number> {
      return (await admin.fetchTopicOffsets(name)).reduce((sum, p) => sum + Number(p.high), 0);
    },
  };
}

describe('pingpull register-pull-url', () => {
  it('reports the 204, refuses a bad template with exit 2, and a refusal with exit 1 on one line', async (context) => {
    const sim = await simulator(context);
    const template = 'https://users.example.com/livefyre/profiles/{id}';
    const ok = await runCli(['register-pull-url', template], livefyreEnv(sim));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe(`registered ${template} (HTTP 204)`);
    expect(sim.pullUrl().template).toBe(template);

    const noId = await runCli(['register-pull-url', 'https://users.example.com/profiles'], livefyreEnv(sim));
    expect(noId.code).toBe(2);
    expect(noId.stderr).toMatch(/must contain \{id\}/);
    const notUrl = await runCli(['register-pull-url', 'users/{id}'], livefyreEnv(sim));
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toMatch(/fully qualified URL/);

    const refused = await runCli(['register-pull-url', template], livefyreEnv(sim, WRONG_KEY));
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(
      /answered 403: Livefyre does not accept the system token; check livefyre\.network and livefyre\.networkKey/,
    );
    expect(refused.stderr).not.toContain('actor_token=ey');
  });

  it('treats any status other than 204 as a failure', async (context) => {
    let status = 500;
    const server: Server = createServer((request, response) => {
      request.resume();
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(
        status === 200
          ? '{"status":"ok"}'
          : JSON.stringify({ status: 'error', code: status, msg: 'the pull URL service is down' }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    context.onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const env = {
      PINGPULL_LIVEFYRE_NETWORK: NETWORK,
      PINGPULL_LIVEFYRE_NETWORK_KEY: NETWORK_KEY,
      PINGPULL_LIVEFYRE_BASE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      PINGPULL_LOG_LEVEL: 'warn',
    };
    const failed = await runCli(['register-pull-url', 'https://example.com/p/?id={id}'], env);
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
    expect(failed.stderr).toMatch(/registering the pull URL .* was answered 500: the pull URL service is down/);
    status = 200;
    const odd = await runCli(['register-pull-url', 'https://example.com/p/?id={id}'], env);
    expect(odd.code).toBe(1);
    expect(odd.stderr).toMatch(/with HTTP 200, expected 204/);

    const unreachable = await runCli(['register-pull-url', 'https://example.com/p/{id}'], {
      ...env,
      PINGPULL_LIVEFYRE_BASE_URL: `http://127.0.0.1:${await freePort()}`,
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/ECONNREFUSED/);
  });
});

describe('pingpull ping', () => {
  it('says which ids have no row in the table, and pings them only with --force', async (context) => {
    const sim = await simulator(context);
    const { database, pool } = await createMembersDatabase('user_id text PRIMARY KEY, nick text', 1);
    context.onTestFinished(() => database.drop());
    await pool.query(`INSERT INTO members VALUES ('m1', 'one')`);
    await pool.end();
    const env = {
      ...livefyreEnv(sim),
      PINGPULL_DATABASE_URL: database.url,
      PINGPULL_SOURCE_TABLE: 'members',
      PINGPULL_SOURCE_ID_COLUMN: 'user_id',
      PINGPULL_SOURCE_COLUMNS: '{"display_name":"nick"}',
    };
    const checked = await runCli(['ping', 'm1', 'nosuch'], env);
    expect(checked.code).toBe(1);
    expect(checked.stdout.trim().split('\n')).toEqual([
      'skipped nosuch: no such user in members (ping it anyway with --force)',
      'pinged m1',
    ]);
    expect(okUserIds(sim).has('nosuch')).toBe(false);

    const forced = await runCli(['ping', 'nosuch', '--force'], env);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout.trim()).toBe('pinged nosuch');
  });

  it('pings each id and says how each went', async (context) => {
    const sim = await simulator(context);
    const ok = await runCli(['ping', 'u1', 'u2', 'u1'], livefyreEnv(sim));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim().split('\n')).toEqual(['pinged u1', 'pinged u2']);
    expect([...okUserIds(sim)].sort()).toEqual(['u1', 'u2']);

    const bad = await runCli(['ping', 'u3', 'no way'], livefyreEnv(sim));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"no way"');
    expect(okUserIds(sim).has('u3')).toBe(false);

    sim.setFaults({ status: 503, count: 1 });
    const flaky = await runCli(['ping', 'u4', 'u5'], livefyreEnv(sim));
    expect(flaky.code).toBe(1);
    expect(flaky.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^failed u4: .*answered 503: injected fault$/),
      'pinged u5',
    ]);

    const forbidden = await runCli(['ping', 'u6', 'u7'], livefyreEnv(sim, WRONG_KEY));
    expect(forbidden.code).toBe(1);
    expect(forbidden.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^failed u6: .*403.*livefyre\.networkKey/),
      'skipped u7: Livefyre refuses the system token',
    ]);
  });
});

describe('pingpull pinger', () => {
  it('waits for a Kafka that is unreachable at start, one warning per attempt, then pings', async (context) => {
    const sim = await simulator(context);
    const rig = await pipeline(context, sim);
    const port = await freePort();
    const waiting = rig.pinger({ PINGPULL_KAFKA_BROKERS: `127.0.0.1:${port}`, PINGPULL_LOG_LEVEL: 'info' });
    const warning = new RegExp(
      `"level":40,.*"msg":"kafka\\.brokers: cannot reach 127\\.0\\.0\\.1:${port} \\(connection refused\\); ` +
        'the pinger waits for Kafka and tries again in [0-9.]+ s"',
      'g',
    );
    await waitFor(() => (waiting.output().match(warning) ?? []).length >= 2, {
      what: 'two warnings that the pinger waits for Kafka',
      timeoutMs: 60_000,
    });
    expect(waiting.child.exitCode, waiting.output()).toBeNull();
    // One line per attempt: kafkajs's own retries say nothing at the default level.
    expect(waiting.output()).not.toMatch(/"level":50/);

    // Kafka comes: the bootstrap address forwards to the broker, whose metadata points at itself.
    const broker = new URL(`kafka://${kafkaBrokers().split(',')[0] ?? ''}`);
    const forwarder = await startBlackHoleProxy({ host: broker.hostname, port: Number(broker.port) }, port);
    context.onTestFinished(() => forwarder.close());
    await rig.produce(['late-1', 'late-2']);
    await waitFor(() => okUserIds(sim).has('late-1') && okUserIds(sim).has('late-2'), {
      what: 'the pinger to start once Kafka answers and ping both users',
      timeoutMs: 60_000,
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${waiting.output().slice(-3_000)}`);
    });
    expect(waiting.output()).toContain('Kafka answers: the pinger starts');
    expect(await waiting.stop()).toBe(0);
  }, 150_000);

  it('stops at once on SIGTERM while it waits for Kafka', async (context) => {
    const sim = await simulator(context);
    const waiting = spawnCli(['pinger'], {
      ...livefyreEnv(sim),
      PINGPULL_KAFKA_BROKERS: `127.0.0.1:${await freePort()}`,
      PINGPULL_METRICS_PORT: '0',
    });
    await waitFor(() => waiting.output().includes('the pinger waits for Kafka'), { what: 'the pinger to wait' });
    expect(await waiting.stop(10_000), waiting.output()).toBe(0);
  }, 60_000);

  it('loses nothing when killed with SIGKILL while pings are in flight', async (context) => {
    const sim = await simulator(context);
    const rig = await pipeline(context, sim);
    // half the pings hang for 1.5 s and then fail: many in flight or retrying at any moment
    sim.setFaults({ status: 503, rate: 0.5, delayMs: 1_500 });
    const users = Array.from({ length: 300 }, (_, i) => `killed-${i}`);
    await rig.produce(users);
    const first = rig.pinger({
      PINGPULL_PINGER_CONCURRENCY: '8',
      PINGPULL_PINGER_RETRY_BASE_MS: '100',
      PINGPULL_PINGER_MAX_ATTEMPTS: '50',
    });
    await waitFor(async () => okUserIds(sim).size >= 20, { what: 'some users pinged', timeoutMs: 60_000 });
    first.child.kill('SIGKILL');
    expect(await first.stop()).toBeNull();
    const pingedBeforeKill = okUserIds(sim).size;
    expect(pingedBeforeKill).toBeLessThan(users.length);
    // work was left unacknowledged: what was not pinged cannot have been committed
    expect(await rig.committedTotal()).toBeLessThan(await rig.endTotal());

    sim.clearFaults();
    const second = rig.pinger();
    await waitFor(async () => users.every((id) => okUserIds(sim).has(id)), {
      what: 'every user pinged after the restart',
      timeoutMs: 120_000,
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${second.output().slice(-3_000)}`);
    });
    const end = await rig.endTotal();
    await waitFor(async () => (await rig.committedTotal()) === end, {
      what: 'every offset committed',
      timeoutMs: 30_000,
    });
    expect(await rig.endTotal(rig.dlqTopic)).toBe(0);
    expect(await second.stop()).toBe(0);
  }, 240_000);

  it('pauses on a wrong network key without losing or dead-lettering, and delivers after a restart with the right key', async (context) => {
    const sim = await simulator(context);
    const rig = await pipeline(context, sim);
    const users = Array.from({ length: 20 }, (_, i) => `locked-${i}`);
    await rig.produce(users);
    const wrong = rig.pinger({ PINGPULL_LIVEFYRE_NETWORK_KEY: WRONG_KEY, PINGPULL_PINGER_FORBIDDEN_PAUSE_MS: '500' });
    await waitFor(async () => sim.pings().filter((p) => p.status === 403).length >= 3, {
      what: 'refused pings',
      timeoutMs: 60_000,
    });
    // The child's log reaches us through a pipe, possibly after the simulator recorded the 403s.
    await waitFor(async () => wrong.output().includes('Livefyre refuses the system token (HTTP 403)'), {
      what: 'the 403 error in the log',
      timeoutMs: 10_000,
    });
    expect(wrong.output()).not.toContain(NETWORK_KEY);
    expect(wrong.output()).not.toContain(WRONG_KEY);
    expect(okUserIds(sim).size).toBe(0);
    expect(await rig.committedTotal()).toBe(0);
    expect(await rig.endTotal(rig.dlqTopic)).toBe(0);
    expect(await wrong.stop()).toBe(0);
    expect(await rig.committedTotal()).toBe(0);

    const right = rig.pinger();
    await waitFor(async () => okUserIds(sim).size === users.length, { what: 'every user pinged', timeoutMs: 60_000 });
    const end = await rig.endTotal();
    await waitFor(async () => (await rig.committedTotal()) === end, {
      what: 'every offset committed',
      timeoutMs: 30_000,
    });
    expect(await rig.endTotal(rig.dlqTopic)).toBe(0);
    expect(await right.stop()).toBe(0);
  }, 180_000);
});
