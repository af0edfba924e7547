import type { FastifyInstance } from 'fastify';
import { requireKeys, type Config } from '../config/index.js';
import { createPool, type Pool } from '../db.js';
import { createKafkaLagReader } from '../events/consumer-lag.js';
import { createProbeKafka } from '../events/kafka.js';
import { readPingerKeyRefused, readPullServerHealth, roleMetricsUrls } from './role-metrics.js';
import type { PullServerReading } from '../pull/health.js';
import { livefyreBaseUrl, probeLivefyre } from '../livefyre/client.js';
import type { Logger } from '../log.js';
import { SourceLagEstimator } from '../metrics/source-lag.js';
import type { Clock, Timers } from '../time.js';
import { collectStatus, type StatusDeps, type StatusReport } from './report.js';
import { registerStatusPage } from './page.js';

/**
 * The status report inside a running process: the same report as
 * `pingpull status`, read with the process's pool and a Kafka client of its
 * own (short timeouts, so an unreachable broker answers fast). For the
 * status page and the operator console.
 */
export function createLiveStatus(deps: {
  config: Config;
  pool: Pool;
  pingerForbidden?: () => boolean | undefined;
  pullServer?: () => Promise<PullServerReading | undefined>;
  connectorTruncates?: () => Promise<number | undefined>;
  connectorRefusedEvents?: () => Promise<number | undefined>;
  clock: Clock;
  timers: Timers;
}): { report(): Promise<StatusReport>; close(): Promise<void> } {
  const { config } = deps;
  const { kafka, probeLivefyre } = statusSources(config);
  // Long-lived: it learns the slot's pace across requests, so no request waits for a second look.
  const estimator = new SourceLagEstimator();
  return {
    report: () =>
      collectStatus({
        config,
        pool: deps.pool,
        kafka,
        estimator,
        sampleMs: 0,
        probeLivefyre,
        ...(deps.pingerForbidden === undefined ? {} : { pingerForbidden: deps.pingerForbidden }),
        ...(deps.pullServer === undefined ? {} : { pullServer: deps.pullServer }),
        ...(deps.connectorTruncates === undefined ? {} : { connectorTruncates: deps.connectorTruncates }),
        ...(deps.connectorRefusedEvents === undefined ? {} : { connectorRefusedEvents: deps.connectorRefusedEvents }),
        clock: deps.clock,
        timers: deps.timers,
      }),
    close: () => kafka.close(),
  };
}

/** The status page of the pull server (status.page), on the live report. */
export function createStatusPage(deps: Parameters<typeof createLiveStatus>[0]): {
  register(app: FastifyInstance): void;
  close(): Promise<void>;
} {
  const live = createLiveStatus(deps);
  return {
    register(app) {
      registerStatusPage(app, { report: live.report, clock: deps.clock });
    },
    close: live.close,
  };
}

/**
 * `pingpull status`: reads Postgres, Kafka and Livefyre directly with clients
 * of its own, so it works from any machine that reaches them, with or
 * without a running pingpull.
 */
export async function readStatus(deps: {
  config: Config;
  logger: Logger;
  clock: Clock;
  timers: Timers;
}): Promise<StatusReport> {
  const { config, logger } = deps;
  requireKeys(config, ['database.url'], 'to read the replication slot');
  const pool = createPool({
    url: config.database.url,
    max: 2,
    applicationName: 'pingpull-status',
    statementTimeoutMs: config.database.statementTimeoutMs,
  });
  pool.on('error', (error) => logger.debug({ err: error }, 'idle database connection failed'));
  const { kafka, probeLivefyre } = statusSources(config);
  const { timeoutMs } = config.status;
  try {
    const [refused, pullServer] = await Promise.all([
      readPingerKeyRefused(roleMetricsUrls(config.status.pingerMetricsUrls, config.metrics), timeoutMs),
      readPullServerHealth(roleMetricsUrls(config.status.pullServerMetricsUrls, config.metrics), timeoutMs),
    ]);
    return await collectStatus({
      config,
      pool,
      kafka,
      pingerForbidden: () => refused,
      pullServer: async () => pullServer,
      estimator: new SourceLagEstimator(),
      sampleMs: config.status.sampleMs,
      probeLivefyre,
      clock: deps.clock,
      timers: deps.timers,
    });
  } finally {
    await Promise.allSettled([kafka.close(), pool.end()]);
  }
}

/** Where a report reads Kafka and Livefyre: a Kafka client of its own with the status timeouts. */
function statusSources(config: Config): Pick<StatusDeps, 'kafka' | 'probeLivefyre'> {
  const kafka = createKafkaLagReader(
    createProbeKafka({
      connection: config.kafka,
      clientId: `${config.kafka.clientId}-status`,
      timeoutMs: config.status.timeoutMs,
    }),
  );
  return { kafka, probeLivefyre: () => probeLivefyre(livefyreBaseUrl(config.livefyre), config.status.timeoutMs) };
}
