import type { Config } from '../config/index.js';
import { requireKeys } from '../config/index.js';
import { createPool, type Pool } from '../db.js';
import type { Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { startMetricsServer } from '../metrics/server.js';
import { startKafkaLagCollector, startSlotLagCollector } from '../metrics/collectors.js';
import type { Periodic } from '../metrics/periodic.js';
import { createStatusPage } from '../metrics/status-service.js';
import { createKafkaLagReader } from '../events/consumer-lag.js';
import { startConnector } from '../cdc/connector.js';
import { createKafka, ensureTopics, type Kafka } from '../events/kafka.js';
import { createLivefyreClient, type LivefyreClient } from '../livefyre/client.js';
import { startPinger } from '../pinger/index.js';
import { buildPullServer } from '../pull/index.js';
import { createPullPool } from '../pull/pool.js';
import { systemClock, systemRandom, systemTimers, untilAborted } from '../time.js';

/** A started role: `stop` is graceful; `done` settles when the role ends on its own (a fatal error). */
export interface RoleHandle {
  readonly name: string;
  /** Where a serving role listens, e.g. `http://127.0.0.1:8080`. */
  readonly address?: string;
  stop(): Promise<void>;
  done: Promise<void>;
}

/** What the roles of one process share: one pool, one metrics registry. */
export interface RoleResources {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  pool(): Pool;
  kafka(): Kafka;
  livefyre(): LivefyreClient;
  close(): Promise<void>;
  /** Set by a pinger role in this process: whether Livefyre refuses its pings (403), for the status page. */
  pingerForbidden?: () => boolean;
}

export function createResources(config: Config, logger: Logger): RoleResources {
  let pool: Pool | undefined;
  let kafka: Kafka | undefined;
  let livefyre: LivefyreClient | undefined;
  return {
    config,
    logger,
    metrics: createMetrics(),
    pool() {
      requireKeys(config, ['database.url'], 'to reach the user database');
      if (pool === undefined) {
        pool = createPool({ url: config.database.url, max: config.database.poolSize, applicationName: 'pingpull' });
        pool.on('error', (error) => logger.warn({ err: error }, 'idle database connection failed'));
      }
      return pool;
    },
    kafka() {
      kafka ??= createKafka({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, logger });
      return kafka;
    },
    livefyre() {
      requireKeys(config, ['livefyre.network', 'livefyre.networkKey'], 'to sign Livefyre tokens');
      livefyre ??= createLivefyreClient(config.livefyre, { connections: config.pinger.concurrency });
      return livefyre;
    },
    async close() {
      await Promise.allSettled([pool?.end(), livefyre?.close()]);
    },
  };
}

export async function startPullServerRole(resources: RoleResources): Promise<RoleHandle> {
  const { config, logger, metrics } = resources;
  requireKeys(config, ['database.url', 'livefyre.network', 'livefyre.networkKey'], 'to verify pulls and read profiles');
  const statusPage = config.status.page
    ? createStatusPage({ config, pool: resources.pool(), pingerForbidden: () => resources.pingerForbidden?.(), clock: systemClock, timers: systemTimers })
    : undefined;
  // Pulls get their own pool with a statement timeout: they never wait behind resync or lag queries.
  const pullPool = createPullPool(config.database.url, config.pull);
  pullPool.on('error', (error) => logger.warn({ err: error }, 'idle pull connection failed'));
  let app: Awaited<ReturnType<typeof buildPullServer>>;
  try {
    app = await buildPullServer({
      pool: pullPool,
      source: config.source,
      pull: config.pull,
      livefyre: { network: config.livefyre.network, networkKey: config.livefyre.networkKey },
      logger,
      metrics,
      clock: systemClock,
      routes: statusPage === undefined ? [] : [statusPage.register],
    });
  } catch (error) {
    await Promise.allSettled([pullPool.end(), statusPage?.close()]);
    throw error;
  }
  const address = await app.listen({ host: config.pull.host, port: config.pull.port });
  logger.info({ address, path: config.pull.path, statusPage: statusPage === undefined ? null : '/status' }, 'pull server listening');
  const stop = async (): Promise<void> => {
    await app.close();
    await statusPage?.close();
    await pullPool.end();
  };
  return { name: 'pull-server', address, stop, done: new Promise(() => undefined) };
}

export async function startConnectorRole(resources: RoleResources): Promise<RoleHandle> {
  const { config, logger, metrics } = resources;
  requireKeys(config, ['database.url'], 'to read the replication slot');
  await ensureTopics(resources.kafka(), [config.kafka.topic, config.kafka.dlqTopic], config.kafka.partitions);
  const connector = startConnector({
    databaseUrl: config.database.url,
    source: config.source,
    replication: config.replication,
    kafka: resources.kafka(),
    topic: config.kafka.topic,
    logger,
    metrics,
    clock: systemClock,
  });
  const kafkaLag = startKafkaLagOnce(resources);
  const lag = startSlotLagCollector({
    pool: resources.pool(),
    slot: config.replication.slot,
    metrics,
    intervalMs: config.metrics.lagIntervalMs,
    logger,
    clock: systemClock,
    timers: systemTimers,
  });
  logger.info({ slot: config.replication.slot, topic: config.kafka.topic }, 'connector started');
  const stop = async (): Promise<void> => {
    await connector.stop();
    await Promise.all([lag.stop(), kafkaLag.stop()]);
  };
  return { name: 'connector', stop, done: connector.done };
}

export async function startPingerRole(resources: RoleResources): Promise<RoleHandle> {
  const { config, logger, metrics } = resources;
  const client = resources.livefyre();
  const pinger = startPinger({
    kafka: resources.kafka(),
    config,
    client,
    logger,
    metrics,
    clock: systemClock,
    timers: systemTimers,
    random: systemRandom,
  });
  const lag = startKafkaLagOnce(resources);
  resources.pingerForbidden = () => pinger.state().forbidden;
  const stop = async (): Promise<void> => {
    await pinger.stop();
    await lag.stop();
  };
  return { name: 'pinger', stop, done: pinger.done };
}

const kafkaLagCollectors = new WeakSet<RoleResources>();

/**
 * Consumer lag and dead letters are read by every process that runs a
 * connector or a pinger, once per process: so they stay visible while the
 * pingers are down, which is when they matter.
 */
function startKafkaLagOnce(resources: RoleResources): Periodic {
  if (kafkaLagCollectors.has(resources)) return { stop: async () => undefined };
  kafkaLagCollectors.add(resources);
  const { config, logger, metrics } = resources;
  return startKafkaLagCollector({
    reader: createKafkaLagReader(resources.kafka()),
    topic: config.kafka.topic,
    dlqTopic: config.kafka.dlqTopic,
    groupId: config.kafka.groupId,
    metrics,
    intervalMs: config.metrics.lagIntervalMs,
    logger,
    timers: systemTimers,
  });
}

export async function startMetricsRole(resources: RoleResources): Promise<RoleHandle | undefined> {
  const { config, logger, metrics } = resources;
  if (config.metrics.port === 0) return undefined;
  const server = await startMetricsServer({ registry: metrics.registry, host: config.metrics.host, port: config.metrics.port });
  logger.info({ port: server.port }, 'metrics at /metrics');
  return { name: 'metrics', stop: () => server.close(), done: new Promise(() => undefined) };
}

/**
 * Runs roles until a signal or until one of them fails, then stops them all
 * (in reverse start order) within `graceMs`.
 */
export async function runRoles(
  resources: RoleResources,
  starters: ReadonlyArray<(resources: RoleResources) => Promise<RoleHandle | undefined>>,
  signal: AbortSignal,
  graceMs = 30_000,
): Promise<number> {
  const roles: RoleHandle[] = [];
  let failure: unknown;
  try {
    for (const start of starters) {
      const role = await start(resources);
      if (role !== undefined) roles.push(role);
      if (signal.aborted) break;
    }
    // A signal during start-up has already fired: untilAborted resolves at once then.
    const aborted = untilAborted(signal);
    const stoppedOnItsOwn = roles.map((role) =>
      role.done.then(
        () => new Error(`${role.name} stopped unexpectedly`),
        (error: unknown) => error,
      ),
    );
    failure = await Promise.race([aborted.then(() => undefined), ...stoppedOnItsOwn]);
  } catch (error) {
    failure = error;
  }
  resources.logger.info({ reason: failure === undefined ? 'signal' : 'failure' }, 'stopping');
  const stopping = Promise.allSettled(roles.reverse().map((role) => role.stop()));
  const timedOut = await Promise.race([
    stopping.then(() => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
  ]);
  if (timedOut) resources.logger.error({ graceMs }, 'roles did not stop in time');
  await resources.close();
  if (failure !== undefined) throw failure;
  return timedOut ? 1 : 0;
}
