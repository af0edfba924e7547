import {
  CONNECTOR_VERSION,
  HEADER_CHANGED,
  HEADER_EVENT_ID,
  type ChangeEvent,
  type ChangeMessage,
  type Op,
  type Row,
} from '../events/envelope.js';
import { formatLsn, type Lsn } from './lsn.js';

/** Where an event comes from: fixed per connector, plus the transaction it belongs to. */
export interface EventOrigin {
  slot: string;
  db: string;
  schema: string;
  table: string;
}

export interface TransactionContext {
  xid: number;
  /** LSN of the commit record: with the position in the transaction, the event's id. */
  commitLsn: Lsn;
  commitTimeMs: number;
  /** Commit LSN of the transaction before (Debezium's `sequence`). */
  previousCommitLsn: Lsn;
}

export interface EventDraft {
  op: Op;
  key: string;
  before: Row | null;
  after: Row | null;
  changedFields: string[] | null;
  /** LSN of the change record. */
  lsn: Lsn;
  /** Position of the event in its transaction (0-based). */
  index: number;
}

/** The Kafka message for a change: Debezium's envelope plus our headers. */
export function toChangeMessage(origin: EventOrigin, tx: TransactionContext, draft: EventDraft, nowMs: number): ChangeMessage {
  const value: ChangeEvent = {
    before: draft.before,
    after: draft.after,
    source: {
      version: CONNECTOR_VERSION,
      connector: 'pingpull',
      name: origin.slot,
      ts_ms: tx.commitTimeMs,
      snapshot: 'false',
      db: origin.db,
      sequence: JSON.stringify([tx.previousCommitLsn.toString(), draft.lsn.toString()]),
      schema: origin.schema,
      table: origin.table,
      txId: tx.xid,
      lsn: Number(draft.lsn),
      xmin: null,
    },
    op: draft.op,
    ts_ms: nowMs,
  };
  const headers: Record<string, string> = { [HEADER_EVENT_ID]: `${formatLsn(tx.commitLsn)}:${draft.index}` };
  if (draft.changedFields !== null) headers[HEADER_CHANGED] = draft.changedFields.join(',');
  return { key: draft.key, value, headers };
}
