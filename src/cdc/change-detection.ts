import { createHash } from 'node:crypto';
import type { Row } from '../events/envelope.js';
import type { DecodedRow, RowChange, RowValue } from './decoder.js';
import { LruMap } from './lru.js';

/**
 * Decides which row changes are profile changes. Postgres sends an UPDATE
 * even when only unmapped columns changed (with the mapped columns'
 * unchanged values), so:
 * - with the old row (REPLICA IDENTITY FULL) the mapped values are compared;
 * - otherwise a bounded memory of digests of what was last published per user
 *   is compared; a user not remembered is published (when unsure, publish).
 */
export interface ProfileChange {
  op: 'c' | 'u' | 'd';
  /** The user id (Kafka key). */
  key: string;
  before: Row | null;
  after: Row | null;
  /** Livefyre fields whose values changed; null when unknown. */
  changedFields: string[] | null;
}

export interface Detection {
  changes: ProfileChange[];
  /** An update that changed no mapped column. */
  skipped: boolean;
}

export interface ChangeDetectorOptions {
  idColumn: string;
  /** Livefyre field → column. */
  columns: Readonly<Record<string, string>>;
  /** Users remembered (0: no memory, every update is published). */
  knownUsers: number;
}

/** Per mapped column (in `fields` order), a digest of the value; undefined when not known. */
type ProfileDigest = (string | undefined)[];

export class ChangeDetector {
  private readonly fields: readonly { field: string; column: string }[];
  private readonly known: LruMap<string, ProfileDigest>;

  constructor(private readonly options: ChangeDetectorOptions) {
    this.fields = Object.entries(options.columns).map(([field, column]) => ({ field, column }));
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
    switch (change.op) {
      case 'insert':
        return { changes: [this.created(change.after as DecodedRow)], skipped: false };
      case 'delete':
        if (change.before === null) return { changes: [], skipped: false };
        return { changes: [this.deleted(change.before, change.beforeIsFull)], skipped: false };
      case 'update':
        return this.updated(change);
    }
  }

  private created(after: DecodedRow): ProfileChange {
    this.remember(after, undefined);
    return {
      op: 'c',
      key: after.id,
      before: null,
      after: this.toRow(after),
      changedFields: this.fields.map(({ field }) => field),
    };
  }

  private deleted(before: DecodedRow, full: boolean): ProfileChange {
    this.known.delete(before.id);
    return {
      op: 'd',
      key: before.id,
      before: full ? this.toRow(before) : { [this.options.idColumn]: before.id },
      after: null,
      changedFields: null,
    };
  }

  private updated(change: RowChange): Detection {
    const after = change.after as DecodedRow;
    const before = change.before;
    if (before !== null && before.id !== after.id) {
      // The user id changed: for Livefyre that is one user gone and another new.
      return { changes: [this.deleted(before, change.beforeIsFull), this.created(after)], skipped: false };
    }
    let changedFields: string[] | null;
    if (before !== null && change.beforeIsFull) {
      changedFields = this.fields
        .filter(({ column }) => {
          const next = after.values[column];
          return next !== undefined && !sameValue(before.values[column], next);
        })
        .map(({ field }) => field);
    } else {
      changedFields = this.changedAgainstMemory(after);
    }
    const previous = this.known.get(after.id);
    this.remember(after, previous);
    if (changedFields !== null && changedFields.length === 0) return { changes: [], skipped: true };
    return {
      changes: [
        {
          op: 'u',
          key: after.id,
          before: before !== null && change.beforeIsFull ? this.toRow(before) : null,
          after: this.toRow(after),
          changedFields,
        },
      ],
      skipped: false,
    };
  }

  /** Fields that differ from the remembered profile, or null when the user is not remembered. */
  private changedAgainstMemory(after: DecodedRow): string[] | null {
    const known = this.known.get(after.id);
    if (known === undefined) return null;
    const changed: string[] = [];
    this.fields.forEach(({ field, column }, index) => {
      const next = after.values[column];
      if (next === undefined) return; // not sent: unchanged TOAST
      const previous = known[index];
      if (previous === undefined || previous !== digest(next)) changed.push(field);
    });
    return changed;
  }

  private remember(row: DecodedRow, previous: ProfileDigest | undefined): void {
    this.known.set(
      row.id,
      this.fields.map(({ column }, index) => {
        const value = row.values[column];
        return value === undefined ? previous?.[index] : digest(value);
      }),
    );
  }

  /** The event row: id column and mapped columns; "not sent" values are left out, never null. */
  private toRow(row: DecodedRow): Row {
    const result: Row = { [this.options.idColumn]: row.id };
    for (const { column } of this.fields) {
      const value = row.values[column];
      if (value !== undefined) result[column] = value;
    }
    return result;
  }
}

function sameValue(a: RowValue | undefined, b: RowValue): boolean {
  return a === b;
}

/** 128 bits of SHA-256: collisions (a real change taken for none) are out of reach. */
function digest(value: RowValue): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64').slice(0, 22);
}
