import type { Config } from '../config/index.js';
import type { Kafka } from '../events/kafka.js';
import type { LivefyreClient } from '../livefyre/client.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { Clock, Random, Timers } from '../time.js';
import { DeadLetterDrain } from './dead-letter-drain.js';
import { PingerGroup, type PingerState } from './group.js';
import { OffsetManager } from './offset-manager.js';
import { PingerCore } from './pinger.js';
import { AwaitingPulls } from './awaiting-pulls.js';
import { PullConfirmation } from './pull-confirmation.js';
import { PingerRunner, type PendingEvent } from './runner.js';
import { createRetryPolicy } from '../retry.js';

export { assertPingableIds, pingNow, type PingNowResult } from './ping-now.js';
export type { PingerState, PingerStatus } from './group.js';

export interface PingerDeps {
  kafka: Kafka;
  config: Pick<Config, 'kafka' | 'pinger'>;
  client: Pick<LivefyreClient, 'ping'>;
  logger: Logger;
  metrics: Pick<
    Metrics,
    | 'pingsTotal'
    | 'endToEndSeconds'
    | 'livefyreTokenRefused'
    | 'deadLettersTotal'
    | 'pingsAwaitingPull'
    | 'oldestAwaitingPullSeconds'
    | 'pingToPullSeconds'
    | 'repingsTotal'
  >;
  clock: Clock;
  timers: Timers;
  random: Random;
}

export interface PingerHandle {
  /**
   * Stops fetching, lets pings in flight finish (or abandons them after a
   * grace), commits what is done, disconnects.
   */
  stop(): Promise<void>;
  /**
   * Resolves once stopped; rejects when the pinger failed (Kafka refused or gone again at start, consumer
   * crashed). The role waits for an unreachable Kafka before it starts the pinger (src/events/kafka-wait.ts).
   */
  done: Promise<void>;
  state(): PingerState;
}

/**
 * The pinger role: Kafka change events → coalesced, rate-limited pings.
 * The runner takes the consumer's batches, the core pings, the offset manager
 * commits only what was pinged OK or dead-lettered, the drain writes the dead
 * letters, the pull confirmation (unless pinger.pullConfirmMs is 0) pings
 * again what was not pulled, and the group runs them from start to stop.
 */
export function startPinger(deps: PingerDeps): PingerHandle {
  const { config, logger, timers } = deps;
  const confirmation = config.pinger.pullConfirmMs > 0 ? pullConfirmation(deps, () => core) : undefined;
  const offsets = new OffsetManager({ commitIntervalMs: config.pinger.commitIntervalMs, timers });
  const deadLetters: DeadLetterDrain<PendingEvent> = new DeadLetterDrain({
    topic: config.kafka.dlqTopic,
    retryBaseMs: config.pinger.retryBaseMs,
    retryMaxMs: config.pinger.retryMaxMs,
    random: deps.random,
    logger,
    timers,
    delivered: (events) => runner.finished(events),
  });
  const core: PingerCore<PendingEvent> = new PingerCore({
    client: deps.client,
    settings: config.pinger,
    logger,
    metrics: deps.metrics,
    clock: deps.clock,
    timers,
    random: deps.random,
    onPinged: (events) => runner.finished(events),
    onGaveUp: (events, reason, attempts, error) => {
      deadLetters.add(events, reason, attempts, error);
      confirmation?.settle((events[0] as PendingEvent).message.key?.toString('utf8') ?? '');
    },
    ...(confirmation === undefined
      ? {}
      : { beforePing: (userId, events) => confirmation.beforePing(userId, (events.at(-1) as PendingEvent).message) }),
  });
  const runner = new PingerRunner({
    offsets,
    ping: (userId, event) => core.submit(userId, event),
    deadLetter: (events, reason, attempts, error) => deadLetters.add(events, reason, attempts, error),
    maxPendingEvents: config.pinger.maxPendingEvents,
    logger,
    timers,
  });
  const group = new PingerGroup({
    kafka: deps.kafka,
    config,
    logger,
    metrics: deps.metrics,
    clock: deps.clock,
    timers,
    core,
    runner,
    offsets,
    deadLetters,
    ...(confirmation === undefined ? {} : { confirmation }),
  });
  group.start();
  return { stop: () => group.stop(), done: group.done, state: () => group.state() };
}

function pullConfirmation(deps: PingerDeps, core: () => PingerCore<PendingEvent>): PullConfirmation {
  const { config } = deps;
  const awaiting = new AwaitingPulls({
    confirmMs: config.pinger.pullConfirmMs,
    // Each missed window is one re-ping, with the pinger's backoff before it; the first ping counts as attempt 1.
    windowPolicy: createRetryPolicy({
      baseMs: config.pinger.retryBaseMs,
      maxMs: config.pinger.retryMaxMs,
      maxAttempts: 1 + config.pinger.pullConfirmAttempts,
    }),
    pingPolicy: createRetryPolicy({
      baseMs: config.pinger.retryBaseMs,
      maxMs: config.pinger.retryMaxMs,
      maxAttempts: config.pinger.maxAttempts,
    }),
    retryMs: config.pinger.retryBaseMs,
    forbiddenPauseMs: config.pinger.forbiddenPauseMs,
    rePing: (userId) => core().pingOnce(userId),
    metrics: deps.metrics,
    logger: deps.logger,
    clock: deps.clock,
    timers: deps.timers,
    random: deps.random,
  });
  return new PullConfirmation({
    kafka: deps.kafka,
    config,
    awaiting,
    logger: deps.logger,
    clock: deps.clock,
    timers: deps.timers,
  });
}
