import type { Pgoutput } from 'pg-logical-replication';
import { SchemaChangeError } from '../errors.js';
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
  schema: string;
  table: string;
  idColumn: string;
  /** Livefyre field → column. */
  columns: Readonly<Record<string, string>>;
}

interface RelationPlan {
  ours: boolean;
  identityFull: boolean;
  /** Column (its current name) → its name in this stretch of the stream, for columns renamed since. */
  streamNames: ReadonlyMap<string, string>;
}

const NO_RENAMES: ReadonlyMap<string, string> = new Map();

export class PgoutputDecoder {
  private readonly relations = new Map<number, RelationPlan>();
  private readonly mappedColumns: readonly string[];
  private currentColumns: readonly string[] | null = null;

  constructor(private readonly options: DecoderOptions) {
    this.mappedColumns = [...new Set(Object.values(options.columns))].filter((column) => column !== options.idColumn);
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
        return { kind: 'row', change: { op: 'insert', lsn: parseLsn(lsn), before: null, beforeIsFull: false, after } };
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
          return { kind: 'row', change: { op: 'delete', lsn: parseLsn(lsn), before, beforeIsFull, after: null } };
        }
        return {
          kind: 'row',
          change: {
            op: 'update',
            lsn: parseLsn(lsn),
            before,
            beforeIsFull: message.old !== null && before !== null,
            after,
          },
        };
      }
      case 'delete': {
        const plan = this.planOf(message.relation);
        if (!plan.ours) return { kind: 'ignored' };
        const old = message.old ?? message.key;
        const before = old === null ? null : this.row(plan, old);
        // A NULL id in the old row is a NULL user id; an absent one is outside the replica identity.
        if (before === null && old !== null && old[this.streamName(plan, this.options.idColumn)] === null) {
          return { kind: 'null-id', op: 'delete', lsn: parseLsn(lsn) };
        }
        return {
          kind: 'row',
          change: {
            op: 'delete',
            lsn: parseLsn(lsn),
            before,
            beforeIsFull: message.old !== null && before !== null,
            after: null,
            ...(before === null ? { missingId: true } : {}),
          },
        };
      }
      case 'truncate':
        if (!message.relations.some((relation) => relation !== undefined && this.planOf(relation).ours))
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
    const ours = relation.schema === this.options.schema && relation.name === this.options.table;
    const identityFull = relation.replicaIdentity === 'full';
    if (!ours) return { ours, identityFull, streamNames: NO_RENAMES };
    const names = relation.columns.map((column) => column.name);
    const streamNames = this.renamesSince(names);
    const present = new Set(names);
    const has = (column: string): boolean => present.has(streamNames.get(column) ?? column);
    const table = `${relation.schema}.${relation.name}`;
    if (!has(this.options.idColumn)) {
      throw new SchemaChangeError(
        `column ${this.options.idColumn} (source.idColumn) is no longer in the replication stream of ${table}: it was dropped or renamed. ` +
          `Point source.idColumn at the new name (or restore the column), run pingpull setup, then start the connector again; ` +
          `the slot has not moved past the change, so nothing is lost`,
      );
    }
    const missing = Object.entries(this.options.columns).filter(([, column]) => !has(column));
    if (missing.length > 0) {
      const listed = missing.map(([field, column]) => `${column} (source.columns.${field})`).join(', ');
      throw new SchemaChangeError(
        `mapped column${missing.length > 1 ? 's' : ''} ${listed} ${missing.length > 1 ? 'are' : 'is'} no longer in the replication stream of ${table}: dropped or renamed. ` +
          `Update source.columns to the new column name (or remove the mapping, or restore the column), run pingpull setup, then start the connector again; ` +
          `the slot has not moved past the change, so nothing is lost`,
      );
    }
    return { ours, identityFull, streamNames };
  }

  /**
   * Columns whose name in the stream differs from their name now, matched by
   * position; only when some wanted column is missing by name and the
   * columns that kept their names all kept their positions too (no column
   * was added or dropped in between), else none.
   */
  private renamesSince(names: readonly string[]): ReadonlyMap<string, string> {
    const current = this.currentColumns;
    const wanted = [this.options.idColumn, ...this.mappedColumns];
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

  /** The row's user id and mapped values; null when the id is NULL or not sent (outside a key-only tuple). */
  private row(plan: RelationPlan, tuple: Record<string, unknown>): DecodedRow | null {
    const rawId = tuple[this.streamName(plan, this.options.idColumn)];
    if (rawId === undefined || rawId === null) return null;
    const values: Record<string, RowValue | undefined> = {};
    for (const column of this.mappedColumns) values[column] = toRowValue(tuple[this.streamName(plan, column)]);
    return { id: idToString(rawId), values };
  }
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
