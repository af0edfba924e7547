import { Kafka, logLevel, type Admin, type KafkaConfig } from 'kafkajs';
import { KafkaTopicsError } from '../errors.js';
import type { Logger } from '../log.js';
import { sleep, systemClock } from '../time.js';

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

/**
 * Creates the topics when missing (idempotent, also when another process
 * creates them at the same moment) and waits until every partition has a
 * leader. kafkajs's own `waitForLeaders` gives up on the "does not host this
 * topic-partition" answers a fresh broker sends while it creates the topic.
 */
export async function ensureTopics(
  kafka: Kafka,
  topics: readonly string[],
  partitions: number,
  options: { timeoutMs?: number; configEntries?: Array<{ name: string; value: string }> } = {},
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: false,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: partitions,
          ...(options.configEntries === undefined ? {} : { configEntries: options.configEntries }),
        })),
      });
    }
    await waitForLeaders(admin, topics, options.timeoutMs ?? 30_000);
  } finally {
    await admin.disconnect();
  }
}

async function waitForLeaders(admin: Admin, topics: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = systemClock.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [...topics] });
      const ready = metadata.topics.every(
        (topic) => topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0),
      );
      if (ready) return;
    } catch (error) {
      if (!(error as { retriable?: boolean }).retriable) throw error;
      lastError = error;
    }
    if (systemClock.now() > deadline) {
      throw new KafkaTopicsError(topics, timeoutMs, lastError);
    }
    await sleep(200);
  }
}
