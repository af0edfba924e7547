import { Kafka, logLevel, type Admin, type KafkaConfig } from 'kafkajs';
import type { Logger } from '../log.js';

export type { Kafka, Admin };

/** The one Kafka client factory; kafkajs's own logs go through our logger. */
export function createKafka(options: { brokers: string; clientId: string; logger: Logger }): Kafka {
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: options.brokers.split(',').map((broker) => broker.trim()),
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 10_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }) => {
        const { message, ...extra } = log;
        const method = level <= logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : 'debug';
        options.logger[method]({ kafka: extra }, `kafka: ${message}`);
      },
  };
  return new Kafka(config);
}

/** Creates the topics when missing (idempotent). */
export async function ensureTopics(kafka: Kafka, topics: readonly string[], partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({ topic, numPartitions: partitions })),
      });
    }
  } finally {
    await admin.disconnect();
  }
}
