import { Partitioners, type Consumer, type IHeaders, type Kafka, type Message, type Producer } from 'kafkajs';
import type { Logger } from '../log.js';
import { sleep, systemTimers, type Clock, type Timers } from '../time.js';
import type { RawMessage } from './consumer.js';
import { ensureTopics } from './kafka.js';

/**
 * The pulls topic of the pull confirmation loop (src/pinger/awaiting-pulls.ts
 * tells the design): compacted, keyed by user id, so the latest record of a
 * user says whether a ping of that user still waits for its pull. Pingers
 * write `awaiting` records just before they ping; pull servers write a
 * tombstone marked `served` for every pull they answer; a pinger that
 * dead-letters a user writes a tombstone marked `settled`. The log order of
 * one partition is the only clock the loop trusts.
 */

/** Says what a tombstone of the pulls topic means. */
export const HEADER_PULL = 'pingpull-pull';

/** A ping that waits for the pull of its user. */
export interface AwaitingPull {
  /** When the latest ping was about to be sent (the pinger's clock). */
  pingedAtMs: number;
  /** When the first ping of this wait was sent: the age `status` judges. */
  firstPingedAtMs: number;
  /** Pings sent so far for this wait, the first one included. */
  attempt: number;
  /** The change event the ping was for: a `not_pulled` dead letter carries it. */
  event: { topic: string; partition: number; offset: string; value: string | null; headers: Record<string, string> };
}

export type PullRecord =
  | { kind: 'awaiting'; userId: string; awaiting: AwaitingPull }
  /** A pull server answered a pull of the user: it confirms every ping before it in the log. */
  | { kind: 'served'; userId: string; atMs: number }
  /** The user's pings were dead-lettered: nothing waits any more. */
  | { kind: 'settled'; userId: string }
  /** A record this version cannot read: skipped. */
  | { kind: 'unknown' };

/** Creates the pulls topic when missing, compacted so it holds about one record per waiting user. */
export function ensurePullsTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  return ensureTopics(kafka, [topic], partitions, {
    configEntries: [
      { name: 'cleanup.policy', value: 'compact' },
      // Compaction only cleans closed segments: roll often so confirmed pulls leave the topic within the hour.
      { name: 'segment.ms', value: '600000' },
      { name: 'delete.retention.ms', value: '3600000' },
    ],
  });
}

/** The dead letter for a change a ping never got pulled for: the event exactly as consumed. */
export function awaitedEventMessage(userId: string, awaiting: AwaitingPull): RawMessage {
  const { event } = awaiting;
  return {
    topic: event.topic,
    partition: event.partition,
    offset: event.offset,
    key: Buffer.from(userId, 'utf8'),
    value: event.value === null ? null : Buffer.from(event.value, 'utf8'),
    headers: event.headers,
  };
}

/** The `event` of an awaiting record, from a consumed change event. */
export function awaitedEvent(message: RawMessage): AwaitingPull['event'] {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) headers[name] = first.toString();
  }
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    value: message.value === null ? null : message.value.toString('utf8'),
    headers,
  };
}

export function decodePullRecord(
  key: Buffer | null,
  value: Buffer | null,
  headers: IHeaders | undefined,
  timestamp: string,
): PullRecord {
  const userId = key?.toString('utf8') ?? '';
  if (userId === '') return { kind: 'unknown' };
  if (value === null) {
    const mark = headers?.[HEADER_PULL]?.toString();
    if (mark === 'served') return { kind: 'served', userId, atMs: Number(timestamp) };
    if (mark === 'settled') return { kind: 'settled', userId };
    return { kind: 'unknown' };
  }
  try {
    const parsed = JSON.parse(value.toString('utf8')) as Partial<AwaitingPull>;
    if (typeof parsed.pingedAtMs !== 'number' || typeof parsed.attempt !== 'number' || parsed.event === undefined) {
      return { kind: 'unknown' };
    }
    return { kind: 'awaiting', userId, awaiting: parsed as AwaitingPull };
  } catch {
    return { kind: 'unknown' };
  }
}

/** At most this many records wait for Kafka; beyond, `served` records are dropped (their pings are sent again). */
const MAX_QUEUED = 10_000;

/**
 * Most records in one request; more go in the requests after it. kafkajs
 * groups a request's records by partition in time quadratic in their number,
 * on the event loop: 10,000 records (a queue refilled while Kafka was away)
 * stalled it for 120-300 ms, 500 for 10-15 ms, at the same CPU per record.
 */
const MAX_PER_REQUEST = 500;

interface Queued {
  message: Message;
  done?: { resolve: () => void; reject: (error: unknown) => void };
}

export interface PullsWriter {
  /** Resolves once the record is on all in-sync replicas. */
  awaiting(userId: string, awaiting: AwaitingPull): Promise<void>;
  /** Resolves once the tombstone is on all in-sync replicas. */
  settled(userId: string): Promise<void>;
  /** Records a served pull without waiting: a lost record only costs a ping sent again. */
  served(userId: string): void;
  disconnect(): Promise<void>;
}

/**
 * Writes to the pulls topic; records collect while one request is in flight
 * and go out together as the next one (at most MAX_PER_REQUEST each, in
 * order), so a burst of pulls or pings costs a few requests, not one each.
 * `served` records, which nobody waits for, also wait up to `servedLingerMs`
 * for company: a pull server answering pulls one by one then sends a request
 * per linger, not one per pull (each request costs the server more CPU than a
 * pull). Disconnecting sends what lingers, and waits for it, first.
 */
export async function connectPullsWriter(options: {
  kafka: Kafka;
  topic: string;
  clock: Clock;
  logger: Logger;
  /** How long a `served` record may wait for others before it is sent (0: at once). */
  servedLingerMs?: number;
  timers?: Timers;
}): Promise<PullsWriter> {
  const lingerMs = options.servedLingerMs ?? 0;
  const timers = options.timers ?? systemTimers;
  const producer: Producer = options.kafka.producer({
    allowAutoTopicCreation: false,
    // the same partitioner as the change topic's producer: a user's records land in the same partition number
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const queue: Queued[] = [];
  let sending: Promise<void> | undefined;
  let linger: unknown;

  const pump = (): void => {
    if (linger !== undefined) {
      timers.clearTimeout(linger);
      linger = undefined;
    }
    if (sending !== undefined || queue.length === 0) return;
    const batch = queue.splice(0, MAX_PER_REQUEST);
    sending = producer
      .send({ topic: options.topic, acks: -1, messages: batch.map((item) => item.message) })
      .then(
        () => {
          for (const item of batch) item.done?.resolve();
        },
        (error: unknown) => {
          options.logger.warn({ err: error, records: batch.length }, 'writing to the pulls topic failed');
          for (const item of batch) item.done?.reject(error);
        },
      )
      .finally(() => {
        sending = undefined;
        pump();
      });
  };
  const write = (message: Message): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      queue.push({ message, done: { resolve, reject } });
      pump();
    });
  const stamp = (): string => String(options.clock.now());

  return {
    awaiting: (userId, awaiting) => write({ key: userId, value: JSON.stringify(awaiting), timestamp: stamp() }),
    settled: (userId) => write({ key: userId, value: null, headers: { [HEADER_PULL]: 'settled' }, timestamp: stamp() }),
    served(userId) {
      if (queue.length >= MAX_QUEUED) return;
      queue.push({ message: { key: userId, value: null, headers: { [HEADER_PULL]: 'served' }, timestamp: stamp() } });
      if (lingerMs === 0) pump();
      else linger ??= timers.setTimeout(pump, lingerMs);
    },
    async disconnect() {
      pump();
      // the request in flight settles (sent, or failed after kafkajs's retries) before the producer goes
      while (sending !== undefined) await sending;
      await producer.disconnect();
    },
  };
}

export interface PullsAssignment {
  /**
   * The partitions this member owns: it starts reading at `from` and has
   * rebuilt a partition's state once it read the record before `end`.
   */
  partitions: Array<{ partition: number; from: bigint; end: bigint }>;
}

export interface PullsConsumer {
  /** Commits, per partition, where a new owner must start reading, with a summary for `status` as metadata. */
  commit(marks: ReadonlyArray<{ partition: number; offset: string; metadata: string }>): Promise<void>;
  disconnect(): Promise<void>;
  readonly crashed: Promise<never>;
}

/**
 * A member of the pulls group: hands every record of its partitions over in
 * log order. Reports each (re)assignment with the end offsets as of then, so
 * the owner knows when it has rebuilt the state of its partitions.
 */
export async function startPullsConsumer(options: {
  kafka: Kafka;
  topic: string;
  groupId: string;
  logger: Logger;
  sessionTimeoutMs: number;
  /** The group (re)joined: Kafka re-delivers from the committed offsets, so state built so far is void. */
  onJoin(): void;
  onAssigned(assignment: PullsAssignment): void;
  onRecord(partition: number, offset: bigint, record: PullRecord): void;
}): Promise<PullsConsumer> {
  const { kafka, topic, logger } = options;
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 1_000,
  });
  let rejectCrash: (error: unknown) => void = () => undefined;
  let stopped = false;
  const crashed = new Promise<never>((_, reject) => {
    rejectCrash = reject;
  });
  crashed.catch(() => undefined);
  consumer.on(consumer.events.CRASH, (event) => {
    logger.error({ err: event.payload.error, restart: event.payload.restart }, 'kafka pulls consumer crashed');
    if (!event.payload.restart) rejectCrash(event.payload.error);
  });
  let generation = 0;
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    generation += 1;
    const joined = generation;
    options.onJoin();
    const partitions = event.payload.memberAssignment[topic] ?? [];
    // Until the ranges are known no deadline is judged: try until they are, or until a newer join.
    void (async () => {
      while (joined === generation && !stopped) {
        try {
          const ranges = await readRanges(kafka, topic, options.groupId, partitions);
          if (joined === generation) options.onAssigned({ partitions: ranges });
          return;
        } catch (error) {
          logger.warn({ err: error }, 'reading the offsets of the pulls topic failed; trying again');
          await sleep(1_000);
        }
      }
    })();
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const record = decodePullRecord(message.key, message.value, message.headers, message.timestamp);
        options.onRecord(partition, BigInt(message.offset), record);
      },
    });
  } catch (error) {
    await consumer.disconnect().catch(() => undefined);
    throw error;
  }
  return {
    async commit(marks) {
      if (marks.length === 0) return;
      try {
        await consumer.commitOffsets(marks.map((mark) => ({ topic, ...mark })));
      } catch (error) {
        logger.debug({ err: error }, 'committing the pulls group failed; committed again later');
      }
    },
    async disconnect() {
      stopped = true;
      await consumer.disconnect();
    },
    crashed,
  };
}

async function readRanges(
  kafka: Kafka,
  topic: string,
  groupId: string,
  partitions: readonly number[],
): Promise<PullsAssignment['partitions']> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
    return partitions.map((partition) => {
      const range = ends.find((entry) => entry.partition === partition);
      const low = BigInt(range?.low ?? '0');
      const mark = BigInt(committed.find((entry) => entry.partition === partition)?.offset ?? '-1');
      return { partition, from: mark > low ? mark : low, end: BigInt(range?.high ?? '0') };
    });
  } finally {
    await admin.disconnect();
  }
}

/** What a pulls-group member commits as metadata for each partition it owns. */
export interface PullsSummary {
  awaiting: number;
  /** The first ping of the oldest wait, epoch milliseconds; null when nothing waits. */
  oldestFirstPingedAtMs: number | null;
  /** When the owner wrote this summary. */
  atMs: number;
}

export function encodePullsSummary(summary: PullsSummary): string {
  return `pingpull-pulls:${JSON.stringify(summary)}`;
}

export function decodePullsSummary(metadata: string | null | undefined): PullsSummary | undefined {
  if (metadata === null || metadata === undefined || !metadata.startsWith('pingpull-pulls:')) return undefined;
  try {
    return JSON.parse(metadata.slice('pingpull-pulls:'.length)) as PullsSummary;
  } catch {
    return undefined;
  }
}

/** The pulls group of a pinger group. */
export const pullsGroupId = (groupId: string): string => `${groupId}-pulls`;
