import type { Pgoutput } from 'pg-logical-replication';
import { SchemaChangeError } from '../errors.js';
import type { ProfileMapping, RelatedTable } from '../mapping/index.js';
import { parseLsn, type Lsn } from './lsn.js';

/**
 * Pure pgoutput → row change decoding. Only the id column and the mapped
 * columns are read (by name, so column order and extra columns such as a
 * password hash never matter); everything else the parser produced is dropped
 * here, before anything can be logged or published.
 */
export type RowValue = string | number | boolean | null;

export interface DecodedRow {
  /** The user id, as a string exactly as Postgres prints it (int8 too). */
  id: string;
  /**
   * Column name → value for the mapped columns. `undefined` means "not sent"
   * (an unchanged TOASTed value, or a column outside a key-only tuple): it is
   * never null and never a change.
   */
  values: Record<string, RowValue | undefined>;
  /** A related table's row: its replica identity's values, telling apart the rows of one user. */
  rowKey?: string;
}

export interface RowChange {
  op: 'insert' | 'update' | 'delete';
  /** LSN of the change record. */
  lsn: Lsn;
  /** The old row: whole under REPLICA IDENTITY FULL, key columns only otherwise, null when not sent. */
  before: DecodedRow | null;
  /** Whether `before` holds every mapped column (REPLICA IDENTITY FULL). */
  beforeIsFull: boolean;
  after: DecodedRow | null;
  /** The related table (its `source.related[i]` key) the row belongs to; absent for the users table. */
  related?: string;
  /** A delete whose old row does not carry the user id (the id is not in the replica identity). */
  missingId?: boolean;
}

export type DecodedMessage =
  | { kind: 'begin'; xid: number; commitLsn: Lsn; commitTimeMs: number }
  | { kind: 'row'; change: RowChange }
  | { kind: 'truncate'; lsn: Lsn; cascade: boolean }
  /** A row whose user id is NULL: there is no user to ping. */
  | { kind: 'null-id'; op: RowChange['op']; lsn: Lsn }
  | { kind: 'commit'; commitLsn: Lsn; commitEndLsn: Lsn; commitTimeMs: number }
  | { kind: 'message'; lsn: Lsn; prefix: string; transactional: boolean }
  | { kind: 'ignored' };

export interface DecoderOptions {
  /** The users table and the related tables, and which of their columns are read. */
  mapping: ProfileMapping;
}

/** How rows of one published table are read: the users table or a related one. */
interface TableReading {
  idColumn: string;
  idKey: string;
  columns: readonly string[];
  /** The related table's key; undefined for the users table. */
  related: string | undefined;
}

interface RelationPlan {
  ours: boolean;
  reading: TableReading;
  keyColumns: readonly string[];
  identityFull: boolean;
  /** Column (its current name) → its name in this stretch of the stream, for columns renamed since. */
  streamNames: ReadonlyMap<string, string>;
}

const NO_RENAMES: ReadonlyMap<string, string> = new Map();

export class PgoutputDecoder {
  private readonly relations = new Map<number, RelationPlan>();
  private readonly users: TableReading;
  private currentColumns: readonly string[] | null = null;

  constructor(private readonly options: DecoderOptions) {
    const { mapping } = options;
    this.users = {
      idColumn: mapping.idColumn,
      idKey: 'source.idColumn',
      columns: mapping.watched.map((watched) => watched.column),
      related: undefined,
    };
  }

  /**
   * The users table's published columns as they are now, in column order,
   * read before each Relation message: the stream replays a Relation as it
   * was back then, so a column renamed and renamed back (or renamed with
   * source.columns following it) is found by its position.
   */
  useCurrentColumns(columns: readonly string[] | null): void {
    this.currentColumns = columns;
  }

  /** `lsn` is the position the stream delivered the message at. */
  decode(message: Pgoutput.Message, lsn: string): DecodedMessage {
    switch (message.tag) {
      case 'begin':
        return {
          kind: 'begin',
          // xid is read as a signed int32; Postgres prints it unsigned.
          xid: message.xid >>> 0,
          commitLsn: parseLsn(message.commitLsn ?? lsn),
          commitTimeMs: microsToMillis(message.commitTime),
        };
      case 'commit':
        return {
          kind: 'commit',
          commitLsn: parseLsn(message.commitLsn ?? lsn),
          commitEndLsn: parseLsn(message.commitEndLsn ?? lsn),
          commitTimeMs: microsToMillis(message.commitTime),
        };
      case 'relation':
        this.relations.set(message.relationOid, this.plan(message));
        return { kind: 'ignored' };
      case 'insert': {
        const plan = this.planOf(message.relation);
        if (!plan.ours) return { kind: 'ignored' };
        const after = this.row(plan, message.new);
        if (after === null) return { kind: 'null-id', op: 'insert', lsn: parseLsn(lsn) };
        return rowOf(plan, { op: 'insert', lsn: parseLsn(lsn), before: null, beforeIsFull: false, after });
      }
      case 'update': {
        const plan = this.planOf(message.relation);
        if (!plan.ours) return { kind: 'ignored' };
        const old = message.old ?? message.key;
        const before = old === null ? null : this.row(plan, old);
        const after = this.row(plan, message.new);
        if (after === null) {
          // The id was set to NULL: for Livefyre the old user is gone.
          if (before === null) return { kind: 'null-id', op: 'update', lsn: parseLsn(lsn) };
          const beforeIsFull = message.old !== null;
          return rowOf(plan, { op: 'delete', lsn: parseLsn(lsn), before, beforeIsFull, after: null });
        }
        return rowOf(plan, {
          op: 'update',
          lsn: parseLsn(lsn),
          before,
          beforeIsFull: message.old !== null && before !== null,
          after,
        });
      }
      case 'delete': {
        const plan = this.planOf(message.relation);
        if (!plan.ours) return { kind: 'ignored' };
        const old = message.old ?? message.key;
        const before = old === null ? null : this.row(plan, old);
        // A NULL id in the old row is a NULL user id; an absent one is outside the replica identity.
        if (before === null && old !== null && old[this.streamName(plan, plan.reading.idColumn)] === null) {
          return { kind: 'null-id', op: 'delete', lsn: parseLsn(lsn) };
        }
        return rowOf(plan, {
          op: 'delete',
          lsn: parseLsn(lsn),
          before,
          beforeIsFull: message.old !== null && before !== null,
          after: null,
          ...(before === null ? { missingId: true } : {}),
        });
      }
      case 'truncate':
        if (
          !message.relations.some((relation) => relation !== undefined && this.planOf(relation).reading === this.users)
        )
          return { kind: 'ignored' };
        return { kind: 'truncate', lsn: parseLsn(lsn), cascade: message.cascade };
      case 'message':
        return {
          kind: 'message',
          lsn: parseLsn(message.messageLsn ?? lsn),
          prefix: message.prefix,
          transactional: message.transactional,
        };
      default:
        return { kind: 'ignored' };
    }
  }

  /**
   * A Relation message describes the table's published columns; Postgres
   * sends a new one before the first change after any DDL. Added columns,
   * dropped or renamed unmapped ones and type changes need nothing (rows are
   * read by column name, values by the new types). A mapped column that is
   * gone from the stream and from the table cannot be followed: a clear,
   * permanent error (not a retry loop).
   */
  private plan(relation: Pgoutput.MessageRelation): RelationPlan {
    const reading = this.readingOf(relation);
    const identityFull = relation.replicaIdentity === 'full';
    const keyColumns = relation.keyColumns;
    if (reading === undefined)
      return { ours: false, reading: this.users, keyColumns, identityFull, streamNames: NO_RENAMES };
    const names = relation.columns.map((column) => column.name);
    // Only the users table's columns are followed through renames (its current columns are what the catalog reads).
    const streamNames = reading === this.users ? this.renamesSince(names) : NO_RENAMES;
    const present = new Set(names);
    const has = (column: string): boolean => present.has(streamNames.get(column) ?? column);
    const table = `${relation.schema}.${relation.name}`;
    if (!has(reading.idColumn)) {
      throw new SchemaChangeError(
        `column ${reading.idColumn} (${reading.idKey}) is no longer in the replication stream of ${table}: it was dropped or renamed. ` +
          `Point ${reading.idKey} at the new name (or restore the column), run pingpull setup, then start the connector again; ` +
          `the slot has not moved past the change, so nothing is lost`,
      );
    }
    const missing = reading.columns.filter((column) => !has(column));
    if (missing.length > 0) {
      const listed = missing.map((column) => `${column} (${this.keysOf(reading, column)})`).join(', ');
      throw new SchemaChangeError(
        `mapped column${missing.length > 1 ? 's' : ''} ${listed} ${missing.length > 1 ? 'are' : 'is'} no longer in the replication stream of ${table}: dropped or renamed. ` +
          `Update ${reading.related ?? 'source.columns'} to the new column name (or remove the mapping, or restore the column), run pingpull setup, then start the connector again; ` +
          `the slot has not moved past the change, so nothing is lost`,
      );
    }
    return { ours: true, reading, keyColumns, identityFull, streamNames };
  }

  private readingOf(relation: Pgoutput.MessageRelation): TableReading | undefined {
    const { mapping } = this.options;
    if (relation.schema === mapping.table.schema && relation.name === mapping.table.name) return this.users;
    const related = mapping.related.find(
      (entry) => entry.table.schema === relation.schema && entry.table.name === relation.name,
    );
    return related === undefined ? undefined : relatedReading(related);
  }

  private keysOf(reading: TableReading, column: string): string {
    if (reading.related !== undefined) return `${reading.related}.columns`;
    return this.options.mapping.watched.find((watched) => watched.column === column)?.keys.join(', ') ?? column;
  }

  /**
   * Columns whose name in the stream differs from their name now, matched by
   * position; only when some wanted column is missing by name and the
   * columns that kept their names all kept their positions too (no column
   * was added or dropped in between), else none.
   */
  private renamesSince(names: readonly string[]): ReadonlyMap<string, string> {
    const current = this.currentColumns;
    const wanted = [this.users.idColumn, ...this.users.columns];
    if (current === null || current.length !== names.length || wanted.every((c) => names.includes(c))) {
      return NO_RENAMES;
    }
    if (names.some((name, index) => current.includes(name) && current[index] !== name)) return NO_RENAMES;
    const renames = new Map<string, string>();
    current.forEach((name, index) => {
      const then = names[index];
      if (then !== undefined && then !== name) renames.set(name, then);
    });
    return renames;
  }

  private planOf(relation: Pgoutput.MessageRelation): RelationPlan {
    let plan = this.relations.get(relation.relationOid);
    if (plan === undefined) {
      plan = this.plan(relation);
      this.relations.set(relation.relationOid, plan);
    }
    return plan;
  }

  private streamName(plan: RelationPlan, column: string): string {
    return plan.streamNames.get(column) ?? column;
  }

  /** The row's user id and watched values; null when the id is NULL or not sent (outside a key-only tuple). */
  private row(plan: RelationPlan, tuple: Record<string, unknown>): DecodedRow | null {
    const { reading } = plan;
    const rawId = tuple[this.streamName(plan, reading.idColumn)];
    if (rawId === undefined || rawId === null) return null;
    const values: Record<string, RowValue | undefined> = {};
    for (const column of reading.columns) values[column] = toRowValue(tuple[this.streamName(plan, column)]);
    const row: DecodedRow = { id: idToString(rawId), values };
    if (reading.related !== undefined) {
      row.rowKey = JSON.stringify(plan.keyColumns.map((column) => toRowValue(tuple[column]) ?? null));
    }
    return row;
  }
}

function relatedReading(related: RelatedTable): TableReading {
  return {
    idColumn: related.idColumn,
    idKey: `${related.key}.idColumn`,
    columns: related.columns,
    related: related.key,
  };
}

function rowOf(plan: RelationPlan, change: RowChange): DecodedMessage {
  const related = plan.reading.related;
  return { kind: 'row', change: related === undefined ? change : { ...change, related } };
}

/** pg parses int8 and numeric to strings and int2/int4 to numbers: both print as Postgres does. */
function idToString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return String(value);
}

export function toRowValue(value: unknown): RowValue | undefined {
  if (value === undefined || value === null) return value;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value.toString();
    default:
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
      if (Buffer.isBuffer(value)) return value.toString('base64');
      return JSON.stringify(value);
  }
}

function microsToMillis(micros: unknown): number {
  return typeof micros === 'bigint' ? Number(micros / 1000n) : Number(micros) / 1000;
}
