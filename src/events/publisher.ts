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
  type ChangeEvent,
  type ChangeMessage,
  type Op,
} from './envelope.js';
import type { Kafka } from './kafka.js';

/**
 * Hands change events to Kafka in order, with `acks: -1` (all in-sync
 * replicas). kafkajs has no linger, so batching is done here: events collect
 * while requests are in flight and go out together as the next request
 * (group commit): at once when nothing is in flight (a transaction's commit
 * sends it), otherwise once a full batch waits and a request slot is free, or
 * once every request in flight is answered. Small batches do not go out as
 * fast as a nearby broker answers: requests grow with the load, and their
 * per-request cost is paid per batch, not per handful of events.
 * Memory is bounded: `enqueue` waits for Kafka when `batchSize` events are
 * already waiting and every request slot is taken, and when the events not
 * acknowledged yet (waiting or in flight) hold `maxPendingBytes` of keys and
 * values: a few huge rows cannot fill the memory that thousands of small ones
 * would not. The connector's handler awaits `enqueue`, and the replication
 * stream is not read meanwhile (src/cdc/stream.ts): the read-ahead is bounded.
 *
 * Pipelining (`maxInFlight` > 1, the connector's setting): several requests
 * are in flight at once, so the connector keeps decoding while Kafka
 * replicates and a network round trip does not cap the rate at
 * `batchSize`/RTT. Acknowledgements are released in send order only:
 * `onAcked` reports a request once it and every request sent before it are
 * acknowledged, so the checkpoint (and the slot) never moves past a gap, even
 * when a later request is acknowledged first.
 *
 * Order within the topic: a user's events are all in one partition, and
 * Kafka keeps a partition in the order requests are written. Concurrent
 * requests may not reach the broker in the order they were sent (kafkajs
 * puts a send that first refreshes topic metadata behind a later one, and
 * a request it retries lands behind those sent after it). So requests in
 * flight never share a user: a request takes the waiting events up to the
 * first whose key is in a request not yet answered, and that event waits
 * until it is. Whatever the order requests land in, each user's events are
 * in Kafka in commit order, and kafkajs keeps its retries. A bulk update
 * (each user once) pipelines fully; a burst on one user goes one request at
 * a time, as with `maxInFlight` 1.
 *
 * An event Kafka will never take (its `retriable` is false: too large for
 * the topic's max.message.bytes, or refused otherwise) must not stall the
 * stream behind it: a request refused so is sent again event by event; an
 * event too large goes out without its row images (key and metadata only,
 * header `pingpull-truncated`) so its user is still pinged, and what Kafka
 * refuses even then goes to the dead letter topic with the reason. Requests
 * sent after a refused one may already be in Kafka: once they settled, they
 * are sent again after the refused one's events (duplicates, in order), one
 * request at a time, before pipelining resumes.
 */
export interface PublisherOptions {
  kafka: Kafka;
  topic: string;
  batchSize: number;
  logger: Logger;
  /** Requests in flight at a time (default 1); requests in flight never share a key (see above). */
  maxInFlight?: number;
  /** Bytes of keys and values enqueued and not acknowledged yet at which `enqueue` waits (default: no bound). */
  maxPendingBytes?: number;
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
  events: readonly PublishedEvent[];
}

/** What is left of an acknowledged event for the metrics. */
export interface PublishedEvent {
  /** null: an event without a value. */
  op: Op | null;
  /** The source's commit time (`source.ts_ms`); 0 without a value. */
  commitTsMs: number;
}

/**
 * An event from its enqueueing to its acknowledgement: only what Kafka is
 * sent (the value as bytes, outside the JavaScript heap) and what the
 * metrics need. Thousands are pending at a time, long enough to outlive
 * young-generation collections: whatever they hold is promoted, and the
 * faster the old generation fills, the larger V8 lets it grow before it
 * collects (the connector-memory bench measures the peak).
 */
interface Buffered extends PublishedEvent {
  /** The user id ('' for a truncate: no key in Kafka). */
  key: string;
  kafka: Message;
  /** Bytes of its key and value. */
  bytes: number;
}

/** Events enqueued and not acknowledged yet (waiting or in flight), and the most there were at once. */
export interface Backlog {
  events: number;
  bytes: number;
  peakEvents: number;
  peakBytes: number;
  /** `enqueue` is waiting for Kafka (the stream is not being read). */
  waiting: boolean;
}

/** One produce request, from its sending until it is released in order. */
interface Request {
  batch: Buffered[];
  lastSeq: number;
  outcome: 'pending' | 'acked' | 'refused' | 'failed';
  error: unknown;
  /** Settles (never rejects) once the outcome is known and handled. */
  settled: Promise<void>;
}

export class ChangePublisher {
  /** Called once per acknowledged request, in send order, only when every request before it is acknowledged too. */
  onAcked: (batch: AckedBatch) => void = () => undefined;
  /** Called once when a request fails (after kafkajs's own retries, if any); nothing after it is reported. */
  onFailed: (error: PublishError) => void = () => undefined;

  private readonly producer: Producer;
  private readonly maxInFlight: number;
  private readonly maxPendingBytes: number;
  private buffer: Buffered[] = [];
  private readonly pending: Backlog = { events: 0, bytes: 0, peakEvents: 0, peakBytes: 0, waiting: false };
  private seq = 0;
  /** Requests sent and not yet released, in send order. */
  private pipeline: Request[] = [];
  /** Every request not settled yet, released or not (a reset waits for them). */
  private readonly unsettled = new Set<Promise<void>>();
  /** Keys of the events in requests Kafka has not answered yet, with how many such requests hold each. */
  private readonly keysInFlight = new Map<string, number>();
  /** Re-sending after a refusal, one request at a time; nothing else is sent meanwhile. */
  private repairing: Promise<void> | null = null;
  private failure: PublishError | null = null;
  private generation = 0;

  constructor(private readonly options: PublisherOptions) {
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 1);
    this.maxPendingBytes = options.maxPendingBytes ?? Infinity;
    this.producer = options.kafka.producer({
      // Java's murmur2 partitioning: a user's events land where Java and Debezium tooling expect them.
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      idempotent: false,
      maxInFlightRequests: this.maxInFlight,
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

  /** What is enqueued and not acknowledged yet (a copy). */
  backlog(): Backlog {
    return { ...this.pending };
  }

  /**
   * Adds an event; waits (backpressure) while a full batch is already waiting
   * and no request slot is free, or while `maxPendingBytes` are not
   * acknowledged yet (an event larger than that still goes, alone).
   */
  async enqueue(message: ChangeMessage): Promise<void> {
    if (this.failure !== null) throw this.failure;
    const { pending } = this;
    while (
      this.buffer.length >= this.options.batchSize ||
      (pending.bytes >= this.maxPendingBytes && pending.events > 0)
    ) {
      if (!this.canSend() || !this.sendBuffered()) {
        pending.waiting = true;
        await this.oldest();
        pending.waiting = false;
      }
      if (this.failure !== null) throw this.failure;
    }
    this.seq += 1;
    const kafka = toKafkaMessage(message);
    const bytes = message.key.length + (kafka.value?.length ?? 0);
    const { value } = message;
    this.buffer.push({
      key: message.key,
      kafka,
      bytes,
      op: value === null ? null : value.op,
      commitTsMs: value === null ? 0 : value.source.ts_ms,
    });
    pending.events += 1;
    pending.bytes += bytes;
    if (pending.events > pending.peakEvents) pending.peakEvents = pending.events;
    if (pending.bytes > pending.peakBytes) pending.peakBytes = pending.bytes;
  }

  /**
   * Sends what is waiting now if no request is in flight, or a full batch if
   * a request slot is free; else it goes once Kafka answered every request.
   */
  flush(): void {
    if (this.buffer.length === 0 || !this.canSend()) return;
    if (this.pipeline.length === 0 || this.buffer.length >= this.options.batchSize) this.sendBuffered();
  }

  /** Waits until everything enqueued is acknowledged or a request failed. */
  async drain(): Promise<void> {
    for (;;) {
      this.flush();
      if (this.failure !== null) return;
      if (this.pipeline.length === 0 && this.repairing === null && this.buffer.length === 0) return;
      await this.oldest();
    }
  }

  /**
   * Forgets unsent events and a past failure and restarts the numbering, for
   * a new replication session (which replays from the durable position).
   * Waits for requests in flight so a late acknowledgement cannot count.
   */
  async reset(): Promise<void> {
    this.generation += 1;
    while (this.unsettled.size > 0 || this.repairing !== null) {
      await Promise.all([...this.unsettled, this.repairing]);
    }
    this.pipeline = [];
    this.buffer = [];
    this.seq = 0;
    this.failure = null;
    this.pending.events = 0;
    this.pending.bytes = 0;
  }

  private canSend(): boolean {
    return this.failure === null && this.repairing === null && this.pipeline.length < this.maxInFlight;
  }

  /** Settles when the oldest unreleased request (or a repair) has been handled. */
  private oldest(): Promise<void> {
    return this.repairing ?? this.pipeline[0]?.settled ?? Promise.resolve();
  }

  /**
   * Sends the waiting events up to the first whose user is in a request not
   * answered yet (and at most `batchSize`). Returns whether anything was sent.
   */
  private sendBuffered(): boolean {
    const limit = Math.min(this.buffer.length, this.options.batchSize);
    let count = 0;
    while (count < limit && !this.keysInFlight.has((this.buffer[count] as Buffered).key)) count += 1;
    if (count === 0) return false;
    const request: Request = {
      batch: this.buffer.splice(0, count),
      lastSeq: this.seq - this.buffer.length,
      outcome: 'pending',
      error: undefined,
      settled: Promise.resolve(),
    };
    const keys = request.batch.map((entry) => entry.key);
    for (const key of keys) this.keysInFlight.set(key, (this.keysInFlight.get(key) ?? 0) + 1);
    const generation = this.generation;
    const settle = (outcome: Request['outcome'], error?: unknown): void => {
      for (const key of keys) {
        const holders = (this.keysInFlight.get(key) ?? 1) - 1;
        if (holders === 0) this.keysInFlight.delete(key);
        else this.keysInFlight.set(key, holders);
      }
      request.outcome = outcome;
      request.error = error;
      if (generation === this.generation) this.release();
    };
    const settled = this.send(
      this.options.topic,
      request.batch.map((entry) => entry.kafka),
    ).then(
      () => settle('acked'),
      (error: unknown) => settle(refusedForGood(error) ? 'refused' : 'failed', error),
    );
    request.settled = settled;
    this.unsettled.add(settled);
    void settled.finally(() => this.unsettled.delete(settled));
    this.pipeline.push(request);
    return true;
  }

  /** Reports settled requests from the oldest on, stopping at the first one still in flight. */
  private release(): void {
    while (this.failure === null && this.repairing === null) {
      const head = this.pipeline[0];
      if (head === undefined || head.outcome === 'pending') break;
      if (head.outcome === 'failed') {
        this.fail(head.batch.length, head.error);
        return;
      }
      if (head.outcome === 'refused') {
        this.repair();
        return;
      }
      this.pipeline.shift();
      this.acked(head);
    }
    // What waited goes out now if nothing is in flight any more, or if it fills a batch.
    this.flush();
  }

  /**
   * The oldest request was refused for good: once every request behind it
   * settled, its events are sent one by one, then every later request again
   * (they may be in Kafka already: sent again so they stay behind), in order.
   */
  private repair(): void {
    const generation = this.generation;
    const repairing = (async () => {
      while (this.pipeline.some((request) => request.outcome === 'pending')) {
        await Promise.all(this.pipeline.map((request) => request.settled));
      }
      const requests = this.pipeline;
      this.pipeline = [];
      for (const [i, request] of requests.entries()) {
        if (generation !== this.generation) return;
        try {
          if (i === 0) {
            for (const entry of request.batch) await this.deliverAlone(entry);
          } else {
            await this.deliver(request.batch);
          }
        } catch (error) {
          if (generation === this.generation) this.fail(request.batch.length, error);
          return;
        }
        if (generation !== this.generation) return;
        this.acked(request);
      }
    })();
    this.repairing = repairing;
    void repairing.finally(() => {
      if (this.repairing === repairing) this.repairing = null;
      if (generation === this.generation && this.failure === null) this.flush();
    });
  }

  private acked(request: Request): void {
    this.pending.events -= request.batch.length;
    for (const entry of request.batch) this.pending.bytes -= entry.bytes;
    this.onAcked({ lastSeq: request.lastSeq, events: request.batch });
  }

  private fail(events: number, error: unknown): void {
    this.pipeline = [];
    this.failure = new PublishError(
      `Kafka did not acknowledge ${events} change event(s) on ${this.options.topic}: ${(error as Error).message}`,
      error,
    );
    this.options.logger.warn({ err: error, topic: this.options.topic, events }, 'publishing to Kafka failed');
    this.onFailed(this.failure);
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
    // Rare: the value is read back from its bytes.
    const value = entry.kafka.value == null ? null : (JSON.parse(entry.kafka.value.toString()) as ChangeEvent);
    const lsn = value?.source.lsn ?? null;
    if (isTooLarge(refusal) && value !== null) {
      message = withoutRowImages(entry, value);
      try {
        await this.send(topic, [message]);
        this.count('truncated');
        logger.warn(
          { topic, key: entry.key, lsn },
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
      { topic, deadLetterTopic: dlq, key: entry.key, lsn, reason, err: (refusal as Error).message },
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

function withoutRowImages(entry: Buffered, event: ChangeEvent): Message {
  const value = { ...event, before: null, after: null };
  const headers = entry.kafka.headers as Record<string, string>;
  return toKafkaMessage({
    key: entry.key,
    value,
    headers: { ...headers, [HEADER_TRUNCATED]: 'before,after' },
  });
}

/** The value as UTF-8 bytes: kafkajs sends bytes anyway, and pending ones then stay off the JavaScript heap. */
function toKafkaMessage(message: ChangeMessage): Message & { value: Buffer | null } {
  return {
    // A truncate concerns no single user: like Debezium, it goes out with a
    // null key (an empty key would look like a user id "" to consumers).
    key: message.key === '' ? null : message.key,
    value: message.value === null ? null : Buffer.from(JSON.stringify(message.value)),
    headers: message.headers,
  };
}
