import type { Consumer, IHeaders, Kafka } from 'kafkajs';
import type { Logger } from '../log.js';

/** A consumed message, untouched. */
export interface RawMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders | undefined;
}

export interface CommitOffset {
  topic: string;
  partition: number;
  /** The next offset to consume (the last finished one plus one). */
  offset: string;
}

/** Where consumed messages go; the consumer only loops and waits while the sink is full. */
export interface MessageSink {
  /** Takes one message; never blocks. */
  accept(message: RawMessage): void;
  /** False while the sink holds as many events as it should: the consumer stops fetching. */
  hasRoom(): boolean;
  /** Resolves when room may have appeared, or after `ms` at the latest. */
  waitForRoom(ms: number): Promise<void>;
  /** The group (re)joined: Kafka re-delivers from the committed offsets. */
  onRejoin(): void;
}

export interface ChangeConsumer {
  /** Commits offsets; false (logged) when Kafka refused, e.g. during a rebalance. */
  commit(offsets: readonly CommitOffset[]): Promise<boolean>;
  /** Stops fetching and lets the running batch return; commits stay possible. */
  pause(): void;
  /** Leaves the group and disconnects. */
  disconnect(): Promise<void>;
  /** Rejects when the consumer crashed and kafkajs will not restart it. */
  readonly crashed: Promise<never>;
}

export interface ChangeConsumerOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  sink: MessageSink;
  logger: Logger;
  /** How often to heartbeat while the sink is full (kafkajs has no background heartbeat). */
  heartbeatEveryMs?: number;
  sessionTimeoutMs?: number;
}

/**
 * A consumer group member that hands every message to the sink. It resolves
 * offsets as it hands them over (so kafkajs fetches on), but never commits
 * them: commits come from `commit`, with offsets the pinger knows are done.
 */
export async function startChangeConsumer(options: ChangeConsumerOptions): Promise<ChangeConsumer> {
  const { sink, logger } = options;
  const heartbeatEveryMs = options.heartbeatEveryMs ?? 1_000;
  const consumer: Consumer = options.kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: Math.min(3_000, heartbeatEveryMs * 3),
    allowAutoTopicCreation: false,
    // A fetch long-poll holds up a stop for its whole wait; data still returns at once.
    maxWaitTimeInMs: 1_000,
  });
  let paused = false;
  let rejectCrash: (error: unknown) => void = () => undefined;
  const crashed = new Promise<never>((_, reject) => {
    rejectCrash = reject;
  });
  crashed.catch(() => undefined);

  consumer.on(consumer.events.GROUP_JOIN, () => sink.onRejoin());
  consumer.on(consumer.events.CRASH, (event) => {
    const { error, restart } = event.payload;
    logger.error({ err: error, restart }, 'kafka consumer crashed');
    if (!restart) rejectCrash(error);
  });

  await consumer.connect();
  try {
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        for (const message of batch.messages) {
          if (paused || !isRunning() || isStale()) return;
          sink.accept({
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
            key: message.key,
            value: message.value,
            headers: message.headers,
          });
          resolveOffset(message.offset);
          while (!sink.hasRoom() && !paused && isRunning() && !isStale()) {
            await heartbeat();
            await sink.waitForRoom(heartbeatEveryMs);
          }
        }
        if (!paused) await heartbeat();
      },
    });
  } catch (error) {
    await consumer.disconnect().catch(() => undefined);
    throw error;
  }

  return {
    async commit(offsets) {
      if (offsets.length === 0) return true;
      try {
        await consumer.commitOffsets(offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
        return true;
      } catch (error) {
        logger.warn({ err: error }, 'committing consumer offsets failed; they will be committed later');
        return false;
      }
    },
    pause() {
      paused = true;
      consumer.pause([{ topic: options.topic }]);
    },
    async disconnect() {
      paused = true;
      await consumer.disconnect();
    },
    crashed,
  };
}
