/**
 * The change event on the Kafka topic: Debezium's envelope without the
 * schema part (INTERFACE.md "Kafka"), so Debezium consumers can read it.
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
/** Commit LSN and position in the transaction: consumers drop duplicates by it. */
export const HEADER_EVENT_ID = 'pingpull-event-id';
export const HEADER_DLQ_REASON = 'pingpull-dlq-reason';
export const HEADER_DLQ_ATTEMPTS = 'pingpull-dlq-attempts';
export const HEADER_DLQ_FAILED_AT = 'pingpull-dlq-failed-at';
export const HEADER_DLQ_SOURCE = 'pingpull-dlq-source';

/** A message ready for Kafka: key is the user id. */
export interface ChangeMessage {
  key: string;
  value: ChangeEvent | null;
  headers: Record<string, string>;
}

export const CONNECTOR_VERSION = '0.1.0';

/** Debezium writes LSNs as numbers; `0/16B3748` → 23803720. */
export function lsnToNumber(lsn: string): number {
  const [high, low] = lsn.split('/');
  return Number.parseInt(high ?? '0', 16) * 2 ** 32 + Number.parseInt(low ?? '0', 16);
}

export function numberToLsn(value: number): string {
  const high = Math.floor(value / 2 ** 32);
  const low = value - high * 2 ** 32;
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
}
