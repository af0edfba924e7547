import type { Pool } from '../db.js';
import type { KafkaLagReader } from '../events/consumer-lag.js';
import type { Logger } from '../log.js';
import type { Clock, Timers } from '../time.js';
import { startPeriodic, type Periodic } from './periodic.js';
import { SLOT_WAL_STATUSES, type Metrics } from './registry.js';
import { readSlotLag, type SlotLag } from './slot-lag.js';
import { SourceLagEstimator } from './source-lag.js';

/**
 * Logs the first failure of a streak and the recovery, not every tick: a
 * collector that fails every 5 s would otherwise flood the log.
 */
class FailureStreak {
  private failing = false;
  constructor(
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  failed(error: unknown, context: object): void {
    if (!this.failing)
      this.logger.warn({ ...context, err: error }, `cannot read ${this.what}: its metrics keep their last values`);
    this.failing = true;
  }

  succeeded(context: object): void {
    if (this.failing) this.logger.info(context, `reading ${this.what} again`);
    this.failing = false;
  }
}

type SlotMetrics = Pick<
  Metrics,
  | 'replicationLagBytes'
  | 'replicationRetainedBytes'
  | 'sourceLagSeconds'
  | 'replicationSlotWalStatus'
  | 'replicationSlotActive'
  | 'replicationSlotSafeWalSizeBytes'
  | 'lagCollectionErrorsTotal'
>;

/** Puts one slot reading into the gauges (`undefined`: the slot does not exist). */
export function recordSlotLag(metrics: SlotMetrics, lag: SlotLag | undefined, sourceLagSeconds: number | null): void {
  const status = lag === undefined ? 'missing' : (lag.walStatus ?? 'missing');
  for (const candidate of SLOT_WAL_STATUSES)
    metrics.replicationSlotWalStatus.set({ status: candidate }, candidate === status ? 1 : 0);
  metrics.replicationSlotActive.set(lag?.active === true ? 1 : 0);
  if (lag === undefined) return;
  metrics.replicationLagBytes.set(lag.lagBytes);
  metrics.replicationRetainedBytes.set(lag.retainedBytes);
  // No limit (max_slot_wal_keep_size = -1) is +Inf: a `<` alert never fires on it.
  metrics.replicationSlotSafeWalSizeBytes.set(lag.safeWalSizeBytes ?? Number.POSITIVE_INFINITY);
  if (sourceLagSeconds !== null) metrics.sourceLagSeconds.set(sourceLagSeconds);
}

/**
 * The connector role's lag collector: reads pg_replication_slots every
 * `intervalMs` into the slot gauges and keeps `pingpull_source_lag_seconds`
 * current (0 when the slot has confirmed all WAL; rising while it waits,
 * even when the connector is stuck; see SourceLagEstimator).
 */
export function startSlotLagCollector(deps: {
  pool: Pool;
  slot: string;
  metrics: SlotMetrics;
  intervalMs: number;
  logger: Logger;
  clock: Clock;
  timers: Timers;
}): Periodic {
  const estimator = new SourceLagEstimator();
  const streak = new FailureStreak(deps.logger, 'the replication slot lag');
  let missingLogged = false;
  return startPeriodic(
    deps.intervalMs,
    async () => {
      try {
        const lag = await readSlotLag(deps.pool, deps.slot);
        const sourceLag = lag === undefined ? null : estimator.observe(deps.clock.now(), lag);
        recordSlotLag(deps.metrics, lag, sourceLag);
        streak.succeeded({ slot: deps.slot });
        if (lag === undefined && !missingLogged)
          deps.logger.warn({ slot: deps.slot }, 'replication slot does not exist: run pingpull setup');
        missingLogged = lag === undefined;
      } catch (error) {
        deps.metrics.lagCollectionErrorsTotal.inc({ source: 'postgres' });
        streak.failed(error, { slot: deps.slot });
      }
    },
    deps.timers,
  );
}

type KafkaMetrics = Pick<Metrics, 'consumerLagMessages' | 'deadLetterMessages' | 'lagCollectionErrorsTotal'>;

/**
 * The pinger role's lag collector: end offsets against the group's committed
 * offsets (admin API only), and the size of the dead letter topic.
 */
export function startKafkaLagCollector(deps: {
  reader: KafkaLagReader;
  topic: string;
  dlqTopic: string;
  groupId: string;
  metrics: KafkaMetrics;
  intervalMs: number;
  logger: Logger;
  timers: Timers;
}): Periodic {
  const streak = new FailureStreak(deps.logger, 'the consumer lag');
  const context = { topic: deps.topic, groupId: deps.groupId };
  const periodic = startPeriodic(
    deps.intervalMs,
    async () => {
      try {
        const [lag, dead] = await Promise.all([
          deps.reader.consumerLag(deps.topic, deps.groupId),
          deps.reader.topicSize(deps.dlqTopic),
        ]);
        deps.metrics.consumerLagMessages.reset();
        for (const partition of lag.partitions) {
          deps.metrics.consumerLagMessages.set(
            { topic: deps.topic, partition: String(partition.partition) },
            partition.lag,
          );
        }
        deps.metrics.deadLetterMessages.set({ topic: deps.dlqTopic }, dead.messages);
        streak.succeeded(context);
      } catch (error) {
        deps.metrics.lagCollectionErrorsTotal.inc({ source: 'kafka' });
        streak.failed(error, context);
      }
    },
    deps.timers,
  );
  return {
    async stop() {
      await periodic.stop();
      await deps.reader.close();
    },
  };
}
