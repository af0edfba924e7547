import { requireKeys } from '../config/index.js';
import { createPool } from '../db.js';
import { createKafkaLagReader, createProbeKafka } from '../events/consumer-lag.js';
import { livefyreBaseUrl, probeLivefyre } from '../livefyre/client.js';
import { SourceLagEstimator } from '../metrics/source-lag.js';
import { collectStatus } from '../status/report.js';
import { formatStatus } from '../status/format.js';
import { systemClock, systemTimers } from '../time.js';
import { action, baseCommand } from './context.js';

/**
 * `pingpull status [--json]`: reads Postgres, Kafka and Livefyre directly, so
 * it works from any machine that reaches them, with or without a running
 * pingpull. Exit 0 when every stage is healthy, 1 otherwise.
 */
export function statusCommand() {
  return baseCommand('status', 'lag and health of every stage (database, connector, Kafka, dead letters, Livefyre); exit 1 when unhealthy')
    .option('--json', 'print one JSON object with the same figures')
    .action(
      action(async ({ config, logger, out }, options: { json?: boolean }) => {
        requireKeys(config, ['database.url'], 'to read the replication slot');
        const pool = createPool({ url: config.database.url, max: 2, applicationName: 'pingpull-status' });
        pool.on('error', (error) => logger.debug({ err: error }, 'idle database connection failed'));
        const kafka = createKafkaLagReader(
          createProbeKafka({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-status`, timeoutMs: config.status.timeoutMs }),
        );
        try {
          const report = await collectStatus({
            config,
            pool,
            kafka,
            estimator: new SourceLagEstimator(),
            sampleMs: config.status.sampleMs,
            probeLivefyre: () => probeLivefyre(livefyreBaseUrl(config.livefyre), config.status.timeoutMs),
            clock: systemClock,
            timers: systemTimers,
          });
          out(options.json === true ? JSON.stringify(report) : formatStatus(report));
          return report.healthy ? 0 : 1;
        } finally {
          await Promise.allSettled([kafka.close(), pool.end()]);
        }
      }),
    );
}
