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
import { PingerRunner, type PendingEvent } from './runner.js';

export { pingNow, type PingNowResult } from './ping-now.js';
export type { PingerState, PingerStatus } from './group.js';

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

export interface PingerHandle {
  /**
   * Stops fetching, lets pings in flight finish (or abandons them after a
   * grace), commits what is done, disconnects.
   */
  stop(): Promise<void>;
  /** Resolves once stopped; rejects when the pinger failed (Kafka unreachable at start, consumer crashed). */
  done: Promise<void>;
  state(): PingerState;
}

/**
 * The pinger role: Kafka change events → coalesced, rate-limited pings.
 * The runner takes the consumer's batches, the core pings, the offset manager
 * commits only what was pinged OK or dead-lettered, the drain writes the dead
 * letters, and the group runs them from start to stop.
 */
export function startPinger(deps: PingerDeps): PingerHandle {
  const { config, logger, timers } = deps;
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
    onGaveUp: (events, reason, attempts, error) => deadLetters.add(events, reason, attempts, error),
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
  });
  group.start();
  return { stop: () => group.stop(), done: group.done, state: () => group.state() };
}
