import type { Config } from '../config/index.js';
import { PingerStartError, PingpullError } from '../errors.js';
import { startChangeConsumer, type ChangeConsumer, type CommitOffset, type RawMessage } from '../events/consumer.js';
import { connectDeadLetterProducer, type DeadLetter, type DeadLetterProducer } from '../events/dead-letters.js';
import { decodeChange, type DeadLetterReason } from '../events/envelope.js';
import { ensureTopics, type Kafka } from '../events/kafka.js';
import type { LivefyreClient } from '../livefyre/client.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { createRetryPolicy, deadLetterSchedule } from '../retry.js';
import { sleep, type Clock, type Random, type Timers } from '../time.js';
import { OffsetTracker, type OffsetRef } from './offsets.js';
import { PingerCore } from './pinger.js';

export { pingNow, type PingNowResult } from './ping-now.js';

export interface PingerDeps {
  kafka: Kafka;
  config: Pick<Config, 'kafka' | 'pinger'>;
  client: Pick<LivefyreClient, 'ping'>;
  logger: Logger;
  metrics: Pick<Metrics, 'pingsTotal' | 'endToEndSeconds' | 'deadLettersTotal'>;
  clock: Clock;
  timers: Timers;
  random: Random;
}

export type PingerStatus = 'starting' | 'running' | 'forbidden' | 'stopping' | 'stopped' | 'failed';

export interface PingerState {
  status: PingerStatus;
  /** Livefyre refuses the system token (403): pinging is paused, nothing is committed. */
  forbidden: boolean;
  forbiddenSince: string | null;
  inFlight: number;
  pendingEvents: number;
  pendingUsers: number;
  /** Events on their way to the dead letter topic. */
  deadLettering: number;
  lastPingOkAt: string | null;
  /** The offsets last committed, per partition. */
  committed: CommitOffset[];
  /** Times this member joined the consumer group (1 without rebalances). */
  groupJoins: number;
}

export interface PingerHandle {
  /** Stops fetching, lets pings in flight finish (or abandons them after a grace), commits what is done, disconnects. */
  stop(): Promise<void>;
  /** Resolves once stopped; rejects when the pinger failed (Kafka unreachable at start, consumer crashed). */
  done: Promise<void>;
  state(): PingerState;
}

const DEAD_LETTER_BATCH = 500;

/** Says where the pinger tried to go, so a failed start reads as one actionable line. */
function startFailure(error: unknown, kafka: Config['kafka']): unknown {
  if (error instanceof PingpullError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PingerStartError(
    `the pinger could not start with Kafka at ${kafka.brokers} (kafka.brokers; topics ${kafka.topic}, ${kafka.dlqTopic}; group ${kafka.groupId}): ${message}`,
    error,
  );
}

interface PendingEvent {
  ref: OffsetRef;
  message: RawMessage;
  commitTsMs: number | undefined;
}

/**
 * The pinger role: Kafka change events → coalesced, rate-limited pings.
 * An offset is committed only once every event up to it was pinged OK or is
 * in the dead letter topic.
 */
export function startPinger(deps: PingerDeps): PingerHandle {
  const { config, logger, clock, timers } = deps;
  const deadLetterRetry = createRetryPolicy(deadLetterSchedule(config.pinger));
  const tracker = new OffsetTracker();
  const committed = new Map<string, CommitOffset>();
  const roomWaiters: Array<() => void> = [];
  const deadLetterQueue: Array<{ event: PendingEvent; letter: DeadLetter }> = [];
  let deadLetterDrain: Promise<void> | undefined;
  let outstanding = 0;
  let groupJoins = 0;
  let status: PingerStatus = 'starting';
  let consumer: ChangeConsumer | undefined;
  let producer: DeadLetterProducer | undefined;
  let commitTimer: unknown;
  let stopping: Promise<void> | undefined;
  const stopSignal = new AbortController();

  const core = new PingerCore<PendingEvent>({
    client: deps.client,
    settings: config.pinger,
    logger,
    metrics: deps.metrics,
    clock,
    timers,
    random: deps.random,
    onPinged: (events) => finished(events),
    onGaveUp: (events, reason, attempts, error) => deadLetter(events, reason, attempts, error),
  });

  function finished(events: readonly PendingEvent[]): void {
    tracker.done(events.map((event) => event.ref));
    outstanding -= events.length;
    for (const wake of roomWaiters.splice(0)) wake();
  }

  function deadLetter(events: readonly PendingEvent[], reason: DeadLetterReason, attempts: number, error: string): void {
    for (const event of events) {
      deadLetterQueue.push({ event, letter: { message: event.message, reason, attempts, error } });
    }
    drainDeadLetters();
  }

  /** One request at a time, in order, so the dead letter topic keeps the order they failed in. */
  function drainDeadLetters(): void {
    if (deadLetterDrain !== undefined || stopSignal.signal.aborted) return;
    deadLetterDrain = (async () => {
      for (let failures = 0; deadLetterQueue.length > 0 && !stopSignal.signal.aborted; ) {
        const batch = deadLetterQueue.slice(0, DEAD_LETTER_BATCH);
        try {
          await (producer as DeadLetterProducer).send(batch.map((item) => item.letter));
          deadLetterQueue.splice(0, batch.length);
          failures = 0;
          finished(batch.map((item) => item.event));
        } catch (sendError) {
          // Retries any error, for ever: never 'stop'.
          const delayMs = deadLetterRetry(failures + 1, sendError, deps.random) as number;
          failures += 1;
          logger.error({ err: sendError, delayMs }, `writing to the dead letter topic ${config.kafka.dlqTopic} failed`);
          await sleep(delayMs, stopSignal.signal, timers);
        }
      }
    })().finally(() => {
      deadLetterDrain = undefined;
      if (deadLetterQueue.length > 0) drainDeadLetters();
    });
  }

  function accept(message: RawMessage): void {
    const ref = tracker.track(message.topic, message.partition, message.offset);
    if (ref === undefined) return;
    outstanding += 1;
    const change = decodeChange(message.key, message.value);
    const event: PendingEvent = { ref, message, commitTsMs: change.kind === 'ping' ? change.commitTsMs : undefined };
    if (change.kind === 'ping') {
      core.submit(change.userId, event);
    } else if (change.kind === 'skip') {
      finished([event]);
    } else {
      logger.warn(
        { topic: message.topic, partition: message.partition, offset: message.offset, reason: change.reason },
        `poison event: ${change.detail}`,
      );
      deadLetter([event], change.reason, 0, change.detail);
    }
  }

  async function commit(): Promise<void> {
    const offsets = tracker.committable();
    if (consumer === undefined || offsets.length === 0) return;
    if (await consumer.commit(offsets)) {
      tracker.committed(offsets);
      for (const offset of offsets) committed.set(`${offset.topic}/${offset.partition}`, offset);
    }
  }

  function scheduleCommit(): void {
    commitTimer = timers.setTimeout(() => {
      commitTimer = undefined;
      void commit().finally(() => {
        if (stopping === undefined) scheduleCommit();
      });
    }, config.pinger.commitIntervalMs);
  }

  async function start(): Promise<void> {
    await ensureTopics(deps.kafka, [config.kafka.topic, config.kafka.dlqTopic], config.kafka.partitions);
    producer = await connectDeadLetterProducer({
      kafka: deps.kafka,
      topic: config.kafka.dlqTopic,
      clock,
      metrics: deps.metrics,
    });
    consumer = await startChangeConsumer({
      kafka: deps.kafka,
      groupId: config.kafka.groupId,
      topic: config.kafka.topic,
      logger,
      heartbeatEveryMs: config.pinger.heartbeatIntervalMs,
      sessionTimeoutMs: config.pinger.sessionTimeoutMs,
      sink: {
        accept,
        hasRoom: () => outstanding < config.pinger.maxPendingEvents,
        waitForRoom: (ms) =>
          new Promise<void>((resolve) => {
            const wake = (): void => {
              timers.clearTimeout(timer);
              resolve();
            };
            const timer = timers.setTimeout(() => {
              const index = roomWaiters.indexOf(wake);
              if (index >= 0) roomWaiters.splice(index, 1);
              resolve();
            }, ms);
            roomWaiters.push(wake);
          }),
        onRejoin: () => {
          groupJoins += 1;
          tracker.reset();
        },
      },
    });
    status = 'running';
    scheduleCommit();
    logger.info(
      { topic: config.kafka.topic, groupId: config.kafka.groupId, ratePerSecond: config.pinger.ratePerSecond },
      'pinger started',
    );
  }

  async function shutdown(): Promise<void> {
    status = 'stopping';
    consumer?.pause();
    for (const wake of roomWaiters.splice(0)) wake();
    if (commitTimer !== undefined) timers.clearTimeout(commitTimer);
    await core.stop(config.pinger.stopGraceMs);
    if (deadLetterDrain !== undefined) {
      let grace: unknown;
      await Promise.race([
        deadLetterDrain,
        new Promise<void>((resolve) => {
          grace = timers.setTimeout(resolve, config.pinger.stopGraceMs);
        }),
      ]);
      timers.clearTimeout(grace);
    }
    stopSignal.abort();
    await commit();
    await consumer?.disconnect();
    await producer?.disconnect();
    status = 'stopped';
    logger.info({ committed: [...committed.values()] }, 'pinger stopped');
  }

  let resolveDone: () => void = () => undefined;
  let rejectDone: (error: unknown) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined);

  function halt(failure?: unknown): Promise<void> {
    stopping ??= shutdown().then(
      () => {
        if (failure === undefined) return resolveDone();
        status = 'failed';
        rejectDone(failure);
      },
      (shutdownError: unknown) => {
        status = 'failed';
        rejectDone(failure ?? shutdownError);
      },
    );
    return stopping;
  }

  const started = start().then(
    () => {
      consumer?.crashed.catch((error: unknown) => halt(error));
    },
    (error: unknown) => {
      logger.error({ err: error }, 'the pinger could not start');
      return halt(startFailure(error, config.kafka));
    },
  );

  return {
    async stop() {
      await started;
      await halt();
    },
    done,
    state() {
      const pings = core.state();
      const forbidden = pings.forbidden;
      return {
        status: status === 'running' && forbidden ? 'forbidden' : status,
        forbidden,
        forbiddenSince: pings.forbiddenSinceMs === undefined ? null : new Date(pings.forbiddenSinceMs).toISOString(),
        inFlight: pings.inFlight,
        pendingEvents: pings.pendingEvents,
        pendingUsers: pings.pendingUsers,
        deadLettering: deadLetterQueue.length,
        lastPingOkAt: pings.lastOkMs === undefined ? null : new Date(pings.lastOkMs).toISOString(),
        committed: [...committed.values()],
        groupJoins,
      };
    },
  };
}
