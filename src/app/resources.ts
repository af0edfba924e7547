import type { Config } from '../config/index.js';
import { requireKeys } from '../config/index.js';
import { buildProfileMapping, type ProfileMapping } from '../mapping/index.js';
import { createPool, type Pool } from '../db.js';
import { createKafkaLagReader } from '../events/consumer-lag.js';
import { createKafka, type Kafka } from '../events/kafka.js';
import { createLivefyreClient, type LivefyreClient } from '../livefyre/client.js';
import type { Logger } from '../log.js';
import { startKafkaLagCollector } from '../metrics/collectors.js';
import type { Periodic } from '../metrics/periodic.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { OperatorConsole } from '../console/console.js';
import { RecentProblems } from '../console/problems.js';
import { systemClock, systemTimers } from '../time.js';

/** What the roles of one process share: one pool, one metrics registry, clients made on first use. */
export interface AppResources {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The one profile mapping every role reads: what is published, watched and answered. */
  readonly mapping: ProfileMapping;
  /** The operator console of this process: each role registers its liveness with it. */
  readonly console: OperatorConsole;
  /** Aborts when the process is asked to stop: a role still waiting to start gives up waiting. */
  readonly stopping: AbortSignal;
  pool(): Pool;
  kafka(): Kafka;
  livefyre(): LivefyreClient;
  /**
   * Consumer lag and dead letters are read by every process that runs a
   * connector or a pinger, once per process: so they stay visible while the
   * pingers are down, which is when they matter. Each role holds the one
   * collector; it stops when the last holder lets go.
   */
  holdKafkaLagCollector(): Periodic;
  close(): Promise<void>;
}

/**
 * `problems` receives the process's warnings and errors (see createLogger); a fresh, empty one otherwise.
 * `stopping` is the process's stop signal (never aborted by default).
 */
export function createResources(
  config: Config,
  logger: Logger,
  problems: RecentProblems = new RecentProblems(),
  stopping: AbortSignal = new AbortController().signal,
): AppResources {
  let pool: Pool | undefined;
  let kafka: Kafka | undefined;
  let livefyre: LivefyreClient | undefined;
  let kafkaLag: { collector: Periodic; holders: number } | undefined;
  const metrics = createMetrics();
  problems.hideSecrets(secretsOf(config));
  const resources: AppResources = {
    config,
    logger,
    metrics,
    mapping: buildProfileMapping(config),
    console: new OperatorConsole({
      metrics,
      problems,
      clock: systemClock,
      timers: systemTimers,
      sampleMs: config.console.sampleMs,
    }),
    stopping,
    pool() {
      requireKeys(config, ['database.url'], 'to reach the user database');
      if (pool === undefined) {
        pool = createPool({
          url: config.database.url,
          max: config.database.poolSize,
          applicationName: 'pingpull',
          statementTimeoutMs: config.database.statementTimeoutMs,
        });
        pool.on('error', (error) => logger.warn({ err: error }, 'idle database connection failed'));
      }
      return pool;
    },
    kafka() {
      kafka ??= createKafka({ connection: config.kafka, clientId: config.kafka.clientId, logger });
      return kafka;
    },
    livefyre() {
      requireKeys(config, ['livefyre.network', 'livefyre.networkKey'], 'to sign Livefyre tokens');
      livefyre ??= createLivefyreClient(config.livefyre, { connections: config.pinger.concurrency });
      return livefyre;
    },
    holdKafkaLagCollector() {
      kafkaLag ??= { collector: startKafkaLag(config, logger, metrics, resources.kafka()), holders: 0 };
      const held = kafkaLag;
      held.holders += 1;
      let released = false;
      return {
        async stop() {
          if (released) return;
          released = true;
          held.holders -= 1;
          if (held.holders > 0) return;
          kafkaLag = undefined;
          await held.collector.stop();
        },
      };
    },
    async close() {
      await Promise.allSettled([pool?.end(), livefyre?.close()]);
    },
  };
  return resources;
}

function startKafkaLag(config: Config, logger: Logger, metrics: Metrics, kafka: Kafka): Periodic {
  return startKafkaLagCollector({
    reader: createKafkaLagReader(kafka),
    topic: config.kafka.topic,
    dlqTopic: config.kafka.dlqTopic,
    groupId: config.kafka.groupId,
    metrics,
    intervalMs: config.metrics.lagIntervalMs,
    logger,
    timers: systemTimers,
  });
}

/** What the console must never show, even when a log line carries it by mistake. */
function secretsOf(config: Config): string[] {
  const secrets = [config.livefyre.networkKey, config.kafka.saslPassword];
  try {
    secrets.push(decodeURIComponent(new URL(config.database.url).password));
  } catch {
    // No parsable database URL: no password in it to hide.
  }
  return secrets;
}
