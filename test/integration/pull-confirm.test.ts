import type { FastifyInstance } from 'fastify';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { createPool, type Pool } from '../../src/db.js';
import { createKafka, plaintextConnection, type Kafka } from '../../src/events/kafka.js';
import { connectPullsWriter, ensurePullsTopic, HEADER_PULL } from '../../src/events/pulls.js';
import { recordServedPulls } from '../../src/app/served-pulls.js';
import { createLivefyreClient, registeredPullUrl, type LivefyreClient } from '../../src/livefyre/client.js';
import { createLogger } from '../../src/log.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import type { PingerHandle } from '../../src/pinger/index.js';
import { buildPullServer } from '../../src/pull/index.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { systemClock, systemTimers } from '../../src/time.js';
import { spawnCli } from '../helpers/cli.js';
import { readTopic } from '../helpers/connector-kafka.js';
import { changeEventJson, startTestPinger } from '../helpers/pinger-rig.js';
import { createTestDatabase, createTopic, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { NETWORK, NETWORK_KEY } from '../helpers/tokens.js';
import { createUsersTable, SOURCE } from '../helpers/users-fixture.js';
import { waitFor } from '../helpers/wait.js';
import { testPingerSettings } from '../helpers/pinger-settings.js';

const logger = createLogger('silent');

const PINGER = testPingerSettings({
  retryBaseMs: 100,
  pullConfirmMs: 1_500,
  sessionTimeoutMs: 10_000,
});

/** Livefyre's stored profiles: what the simulator pulled and validated. */
const delivered = (sim: Simulator, id: string): boolean => sim.profile(id) !== undefined;

describe('the pull confirmation loop, on Kafka, Postgres, the pull server and the simulator', () => {
  let db: TestDatabase;
  let pool: Pool;
  let kafka: Kafka;
  let producer: Producer;

  beforeAll(async () => {
    db = await createTestDatabase();
    await createUsersTable(db.url);
    pool = createPool({ url: db.url, max: 4, applicationName: 'pingpull-test' });
    kafka = createKafka({
      connection: plaintextConnection(kafkaBrokers()),
      clientId: 'pingpull-pull-confirm-test',
      logger,
    });
    producer = kafka.producer();
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await pool?.end();
    await db?.drop();
  });

  interface Loop {
    sim: Simulator;
    client: LivefyreClient;
    config: Pick<Config, 'kafka' | 'pinger'>;
    metrics: Metrics;
    pullBase: string;
    register(): Promise<void>;
    change(id: string): Promise<void>;
    startPinger(): PingerHandle;
  }

  /** Own topics, group, simulator, pull server (recording its pulls in the pulls topic); all stopped at the end. */
  async function loop(context: TestContext, pinger: Partial<Config['pinger']> = {}): Promise<Loop> {
    const topic = await createTopic(uniqueName('confirm'), 2);
    const kafkaConfig: Config['kafka'] = {
      ...plaintextConnection(kafkaBrokers()),
      clientId: 'pingpull-pull-confirm-test',
      topic,
      dlqTopic: await createTopic(uniqueName('confirm_dlq'), 1),
      pullsTopic: `${topic}.pulls`,
      groupId: uniqueName('confirm_group'),
      partitions: 2,
    };
    await ensurePullsTopic(kafka, kafkaConfig.pullsTopic, 2);
    // the pull server role's own recorder (its served records linger briefly before they go out)
    const served = recordServedPulls({
      kafka: () => kafka,
      config: { kafka: kafkaConfig },
      logger,
      clock: systemClock,
      timers: systemTimers,
    });
    const server: FastifyInstance = await buildPullServer({
      pool,
      source: SOURCE,
      pull: { path: '/livefyre/profiles' },
      livefyre: { network: NETWORK, networkKey: NETWORK_KEY },
      logger,
      metrics: createMetrics({ defaultMetrics: false }),
      clock: systemClock,
      onServed: (id) => served.served(id),
    });
    const pullBase = await server.listen({ host: '127.0.0.1', port: 0 });
    const sim = await startSimulator({ network: NETWORK, networkKey: NETWORK_KEY, pullDelayMs: 50, logger });
    const client = createLivefyreClient({
      network: NETWORK,
      networkKey: NETWORK_KEY,
      baseUrl: sim.url,
      timeoutMs: 2_000,
    });
    const metrics = createMetrics({ defaultMetrics: false });
    const pingers: PingerHandle[] = [];
    const config = { kafka: kafkaConfig, pinger: { ...PINGER, ...pinger } };
    context.onTestFinished(async () => {
      for (const handle of pingers) await handle.stop();
      await client.close();
      await sim.close();
      await server.close();
      await served.stop();
    });
    return {
      sim,
      client,
      config,
      metrics,
      pullBase,
      async register() {
        expect((await client.registerPullUrl(`${pullBase}/livefyre/profiles/{id}`)).status).toBe(204);
      },
      async change(id) {
        await producer.send({ topic, messages: [{ key: id, value: changeEventJson(id) }] });
      },
      startPinger() {
        const handle = startTestPinger({ kafka, config, client, metrics });
        pingers.push(handle);
        return handle;
      },
    };
  }

  /** A counter's total, or a histogram's count. */
  const counter = async (metrics: Metrics, name: string): Promise<number> => {
    const values = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name)?.values ?? [];
    const counts = values.filter((v) => (v as { metricName?: string }).metricName === `${name}_count`);
    return (counts.length > 0 ? counts : values).reduce((sum, v) => sum + v.value, 0);
  };

  it('a served pull still lingering when its writer disconnects reaches the pulls topic', async () => {
    const topic = uniqueName('served_linger');
    await ensurePullsTopic(kafka, topic, 2);
    // a linger far longer than the test: only the disconnect can send the records
    const writer = await connectPullsWriter({ kafka, topic, clock: systemClock, logger, servedLingerMs: 600_000 });
    writer.served('linger-1');
    writer.served('linger-2');
    await writer.disconnect();
    const records = await readTopic(topic, (messages) => messages.length >= 2, 10_000);
    expect(records.map((record) => [record.key, record.headers[HEADER_PULL]]).sort()).toEqual([
      ['linger-1', 'served'],
      ['linger-2', 'served'],
    ]);
  });

  it('delivers a change pinged before the pull URL was registered, once it is registered', async (context) => {
    const l = await loop(context);
    l.startPinger();
    await l.change('1042');
    await waitFor(() => l.sim.pulls().some((p) => p.id === '1042' && p.outcome === 'no_pull_url'), {
      timeoutMs: 20_000,
      what: 'a pull without a registered URL',
    });
    // what `run` warns about at start
    expect(await registeredPullUrl(l.sim.url, 2_000)).toEqual({ known: true, template: null });
    await l.register();
    expect(await registeredPullUrl(l.sim.url, 2_000)).toEqual({
      known: true,
      template: `${l.pullBase}/livefyre/profiles/{id}`,
    });
    // a server that is not the simulator cannot be asked
    expect(await registeredPullUrl(l.pullBase, 2_000)).toEqual({ known: false });
    await waitFor(() => delivered(l.sim, '1042'), { timeoutMs: 20_000, what: 'the profile at Livefyre' });
    expect(await counter(l.metrics, 'pingpull_repings_total')).toBeGreaterThanOrEqual(1);
    expect(l.sim.invalidProfiles()).toEqual([]);
  });

  it('pings again after a lost pull, and the change is delivered', async (context) => {
    const l = await loop(context);
    await l.register();
    l.sim.losePulls({ id: '7' });
    l.startPinger();
    await l.change('7');
    await waitFor(() => delivered(l.sim, '7'), { timeoutMs: 20_000, what: 'the profile at Livefyre' });
    expect(
      l.sim
        .pulls()
        .filter((p) => p.id === '7')
        .map((p) => p.outcome),
    ).toEqual(['lost', 'stored']);
    expect(l.sim.pings().filter((p) => p.id === '7' && p.status === 200).length).toBe(2);
  });

  it('confirms a served pull without pinging again', async (context) => {
    const l = await loop(context, { pullConfirmMs: 1_000 });
    await l.register();
    l.startPinger();
    await l.change('8');
    await waitFor(() => delivered(l.sim, '8'), { timeoutMs: 20_000, what: 'the profile at Livefyre' });
    await waitFor(async () => (await counter(l.metrics, 'pingpull_ping_to_pull_seconds')) === 1, {
      timeoutMs: 10_000,
      what: 'the confirmed pull',
    });
    // well past the deadline: no re-ping came
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(l.sim.pings().filter((p) => p.id === '8').length).toBe(1);
    expect(await counter(l.metrics, 'pingpull_repings_total')).toBe(0);
  });

  it('a pinger started after the first one stopped still waits for the pull and pings again', async (context) => {
    const l = await loop(context);
    await l.register();
    l.sim.losePulls({ id: '1042' });
    const first = l.startPinger();
    await l.change('1042');
    await waitFor(() => l.sim.pulls().some((p) => p.id === '1042' && p.outcome === 'lost'), {
      timeoutMs: 20_000,
      what: 'the lost pull',
    });
    await first.stop();
    l.startPinger();
    await waitFor(() => delivered(l.sim, '1042'), { timeoutMs: 20_000, what: 'the profile at Livefyre' });
  });

  it('two pingers in one group share the waits: every lost pull is pinged again once and delivered', async (context) => {
    const l = await loop(context);
    await l.register();
    const ids = ['1042', '7', '8', '9', '10'];
    for (const id of ids) l.sim.losePulls({ id });
    l.startPinger();
    l.startPinger();
    for (const id of ids) await l.change(id);
    await waitFor(() => ids.every((id) => delivered(l.sim, id)), { timeoutMs: 30_000, what: 'every profile' }).catch(
      (error: unknown) => {
        console.info(JSON.stringify(l.sim.pulls().map((p) => [p.id, p.outcome])));
        console.info(JSON.stringify(l.sim.pings().map((p) => [p.id, p.status])));
        throw error;
      },
    );
    for (const id of ids) {
      expect(
        l.sim
          .pulls()
          .filter((p) => p.id === id)
          .map((p) => p.outcome),
      ).toEqual(['lost', 'stored']);
    }
    expect(l.sim.invalidProfiles()).toEqual([]);
  });

  it('kill -9 of the pinger between the ping and the pull still ends delivered', async (context) => {
    const built = fileURLToPath(new URL('../../dist/pinger/awaiting-pulls.js', import.meta.url));
    const source = fileURLToPath(new URL('../../src/pinger/awaiting-pulls.ts', import.meta.url));
    if (statSync(built).mtimeMs < statSync(source).mtimeMs) {
      throw new Error('dist/ is older than src/: run `npm run build` (npm test does it) before this test');
    }
    const l = await loop(context, { sessionTimeoutMs: 6_000 });
    await l.register();
    l.sim.losePulls({ id: '1042' });
    const { kafka: k, pinger: p } = l.config;
    const child = spawnCli(['pinger'], {
      PINGPULL_KAFKA_TOPIC: k.topic,
      PINGPULL_KAFKA_DLQ_TOPIC: k.dlqTopic,
      PINGPULL_KAFKA_PULLS_TOPIC: k.pullsTopic,
      PINGPULL_KAFKA_GROUP_ID: k.groupId,
      PINGPULL_LIVEFYRE_NETWORK: NETWORK,
      PINGPULL_LIVEFYRE_NETWORK_KEY: NETWORK_KEY,
      PINGPULL_LIVEFYRE_BASE_URL: l.sim.url,
      PINGPULL_PINGER_PULL_CONFIRM_MS: String(p.pullConfirmMs),
      PINGPULL_PINGER_COMMIT_INTERVAL_MS: '100',
      PINGPULL_PINGER_SESSION_TIMEOUT_MS: '6000',
      PINGPULL_METRICS_PORT: '0',
      PINGPULL_LOG_LEVEL: 'warn',
    });
    context.onTestFinished(() => void child.stop(1_000));
    await l.change('1042');
    await waitFor(() => l.sim.pulls().some((pull) => pull.id === '1042' && pull.outcome === 'lost'), {
      timeoutMs: 30_000,
      what: `the lost pull (pinger output: ${child.output()})`,
    });
    // the change's offset is committed: after the kill only the pulls topic remembers the ping
    const admin = kafka.admin();
    await admin.connect();
    context.onTestFinished(() => admin.disconnect());
    await waitFor(
      async () => {
        const offsets = (await admin.fetchOffsets({ groupId: k.groupId, topics: [k.topic] }))[0]?.partitions ?? [];
        return offsets.reduce((sum, entry) => sum + Math.max(0, Number(entry.offset)), 0) === 1;
      },
      { timeoutMs: 10_000, what: 'the committed change' },
    );
    child.child.kill('SIGKILL');
    const pingsBefore = l.sim.pings().filter((ping) => ping.id === '1042').length;
    l.startPinger();
    await waitFor(() => delivered(l.sim, '1042'), { timeoutMs: 30_000, what: 'the profile at Livefyre' });
    expect(pingsBefore).toBe(1);
    expect(l.sim.pings().filter((ping) => ping.id === '1042').length).toBe(2);
  });

  it.for([
    [0, 1],
    [2, 3],
  ] as const)(
    'with pinger.pullConfirmAttempts %i, dead-letters a never-pulled change as not_pulled after %i ping(s)',
    async ([pullConfirmAttempts, pings], context) => {
      // pinger.maxAttempts is far larger: the loop spends its own budget, not the ping's.
      const l = await loop(context, { maxAttempts: 20, pullConfirmMs: 500, pullConfirmAttempts });
      l.startPinger();
      await l.change('9');
      const consumer = kafka.consumer({ groupId: uniqueName('confirm_dlq_reader') });
      await consumer.connect();
      context.onTestFinished(() => consumer.disconnect());
      const letters: string[] = [];
      await consumer.subscribe({ topic: l.config.kafka.dlqTopic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const header = (name: string) => message.headers?.[name]?.toString();
          letters.push(
            `${message.key?.toString()}:${header('pingpull-dlq-reason')}:${header('pingpull-dlq-attempts')}`,
          );
        },
      });
      await waitFor(() => letters.length > 0, { timeoutMs: 20_000, what: 'a dead letter' });
      expect(letters).toEqual([`9:not_pulled:${pings}`]);
      expect(l.sim.pings().filter((p) => p.id === '9' && p.status === 200).length).toBe(pings);
    },
  );
});
