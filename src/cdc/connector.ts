import type { Config } from '../config/index.js';
import { createPool, type Pool, type TableName } from '../db.js';
import { PublishError } from '../errors.js';
import type { Kafka } from '../events/kafka.js';
import { ChangePublisher, type Backlog } from '../events/publisher.js';
import type { Logger } from '../log.js';
import { buildProfileMapping, type MappingConfig, type ProfileMapping } from '../mapping/index.js';
import type { Metrics } from '../metrics/registry.js';
import { systemRandom, systemTimers, type Clock, type Random, type Timers } from '../time.js';
import { ChangeDetector } from './change-detection.js';
import { emitHeartbeat } from './heartbeat.js';
import { formatLsn, type Lsn } from './lsn.js';
import { runSessions, type ConnectorState } from './reconnect.js';
import { ReplicationRun } from './session.js';
import { SlotCatalog } from './slot-catalog.js';

export { HEARTBEAT_PREFIX } from './heartbeat.js';

export interface ConnectorDeps {
  databaseUrl: string;
  /** Longest a query of the connector may run (the replication stream is watched for silence instead). */
  statementTimeoutMs?: number;
  source: MappingConfig['source'];
  /** What is read from the stream and what counts as a profile change (built from `source` alone when absent). */
  mapping?: ProfileMapping;
  replication: Config['replication'];
  /** Bytes of events read and not yet acknowledged at which reading pauses (default MAX_PENDING_BYTES). */
  maxPendingBytes?: number;
  kafka: Kafka;
  topic: string;
  /** Where events Kafka refuses for good go (with the reason). */
  deadLetterTopic?: string;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  timers?: Timers;
  random?: Random;
}

export interface ConnectorHandle {
  /** Stops reading, waits for Kafka to acknowledge what is in flight, confirms it to Postgres, resolves. */
  stop(): Promise<void>;
  /** Settles when the connector stops for good: resolves after stop(), rejects on a permanent failure. */
  done: Promise<void>;
  /** Where the current session stands (for status reports); null while not streaming. */
  positions(): ConnectorPositions | null;
  /** Streaming, waiting as a standby, or reconnecting after a failed session. */
  state(): ConnectorState;
  /** Change events read and not yet acknowledged by Kafka (bounded: replication.batchSize, maxPendingBytes). */
  backlog(): Backlog;
}

export interface ConnectorPositions {
  /** Newest position the stream delivered. */
  received: string;
  /** Every change before it is acknowledged by Kafka. */
  published: string;
  /** Last position confirmed to Postgres. */
  flushed: string;
}

const APPLICATION_NAME = 'pingpull-connector';
/**
 * Produce requests in flight at a time: the connector keeps decoding while
 * Kafka replicates, and a network round trip does not cap the rate at
 * batchSize/RTT. Requests in flight never share a user, so a user's events
 * stay in commit order (src/events/publisher.ts).
 */
const PIPELINED_REQUESTS = 4;
/**
 * Bytes of change events (keys and values) read from the slot and not yet
 * acknowledged by Kafka at which reading pauses: the publisher's enqueue
 * waits, and with it the stream (src/events/publisher.ts). The event bound
 * (replication.batchSize waiting, PIPELINED_REQUESTS requests in flight)
 * is what holds with ordinary rows (about 2 MB at 2,500 events); this one
 * holds when rows are large: 2 MB values are 8 events, not 2,500 (5 GB).
 */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

/**
 * The CDC role: replication slot → Kafka. Sessions (session.ts) stream from
 * the durable position; any failure ends one and the reconnect loop
 * (reconnect.ts) starts the next from that position (duplicates, never gaps).
 */
export function startConnector(deps: ConnectorDeps): ConnectorHandle {
  const connector = new Connector(deps);
  const done = connector.run();
  // `done` is also returned: this only keeps an unobserved rejection from crashing the process.
  done.catch(() => undefined);
  return {
    stop: () => connector.stop(),
    done,
    positions: () => connector.positions(),
    state: () => connector.state,
    backlog: () => connector.backlog(),
  };
}

/** Owns the connector's resources (pool, producer) and the session that is streaming, if any. */
class Connector {
  private readonly logger: Logger;
  private readonly timers: Timers;
  private readonly random: Random;
  private readonly abort = new AbortController();
  private readonly pool: Pool;
  private readonly publisher: ChangePublisher;
  private readonly detector: ChangeDetector;
  private readonly table: TableName;
  private readonly mapping: ProfileMapping;
  private readonly catalog: SlotCatalog;
  private stopping = false;
  state: ConnectorState = 'starting';
  private current: ReplicationRun | null = null;
  private finished: Promise<void> | null = null;

  constructor(private readonly deps: ConnectorDeps) {
    this.logger = deps.logger.child({ role: 'connector', slot: deps.replication.slot });
    this.timers = deps.timers ?? systemTimers;
    this.random = deps.random ?? systemRandom;
    this.pool = createPool({
      url: deps.databaseUrl,
      max: 2,
      applicationName: APPLICATION_NAME,
      statementTimeoutMs: deps.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    });
    this.pool.on('error', (error) => this.logger.warn({ err: error }, 'idle database connection failed'));
    this.publisher = new ChangePublisher({
      kafka: deps.kafka,
      topic: deps.topic,
      batchSize: deps.replication.batchSize,
      maxInFlight: PIPELINED_REQUESTS,
      maxPendingBytes: deps.maxPendingBytes ?? MAX_PENDING_BYTES,
      logger: this.logger,
      deadLetterTopic: deps.deadLetterTopic,
      metrics: deps.metrics,
      clock: deps.clock,
    });
    this.mapping = deps.mapping ?? buildProfileMapping({ source: deps.source });
    this.detector = new ChangeDetector({ mapping: this.mapping, knownUsers: deps.replication.knownUsers });
    this.table = this.mapping.table;
    this.catalog = new SlotCatalog(this.pool, deps.replication.slot, deps.replication.publication, this.table);
  }

  run(): Promise<void> {
    const sessions = runSessions({
      connectKafka: () =>
        this.publisher.connect().catch((error: unknown) => {
          throw new PublishError(`cannot connect to Kafka: ${(error as Error).message}`, error);
        }),
      readSlot: () => this.catalog.readSlot(),
      ensurePublished: async () => {
        if (!(await this.catalog.tableIsPublished())) throw this.catalog.unpublished();
      },
      runSession: (durable, db, onStreaming) => this.session(durable, db, onStreaming),
      stopping: () => this.stopping,
      onState: (state) => (this.state = state),
      signal: this.abort.signal,
      logger: this.logger,
      timers: this.timers,
      random: this.random,
    });
    this.finished = sessions.finally(async () => {
      await this.publisher.disconnect().catch(() => undefined);
      await this.pool.end().catch(() => undefined);
    });
    return this.finished;
  }

  backlog(): Backlog {
    return this.publisher.backlog();
  }

  positions(): ConnectorPositions | null {
    const checkpoint = this.current?.positions() ?? null;
    if (checkpoint === null) return null;
    return {
      received: formatLsn(checkpoint.received),
      published: formatLsn(checkpoint.published),
      flushed: formatLsn(checkpoint.flushed),
    };
  }

  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.abort.abort();
      this.logger.info('connector stopping');
      await this.current?.end();
    }
    await this.finished?.catch(() => undefined);
  }

  private async session(durable: Lsn, db: string, onStreaming: () => void): Promise<Lsn> {
    await this.publisher.reset();
    if (this.stopping) return durable;
    this.detector.reset();
    const { deps, table } = this;
    const run = new ReplicationRun(
      {
        databaseUrl: deps.databaseUrl,
        applicationName: APPLICATION_NAME,
        replication: deps.replication,
        mapping: this.mapping,
        table,
        publisher: this.publisher,
        detector: this.detector,
        catalog: this.catalog,
        emitHeartbeat: () => emitHeartbeat(this.pool, this.logger),
        stopSignal: this.abort.signal,
        logger: this.logger,
        metrics: deps.metrics,
        clock: deps.clock,
        timers: this.timers,
      },
      durable,
      { slot: deps.replication.slot, db, schema: table.schema, table: table.name },
    );
    this.current = run;
    try {
      return await run.run(onStreaming);
    } finally {
      if (this.current === run) this.current = null;
    }
  }
}
