import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The metrics of the README ("Metrics"), created once per process and passed to each
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
  /**
   * Unix seconds of the first failed profile query of the pull server's current failing streak, labelled by
   * cause; no series while its queries succeed. Read by `pingpull status` from the pull server's /metrics.
   */
  readonly pullFailingSinceSeconds: Gauge<'cause'>;
  /** Unix seconds of the commit of the newest change handed to Kafka. */
  readonly lastPublishedCommitSeconds: Gauge;
  /** Row changes of the users table read from the slot, before any is skipped. */
  readonly rowChangesTotal: Counter;
  readonly skippedUpdatesTotal: Counter;
  /** Row changes skipped because their user id is NULL. */
  readonly nullIdRowsTotal: Counter;
  /** TRUNCATEs of the users table: no user is pinged for them. */
  readonly truncatesTotal: Counter;
  readonly deadLettersTotal: Counter<'reason'>;
  /** Change events Kafka refused for good, by what was done instead (`truncated`, `dead_letter`). */
  readonly refusedEventsTotal: Counter<'outcome'>;
  /** 1 for the slot's current `wal_status` (or `missing`), 0 for the others. */
  readonly replicationSlotWalStatus: Gauge<'status'>;
  /** 1 while a connector streams from the slot. */
  readonly replicationSlotActive: Gauge;
  /** WAL that may still be written before the slot is invalidated; +Inf when unlimited. */
  readonly replicationSlotSafeWalSizeBytes: Gauge;
  /** Messages held in the dead letter topic (end minus start offsets). */
  readonly deadLetterMessages: Gauge<'topic'>;
  /** Pings of this pinger's pulls-topic partitions waiting for their pull. */
  readonly pingsAwaitingPull: Gauge;
  readonly oldestAwaitingPullSeconds: Gauge;
  readonly pingToPullSeconds: Histogram;
  readonly repingsTotal: Counter;
  /** Failed reads of the lag collectors, by what they read (`postgres`, `kafka`). */
  readonly lagCollectionErrorsTotal: Counter<'source'>;
  /** 1 while Livefyre answers 403 to the pinger: read by `pingpull status` from the pinger's /metrics. */
  readonly livefyreTokenRefused: Gauge;
}

/** The `wal_status` values of pg_replication_slots, plus `missing` for no slot at all. */
export const SLOT_WAL_STATUSES = ['reserved', 'extended', 'unreserved', 'lost', 'missing'] as const;

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
    pullFailingSinceSeconds: new Gauge({
      name: 'pingpull_pull_failing_since_seconds',
      help:
        "Unix time of the first of the pull server's profile queries failing since the last one that succeeded, " +
        'by cause (column, table, privilege, query, database); no series while they succeed',
      labelNames: ['cause'] as const,
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
    rowChangesTotal: new Counter({
      name: 'pingpull_row_changes_total',
      help: 'Row changes of the users table read from the replication slot (published or skipped)',
      registers,
    }),
    skippedUpdatesTotal: new Counter({
      name: 'pingpull_skipped_updates_total',
      help: 'Updates not published because no mapped column changed',
      registers,
    }),
    nullIdRowsTotal: new Counter({
      name: 'pingpull_null_id_rows_total',
      help: 'Row changes skipped because their user id (source.idColumn) is NULL',
      registers,
    }),
    truncatesTotal: new Counter({
      name: 'pingpull_truncates_total',
      help: 'TRUNCATEs of the users table (no user is pinged for them; Livefyre keeps the profiles)',
      registers,
    }),
    deadLettersTotal: new Counter({
      name: 'pingpull_dead_letters_total',
      help: 'Events sent to the dead letter topic, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    refusedEventsTotal: new Counter({
      name: 'pingpull_refused_events_total',
      help: 'Change events Kafka refused for good (e.g. over max.message.bytes), by outcome (truncated, dead_letter)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    replicationSlotWalStatus: new Gauge({
      name: 'pingpull_replication_slot_wal_status',
      help: "1 for the replication slot's current wal_status (reserved, extended, unreserved, lost; missing: no slot), 0 for the others",
      labelNames: ['status'] as const,
      registers,
    }),
    replicationSlotActive: new Gauge({
      name: 'pingpull_replication_slot_active',
      help: 'Whether a connector streams from the replication slot (1) or not (0)',
      registers,
    }),
    replicationSlotSafeWalSizeBytes: new Gauge({
      name: 'pingpull_replication_slot_safe_wal_size_bytes',
      help: 'WAL that can still be written before max_slot_wal_keep_size invalidates the slot (+Inf when unlimited)',
      registers,
    }),
    deadLetterMessages: new Gauge({
      name: 'pingpull_dead_letter_messages',
      help: 'Messages held in the dead letter topic (end offset minus start offset, summed over partitions)',
      labelNames: ['topic'] as const,
      registers,
    }),
    livefyreTokenRefused: new Gauge({
      name: 'pingpull_livefyre_token_refused',
      help: "1 while Livefyre refuses the pinger's system token (pings answered 403: livefyre.networkKey), else 0",
      registers,
    }),
    pingsAwaitingPull: new Gauge({
      name: 'pingpull_pings_awaiting_pull',
      help: "Pings that got Livefyre's 200 and wait for the pull of their user (in this pinger's partitions)",
      registers,
    }),
    oldestAwaitingPullSeconds: new Gauge({
      name: 'pingpull_oldest_awaiting_pull_seconds',
      help: 'Age of the oldest ping still waiting for its pull, since its first ping (0 when none waits)',
      registers,
    }),
    pingToPullSeconds: new Histogram({
      name: 'pingpull_ping_to_pull_seconds',
      help: 'From a ping to the served pull that confirmed it; the count is the confirmed pulls',
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 900, 1800],
      registers,
    }),
    repingsTotal: new Counter({
      name: 'pingpull_repings_total',
      help: 'Pings sent again because no pull followed within pinger.pullConfirmMs',
      registers,
    }),
    lagCollectionErrorsTotal: new Counter({
      name: 'pingpull_lag_collection_errors_total',
      help: 'Failed reads of the lag collectors, by source (postgres, kafka)',
      labelNames: ['source'] as const,
      registers,
    }),
  };
}

/** A counter's value summed over its labels. */
export async function counterTotal(counter: Counter): Promise<number> {
  return (await counter.get()).values.reduce((sum, { value }) => sum + value, 0);
}
