import type { Config } from '../config/index.js';
import { describeDatabaseUnreachable } from '../db.js';
import { describeKafkaFailure, isKafkaError } from '../events/kafka-failure.js';

/**
 * A database or Kafka failure as one line naming the key to check and the
 * address tried (`kafka.brokers: cannot reach 127.0.0.1:1 (connection
 * refused)`), else undefined: the caller prints the error's own message.
 */
export function describeServiceFailure(error: unknown, config: Config): string | undefined {
  const database = describeDatabaseUnreachable(error, config.database.url);
  if (database !== undefined || !isKafkaError(error)) return database;
  const failure = describeKafkaFailure(error, config.kafka, {
    topic: config.kafka.topic,
    groupId: config.kafka.groupId,
  });
  return failure.layer === 'other' ? undefined : failure.line;
}
