import { Partitioners, type Consumer, type IHeaders, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { Clock } from '../time.js';
import type { RawMessage } from './consumer.js';
import {
  HEADER_DLQ_ATTEMPTS,
  HEADER_DLQ_ERROR,
  HEADER_DLQ_FAILED_AT,
  HEADER_DLQ_REASON,
  HEADER_DLQ_SOURCE,
} from './envelope.js';

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
  const producer: Producer = options.kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
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

/** Every header the pinger adds to a dead letter starts with this; replay strips them. */
const DLQ_HEADER_PREFIX = 'pingpull-dlq-';

/** A dead letter as read back from the dead letter topic. */
export interface StoredDeadLetter {
  /** Its place in the dead letter topic. */
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** All headers, the original ones and the pinger's `pingpull-dlq-*`. */
  headers: IHeaders;
  reason: string | null;
  attempts: number | null;
  failedAt: string | null;
  error: string | null;
  /** Where the event was consumed from (`pingpull-dlq-source`). */
  source: { topic: string; partition: number; offset: string } | null;
}

/** What one partition of the dead letter topic held when a scan started. */
export interface ScannedRange {
  partition: number;
  /** The log start: older dead letters are gone (retention). */
  logStart: string;
  /** First offset read: the scanning group's committed offset, or the log start. */
  start: string;
  /** One past the last offset read: the end of the partition when the scan started. */
  end: string;
  /** The scanning group's commit metadata for this partition (null without a commit). */
  metadata: string | null;
}

export interface DeadLetterScan {
  /** In order, per partition. */
  letters: StoredDeadLetter[];
  ranges: ScannedRange[];
  /** Commits offsets (with metadata) for the scanning group; only for a group that is kept. */
  commit(marks: ReadonlyArray<{ partition: number; offset: string; metadata: string }>): Promise<void>;
  /** Leaves the group (deleting it when it was a throwaway one) and disconnects. */
  close(): Promise<void>;
}

export interface ScanOptions {
  kafka: Kafka;
  topic: string;
  /** The consumer group that reads; a kept group resumes from its committed offsets. */
  groupId: string;
  /** True: read from the start, commit nothing, delete the group afterwards. */
  throwaway: boolean;
  logger: Logger;
  /** Give up when reading makes no progress for this long (joining the group included). */
  timeoutMs?: number;
}

/**
 * Reads the dead letter topic up to its end as of now, as a member of
 * `groupId`, without committing anything (the caller may, through `commit`).
 * Never joins the pingers' group.
 */
export async function scanDeadLetters(options: ScanOptions): Promise<DeadLetterScan> {
  const { kafka, topic, groupId, logger } = options;
  const admin = kafka.admin();
  await admin.connect();
  let consumer: Consumer | undefined;
  const close = async (): Promise<void> => {
    await consumer?.disconnect().catch((error: unknown) => logger.debug({ err: error }, 'leaving the group failed'));
    if (options.throwaway && consumer !== undefined) {
      await admin
        .deleteGroups([groupId])
        .catch((error: unknown) => logger.debug({ err: error }, 'deleting the group failed'));
    }
    await admin.disconnect();
  };
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      return { letters: [], ranges: [], commit: async () => undefined, close };
    }
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = options.throwaway
      ? []
      : ((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? []);
    const ranges: ScannedRange[] = ends.map(({ partition, high, low }) => {
      const mark = committed.find((entry) => entry.partition === partition);
      const from =
        mark === undefined || BigInt(mark.offset) < 0n ? BigInt(low) : bigMax(BigInt(mark.offset), BigInt(low));
      return { partition, logStart: low, start: from.toString(), end: high, metadata: mark?.metadata ?? null };
    });
    const pending = new Map(
      ranges
        .filter((range) => BigInt(range.start) < BigInt(range.end))
        .map((range) => [range.partition, BigInt(range.end)]),
    );
    const letters: StoredDeadLetter[] = [];
    if (pending.size === 0) return { letters, ranges, commit: async () => undefined, close };

    const reader: Consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 });
    consumer = reader;
    await readUntilEnds(reader, { topic, pending, letters, timeoutMs: options.timeoutMs ?? 30_000, groupId });
    letters.sort((a, b) => a.partition - b.partition || compareOffsets(a.offset, b.offset));
    return {
      letters,
      ranges,
      async commit(marks) {
        if (options.throwaway) throw new Error(`scanDeadLetters: group ${groupId} is a throwaway group`);
        await reader.commitOffsets(
          marks.map(({ partition, offset, metadata }) => ({ topic, partition, offset, metadata })),
        );
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function readUntilEnds(
  consumer: Consumer,
  scan: {
    topic: string;
    pending: Map<number, bigint>;
    letters: StoredDeadLetter[];
    timeoutMs: number;
    groupId: string;
  },
): Promise<void> {
  const { topic, pending, letters } = scan;
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  let settle: (error?: unknown) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    settle = (error) => {
      settled = true;
      clearTimeout(timer);
      if (error === undefined) resolve();
      else reject(error);
    };
  });
  const stalled = (): void => {
    clearTimeout(timer);
    if (settled) return;
    timer = setTimeout(
      () => settle(new Error(`reading the dead letter topic ${topic} made no progress for ${scan.timeoutMs} ms`)),
      scan.timeoutMs,
    );
    timer.unref();
  };
  stalled();
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const assigned = new Set(payload.memberAssignment[topic] ?? []);
    const missing = [...pending.keys()].filter((partition) => !assigned.has(partition));
    if (missing.length > 0) {
      settle(
        new Error(
          `another process is reading the dead letter topic ${topic} as group ${scan.groupId}; try again once it is done`,
        ),
      );
    }
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) settle(payload.error);
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        const end = pending.get(batch.partition);
        if (end === undefined) return;
        stalled();
        for (const message of batch.messages) {
          if (BigInt(message.offset) >= end) break;
          letters.push(storedDeadLetter(batch.partition, message));
          resolveOffset(message.offset);
        }
        if (BigInt(batch.lastOffset()) + 1n >= end) pending.delete(batch.partition);
        if (pending.size === 0) settle();
      },
    });
    await finished;
    consumer.pause([{ topic }]);
  } finally {
    clearTimeout(timer);
  }
}

function storedDeadLetter(partition: number, message: KafkaMessage): StoredDeadLetter {
  const headers = message.headers ?? {};
  const text = (name: string): string | null => {
    const value = headers[name];
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined ? null : first.toString();
  };
  const attempts = text(HEADER_DLQ_ATTEMPTS);
  const source = /^(.+)\/(\d+)\/(\d+)$/.exec(text(HEADER_DLQ_SOURCE) ?? '');
  return {
    partition,
    offset: message.offset,
    key: message.key,
    value: message.value,
    headers,
    reason: text(HEADER_DLQ_REASON),
    attempts: attempts !== null && /^\d+$/.test(attempts) ? Number(attempts) : null,
    failedAt: text(HEADER_DLQ_FAILED_AT),
    error: text(HEADER_DLQ_ERROR),
    source:
      source === null
        ? null
        : { topic: source[1] as string, partition: Number(source[2]), offset: source[3] as string },
  };
}

/**
 * Sends dead letters back to the change topic with their original key,
 * value and headers (the pinger's `pingpull-dlq-*` headers dropped), so the
 * pinger handles them again. Resolves once the broker has them on all
 * in-sync replicas.
 */
export async function republishDeadLetters(
  kafka: Kafka,
  topic: string,
  letters: readonly StoredDeadLetter[],
): Promise<void> {
  if (letters.length === 0) return;
  // The connector's partitioner, so a user's replayed events land on the partition of its other events.
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: letters.map((letter) => ({
        key: letter.key,
        value: letter.value,
        headers: Object.fromEntries(
          Object.entries(letter.headers).filter(([name]) => !name.startsWith(DLQ_HEADER_PREFIX)),
        ) as IHeaders,
      })),
    });
  } finally {
    await producer.disconnect();
  }
}

/** The committed offsets and metadata of a group on a topic (an offset of -1: none). */
export async function fetchGroupMarks(
  kafka: Kafka,
  groupId: string,
  topic: string,
): Promise<Array<{ partition: number; offset: string; metadata: string | null }>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return [];
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (entry?.partitions ?? []).map(({ partition, offset, metadata }) => ({
      partition,
      offset,
      metadata: metadata ?? null,
    }));
  } finally {
    await admin.disconnect();
  }
}

const bigMax = (a: bigint, b: bigint): bigint => (a > b ? a : b);

function compareOffsets(a: string, b: string): number {
  const difference = BigInt(a) - BigInt(b);
  return difference === 0n ? 0 : difference < 0n ? -1 : 1;
}
