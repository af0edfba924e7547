import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.js';
import type { Pool } from '../db.js';
import { createKafkaLagReader, createProbeKafka } from '../events/consumer-lag.js';
import { livefyreBaseUrl, probeLivefyre } from '../livefyre/client.js';
import { SourceLagEstimator } from '../metrics/source-lag.js';
import type { Clock, Timers } from '../time.js';
import { collectStatus } from './report.js';
import { registerStatusPage } from './page.js';

/**
 * The status page's data source inside a running process: the same report
 * as `pingpull status`, read with the process's pool and a Kafka client of
 * its own (short timeouts, so an unreachable broker answers the page fast).
 */
export function createStatusPage(deps: {
  config: Config;
  pool: Pool;
  pingerForbidden?: () => boolean | undefined;
  clock: Clock;
  timers: Timers;
}): { register(app: FastifyInstance): void; close(): Promise<void> } {
  const { config } = deps;
  const kafka = createKafkaLagReader(
    createProbeKafka({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-status`, timeoutMs: config.status.timeoutMs }),
  );
  // Long-lived: it learns the slot's pace across requests, so no request waits for a second look.
  const estimator = new SourceLagEstimator();
  const report = () =>
    collectStatus({
      config,
      pool: deps.pool,
      kafka,
      estimator,
      sampleMs: 0,
      probeLivefyre: () => probeLivefyre(livefyreBaseUrl(config.livefyre), config.status.timeoutMs),
      ...(deps.pingerForbidden === undefined ? {} : { pingerForbidden: deps.pingerForbidden }),
      clock: deps.clock,
      timers: deps.timers,
    });
  return {
    register(app) {
      registerStatusPage(app, { report, clock: deps.clock });
    },
    close: () => kafka.close(),
  };
}
