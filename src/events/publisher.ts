import { Partitioners, type Message, type Producer } from 'kafkajs';
import { PublishError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { systemClock, type Clock } from '../time.js';
import {
  HEADER_DLQ_ATTEMPTS,
  HEADER_DLQ_ERROR,
  HEADER_DLQ_FAILED_AT,
  HEADER_DLQ_REASON,
  HEADER_TRUNCATED,
  type ChangeMessage,
} from './envelope.js';
import type { Kafka } from './kafka.js';

/**
 * Hands change events to Kafka in order, with `acks: -1` (all in-sync
 * replicas). kafkajs has no linger, so batching is done here: events collect
 * while one request is in flight and go out together as the next request
 * (group commit), or at a transaction commit when nothing is in flight.
 * One request at a time keeps a user's events in order through retries.
 * Memory is bounded: `enqueue` waits for Kafka when `batchSize` events are
 * already waiting.
 *
 * An event Kafka will never take (its `retriable` is false: too large for
 * the topic's max.message.bytes, or refused otherwise) must not stall the
 * stream behind it: a request refused so is sent again event by event; an
 * event too large goes out without its row images (key and metadata only,
 * header `pingpull-truncated`) so its user is still pinged, and what Kafka
 * refuses even then goes to the dead letter topic with the reason.
 */
export interface PublisherOptions {
  kafka: Kafka;
  topic: string;
  batchSize: number;
  logger: Logger;
  /** Where refused events go; without it a refused event fails the publisher. */
  deadLetterTopic?: string;
  metrics?: Pick<Metrics, 'refusedEventsTotal'>;
  clock?: Clock;
}

/** What became of an event Kafka refused: the `outcome` label of pingpull_refused_events_total. */
export type RefusedOutcome = 'truncated' | 'dead_letter';

export interface AckedBatch {
  /** Sequence number of the last event of the batch: every event up to it is in Kafka. */
  lastSeq: number;
  messages: readonly ChangeMessage[];
}

interface Buffered {
  message: ChangeMessage;
  kafka: Message;
}

export class ChangePublisher {
  /** Called once per acknowledged request, in order. */
  onAcked: (batch: AckedBatch) => void = () => undefined;
  /** Called once when a request fails after kafkajs's own retries; nothing after it is sent. */
  onFailed: (error: PublishError) => void = () => undefined;

  private readonly producer: Producer;
  private buffer: Buffered[] = [];
  private seq = 0;
  private inFlight: Promise<void> | null = null;
  private failure: PublishError | null = null;
  private generation = 0;

  constructor(private readonly options: PublisherOptions) {
    this.producer = options.kafka.producer({
      // Java's murmur2 partitioning: a user's events land where Java and Debezium tooling expect them.
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      idempotent: false,
      maxInFlightRequests: 1,
    });
  }

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }

  /** Sequence number of the newest event enqueued (0 before the first). */
  get lastSeq(): number {
    return this.seq;
  }

  /** Adds an event; waits only when a full batch is already waiting for Kafka (backpressure). */
  async enqueue(message: ChangeMessage): Promise<void> {
    if (this.failure !== null) throw this.failure;
    while (this.buffer.length >= this.options.batchSize) {
      if (this.inFlight === null) this.sendBuffered();
      else await this.inFlight;
      if (this.failure !== null) throw this.failure;
    }
    this.seq += 1;
    this.buffer.push({ message, kafka: toKafkaMessage(message) });
  }

  /** Sends what is waiting unless a request is in flight (it then goes right after). */
  flush(): void {
    if (this.inFlight === null && this.buffer.length > 0 && this.failure === null) this.sendBuffered();
  }

  /** Waits until everything enqueued is acknowledged or a request failed. */
  async drain(): Promise<void> {
    for (;;) {
      this.flush();
      if (this.inFlight === null) return;
      await this.inFlight;
    }
  }

  /**
   * Forgets unsent events and a past failure and restarts the numbering, for
   * a new replication session (which replays from the durable position).
   * Waits for a request in flight so its late acknowledgement cannot count.
   */
  async reset(): Promise<void> {
    this.generation += 1;
    if (this.inFlight !== null) await this.inFlight;
    this.buffer = [];
    this.seq = 0;
    this.failure = null;
  }

  private sendBuffered(): void {
    const batch = this.buffer;
    this.buffer = [];
    const lastSeq = this.seq;
    const generation = this.generation;
    this.inFlight = this.deliver(batch).then(
      () => {
        this.inFlight = null;
        if (generation !== this.generation) return;
        this.onAcked({ lastSeq, messages: batch.map((entry) => entry.message) });
        // Events that arrived meanwhile go out now, as one request.
        this.flush();
      },
      (error: unknown) => {
        this.inFlight = null;
        if (generation !== this.generation || this.failure !== null) return;
        this.failure = new PublishError(
          `Kafka did not acknowledge ${batch.length} change event(s) on ${this.options.topic}: ${(error as Error).message}`,
          error,
        );
        this.options.logger.warn(
          { err: error, topic: this.options.topic, events: batch.length },
          'publishing to Kafka failed',
        );
        this.onFailed(this.failure);
      },
    );
  }

  private async deliver(batch: readonly Buffered[]): Promise<void> {
    try {
      await this.send(
        this.options.topic,
        batch.map((entry) => entry.kafka),
      );
    } catch (error) {
      // Kafka's limit is on a request's batch per partition, so a batch of
      // events fine on their own may be refused too: each goes alone, in order.
      if (!refusedForGood(error)) throw error;
      for (const entry of batch) await this.deliverAlone(entry);
    }
  }

  private async deliverAlone(entry: Buffered): Promise<void> {
    const { logger, topic } = this.options;
    let message = entry.kafka;
    let refusal: unknown;
    try {
      return await this.send(topic, [message]);
    } catch (error) {
      if (!refusedForGood(error)) throw error;
      refusal = error;
    }
    const lsn = entry.message.value?.source.lsn ?? null;
    if (isTooLarge(refusal) && entry.message.value !== null) {
      message = withoutRowImages(entry.message);
      try {
        await this.send(topic, [message]);
        this.count('truncated');
        logger.warn(
          { topic, key: entry.message.key, lsn },
          `a change event was larger than ${topic} accepts (max.message.bytes): published without its row images, ` +
            'header pingpull-truncated; its user is still pinged. Raise the limit for the topic to keep them',
        );
        return;
      } catch (error) {
        if (!refusedForGood(error)) throw error;
        refusal = error;
      }
    }
    const dlq = this.options.deadLetterTopic;
    if (dlq === undefined) throw refusal;
    const reason = isTooLarge(refusal) ? 'too-large' : 'kafka-refused';
    await this.send(dlq, [
      {
        ...message,
        headers: {
          ...message.headers,
          [HEADER_DLQ_REASON]: reason,
          [HEADER_DLQ_ATTEMPTS]: '1',
          [HEADER_DLQ_FAILED_AT]: new Date((this.options.clock ?? systemClock).now()).toISOString(),
          [HEADER_DLQ_ERROR]: (refusal as Error).message.slice(0, 500),
        },
      },
    ]);
    this.count('dead_letter');
    logger.warn(
      { topic, deadLetterTopic: dlq, key: entry.message.key, lsn, reason, err: (refusal as Error).message },
      `Kafka refused a change event for good: it went to the dead letter topic ${dlq} (pingpull dead-letters lists it)`,
    );
  }

  private async send(topic: string, messages: Message[]): Promise<void> {
    await this.producer.send({ topic, acks: -1, messages });
  }

  private count(outcome: RefusedOutcome): void {
    this.options.metrics?.refusedEventsTotal.inc({ outcome });
  }
}

/**
 * The broker answered, and no retry will change its answer. A request that
 * ran out of retries (the broker away) is not this: kafkajs reports it as
 * not retriable too, but it is no event's fault.
 */
function refusedForGood(error: unknown): boolean {
  // By name: kafkajs is CommonJS, its error classes are no named ESM exports.
  const { name, retriable } = (error ?? {}) as { name?: unknown; retriable?: unknown };
  return name === 'KafkaJSProtocolError' && retriable === false;
}

function isTooLarge(error: unknown): boolean {
  return refusedForGood(error) && (error as { type?: unknown }).type === 'MESSAGE_TOO_LARGE';
}

function withoutRowImages(message: ChangeMessage): Message {
  const value = message.value === null ? null : { ...message.value, before: null, after: null };
  return toKafkaMessage({
    ...message,
    value,
    headers: { ...message.headers, [HEADER_TRUNCATED]: 'before,after' },
  });
}

function toKafkaMessage(message: ChangeMessage): Message {
  return {
    // A truncate concerns no single user: like Debezium, it goes out with a
    // null key (an empty key would look like a user id "" to consumers).
    key: message.key === '' ? null : message.key,
    value: message.value === null ? null : JSON.stringify(message.value),
    headers: message.headers,
  };
}
