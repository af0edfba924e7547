import type { Pgoutput } from 'pg-logical-replication';
import type { Config } from '../config/index.js';
import { createPool, parseTableName, type Pool } from '../db.js';
import {
  DecodeError,
  PingpullError,
  PublishError,
  ReplicationError,
  SchemaChangeError,
  SessionEnded,
} from '../errors.js';
import type { Kafka } from '../events/kafka.js';
import { toChangeMessage, type EventOrigin, type TransactionContext } from '../events/envelope.js';
import { ChangePublisher, type AckedBatch } from '../events/publisher.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { createRetryPolicy, RECONNECT } from '../retry.js';
import { sleep, systemRandom, systemTimers, type Clock, type Random, type Timers } from '../time.js';
import { ChangeDetector } from './change-detection.js';
import { LsnCheckpoint } from './checkpoint.js';
import { PgoutputDecoder, type RowChange } from './decoder.js';
import { formatLsn, maxLsn, parseLsn, type Lsn } from './lsn.js';
import { ReplicationSession, classifyReplicationError } from './stream.js';

/**
 * The CDC role: replication slot → Kafka. The loop only loops: each
 * session streams from the durable position, and any failure ends the
 * session and starts a new one from that position (duplicates, never gaps).
 */
export interface ConnectorDeps {
  databaseUrl: string;
  source: Config['source'];
  replication: Config['replication'];
  kafka: Kafka;
  topic: string;
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
}

export interface ConnectorPositions {
  /** Newest position the stream delivered. */
  received: string;
  /** Every change before it is acknowledged by Kafka. */
  published: string;
  /** Last position confirmed to Postgres. */
  flushed: string;
}

export const HEARTBEAT_PREFIX = 'pingpull-heartbeat';
const APPLICATION_NAME = 'pingpull-connector';
const reconnectDelay = createRetryPolicy(RECONNECT);

/**
 * How long a graceful stop waits for Postgres to apply its last confirmation.
 * Bounded: a walsender busy decoding a huge transaction may not read replies
 * for a while, and a stop must end (what is not confirmed is only sent again).
 */
const FINAL_CONFIRM = { pollMs: 20, attempts: 250 } as const;

export function startConnector(deps: ConnectorDeps): ConnectorHandle {
  const connector = new Connector(deps);
  const done = connector.run();
  // `done` is also returned: this only keeps an unobserved rejection from crashing the process.
  done.catch(() => undefined);
  return { stop: () => connector.stop(), done, positions: () => connector.positions() };
}

class Connector {
  private readonly logger: Logger;
  private readonly timers: Timers;
  private readonly random: Random;
  private readonly abort = new AbortController();
  private readonly pool: Pool;
  private readonly publisher: ChangePublisher;
  private readonly detector: ChangeDetector;
  private readonly table;
  private stopping = false;
  private endSession: (() => Promise<void>) | null = null;
  private finished: Promise<void> | null = null;
  private checkpoint: LsnCheckpoint | null = null;

  constructor(private readonly deps: ConnectorDeps) {
    this.logger = deps.logger.child({ role: 'connector', slot: deps.replication.slot });
    this.timers = deps.timers ?? systemTimers;
    this.random = deps.random ?? systemRandom;
    this.pool = createPool({ url: deps.databaseUrl, max: 2, applicationName: APPLICATION_NAME });
    this.pool.on('error', (error) => this.logger.warn({ err: error }, 'idle database connection failed'));
    this.publisher = new ChangePublisher({
      kafka: deps.kafka,
      topic: deps.topic,
      batchSize: deps.replication.batchSize,
      logger: this.logger,
    });
    this.detector = new ChangeDetector({
      idColumn: deps.source.idColumn,
      columns: deps.source.columns,
      knownUsers: deps.replication.knownUsers,
    });
    this.table = parseTableName(deps.source.table);
  }

  run(): Promise<void> {
    this.finished = this.loop().finally(async () => {
      await this.publisher.disconnect().catch(() => undefined);
      await this.pool.end().catch(() => undefined);
    });
    return this.finished;
  }

  positions(): ConnectorPositions | null {
    const checkpoint = this.checkpoint;
    if (checkpoint === null) return null;
    return { received: formatLsn(checkpoint.received), published: formatLsn(checkpoint.published), flushed: formatLsn(checkpoint.flushed) };
  }

  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.abort.abort();
      this.logger.info('connector stopping');
      await this.endSession?.();
    }
    await this.finished?.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    let durable: Lsn | null = null;
    let attempt = 0;
    let standby = false;
    let connected = false;
    let db = '';
    let sessionStart: Lsn | null = null;
    while (!this.stopping) {
      let progressed = false;
      sessionStart = null;
      try {
        if (!connected) {
          await this.publisher.connect().catch((error: unknown) => {
            throw new PublishError(`cannot connect to Kafka: ${(error as Error).message}`, error);
          });
          connected = true;
        }
        // The slot may have moved while another connector read it (we were
        // its standby): start from whichever is further, never behind it.
        const position = await this.readSlot();
        if (!(await this.tableIsPublished())) throw this.unpublished();
        durable = durable === null ? position.confirmedFlush : maxLsn(durable, position.confirmedFlush);
        sessionStart = durable;
        db = position.db;
        await this.session(durable, { slot: this.deps.replication.slot, db, schema: this.table.schema, table: this.table.name }, () => {
          if (standby) this.logger.info('replication slot is free: taking over as the active connector');
          standby = false;
        }).then((published) => {
          durable = published;
        });
      } catch (caught) {
        const error = classifyError(caught);
        // Only a session that made something durable resets the back-off: one
        // that connects and then fails (Kafka away, a bad row) retries ever slower.
        if (error instanceof SessionEnded) {
          if (sessionStart !== null && error.published > sessionStart) progressed = true;
          durable = error.published;
        }
        const cause = error instanceof SessionEnded ? error.reason : error;
        if (this.stopping) break;
        if (cause instanceof PingpullError && !cause.retriable) {
          this.logger.error({ err: cause }, 'connector stopped: this needs fixing, not retrying');
          throw cause;
        }
        const slotInUse = cause instanceof ReplicationError && cause.slotInUse;
        attempt = slotInUse ? 0 : progressed ? 1 : attempt + 1;
        // Never 'stop': a cause no retry fixes was thrown above.
        const delayMs = reconnectDelay(attempt, cause, this.random) as number;
        if (slotInUse) {
          if (!standby) this.logger.info({ err: cause.message }, 'replication slot is read by another connector: waiting as a standby');
          standby = true;
        } else {
          this.logger.warn({ err: cause, attempt, retryInMs: delayMs }, 'replication session failed: reconnecting from the durable position');
        }
        await sleep(delayMs, this.abort.signal, this.timers);
      }
    }
    this.logger.info({ durable: durable === null ? null : formatLsn(durable) }, 'connector stopped');
  }

  private async readSlot(): Promise<{ confirmedFlush: Lsn; db: string }> {
    const result = await this.pool.query<{ confirmed_flush_lsn: string | null; db: string }>(
      'SELECT confirmed_flush_lsn::text, current_database() AS db FROM pg_replication_slots WHERE slot_name = $1',
      [this.deps.replication.slot],
    );
    const row = result.rows[0];
    if (row === undefined) {
      throw new ReplicationError(`replication slot ${this.deps.replication.slot} does not exist: run pingpull setup`, {
        retriable: false,
      });
    }
    return { confirmedFlush: row.confirmed_flush_lsn === null ? 0n : parseLsn(row.confirmed_flush_lsn), db: row.db };
  }

  /**
   * One replication session from `durable`. Resolves with the new durable
   * position after a graceful stop; rejects with SessionEnded (carrying it)
   * on failure.
   */
  private async session(durable: Lsn, origin: EventOrigin, onStreaming: () => void): Promise<Lsn> {
    const { replication } = this.deps;
    await this.publisher.reset();
    if (this.stopping) return durable;
    this.detector.reset();
    const checkpoint = new LsnCheckpoint(durable);
    this.checkpoint = checkpoint;
    const decoder = new PgoutputDecoder({
      schema: this.table.schema,
      table: this.table.name,
      idColumn: this.deps.source.idColumn,
      columns: this.deps.source.columns,
    });
    const stream = new ReplicationSession({
      databaseUrl: this.deps.databaseUrl,
      slot: replication.slot,
      publication: replication.publication,
      applicationName: APPLICATION_NAME,
    });
    const sessionAbort = new AbortController();
    const onStop = (): void => sessionAbort.abort();
    this.abort.signal.addEventListener('abort', onStop, { once: true });

    let closed = false;
    let failure: unknown = null;
    // The slot's confirmed flush once this session holds the slot. Another
    // connector (we were its standby) may have moved it after we read it, and
    // PostgreSQL 15 takes a lower confirmation as is: confirming less than it
    // would move the slot back. Nothing is confirmed until it is known.
    let floor: Lsn | null = null;
    let floorKnown: Promise<void> = Promise.resolve();
    let streamOpen = true;
    /** Sends a standby status update for what Kafka holds; returns the LSN sent, if any. */
    const confirm = (): Lsn | null => {
      if (floor === null || checkpoint.published < floor) return null;
      const lsn = checkpoint.published;
      stream.confirm(lsn);
      checkpoint.markFlushed(lsn);
      return lsn;
    };
    const fail = (error: unknown): void => {
      if (closed) return;
      failure ??= error;
      closed = true;
      sessionAbort.abort();
      void stream.end();
    };
    this.endSession = async () => {
      // Graceful: stop taking messages, let Kafka acknowledge what is in flight, confirm, then hang up.
      if (closed) return;
      closed = true;
      sessionAbort.abort();
      await this.publisher.drain();
      // A stop right after the start must not skip the confirmation for want of the floor.
      await floorKnown;
      const confirmed = confirm();
      // Sending is not enough: the library hangs up by destroying the socket
      // (START_REPLICATION counts as a running query), and a walsender that
      // had not read the status update yet (a loaded machine) dies on the
      // reset while sending, without applying it. The slot then stays behind
      // what Kafka holds and the next reader (a standby) sends it all again.
      if (confirmed !== null) await this.awaitConfirmed(confirmed, () => streamOpen);
      await stream.end();
    };

    this.publisher.onAcked = (batch) => {
      checkpoint.acked(batch.lastSeq);
      this.recordPublished(batch);
    };
    this.publisher.onFailed = fail;

    let tx: (TransactionContext & { index: number }) | null = null;
    let previousCommitLsn: Lsn = durable;
    const handle = async (lsn: string, message: Pgoutput.Message): Promise<void> => {
      const decoded = decoder.decode(message, lsn);
      switch (decoded.kind) {
        case 'begin':
          checkpoint.begin();
          tx = { xid: decoded.xid, commitLsn: decoded.commitLsn, commitTimeMs: decoded.commitTimeMs, previousCommitLsn, index: 0 };
          break;
        case 'row':
          await this.publishRow(origin, requireTx(tx), decoded.change);
          break;
        case 'truncate': {
          const current = requireTx(tx);
          this.logger.warn({ table: `${origin.schema}.${origin.table}`, cascade: decoded.cascade }, 'the users table was truncated');
          // No user id: published with a null key (the empty key becomes null in
          // the publisher), consumers see op "t" and decide (e.g. a resync).
          await this.publisher.enqueue(
            toChangeMessage(origin, current, { op: 't', key: '', before: null, after: null, changedFields: null, lsn: decoded.lsn, index: current.index++ }, this.deps.clock.now()),
          );
          break;
        }
        case 'commit':
          checkpoint.commit(decoded.commitEndLsn, this.publisher.lastSeq);
          previousCommitLsn = decoded.commitLsn;
          tx = null;
          this.publisher.flush();
          break;
        case 'message':
          // Our heartbeat came back: the slot may move to it once everything before it is in Kafka.
          if (!decoded.transactional && decoded.prefix === HEARTBEAT_PREFIX) checkpoint.marker(decoded.lsn, this.publisher.lastSeq);
          break;
        case 'ignored':
          break;
      }
      checkpoint.noteReceived(parseLsn(lsn));
    };

    const loops: Promise<void>[] = [];
    let handling = 0;
    try {
      await stream.run(durable, {
        message: async (lsn, message) => {
          // The library reports a handler's error and goes on with the next
          // message: after a failure nothing more may be handled in this session.
          if (closed) return;
          handling += 1;
          try {
            await handle(lsn, message);
          } catch (error) {
            fail(error);
          } finally {
            handling -= 1;
          }
        },
        keepalive: (walEnd, shouldRespond) => {
          if (closed) return;
          if (handling === 0 && stream.drained() && checkpoint.serverWalEnd(walEnd)) this.deps.metrics.sourceLagSeconds.set(0);
          if (shouldRespond) confirm();
        },
        started: () => {
          this.logger.info({ from: formatLsn(durable) }, 'streaming changes from the replication slot');
          onStreaming();
          // Read only now: the slot is ours, so no other reader can move it any more.
          floorKnown = this.readSlot().then(
            (position) => {
              floor = position.confirmedFlush;
            },
            // No guessing (`durable` may be older than the slot): a session
            // that cannot learn the floor confirms nothing and starts over.
            (error: unknown) => fail(error),
          );
          loops.push(
            this.every(replication.statusIntervalMs, sessionAbort.signal, async () => {
              confirm();
            }),
          );
          if (replication.heartbeatMs > 0) {
            loops.push(
              this.every(replication.heartbeatMs, sessionAbort.signal, async () => {
                await this.emitHeartbeat();
                // Nothing in the stream says the table left the publication: ask.
                if (!(await this.tableIsPublished().catch(() => true))) fail(this.unpublished());
              }),
            );
          }
        },
      });
    } catch (error) {
      failure ??= error;
    } finally {
      streamOpen = false;
      closed = true;
      sessionAbort.abort();
      this.abort.signal.removeEventListener('abort', onStop);
      this.endSession = null;
      this.checkpoint = null;
      // What Kafka acknowledges now still counts: it becomes the next session's start.
      await this.publisher.drain();
      await Promise.all(loops);
    }
    if (failure !== null && !this.stopping) throw new SessionEnded(checkpoint.published, classifyError(failure));
    return checkpoint.published;
  }

  private async publishRow(origin: EventOrigin, tx: TransactionContext & { index: number }, change: RowChange): Promise<void> {
    if (change.missingId === true) {
      this.logger.warn({ lsn: formatLsn(change.lsn) }, `a delete carried no ${this.deps.source.idColumn}: it is not in the replica identity, no event`);
      return;
    }
    const detection = this.detector.detect(change);
    if (detection.skipped) this.deps.metrics.skippedUpdatesTotal.inc();
    for (const profile of detection.changes) {
      await this.publisher.enqueue(
        toChangeMessage(origin, tx, { ...profile, lsn: change.lsn, index: tx.index++ }, this.deps.clock.now()),
      );
    }
  }

  private recordPublished(batch: AckedBatch): void {
    let newest = 0;
    for (const message of batch.messages) {
      if (message.value === null) continue;
      this.deps.metrics.eventsTotal.inc({ op: message.value.op });
      newest = Math.max(newest, message.value.source.ts_ms);
    }
    if (newest > 0) {
      this.deps.metrics.lastPublishedCommitSeconds.set(newest / 1000);
      this.deps.metrics.sourceLagSeconds.set(Math.max(0, this.deps.clock.now() - newest) / 1000);
    }
  }

  /** Whether the publication still carries the users table (DROP COLUMN ... CASCADE of a listed column removes it). */
  private async tableIsPublished(): Promise<boolean> {
    const result = await this.pool.query(
      'SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3',
      [this.deps.replication.publication, this.table.schema, this.table.name],
    );
    return result.rows.length > 0;
  }

  private unpublished(): SchemaChangeError {
    return new SchemaChangeError(
      `publication ${this.deps.replication.publication} no longer carries ${this.table.schema}.${this.table.name} ` +
        `(e.g. a column of its column list was dropped with CASCADE, or the publication was changed): its changes are not streamed. ` +
        `Fix source.columns if a mapped column is gone, run pingpull setup, then pingpull resync --all (or --since the change) and start the connector again`,
    );
  }

  /**
   * Waits until the slot's confirmed flush has reached `lsn` (the status update
   * was applied), within a bound. Reading the slot is the only answer that
   * proves it: a keepalive cannot be told apart from one sent before the
   * server read our update.
   */
  private async awaitConfirmed(lsn: Lsn, streamOpen: () => boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let confirmed: Lsn;
      try {
        confirmed = (await this.readSlot()).confirmedFlush;
      } catch (error) {
        this.logger.warn({ err: error, lsn: formatLsn(lsn) }, 'cannot read the slot to check the last confirmation: its changes may be sent again');
        return;
      }
      if (confirmed >= lsn) return;
      if (!streamOpen() || attempt >= FINAL_CONFIRM.attempts) {
        this.logger.warn(
          { lsn: formatLsn(lsn), confirmed: formatLsn(confirmed) },
          'Postgres did not apply the last confirmation before the stop: changes after the slot position will be sent again',
        );
        return;
      }
      await sleep(FINAL_CONFIRM.pollMs, undefined, this.timers);
    }
  }

  private async emitHeartbeat(): Promise<void> {
    try {
      await this.pool.query(`SELECT pg_logical_emit_message(false, $1, '')`, [HEARTBEAT_PREFIX]);
    } catch (error) {
      this.logger.warn({ err: error }, 'heartbeat message failed: an idle users table may keep WAL until the next change');
    }
  }

  private async every(ms: number, signal: AbortSignal, task: () => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      await sleep(ms, signal, this.timers);
      if (!signal.aborted) await task();
    }
  }
}

function classifyError(error: unknown): PingpullError {
  if (error instanceof PingpullError) return error;
  return classifyReplicationError(error);
}

function requireTx<T>(tx: T | null): T {
  if (tx === null) throw new DecodeError('a row change arrived outside a transaction');
  return tx;
}
