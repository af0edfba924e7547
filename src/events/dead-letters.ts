import type { Kafka, Producer } from 'kafkajs';
import type { Metrics } from '../metrics/registry.js';
import type { Clock } from '../time.js';
import type { RawMessage } from './consumer.js';
import {
  HEADER_DLQ_ATTEMPTS,
  HEADER_DLQ_FAILED_AT,
  HEADER_DLQ_REASON,
  HEADER_DLQ_SOURCE,
} from './envelope.js';

/** The last error, shortened, for people reading the dead letter topic. */
export const HEADER_DLQ_ERROR = 'pingpull-dlq-error';

export interface DeadLetter {
  /** The consumed message: its key, value and headers go to the dead letter topic untouched. */
  message: RawMessage;
  /** Stable reason code (`invalid-json`, `max-attempts`, ...). */
  reason: string;
  attempts: number;
  error?: string | undefined;
}

export interface DeadLetterProducer {
  /** Resolves once the broker has the letters on all in-sync replicas. */
  send(letters: readonly DeadLetter[]): Promise<void>;
  disconnect(): Promise<void>;
}

export async function connectDeadLetterProducer(options: {
  kafka: Kafka;
  topic: string;
  clock: Clock;
  metrics: Pick<Metrics, 'deadLettersTotal'>;
}): Promise<DeadLetterProducer> {
  const producer: Producer = options.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  return {
    async send(letters) {
      if (letters.length === 0) return;
      const failedAt = new Date(options.clock.now()).toISOString();
      await producer.send({
        topic: options.topic,
        acks: -1,
        messages: letters.map((letter) => ({
          key: letter.message.key,
          value: letter.message.value,
          headers: {
            ...letter.message.headers,
            [HEADER_DLQ_REASON]: letter.reason,
            [HEADER_DLQ_ATTEMPTS]: String(letter.attempts),
            [HEADER_DLQ_FAILED_AT]: failedAt,
            [HEADER_DLQ_SOURCE]: `${letter.message.topic}/${letter.message.partition}/${letter.message.offset}`,
            ...(letter.error === undefined ? {} : { [HEADER_DLQ_ERROR]: letter.error.slice(0, 500) }),
          },
        })),
      });
      for (const letter of letters) options.metrics.deadLettersTotal.inc({ reason: letter.reason });
    },
    disconnect: () => producer.disconnect(),
  };
}
