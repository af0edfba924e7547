import type { Row } from '../events/envelope.js';
import { fieldsOfColumns, type ProfileMapping } from '../mapping/index.js';
import type { DecodedRow, RowChange, RowValue } from './decoder.js';
import { DigestMemory } from './digest-memory.js';
import { digestOf, slotOf } from './row-digest.js';

/**
 * Decides which row changes are profile changes: a change to a column the
 * mapping watches, in the users table or a related one. Postgres sends an
 * UPDATE even when only unwatched columns changed (with the watched columns'
 * unchanged values), so:
 * - with the old row (REPLICA IDENTITY FULL) the watched values are compared,
 *   and the event names the fields that changed;
 * - otherwise the row is compared with a bounded memory (`knownUsers` rows,
 *   least recently seen forgotten first, constant time at any size, typed
 *   arrays allocated once: src/cdc/digest-memory.ts) of ONE
 *   53-bit digest per row over all its watched values (src/cdc/row-digest.ts).
 *   Equal digests: the update is skipped. Different, or the row not
 *   remembered: it is published, without naming fields (the memory cannot
 *   tell which ones changed). When unsure, publish.
 *
 * Every change of a row passes here in WAL order, so what is remembered is
 * the row's previous version. A value PostgreSQL did not send (an unchanged
 * TOASTed value: `undefined`) is unchanged from that version; it enters the
 * digest as "not sent", so such an update is skipped only against a
 * remembered version that had the same columns not sent and the same sent
 * values; against any other it is published, and the new digest remembered.
 *
 * Collisions: a real change is taken for none only when the new row's digest
 * equals the remembered one, about 1 in 2^53 (9 × 10^15) per changed update
 * for a well-mixed hash: at a million profile changes a day, once in tens of
 * millions of years. The hash is not cryptographic: a user choosing values
 * on purpose could make one of their own changes go unpublished; the pull
 * still serves the database's current profile, and a later change or a
 * resync publishes it. It is the only way a change can be missed.
 */
export interface ProfileChange {
  op: 'c' | 'u' | 'd';
  /** The user id (Kafka key). */
  key: string;
  before: Row | null;
  after: Row | null;
  /** Livefyre fields whose values changed; null when unknown. */
  changedFields: string[] | null;
  /** The related table the change happened in; absent for the users table. */
  table?: { schema: string; name: string };
}

export interface Detection {
  changes: ProfileChange[];
  /** An update that changed no watched column. */
  skipped: boolean;
}

export interface ChangeDetectorOptions {
  mapping: ProfileMapping;
  /** Rows remembered (0: no memory, every update is published). */
  knownUsers: number;
}

/** One table's view: its id column, the columns it watches, and how a set of changed ones names fields. */
interface WatchedTable {
  idColumn: string;
  columns: readonly string[];
  /** Keeps this table's remembered rows apart from other tables' (part of their slot and digest). */
  memory: string;
  /** null: the fields are not known (a related table feeds the profile through the pull's query). */
  fields(changed: ReadonlySet<string>): string[] | null;
  origin: { schema: string; name: string } | undefined;
}

export class ChangeDetector {
  private readonly users: WatchedTable;
  private readonly relatedTables: ReadonlyMap<string, WatchedTable>;
  /** Slot (53 bits of the row's key) → digest of the row's last version; null: no memory. */
  private readonly known: DigestMemory | null;

  constructor(options: ChangeDetectorOptions) {
    const { mapping } = options;
    const columns = mapping.watched.map((watched) => watched.column);
    this.users = {
      idColumn: mapping.idColumn,
      columns,
      memory: '',
      fields: (changed) => fieldsOfColumns(mapping, changed),
      origin: undefined,
    };
    this.relatedTables = new Map(
      mapping.related.map((related) => [
        related.key,
        {
          idColumn: related.idColumn,
          columns: related.columns,
          memory: `related\u0000${related.key}`,
          fields: () => null,
          origin: { schema: related.table.schema, name: related.table.name },
        },
      ]),
    );
    this.known = options.knownUsers > 0 ? new DigestMemory(options.knownUsers) : null;
  }

  /**
   * Forget every remembered profile. Called whenever the stream restarts:
   * what was remembered may never have reached Kafka, and the replayed
   * changes must not be skipped against it.
   */
  reset(): void {
    this.known?.clear();
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
    this.remember(table, after);
    return this.change(table, {
      op: 'c',
      key: after.id,
      before: null,
      after: this.toRow(table, after),
      changedFields: table.fields(new Set(table.columns)),
    });
  }

  private deleted(table: WatchedTable, before: DecodedRow, full: boolean): ProfileChange {
    this.forget(table, before);
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
    let changedFields: string[] | null;
    if (before !== null && change.beforeIsFull) {
      const changedColumns = new Set(
        table.columns.filter((column) => {
          const next = after.values[column];
          return next !== undefined && !sameValue(before.values[column], next);
        }),
      );
      if (memoryKey(table, before) !== memoryKey(table, after)) this.forget(table, before);
      this.remember(table, after);
      if (changedColumns.size === 0) return { changes: [], skipped: true };
      changedFields = table.fields(changedColumns);
    } else {
      // Without the old row (or with only its key columns: the row's key changed), compare with the memory.
      if (before !== null && memoryKey(table, before) !== memoryKey(table, after)) {
        this.forget(table, before);
        this.remember(table, after);
      } else if (this.remember(table, after)) {
        return { changes: [], skipped: true };
      }
      changedFields = null;
    }
    const profileChange = this.change(table, {
      op: 'u',
      key: after.id,
      before: before !== null && change.beforeIsFull ? this.toRow(table, before) : null,
      after: this.toRow(table, after),
      changedFields,
    });
    return { changes: [profileChange], skipped: false };
  }

  private change(table: WatchedTable, change: ProfileChange): ProfileChange {
    return table.origin === undefined ? change : { ...change, table: table.origin };
  }

  /** Remember the row's digest; true when the row was remembered with the same digest (no watched value changed). */
  private remember(table: WatchedTable, row: DecodedRow): boolean {
    if (this.known === null) return false;
    const key = memoryKey(table, row);
    const digest = digestOf(table.memory, key, row, table.columns);
    const slot = slotOf(table.memory, key);
    if (this.known.get(slot) === digest) return true;
    this.known.set(slot, digest);
    return false;
  }

  private forget(table: WatchedTable, row: DecodedRow): void {
    this.known?.delete(slotOf(table.memory, memoryKey(table, row)));
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
  return table.origin === undefined ? row.id : (row.rowKey ?? row.id);
}

function sameValue(a: RowValue | undefined, b: RowValue): boolean {
  return a === b;
}
