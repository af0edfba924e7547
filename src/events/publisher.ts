import { Partitioners, type Message, type Producer } from 'kafkajs';
import { PublishError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ChangeMessage } from './envelope.js';
import type { Kafka } from './kafka.js';

/**
 * Hands change events to Kafka in order, with `acks: -1` (all in-sync
 * replicas). kafkajs has no linger, so batching is done here: events collect
 * while one request is in flight and go out together as the next request
 * (group commit), or at a transaction commit when nothing is in flight.
 * One request at a time keeps a user's events in order through retries.
 * Memory is bounded: `enqueue` waits for Kafka when `batchSize` events are
 * already waiting.
 */
export interface PublisherOptions {
  kafka: Kafka;
  topic: string;
  batchSize: number;
  logger: Logger;
}

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
    this.inFlight = this.producer
      .send({ topic: this.options.topic, acks: -1, messages: batch.map((entry) => entry.kafka) })
      .then(
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
