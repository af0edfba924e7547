import { startConnector } from '../cdc/connector.js';
import { classifyReplicationError } from '../cdc/stream.js';
import { PingpullError } from '../errors.js';
import { requireKeys } from '../config/index.js';
import { consoleRoutes } from '../console/routes.js';
import { ensureTopics } from '../events/kafka.js';
import { untilKafkaAnswers } from '../events/kafka-wait.js';
import { assertMappingFits } from '../mapping/index.js';
import { startSlotLagCollector } from '../metrics/collectors.js';
import { counterTotal } from '../metrics/registry.js';
import { startMetricsServer } from '../metrics/server.js';
import { livefyreBaseUrl, registeredPullUrl } from '../livefyre/client.js';
import { startPinger } from '../pinger/index.js';
import { buildPullServer } from '../pull/index.js';
import { readOwnPullHealth } from '../pull/health.js';
import { createPullPool } from '../pull/pool.js';
import { ClusterWatch } from '../console/cluster.js';
import { createLiveStatus, createStatusPage } from '../status/service.js';
import { recordServedPulls } from './served-pulls.js';
import { systemClock, systemRandom, systemTimers } from '../time.js';
import { connectorLiveness, pingerLiveness, pullServerLiveness } from './liveness.js';
import type { AppResources } from './resources.js';

/** A started role: `stop` is graceful; `done` settles when the role ends on its own (a fatal error). */
export interface RoleHandle {
  readonly name: string;
  /** Where a serving role listens, e.g. `http://127.0.0.1:8080`. */
  readonly address?: string;
  stop(): Promise<void>;
  done: Promise<void>;
}

export type RoleStarter = (resources: AppResources) => Promise<RoleHandle | undefined>;

export interface PingerRoleHandle extends RoleHandle {
  /** Whether Livefyre refuses this pinger's pings (403): the network key is wrong. */
  forbidden(): boolean;
}

export interface PullServerRoleOptions {
  /** A pinger's view of Livefyre for the status page, when one runs in this process. */
  pingerForbidden?: () => boolean | undefined;
  /** The TRUNCATEs a connector of this process streamed, for the status page. */
  connectorTruncates?: () => Promise<number | undefined>;
  /** The change events Kafka refused for good (truncated or dead-lettered) in this process, for the status page. */
  connectorRefusedEvents?: () => Promise<number | undefined>;
}

/**
 * The three roles of the pipeline in one process, in start order, wired
 * together: the status page reports the pinger's 403s once the pinger runs.
 */
export function pipelineRoles(): RoleStarter[] {
  let pinger: PingerRoleHandle | undefined;
  let connector: RoleHandle | undefined;
  return [
    (resources) =>
      startPullServerRole(resources, {
        pingerForbidden: () => pinger?.forbidden(),
        connectorTruncates: async () =>
          connector === undefined ? undefined : counterTotal(resources.metrics.truncatesTotal),
        connectorRefusedEvents: async () =>
          connector === undefined ? undefined : counterTotal(resources.metrics.refusedEventsTotal),
      }),
    async (resources) => (connector = await startConnectorRole(resources)),
    async (resources) => (pinger = await startPingerRole(resources)),
  ];
}

export async function startPullServerRole(
  resources: AppResources,
  options: PullServerRoleOptions = {},
): Promise<RoleHandle> {
  const { config, logger, metrics } = resources;
  requireKeys(config, ['database.url', 'livefyre.network', 'livefyre.networkKey'], 'to verify pulls and read profiles');
  const statusPage = config.status.page
    ? createStatusPage({
        config,
        pool: resources.pool(),
        // This process's pull server: no failure in its gauge means its queries succeed.
        pullServer: async () => (await readOwnPullHealth(metrics.pullFailingSinceSeconds)) ?? { failing: false },
        ...(options.pingerForbidden === undefined ? {} : { pingerForbidden: options.pingerForbidden }),
        ...(options.connectorTruncates === undefined ? {} : { connectorTruncates: options.connectorTruncates }),
        ...(options.connectorRefusedEvents === undefined
          ? {}
          : { connectorRefusedEvents: options.connectorRefusedEvents }),
        clock: systemClock,
        timers: systemTimers,
      })
    : undefined;
  const pulls =
    config.pinger.pullConfirmMs === 0
      ? undefined
      : recordServedPulls({ kafka: () => resources.kafka(), config, logger, clock: systemClock, timers: systemTimers });
  // Pulls get their own pool with a statement timeout: they never wait behind resync or lag queries.
  const pullPool = createPullPool(config.database.url, config.pull);
  pullPool.on('error', (error) => logger.warn({ err: error }, 'idle pull connection failed'));
  let app: Awaited<ReturnType<typeof buildPullServer>>;
  try {
    app = await buildPullServer({
      pool: pullPool,
      source: config.source,
      pull: config.pull,
      mapping: resources.mapping,
      livefyre: { network: config.livefyre.network, networkKey: config.livefyre.networkKey },
      logger,
      metrics,
      clock: systemClock,
      ...(pulls === undefined ? {} : { onServed: (userId: string) => pulls.served(userId) }),
      routes: statusPage === undefined ? [] : [statusPage.register],
    });
  } catch (error) {
    await Promise.allSettled([pullPool.end(), statusPage?.close(), pulls?.stop()]);
    throw error;
  }
  const address = await app.listen({ host: config.pull.host, port: config.pull.port });
  resources.console.host('pull-server', pullServerLiveness(address));
  logger.info(
    { address, path: config.pull.path, statusPage: statusPage === undefined ? null : '/status' },
    'pull server listening',
  );
  const stop = async (): Promise<void> => {
    await app.close();
    await statusPage?.close();
    await pullPool.end();
    await pulls?.stop();
  };
  return { name: 'pull-server', address, stop, done: new Promise(() => undefined) };
}

/**
 * A mapping the table cannot serve stops the role at once. A database that is
 * away does not: the connector's reconnect loop waits for it, and a mapped
 * column missing by then still stops the stream at its first Relation message.
 */
async function checkMappingAtStart(resources: AppResources): Promise<void> {
  try {
    await assertMappingFits(resources.pool(), resources.mapping);
  } catch (error) {
    if (error instanceof PingpullError || !classifyReplicationError(error).retriable) throw error;
    resources.logger.warn(
      { reason: error instanceof Error ? error.message : String(error) },
      'cannot check the mapping against the database yet; the connector retries',
    );
  }
}

/**
 * A long-running role whose Kafka is down at start waits for it, one warning
 * per attempt, and shows as waiting on the console meanwhile. False when the
 * process was asked to stop first: the role is not started.
 */
async function kafkaAnswers(resources: AppResources, role: string): Promise<boolean> {
  // Once Kafka answered a role of this process, the next role (the pinger after the connector in `run`) starts at once.
  if (kafkaAnswered.has(resources)) return true;
  let waiting = '';
  resources.console.host(role, async () => ({ role, state: 'waiting for Kafka', healthy: false, details: [waiting] }));
  const answered = await untilKafkaAnswers({
    connection: resources.config.kafka,
    clientId: `${resources.config.kafka.clientId}-wait`,
    waiter: `the ${role}`,
    logger: resources.logger,
    signal: resources.stopping,
    onWaiting: (line) => (waiting = line),
    timers: systemTimers,
    random: systemRandom,
  });
  if (answered) kafkaAnswered.add(resources);
  return answered;
}

const kafkaAnswered = new WeakSet<AppResources>();

export async function startConnectorRole(resources: AppResources): Promise<RoleHandle | undefined> {
  const { config, logger, metrics } = resources;
  requireKeys(config, ['database.url'], 'to read the replication slot');
  await checkMappingAtStart(resources);
  if (!(await kafkaAnswers(resources, 'connector'))) return undefined;
  await ensureTopics(resources.kafka(), [config.kafka.topic, config.kafka.dlqTopic], config.kafka.partitions);
  const connector = startConnector({
    databaseUrl: config.database.url,
    statementTimeoutMs: config.database.statementTimeoutMs,
    source: config.source,
    mapping: resources.mapping,
    replication: config.replication,
    kafka: resources.kafka(),
    topic: config.kafka.topic,
    deadLetterTopic: config.kafka.dlqTopic,
    logger,
    metrics,
    clock: systemClock,
  });
  resources.console.host('connector', connectorLiveness(connector));
  const kafkaLag = resources.holdKafkaLagCollector();
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

export async function startPingerRole(resources: AppResources): Promise<PingerRoleHandle | undefined> {
  const { config, logger, metrics } = resources;
  const client = resources.livefyre();
  if (!(await kafkaAnswers(resources, 'pinger'))) return undefined;
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
  resources.console.host('pinger', pingerLiveness(pinger));
  const lag = resources.holdKafkaLagCollector();
  void warnWithoutPullUrl(resources);
  const stop = async (): Promise<void> => {
    await pinger.stop();
    await lag.stop();
  };
  return { name: 'pinger', stop, done: pinger.done, forbidden: () => pinger.state().forbidden };
}

/** Pings are pulled from the registered pull URL only: say so at start when Livefyre (the simulator) has none. */
async function warnWithoutPullUrl(resources: AppResources): Promise<void> {
  const { config, logger } = resources;
  const registered = await registeredPullUrl(livefyreBaseUrl(config.livefyre), config.livefyre.timeoutMs);
  if (registered.known && registered.template === null) {
    logger.warn(
      { baseUrl: livefyreBaseUrl(config.livefyre) },
      'Livefyre reports no registered pull URL: pings get 200 but nothing is pulled until ' +
        '`pingpull register-pull-url <template>` runs',
    );
  }
}

export async function startMetricsRole(resources: AppResources): Promise<RoleHandle | undefined> {
  const { config, logger, metrics } = resources;
  if (config.metrics.port === 0) return undefined;
  // Without a database the console still shows this process's roles; the cluster figures need the slot.
  const live =
    config.database.url === ''
      ? undefined
      : createLiveStatus({
          config,
          pool: resources.pool(),
          // A pull server of this process reports its failures here (none hosted: nothing to report).
          pullServer: () => readOwnPullHealth(metrics.pullFailingSinceSeconds),
          clock: systemClock,
          timers: systemTimers,
        });
  if (live !== undefined) resources.console.watchCluster(new ClusterWatch(live.report, systemClock));
  const server = await startMetricsServer({
    registry: metrics.registry,
    host: config.metrics.host,
    port: config.metrics.port,
    pages: consoleRoutes(resources.console, Math.max(1, Math.round(config.console.sampleMs / 1000))),
  });
  resources.console.start();
  logger.info({ port: server.port }, 'metrics at /metrics, the operator console at /');
  const stop = async (): Promise<void> => {
    await server.close();
    await resources.console.stop();
    await live?.close();
  };
  return { name: 'metrics', stop, done: new Promise(() => undefined) };
}
