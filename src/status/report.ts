import type { Config } from '../config/index.js';
import type { Pool } from '../db.js';
import { StageTimeoutError } from '../errors.js';
import type { AwaitedPulls, GroupMark, KafkaLagReader, PartitionLag, TopicSize } from '../events/consumer-lag.js';
import { pullsGroupId } from '../events/pulls.js';
import { describeKafkaFailure } from '../events/kafka-failure.js';
import { livefyreBaseUrl, type LivefyreProbe } from '../livefyre/client.js';
import type { PullFailureCause, PullServerReading } from '../pull/health.js';
import { readSlotLag, type SlotLag } from '../metrics/slot-lag.js';
import { readLedger } from '../pinger/replay-ledger.js';
import { replayGroupId } from '../pinger/replay.js';
import type { SourceLagEstimator } from '../metrics/source-lag.js';
import { sleep, type Clock, type Timers } from '../time.js';

/** What every stage of the report carries. */
export interface StageStatus {
  healthy: boolean;
  /** Thresholds crossed and states that need a person, in words, without names or secrets. */
  problems: string[];
  /** Why the stage could not be read (null: it answered). */
  error: string | null;
}

export interface StatusReport {
  healthy: boolean;
  checkedAt: string;
  database: StageStatus & { reachable: boolean };
  connector: StageStatus & {
    slot: string;
    exists: boolean | null;
    active: boolean | null;
    walStatus: string | null;
    /** Null when Postgres keeps WAL for the slot without limit (max_slot_wal_keep_size = -1). */
    safeWalSizeBytes: number | null;
    replicationLagBytes: number | null;
    retainedBytes: number | null;
    /** Age of the oldest change not yet in Kafka; 0 when caught up; a lower bound (see README). */
    sourceLagSeconds: number | null;
    /** TRUNCATEs of the users table the connector of this process streamed; null when none runs here. */
    truncates: number | null;
  };
  kafka: StageStatus & {
    reachable: boolean;
    topic: string;
    groupId: string;
    topicExists: boolean | null;
    partitions: PartitionLag[];
    consumerLagMessages: number | null;
    /** Pingers in the consumer group now. */
    members: number | null;
  };
  deadLetters: StageStatus & {
    topic: string;
    messages: number | null;
    /** Dead letters no `dead-letters replay` has sent back yet: the ones that need a person. */
    awaitingReplay: number | null;
    /** Change events Kafka refused (truncated or dead-lettered): known only inside a running connector, else null. */
    refusedEvents: number | null;
  };
  /** The pull confirmation loop: pings whose 200 is not yet followed by a served pull. */
  pulls: StageStatus & {
    topic: string;
    /** pinger.pullConfirmMs; 0: the loop is off and nothing is read. */
    confirmMs: number;
    awaiting: number | null;
    /** Since the first ping of the oldest wait. */
    oldestAgeSeconds: number | null;
    /** Whether the pull server answers 503 because its profile query fails, from its own metrics; null: unknown. */
    pullServerFailing: boolean | null;
    /** Since when, and why (column, table, privilege, query, database). */
    pullServerFailingSince: string | null;
    pullServerFailureCause: PullFailureCause | null;
  };
  livefyre: StageStatus & {
    baseUrl: string;
    reachable: boolean | null;
    /** The HTTP status of a GET of the base URL (any answer means reachable). */
    httpStatus: number | null;
    /** Pings answered 403 (wrong network key): known only inside a running pinger, else null. */
    forbidden: boolean | null;
  };
  thresholds: Config['status'];
}

export const STAGES = ['database', 'connector', 'kafka', 'deadLetters', 'pulls', 'livefyre'] as const;

export interface StatusDeps {
  config: Pick<Config, 'replication' | 'kafka' | 'livefyre' | 'status'> & {
    pinger: Pick<Config['pinger'], 'pullConfirmMs'>;
  };
  pool: Pool;
  kafka: KafkaLagReader;
  /** Long-lived for the status page (it learns across requests), fresh for one `pingpull status`. */
  estimator: SourceLagEstimator;
  /** How long to watch the slot before judging the source lag (0: one reading). */
  sampleMs: number;
  probeLivefyre: () => Promise<LivefyreProbe>;
  /** A running pinger's view of Livefyre's answers, when there is one in this process. */
  pingerForbidden?: () => boolean | undefined;
  /** The pull servers' own view of their profile queries (their metrics, or this process's pull server). */
  pullServer?: () => Promise<PullServerReading | undefined>;
  /** A running connector's count of TRUNCATEs, when there is one in this process. */
  connectorTruncates?: () => Promise<number | undefined>;
  /** A running connector's count of events Kafka refused for good, when there is one in this process. */
  connectorRefusedEvents?: () => Promise<number | undefined>;
  clock: Clock;
  timers: Timers;
}

function withTimeout<T>(work: Promise<T>, ms: number, timers: Timers): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const handle = timers.setTimeout(() => reject(new StageTimeoutError(ms)), ms);
    work.then(
      (value) => {
        timers.clearTimeout(handle);
        resolve(value);
      },
      (error: unknown) => {
        timers.clearTimeout(handle);
        reject(error);
      },
    );
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message === '' ? error.name : error.message;
  return String(error);
}

function describeKafka(error: unknown, config: StatusDeps['config']): string {
  const failure = describeKafkaFailure(error, config.kafka, {
    topic: config.kafka.topic,
    groupId: config.kafka.groupId,
  });
  return failure.layer === 'other' ? describe(error) : failure.line;
}

/** Reads every stage from Postgres, Kafka and Livefyre directly: no pingpull process needs to run. */
export async function collectStatus(deps: StatusDeps): Promise<StatusReport> {
  const { config, timers } = deps;
  const limit = config.status.timeoutMs;
  const readSlot = () => withTimeout(readSlotLag(deps.pool, config.replication.slot), limit, timers);

  const slotPart = (async () => {
    const first = await readSlot();
    if (first === undefined) return { lag: first, sourceLag: null };
    const firstLag = deps.estimator.observe(deps.clock.now(), first);
    if (deps.sampleMs <= 0) return { lag: first, sourceLag: firstLag };
    // A second look tells a slot that confirms as it goes (a heartbeat in flight) from one that is stuck.
    await sleep(deps.sampleMs, undefined, timers);
    const second = await readSlot();
    return { lag: second, sourceLag: second === undefined ? null : deps.estimator.observe(deps.clock.now(), second) };
  })();
  const lagPart = withTimeout(deps.kafka.consumerLag(config.kafka.topic, config.kafka.groupId), limit, timers);
  const deadPart = withTimeout(
    Promise.all([
      deps.kafka.topicSize(config.kafka.dlqTopic),
      deps.kafka.groupMarks(config.kafka.dlqTopic, replayGroupId(config.kafka.groupId)),
    ]),
    limit,
    timers,
  );
  const livefyrePart = withTimeout(deps.probeLivefyre(), limit, timers);
  const pullsPart =
    config.pinger.pullConfirmMs === 0
      ? Promise.resolve(undefined)
      : withTimeout(
          deps.kafka.awaitedPulls(config.kafka.pullsTopic, pullsGroupId(config.kafka.groupId)),
          limit,
          timers,
        );
  const [slot, lag, dead, livefyre, pulls] = await Promise.allSettled([
    slotPart,
    lagPart,
    deadPart,
    livefyrePart,
    pullsPart,
  ]);
  const truncates = (await deps.connectorTruncates?.().catch(() => undefined)) ?? null;
  const refused = (await deps.connectorRefusedEvents?.().catch(() => undefined)) ?? null;
  const pullServer = await deps.pullServer?.().catch(() => undefined);

  const database = databaseStage(slot);
  const report: Omit<StatusReport, 'healthy'> = {
    checkedAt: new Date(deps.clock.now()).toISOString(),
    database,
    connector: { ...connectorStage(config, slot), truncates },
    kafka: kafkaStage(config, lag),
    deadLetters: deadLetterStage(config, dead, refused),
    pulls: pullsStage(config, pulls, pullServer, deps.clock.now()),
    livefyre: livefyreStage(config, livefyre, deps.pingerForbidden?.()),
    thresholds: config.status,
  };
  return { healthy: STAGES.every((stage) => report[stage].healthy), ...report };
}

function stage<T extends object>(problems: string[], error: string | null, figures: T): StageStatus & T {
  return { healthy: problems.length === 0 && error === null, problems, error, ...figures };
}

type Settled<T> = PromiseSettledResult<T>;

function databaseStage(slot: Settled<unknown>): StatusReport['database'] {
  return stage([], slot.status === 'rejected' ? describe(slot.reason) : null, {
    reachable: slot.status === 'fulfilled',
  });
}

function connectorStage(
  config: StatusDeps['config'],
  slot: Settled<{ lag: SlotLag | undefined; sourceLag: number | null }>,
): Omit<StatusReport['connector'], 'truncates'> {
  const empty = {
    slot: config.replication.slot,
    exists: null,
    active: null,
    walStatus: null,
    safeWalSizeBytes: null,
    replicationLagBytes: null,
    retainedBytes: null,
    sourceLagSeconds: null,
  };
  if (slot.status === 'rejected') return stage([], 'the database did not answer', empty);
  const { lag, sourceLag } = slot.value;
  if (lag === undefined)
    return stage(['the replication slot does not exist: run pingpull setup'], null, { ...empty, exists: false });
  const limits = config.status;
  const problems: string[] = [];
  if (!lag.active) problems.push('no connector is streaming from the replication slot');
  if (lag.walStatus === 'lost')
    problems.push('the slot is lost (the WAL it needs was removed): teardown, setup, then resync --all');
  if (lag.walStatus === 'unreserved') problems.push('the slot is about to lose WAL it needs (wal_status unreserved)');
  if (lag.lagBytes > limits.maxReplicationLagBytes)
    problems.push(`replication lag above ${limits.maxReplicationLagBytes} bytes`);
  if (lag.retainedBytes > limits.maxRetainedBytes) problems.push(`retained WAL above ${limits.maxRetainedBytes} bytes`);
  if (sourceLag !== null && sourceLag > limits.maxSourceLagSeconds)
    problems.push(`source lag above ${limits.maxSourceLagSeconds} s`);
  return stage(problems, null, {
    slot: config.replication.slot,
    exists: true,
    active: lag.active,
    walStatus: lag.walStatus,
    safeWalSizeBytes: lag.safeWalSizeBytes,
    replicationLagBytes: lag.lagBytes,
    retainedBytes: lag.retainedBytes,
    sourceLagSeconds: sourceLag,
  });
}

function kafkaStage(
  config: StatusDeps['config'],
  lag: Settled<Awaited<ReturnType<KafkaLagReader['consumerLag']>>>,
): StatusReport['kafka'] {
  const names = { topic: config.kafka.topic, groupId: config.kafka.groupId };
  if (lag.status === 'rejected') {
    return stage([], describeKafka(lag.reason, config), {
      reachable: false,
      ...names,
      topicExists: null,
      partitions: [],
      consumerLagMessages: null,
      members: null,
    });
  }
  const problems: string[] = [];
  if (!lag.value.exists) problems.push('the change topic does not exist (a connector or pinger creates it at start)');
  if (lag.value.total > config.status.maxConsumerLagMessages)
    problems.push(`consumer lag above ${config.status.maxConsumerLagMessages} messages`);
  if (lag.value.members === 0 && lag.value.total > 0) {
    problems.push(
      `no pinger is in consumer group ${config.kafka.groupId} while ${lag.value.total} event(s) wait: ` +
        'start pingpull pinger (or pingpull run)',
    );
  }
  return stage(problems, null, {
    reachable: true,
    ...names,
    topicExists: lag.value.exists,
    partitions: lag.value.partitions,
    consumerLagMessages: lag.value.total,
    members: lag.value.members,
  });
}

function deadLetterStage(
  config: StatusDeps['config'],
  dead: Settled<[TopicSize, GroupMark[]]>,
  refusedEvents: number | null,
): StatusReport['deadLetters'] {
  const topic = config.kafka.dlqTopic;
  const problems: string[] = [];
  if (refusedEvents !== null && refusedEvents > 0) {
    problems.push(
      `Kafka refused ${refusedEvents} change event(s) (e.g. over max.message.bytes): published without row images ` +
        'or dead-lettered, see the connector log',
    );
  }
  if (dead.status === 'rejected') {
    return stage(problems, describeKafka(dead.reason, config), {
      topic,
      messages: null,
      awaitingReplay: null,
      refusedEvents,
    });
  }
  const [size, marks] = dead.value;
  const awaitingReplay = countAwaitingReplay(size, marks);
  // Replayed letters stay in the topic until retention: only the others need a person.
  if (awaitingReplay > config.status.maxDeadLetters) {
    problems.push(
      `the dead letter topic holds ${awaitingReplay} message(s) not replayed yet (more than ` +
        `${config.status.maxDeadLetters}): pingpull dead-letters list shows why, dead-letters replay sends them back`,
    );
  }
  return stage(problems, null, { topic, messages: size.messages, awaitingReplay, refusedEvents });
}

/** Offsets held in the topic that the replay group's ledger does not mark as sent back. */
function countAwaitingReplay(size: TopicSize, marks: readonly GroupMark[]): number {
  let awaiting = 0n;
  for (const { partition, low, high } of size.partitions) {
    const mark = marks.find((entry) => entry.partition === partition);
    const committed = mark === undefined || BigInt(mark.offset) < 0n ? low : mark.offset;
    const ledger = readLedger(committed, mark?.metadata ?? null);
    const from = ledger.next > BigInt(low) ? ledger.next : BigInt(low);
    const end = BigInt(high);
    if (from >= end) continue;
    const replayedAbove = [...ledger.done].filter((offset) => offset >= from && offset < end).length;
    awaiting += end - from - BigInt(replayedAbove);
  }
  return Number(awaiting);
}

function pullsStage(
  config: StatusDeps['config'],
  pulls: Settled<AwaitedPulls | undefined>,
  pullServer: PullServerReading | undefined,
  nowMs: number,
): StatusReport['pulls'] {
  const confirmMs = config.pinger.pullConfirmMs;
  const failing = pullServer?.failing === true ? pullServer : undefined;
  const figures = {
    topic: config.kafka.pullsTopic,
    confirmMs,
    awaiting: null,
    oldestAgeSeconds: null,
    pullServerFailing: pullServer === undefined ? null : pullServer.failing,
    pullServerFailingSince: failing === undefined ? null : new Date(failing.sinceMs).toISOString(),
    pullServerFailureCause: failing === undefined ? null : failing.cause,
  };
  const problems: string[] = [];
  if (failing !== undefined) problems.push(pullsFailProblem(failing.cause, figures.pullServerFailingSince ?? ''));
  if (pulls.status === 'rejected') return stage(problems, describe(pulls.reason), figures);
  if (pulls.value === undefined) return stage(problems, null, figures);
  const oldest = pulls.value.oldestFirstPingedAtMs;
  const ageMs = oldest === null ? 0 : Math.max(0, nowMs - oldest);
  if (ageMs > confirmMs) {
    problems.push(
      `a ping has waited ${Math.round(ageMs / 1000)} s for its pull (pinger.pullConfirmMs is ${confirmMs / 1000} s): ` +
        'is the pull URL registered (pingpull register-pull-url) and the pull server reachable from Livefyre?',
    );
  }
  return stage(problems, null, { ...figures, awaiting: pulls.value.awaiting, oldestAgeSeconds: ageMs / 1000 });
}

const PULL_FAILURES: Record<PullFailureCause, string> = {
  column:
    'its profile query names a column the table no longer has (renamed or dropped): set source.columns ' +
    '(or pull.query) to the new name, or restore the column, then restart the pull server',
  table:
    'its profile query names a table that does not exist (renamed or dropped): fix source.table, ' +
    'source.related or pull.query, then restart the pull server',
  privilege:
    'the database refuses its profile query (permission denied): GRANT SELECT on the mapped tables to the role ' +
    'of database.url',
  query:
    "its profile query fails (the pull server's log says why: 'profile query failed'): fix pull.query or the table",
  database:
    'it cannot reach the database or its queries time out (pull.requestTimeoutMs): check database.url from ' +
    "the pull server's host and the database's load",
};

function pullsFailProblem(cause: PullFailureCause, since: string): string {
  return `pulls fail: the pull server answers 503 to pulls since ${since}, so Livefyre gets no profiles: ${PULL_FAILURES[cause]}`;
}

function livefyreStage(
  config: StatusDeps['config'],
  probe: Settled<LivefyreProbe>,
  forbidden: boolean | undefined,
): StatusReport['livefyre'] {
  const baseUrl = livefyreBaseUrl(config.livefyre);
  const figures = { baseUrl, reachable: null, httpStatus: null, forbidden: forbidden ?? null };
  const problems: string[] = [];
  if (config.livefyre.network === '' || config.livefyre.networkKey === '')
    problems.push('livefyre.network and livefyre.networkKey must be set to ping');
  if (forbidden === true) {
    problems.push(
      "livefyre.networkKey is refused: Livefyre answers 403 to the pinger's pings (a wrong key, or not the " +
        "network's system key); pinging is paused until it is fixed",
    );
  }
  if (probe.status === 'rejected') return stage(problems, describe(probe.reason), figures);
  return stage(problems, probe.value.error, {
    ...figures,
    reachable: probe.value.reachable,
    httpStatus: probe.value.httpStatus,
  });
}
