import { formatLsn, type Lsn } from '../cdc/lsn.js';
import { USER_ID_PATTERN, isValidUserId } from '../livefyre/profile.js';

/**
 * The change event on the Kafka topic: Debezium's envelope without the
 * schema part (README, "How it works"), so Debezium consumers can read it.
 * This module owns the contract: its types, how the connector and a resync
 * write it, and how the pinger reads it.
 */
export type Op = 'c' | 'u' | 'd' | 'r' | 't';

/** Column name → value; only the id column and the mapped columns. */
export type Row = Record<string, string | number | boolean | null>;

export interface SourceInfo {
  version: string;
  connector: 'pingpull';
  /** Logical name of the source: the replication slot. */
  name: string;
  /** Commit time, milliseconds since the epoch. */
  ts_ms: number;
  snapshot: 'true' | 'false';
  db: string;
  /** Debezium's `["<last commit lsn>","<lsn>"]` as a JSON string. */
  sequence: string;
  schema: string;
  table: string;
  txId: number | null;
  lsn: number | null;
  xmin: null;
}

export interface ChangeEvent {
  before: Row | null;
  after: Row | null;
  source: SourceInfo;
  op: Op;
  ts_ms: number;
}

export const HEADER_CHANGED = 'pingpull-changed';
/**
 * `<commit LSN>:<change index>` (`.<part>` for the second event of an id
 * change): where the change sits in the WAL, so it is the same every time the
 * change is read again; consumers drop duplicates by it.
 */
export const HEADER_EVENT_ID = 'pingpull-event-id';
export const HEADER_DLQ_REASON = 'pingpull-dlq-reason';
export const HEADER_DLQ_ATTEMPTS = 'pingpull-dlq-attempts';
export const HEADER_DLQ_FAILED_AT = 'pingpull-dlq-failed-at';
export const HEADER_DLQ_SOURCE = 'pingpull-dlq-source';
/** The last error, shortened, for people reading the dead letter topic. */
export const HEADER_DLQ_ERROR = 'pingpull-dlq-error';
/**
 * The row images a too-large event went out without (`before,after`): its
 * user is still pinged and the pull reads the database, but a consumer of
 * the topic must read the row itself.
 */
export const HEADER_TRUNCATED = 'pingpull-truncated';

/** A message ready for Kafka: key is the user id. */
export interface ChangeMessage {
  key: string;
  value: ChangeEvent | null;
  headers: Record<string, string>;
}

export const CONNECTOR_VERSION = '0.1.0';

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
  /** Position of the change among the row changes of its transaction (0-based), whether published or not. */
  index: number;
  /** Which event of the change (an id change is two: the old id's delete, 0, and the new id's create, 1). */
  part: number;
}

/** The Kafka message for a change: Debezium's envelope plus our headers. */
export function toChangeMessage(
  origin: EventOrigin,
  tx: TransactionContext,
  draft: EventDraft,
  nowMs: number,
): ChangeMessage {
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
      // What JSON.stringify of the two decimal strings gives (digits need no escaping), for less work per event.
      sequence: `["${tx.previousCommitLsn}","${draft.lsn}"]`,
      schema: origin.schema,
      table: origin.table,
      txId: tx.xid,
      lsn: Number(draft.lsn),
      xmin: null,
    },
    op: draft.op,
    ts_ms: nowMs,
  };
  const headers: Record<string, string> = { [HEADER_EVENT_ID]: eventId(tx.commitLsn, draft.index, draft.part) };
  if (draft.changedFields !== null) headers[HEADER_CHANGED] = draft.changedFields.join(',');
  return { key: draft.key, value, headers };
}

export function eventId(commitLsn: Lsn, index: number, part: number): string {
  return `${commitLsnText(commitLsn)}:${index}${part === 0 ? '' : `.${part}`}`;
}

// The events of a transaction come one after another: its commit LSN is formatted once.
let lastCommitLsn: Lsn = -1n;
let lastCommitText = '';

function commitLsnText(commitLsn: Lsn): string {
  if (commitLsn !== lastCommitLsn) {
    lastCommitText = formatLsn(commitLsn);
    lastCommitLsn = commitLsn;
  }
  return lastCommitText;
}

/** A row read by a resync rather than streamed: Debezium's snapshot read (`op: "r"`). */
export interface SnapshotRead {
  key: string;
  after: Row;
  /** A read has no commit: Debezium's snapshot events carry the read time. */
  readTimeMs: number;
  eventId: string;
  changedFields: readonly string[];
}

/** The Kafka message for a snapshot read: the same envelope and headers as a streamed change. */
export function toSnapshotMessage(origin: EventOrigin, read: SnapshotRead): ChangeMessage {
  return {
    key: read.key,
    value: {
      before: null,
      after: read.after,
      source: {
        version: CONNECTOR_VERSION,
        connector: 'pingpull',
        name: origin.slot,
        ts_ms: read.readTimeMs,
        snapshot: 'true',
        db: origin.db,
        sequence: JSON.stringify([null, null]),
        schema: origin.schema,
        table: origin.table,
        txId: null,
        lsn: null,
        xmin: null,
      },
      op: 'r',
      ts_ms: read.readTimeMs,
    },
    headers: { [HEADER_EVENT_ID]: read.eventId, [HEADER_CHANGED]: read.changedFields.join(',') },
  };
}

/** Why an event went to the dead letter topic; also the `reason` label of pingpull_dead_letters_total. */
export type DeadLetterReason =
  | 'invalid-key'
  | 'invalid-json'
  | 'invalid-envelope'
  | 'rejected'
  | 'max-attempts'
  /** The ping got its 200 every time, but no pull of the user followed within pinger.pullConfirmMs. */
  | 'not_pulled';

export type DecodedChange =
  | { kind: 'ping'; userId: string; commitTsMs: number | undefined }
  /**
   * Nothing to ping: a tombstone (null value, Debezium's follow-up to a delete)
   * or a truncate (op t without a key, as Debezium writes it; the connector logged it).
   */
  | { kind: 'skip' }
  | { kind: 'poison'; reason: DeadLetterReason; detail: string };

const OPS = new Set(['c', 'u', 'd', 'r', 't']);

/** Reads a change event's key (the user id) and value (the Debezium envelope). */
export function decodeChange(key: Buffer | null, value: Buffer | null): DecodedChange {
  const userId = key?.toString('utf8') ?? '';
  if (userId === '' && isTruncate(value)) return { kind: 'skip' };
  if (!isValidUserId(userId)) {
    return {
      kind: 'poison',
      reason: 'invalid-key',
      detail: `message key ${JSON.stringify(userId.slice(0, 100))} is not a user id (${USER_ID_PATTERN.source})`,
    };
  }
  if (value === null || value.length === 0) return { kind: 'skip' };

  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    return { kind: 'poison', reason: 'invalid-json', detail: `value is not JSON: ${(error as Error).message}` };
  }
  const problem = envelopeProblem(parsed);
  if (problem !== undefined) return { kind: 'poison', reason: 'invalid-envelope', detail: problem };
  const source = (parsed as { source: { ts_ms?: unknown } }).source;
  return { kind: 'ping', userId, commitTsMs: typeof source.ts_ms === 'number' ? source.ts_ms : undefined };
}

function isTruncate(value: Buffer | null): boolean {
  if (value === null) return false;
  try {
    return (JSON.parse(value.toString('utf8')) as { op?: unknown } | null)?.op === 't';
  } catch {
    return false;
  }
}

function envelopeProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return 'value is not a change event: expected a JSON object with before, after, source, op';
  }
  const event = value as Record<string, unknown>;
  if (typeof event.op !== 'string' || !OPS.has(event.op)) {
    return `value is not a change event: op is ${JSON.stringify(event.op)}, expected one of c, u, d, r, t`;
  }
  for (const field of ['before', 'after'] as const) {
    const row = event[field];
    if (row !== null && row !== undefined && (typeof row !== 'object' || Array.isArray(row))) {
      return `value is not a change event: ${field} must be an object or null`;
    }
  }
  const source = event.source;
  if (source === null || typeof source !== 'object' || Array.isArray(source)) {
    return 'value is not a change event: source must be an object';
  }
  return undefined;
}
