import type { Pgoutput } from 'pg-logical-replication';
import type { Config } from '../config/index.js';
import type { TableName } from '../db.js';
import { PingpullError, SessionEnded } from '../errors.js';
import type { EventOrigin } from '../events/envelope.js';
import type { ChangePublisher } from '../events/publisher.js';
import type { Logger } from '../log.js';
import type { ProfileMapping } from '../mapping/index.js';
import type { Metrics } from '../metrics/registry.js';
import type { Clock, Timers } from '../time.js';
import type { ChangeDetector } from './change-detection.js';
import { LsnCheckpoint } from './checkpoint.js';
import { SlotConfirmation } from './confirmation.js';
import { PgoutputDecoder } from './decoder.js';
import { runSessionTimers } from './heartbeat.js';
import { formatLsn, parseLsn, type Lsn } from './lsn.js';
import { recordPublished } from './published-metrics.js';
import type { SlotCatalog } from './slot-catalog.js';
import { silenceLimitMs, watchSilence } from './silence.js';
import { ReplicationSession, classifyReplicationError } from './stream.js';
import { TransactionHandler } from './transactions.js';

export interface SessionDeps {
  databaseUrl: string;
  applicationName: string;
  replication: Config['replication'];
  mapping: ProfileMapping;
  table: Pick<TableName, 'schema' | 'name'>;
  publisher: ChangePublisher;
  detector: ChangeDetector;
  catalog: Pick<
    SlotCatalog,
    'readSlot' | 'tableIsPublished' | 'unpublished' | 'publishedColumns' | 'walSenderTimeoutMs'
  >;
  emitHeartbeat(): Promise<void>;
  /** Aborts when the connector stops. */
  stopSignal: AbortSignal;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  timers: Timers;
}

/**
 * One replication session from a durable position: it only streams. Each
 * message goes to the transaction handler; Kafka's acknowledgements move the
 * checkpoint, and the slot is confirmed only up to what Kafka holds.
 */
export class ReplicationRun {
  private readonly checkpoint: LsnCheckpoint;
  private readonly stream: ReplicationSession;
  private readonly decoder: PgoutputDecoder;
  private readonly transactions: TransactionHandler;
  private readonly confirmation: SlotConfirmation;
  private readonly abort = new AbortController();
  private closed = false;
  private streamOpen = true;
  private failure: unknown = null;
  /** Messages being handled: a keepalive's WAL end may only count when none is. */
  private handling = 0;
  /** When the server last sent anything: a silent stream is taken for a dead connection. */
  private lastHeard: number;

  constructor(
    private readonly deps: SessionDeps,
    private readonly durable: Lsn,
    origin: EventOrigin,
  ) {
    const { replication, mapping } = deps;
    this.lastHeard = deps.clock.now();
    this.checkpoint = new LsnCheckpoint(durable);
    this.stream = new ReplicationSession({
      databaseUrl: deps.databaseUrl,
      slot: replication.slot,
      publication: replication.publication,
      applicationName: deps.applicationName,
    });
    this.decoder = new PgoutputDecoder({ mapping });
    this.transactions = new TransactionHandler(
      {
        origin,
        idColumn: mapping.idColumn,
        checkpoint: this.checkpoint,
        publisher: deps.publisher,
        detector: deps.detector,
        metrics: deps.metrics,
        clock: deps.clock,
        logger: deps.logger,
      },
      durable,
    );
    this.confirmation = new SlotConfirmation({
      checkpoint: this.checkpoint,
      sendStatus: (lsn, requestReply) => this.stream.confirm(lsn, requestReply),
      readSlot: () => deps.catalog.readSlot(),
      metrics: deps.metrics,
      logger: deps.logger,
      timers: deps.timers,
    });
  }

  /** Where the session stands; null once its stream closed. */
  positions(): LsnCheckpoint | null {
    return this.streamOpen ? this.checkpoint : null;
  }

  /**
   * Resolves with the new durable position after a graceful stop; rejects
   * with SessionEnded (carrying it) on failure.
   */
  async run(onStreaming: () => void): Promise<Lsn> {
    const { publisher, stopSignal } = this.deps;
    const onStop = (): void => this.abort.abort();
    stopSignal.addEventListener('abort', onStop, { once: true });
    publisher.onAcked = (batch) => {
      this.checkpoint.acked(batch.lastSeq);
      recordPublished(batch, this.deps.metrics, this.deps.clock);
    };
    publisher.onFailed = (error) => this.fail(error);
    let timers: Promise<void> = Promise.resolve();
    try {
      await this.stream.run(this.durable, {
        message: (lsn, message) => {
          this.lastHeard = this.deps.clock.now();
          return this.receive(lsn, message);
        },
        keepalive: (walEnd, shouldRespond) => {
          this.lastHeard = this.deps.clock.now();
          if (this.closed) return;
          this.confirmation.keepalive(walEnd, shouldRespond, this.handling === 0 && this.stream.drained());
        },
        started: () => {
          timers = this.streaming(onStreaming);
        },
      });
    } catch (error) {
      this.failure ??= error;
    } finally {
      this.streamOpen = false;
      this.closed = true;
      this.abort.abort();
      stopSignal.removeEventListener('abort', onStop);
      // What Kafka acknowledges now still counts: it becomes the next session's start.
      await publisher.drain();
      await timers;
    }
    if (this.failure !== null && !stopSignal.aborted) {
      throw new SessionEnded(this.checkpoint.published, classifySessionError(this.failure));
    }
    return this.checkpoint.published;
  }

  /** Graceful: stop taking messages, let Kafka acknowledge what is in flight, confirm, then hang up. */
  async end(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    await this.deps.publisher.drain();
    await this.confirmation.confirmFinal(() => this.streamOpen);
    await this.stream.end();
  }

  private async receive(lsn: string, message: Pgoutput.Message): Promise<void> {
    // The library reports a handler's error and goes on with the next
    // message: after a failure nothing more may be handled in this session.
    if (this.closed) return;
    this.handling += 1;
    try {
      if (message.tag === 'relation') this.decoder.useCurrentColumns(await this.deps.catalog.publishedColumns());
      await this.transactions.handle(this.decoder.decode(message, lsn));
      this.checkpoint.noteReceived(parseLsn(lsn));
    } catch (error) {
      this.fail(error);
    } finally {
      this.handling -= 1;
    }
  }

  /** START_REPLICATION succeeded: the slot is ours. Returns the session's timers, done once it closed. */
  private streaming(onStreaming: () => void): Promise<void> {
    const { catalog, replication } = this.deps;
    this.deps.logger.info({ from: formatLsn(this.durable) }, 'streaming changes from the replication slot');
    onStreaming();
    this.confirmation.learnFloor((error) => this.fail(error));
    const silence = this.watchSilence();
    const timers = runSessionTimers({
      statusIntervalMs: replication.statusIntervalMs,
      heartbeatMs: replication.heartbeatMs,
      signal: this.abort.signal,
      timers: this.deps.timers,
      confirm: () => this.confirmation.confirm(),
      heartbeat: async () => {
        await this.deps.emitHeartbeat();
        // Nothing in the stream says the table left the publication: ask.
        if (!(await catalog.tableIsPublished().catch(() => true))) this.fail(catalog.unpublished());
      },
    });
    return Promise.all([timers, silence]).then(() => undefined);
  }

  /** Fails the session when the server stays silent longer than its own wal_sender_timeout allows. */
  private async watchSilence(): Promise<void> {
    const { catalog, clock, timers } = this.deps;
    try {
      const walSenderTimeoutMs = await catalog.walSenderTimeoutMs();
      this.lastHeard = Math.max(this.lastHeard, clock.now());
      await watchSilence({
        limitMs: silenceLimitMs(walSenderTimeoutMs),
        lastHeard: () => this.lastHeard,
        probe: () => this.confirmation.confirm(true),
        signal: this.abort.signal,
        clock,
        timers,
      });
    } catch (error) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    if (this.closed) return;
    this.failure ??= error;
    this.closed = true;
    this.abort.abort();
    void this.stream.end();
  }
}

export function classifySessionError(error: unknown): PingpullError {
  if (error instanceof PingpullError) return error;
  return classifyReplicationError(error);
}
