import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The metrics of INTERFACE.md, created once per process and passed to each
 * stage. Labels stay low-cardinality: never a user id.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly replicationLagBytes: Gauge;
  readonly replicationRetainedBytes: Gauge;
  readonly sourceLagSeconds: Gauge;
  readonly consumerLagMessages: Gauge<'topic' | 'partition'>;
  readonly eventsTotal: Counter<'op'>;
  readonly pingsTotal: Counter<'result'>;
  readonly endToEndSeconds: Histogram;
  readonly pullRequestsTotal: Counter<'status'>;
  readonly pullDurationSeconds: Histogram;
  /** Unix seconds of the commit of the newest change handed to Kafka. */
  readonly lastPublishedCommitSeconds: Gauge;
  readonly skippedUpdatesTotal: Counter;
  readonly deadLettersTotal: Counter<'reason'>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    replicationLagBytes: new Gauge({
      name: 'pingpull_replication_lag_bytes',
      help: "Server WAL end minus the slot's confirmed flush LSN",
      registers,
    }),
    replicationRetainedBytes: new Gauge({
      name: 'pingpull_replication_retained_bytes',
      help: "Server WAL end minus the slot's restart LSN (WAL Postgres keeps for us)",
      registers,
    }),
    sourceLagSeconds: new Gauge({
      name: 'pingpull_source_lag_seconds',
      help: 'Now minus the commit time of the newest change handed to Kafka',
      registers,
    }),
    consumerLagMessages: new Gauge({
      name: 'pingpull_consumer_lag_messages',
      help: "Topic end offset minus the pinger group's committed offset, per partition",
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    eventsTotal: new Counter({
      name: 'pingpull_events_total',
      help: 'Change events published, by op',
      labelNames: ['op'] as const,
      registers,
    }),
    pingsTotal: new Counter({
      name: 'pingpull_pings_total',
      help: 'Pings by result (ok, retry, dead_letter, forbidden)',
      labelNames: ['result'] as const,
      registers,
    }),
    endToEndSeconds: new Histogram({
      name: 'pingpull_end_to_end_seconds',
      help: "Commit time to Livefyre's 200 for the ping",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    pullRequestsTotal: new Counter({
      name: 'pingpull_pull_requests_total',
      help: 'Pull requests by status',
      labelNames: ['status'] as const,
      registers,
    }),
    pullDurationSeconds: new Histogram({
      name: 'pingpull_pull_duration_seconds',
      help: 'Pull request handling time',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    lastPublishedCommitSeconds: new Gauge({
      name: 'pingpull_last_published_commit_timestamp_seconds',
      help: 'Commit time of the newest change handed to Kafka',
      registers,
    }),
    skippedUpdatesTotal: new Counter({
      name: 'pingpull_skipped_updates_total',
      help: 'Updates not published because no mapped column changed',
      registers,
    }),
    deadLettersTotal: new Counter({
      name: 'pingpull_dead_letters_total',
      help: 'Events sent to the dead letter topic, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
}
