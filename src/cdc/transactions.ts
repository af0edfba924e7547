import { DecodeError } from '../errors.js';
import { toChangeMessage, type EventOrigin, type TransactionContext } from '../events/envelope.js';
import type { ChangePublisher } from '../events/publisher.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { Clock } from '../time.js';
import type { ChangeDetector } from './change-detection.js';
import type { LsnCheckpoint } from './checkpoint.js';
import type { DecodedMessage, RowChange } from './decoder.js';
import { HEARTBEAT_PREFIX } from './heartbeat.js';
import { formatLsn, type Lsn } from './lsn.js';

/**
 * `changes`: row changes (and truncates) of the transaction seen so far,
 * counted before any filtering: with the commit LSN, a change's id in the WAL.
 */
type OpenTransaction = TransactionContext & { changes: number };

export interface TransactionHandlerDeps {
  origin: EventOrigin;
  idColumn: string;
  checkpoint: LsnCheckpoint;
  publisher: Pick<ChangePublisher, 'enqueue' | 'flush' | 'lastSeq'>;
  detector: Pick<ChangeDetector, 'detect'>;
  metrics: Pick<Metrics, 'rowChangesTotal' | 'skippedUpdatesTotal' | 'nullIdRowsTotal' | 'truncatesTotal'>;
  clock: Clock;
  logger: Logger;
}

/**
 * Turns one session's decoded messages, in stream order, into change events
 * for Kafka, and tells the checkpoint where each transaction ends: the slot
 * may move past a commit only once Kafka acknowledged its last event.
 */
export class TransactionHandler {
  private tx: OpenTransaction | null = null;
  private previousCommitLsn: Lsn;

  /** `durable`: where the session starts, the commit before its first transaction. */
  constructor(
    private readonly deps: TransactionHandlerDeps,
    durable: Lsn,
  ) {
    this.previousCommitLsn = durable;
  }

  async handle(decoded: DecodedMessage): Promise<void> {
    const { checkpoint, publisher } = this.deps;
    switch (decoded.kind) {
      case 'begin':
        checkpoint.begin();
        this.tx = {
          xid: decoded.xid,
          commitLsn: decoded.commitLsn,
          commitTimeMs: decoded.commitTimeMs,
          previousCommitLsn: this.previousCommitLsn,
          changes: 0,
        };
        break;
      case 'row':
        await this.publishRow(this.current(), decoded.change);
        break;
      case 'truncate':
        await this.publishTruncate(this.current(), decoded.lsn, decoded.cascade);
        break;
      case 'null-id':
        // Not published, yet a row change: it keeps the event ids of the ones after it where they are.
        this.current().changes += 1;
        this.skipNullId(decoded.op, decoded.lsn);
        break;
      case 'commit':
        checkpoint.commit(decoded.commitEndLsn, publisher.lastSeq);
        this.previousCommitLsn = decoded.commitLsn;
        this.tx = null;
        publisher.flush();
        break;
      case 'message':
        // Our heartbeat came back: the slot may move to it once everything before it is in Kafka.
        if (!decoded.transactional && decoded.prefix === HEARTBEAT_PREFIX) {
          checkpoint.marker(decoded.lsn, publisher.lastSeq);
        }
        break;
      case 'ignored':
        break;
    }
  }

  private async publishRow(tx: OpenTransaction, change: RowChange): Promise<void> {
    const { logger, metrics, publisher, origin, clock } = this.deps;
    const index = tx.changes++;
    metrics.rowChangesTotal.inc();
    if (change.missingId === true) {
      logger.warn(
        { lsn: formatLsn(change.lsn) },
        `a delete carried no ${this.deps.idColumn}: it is not in the replica identity, no event`,
      );
      return;
    }
    const detection = this.deps.detector.detect(change);
    if (detection.skipped) metrics.skippedUpdatesTotal.inc();
    // An id change is two events (one user gone, one new): `part` tells them apart.
    // Fields are copied one by one: object spread costs microseconds per event in V8.
    const { changes } = detection;
    for (let part = 0; part < changes.length; part++) {
      const profile = changes[part] as (typeof changes)[number];
      const draft = {
        op: profile.op,
        key: profile.key,
        before: profile.before,
        after: profile.after,
        changedFields: profile.changedFields,
        lsn: change.lsn,
        index,
        part,
      };
      const table = profile.table;
      // A related table's change says where it happened, as Debezium would; its key is still the user id.
      const from = table === undefined ? origin : { ...origin, schema: table.schema, table: table.name };
      await publisher.enqueue(toChangeMessage(from, tx, draft, clock.now()));
    }
  }

  /** No user to ping: a NULL id must not stop the stream (the slot would then hold WAL forever). */
  private skipNullId(op: RowChange['op'], lsn: Lsn): void {
    const { origin, idColumn, metrics, logger } = this.deps;
    metrics.rowChangesTotal.inc();
    metrics.nullIdRowsTotal.inc();
    logger.warn(
      { table: `${origin.schema}.${origin.table}`, op, lsn: formatLsn(lsn) },
      `skipped a row whose ${idColumn} (source.idColumn) is NULL: there is no user to ping; give the row an id, or point source.idColumn at a column that always has one`,
    );
  }

  private async publishTruncate(tx: OpenTransaction, lsn: Lsn, cascade: boolean): Promise<void> {
    const { origin, metrics } = this.deps;
    const table = `${origin.schema}.${origin.table}`;
    metrics.truncatesTotal.inc();
    this.deps.logger.warn(
      { table, cascade, lsn: formatLsn(lsn) },
      `${table} was truncated: a TRUNCATE names no user, so nobody is pinged and Livefyre keeps every profile it has; ` +
        'rows inserted again ping their users; ping the removed ones with pingpull ping <id>... (see the README)',
    );
    // No user id: published with a null key (the empty key becomes null in
    // the publisher), consumers see op "t" and decide (e.g. a resync).
    await this.deps.publisher.enqueue(
      toChangeMessage(
        origin,
        tx,
        { op: 't', key: '', before: null, after: null, changedFields: null, lsn, index: tx.changes++, part: 0 },
        this.deps.clock.now(),
      ),
    );
  }

  private current(): OpenTransaction {
    if (this.tx === null) throw new DecodeError('a row change arrived outside a transaction');
    return this.tx;
  }
}
