import type { Config } from '../config/index.js';
import { PublishError } from '../errors.js';
import type { RawMessage } from '../events/consumer.js';
import type { DeadLetterProducer } from '../events/dead-letters.js';
import type { Kafka } from '../events/kafka.js';
import {
  awaitedEvent,
  connectPullsWriter,
  ensurePullsTopic,
  pullsGroupId,
  startPullsConsumer,
  type PullsConsumer,
  type PullsWriter,
} from '../events/pulls.js';
import type { Logger } from '../log.js';
import type { Clock, Timers } from '../time.js';
import type { AwaitingPulls } from './awaiting-pulls.js';

export interface PullConfirmationDeps {
  kafka: Kafka;
  config: Pick<Config, 'kafka' | 'pinger'>;
  awaiting: AwaitingPulls;
  logger: Logger;
  clock: Clock;
  timers: Timers;
}

/**
 * The pinger's side of the pull confirmation loop (./awaiting-pulls.ts has the
 * design) from start to stop: the writer of the pulls topic, this pinger's
 * membership of the pulls group, and the periodic commit of where each owned
 * partition's waits begin.
 */
export class PullConfirmation {
  private writer: PullsWriter | undefined;
  private consumer: PullsConsumer | undefined;
  private timer: unknown;
  private stopped = false;

  constructor(private readonly deps: PullConfirmationDeps) {}

  /** Rejects when the pulls consumer crashed for good. */
  get crashed(): Promise<never> {
    return this.consumer?.crashed ?? new Promise<never>(() => undefined);
  }

  async start(deadLetters: Pick<DeadLetterProducer, 'send'>): Promise<void> {
    const { kafka, config, awaiting, logger } = this.deps;
    const topic = config.kafka.pullsTopic;
    await ensurePullsTopic(kafka, topic, config.kafka.partitions);
    this.writer = await connectPullsWriter({ kafka, topic, clock: this.deps.clock, logger });
    awaiting.start(this.writer, (letter) => deadLetters.send([letter]));
    this.consumer = await startPullsConsumer({
      kafka,
      topic,
      groupId: pullsGroupId(config.kafka.groupId),
      logger,
      sessionTimeoutMs: config.pinger.sessionTimeoutMs,
      onJoin: () => awaiting.joined(),
      onAssigned: (assignment) => awaiting.assigned(assignment),
      onRecord: (partition, offset, record) => awaiting.record(partition, offset, record),
    });
    this.schedule();
  }

  /** Records that a ping of `userId` for `message` is about to be sent; waits for Kafka's ack. */
  async beforePing(userId: string, message: RawMessage): Promise<void> {
    const writer = this.writer as PullsWriter;
    const now = this.deps.clock.now();
    try {
      await writer.awaiting(userId, {
        pingedAtMs: now,
        firstPingedAtMs: now,
        attempt: 1,
        event: awaitedEvent(message),
      });
    } catch (error) {
      throw new PublishError(`recording the ping of ${userId} in ${this.deps.config.kafka.pullsTopic} failed`, error);
    }
  }

  /** The user's ping was dead-lettered: nothing waits for its pull any more. */
  settle(userId: string): void {
    this.writer?.settled(userId).catch((error: unknown) => {
      this.deps.logger.warn({ err: error, userId }, 'ending the wait for a pull failed; it may be re-pinged once');
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.timers.clearTimeout(this.timer);
    this.deps.awaiting.close();
    await this.consumer?.commit(this.deps.awaiting.marks());
    await this.consumer?.disconnect();
    await this.writer?.disconnect();
  }

  private schedule(): void {
    this.timer = this.deps.timers.setTimeout(() => {
      void (this.consumer as PullsConsumer).commit(this.deps.awaiting.marks()).finally(() => {
        if (!this.stopped) this.schedule();
      });
    }, this.deps.config.pinger.commitIntervalMs);
  }
}
