import { createHash } from 'node:crypto';
import type { ChangeDetectorOptions, Detection, ProfileChange } from '../../src/cdc/change-detection.js';
import type { Row } from '../../src/events/envelope.js';
import { fieldsOfColumns } from '../../src/mapping/index.js';
import type { DecodedRow, RowChange, RowValue } from '../../src/cdc/decoder.js';

// The change detector as it was before issue 13 (a Map used as an LRU by
// delete and re-insert, three SHA-256 digests per user), kept only as the
// in-run baseline of bench/lib/detection-memory.ts. Not used by the connector.

/**
 * Decides which row changes are profile changes: a change to a column the
 * mapping watches, in the users table or a related one. Postgres sends an
 * UPDATE even when only unwatched columns changed (with the watched columns'
 * unchanged values), so:
 * - with the old row (REPLICA IDENTITY FULL) the watched values are compared;
 * - otherwise a bounded memory of digests of what was last published per row
 *   is compared; a row not remembered is published (when unsure, publish).
 */
/** Per watched column (in `columns` order), a digest of the value; undefined when not known. */
type ProfileDigest = (string | undefined)[];

/** One table's view: its id column, the columns it watches, and how a set of changed ones names fields. */
interface WatchedTable {
  idColumn: string;
  columns: readonly string[];
  /** Where remembered digests of this table's rows are kept apart from other tables'. */
  memory: string;
  /** null: the fields are not known (a related table feeds the profile through the pull's query). */
  fields(changed: ReadonlySet<string>): string[] | null;
  origin: { schema: string; name: string } | undefined;
}

export class ChangeDetectorBefore {
  private readonly users: WatchedTable;
  private readonly relatedTables: ReadonlyMap<string, WatchedTable>;
  private readonly known: LruMap<string, ProfileDigest>;

  constructor(options: ChangeDetectorOptions) {
    const { mapping } = options;
    const columns = mapping.watched.map((watched) => watched.column);
    this.users = {
      idColumn: mapping.idColumn,
      columns,
      memory: 'users',
      fields: (changed) => fieldsOfColumns(mapping, changed),
      origin: undefined,
    };
    this.relatedTables = new Map(
      mapping.related.map((related) => [
        related.key,
        {
          idColumn: related.idColumn,
          columns: related.columns,
          memory: related.key,
          fields: () => null,
          origin: { schema: related.table.schema, name: related.table.name },
        },
      ]),
    );
    this.known = new LruMap(options.knownUsers);
  }

  /**
   * Forget every remembered profile. Called whenever the stream restarts:
   * what was remembered may never have reached Kafka, and the replayed
   * changes must not be skipped against it.
   */
  reset(): void {
    this.known.clear();
  }

  detect(change: RowChange): Detection {
    const table = change.related === undefined ? this.users : this.relatedTables.get(change.related);
    if (table === undefined) return { changes: [], skipped: false };
    switch (change.op) {
      case 'insert':
        return { changes: [this.created(table, change.after as DecodedRow)], skipped: false };
      case 'delete':
        if (change.before === null) return { changes: [], skipped: false };
        return { changes: [this.deleted(table, change.before, change.beforeIsFull)], skipped: false };
      case 'update':
        return this.updated(table, change);
    }
  }

  private created(table: WatchedTable, after: DecodedRow): ProfileChange {
    this.remember(table, after, undefined);
    return this.change(table, {
      op: 'c',
      key: after.id,
      before: null,
      after: this.toRow(table, after),
      changedFields: table.fields(new Set(table.columns)),
    });
  }

  private deleted(table: WatchedTable, before: DecodedRow, full: boolean): ProfileChange {
    this.known.delete(memoryKey(table, before));
    return this.change(table, {
      op: 'd',
      key: before.id,
      before: full ? this.toRow(table, before) : { [table.idColumn]: before.id },
      after: null,
      changedFields: null,
    });
  }

  private updated(table: WatchedTable, change: RowChange): Detection {
    const after = change.after as DecodedRow;
    const before = change.before;
    if (before !== null && before.id !== after.id) {
      // The user id changed: for Livefyre that is one user gone and another new.
      return {
        changes: [this.deleted(table, before, change.beforeIsFull), this.created(table, after)],
        skipped: false,
      };
    }
    let changedColumns: Set<string> | null;
    if (before !== null && change.beforeIsFull) {
      changedColumns = new Set(
        table.columns.filter((column) => {
          const next = after.values[column];
          return next !== undefined && !sameValue(before.values[column], next);
        }),
      );
    } else {
      changedColumns = this.changedAgainstMemory(table, after);
    }
    const previous = this.known.get(memoryKey(table, after));
    this.remember(table, after, previous);
    if (changedColumns !== null && changedColumns.size === 0) return { changes: [], skipped: true };
    const profileChange = this.change(table, {
      op: 'u',
      key: after.id,
      before: before !== null && change.beforeIsFull ? this.toRow(table, before) : null,
      after: this.toRow(table, after),
      changedFields: changedColumns === null ? null : table.fields(changedColumns),
    });
    return { changes: [profileChange], skipped: false };
  }

  private change(table: WatchedTable, change: ProfileChange): ProfileChange {
    return table.origin === undefined ? change : { ...change, table: table.origin };
  }

  /** Watched columns that differ from the remembered row, or null when the row is not remembered. */
  private changedAgainstMemory(table: WatchedTable, after: DecodedRow): Set<string> | null {
    const known = this.known.get(memoryKey(table, after));
    if (known === undefined) return null;
    const changed = new Set<string>();
    table.columns.forEach((column, index) => {
      const next = after.values[column];
      if (next === undefined) return; // not sent: unchanged TOAST
      const previous = known[index];
      if (previous === undefined || previous !== digest(next)) changed.add(column);
    });
    return changed;
  }

  private remember(table: WatchedTable, row: DecodedRow, previous: ProfileDigest | undefined): void {
    this.known.set(
      memoryKey(table, row),
      table.columns.map((column, index) => {
        const value = row.values[column];
        return value === undefined ? previous?.[index] : digest(value);
      }),
    );
  }

  /** The event row: id column and watched columns; "not sent" values are left out, never null. */
  private toRow(table: WatchedTable, row: DecodedRow): Row {
    const result: Row = { [table.idColumn]: row.id };
    for (const column of table.columns) {
      const value = row.values[column];
      if (value !== undefined) result[column] = value;
    }
    return result;
  }
}

/** A users row is remembered by user id; a related row by its own key (a user may have several). */
function memoryKey(table: WatchedTable, row: DecodedRow): string {
  return table.origin === undefined ? row.id : `${table.memory}\u0000${row.rowKey ?? row.id}`;
}

function sameValue(a: RowValue | undefined, b: RowValue): boolean {
  return a === b;
}

/** 128 bits of SHA-256: collisions (a real change taken for none) are out of reach. */
function digest(value: RowValue): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64').slice(0, 22);
}

/** The bounded map the detector used: Map keeps insertion order, so re-inserting on use is enough. */
class LruMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(readonly capacity: number) {}

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    if (this.capacity <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
