import type { Pool, TableName } from '../db.js';
import { ReplicationError, SchemaChangeError } from '../errors.js';
import { parseLsn, type Lsn } from './lsn.js';

export interface SlotPosition {
  /** Everything before it is in Kafka: the slot's confirmed flush (0 when the slot never confirmed anything). */
  confirmedFlush: Lsn;
  db: string;
}

/**
 * What the connector asks the database about its slot and publication, over
 * an ordinary (not a replication) connection.
 */
export class SlotCatalog {
  constructor(
    private readonly pool: Pick<Pool, 'query'>,
    private readonly slot: string,
    private readonly publication: string,
    private readonly table: TableName,
  ) {}

  async readSlot(): Promise<SlotPosition> {
    const result = await this.pool.query<{ confirmed_flush_lsn: string | null; db: string }>(
      'SELECT confirmed_flush_lsn::text, current_database() AS db FROM pg_replication_slots WHERE slot_name = $1',
      [this.slot],
    );
    const row = result.rows[0];
    if (row === undefined) {
      throw new ReplicationError(`replication slot ${this.slot} does not exist: run pingpull setup`, {
        retriable: false,
      });
    }
    return { confirmedFlush: row.confirmed_flush_lsn === null ? 0n : parseLsn(row.confirmed_flush_lsn), db: row.db };
  }

  /** Whether the publication still carries the users table (DROP COLUMN ... CASCADE of a listed column removes it). */
  async tableIsPublished(): Promise<boolean> {
    const result = await this.pool.query(
      'SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3',
      [this.publication, this.table.schema, this.table.name],
    );
    return result.rows.length > 0;
  }

  /** The users table's published columns as they are now, in column order; null when it is not published. */
  async publishedColumns(): Promise<string[] | null> {
    // The view does not promise an order; the stream lists columns by attnum.
    const result = await this.pool.query<{ attnames: string[] }>(
      `SELECT ARRAY(SELECT a.attname::text FROM pg_attribute a
                     WHERE a.attrelid = $4::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY(pt.attnames)
                     ORDER BY a.attnum) AS attnames
         FROM pg_publication_tables pt WHERE pt.pubname = $1 AND pt.schemaname = $2 AND pt.tablename = $3`,
      [this.publication, this.table.schema, this.table.name, this.table.qualified],
    );
    return result.rows[0]?.attnames ?? null;
  }

  /** The server's wal_sender_timeout in ms (0: off), as a session on this database sees it. */
  async walSenderTimeoutMs(): Promise<number> {
    const result = await this.pool.query<{ setting: string; unit: string | null }>(
      "SELECT setting, unit FROM pg_settings WHERE name = 'wal_sender_timeout'",
    );
    const row = result.rows[0];
    const value = Number(row?.setting ?? 0);
    return row?.unit === 's' ? value * 1000 : value;
  }

  unpublished(): SchemaChangeError {
    return new SchemaChangeError(
      `publication ${this.publication} no longer carries ${this.table.schema}.${this.table.name} ` +
        '(e.g. a column of its column list was dropped with CASCADE, or the publication was changed): ' +
        'its changes are not streamed. Fix source.columns if a mapped column is gone, run pingpull setup, ' +
        'then pingpull resync --all (or --since the change) and start the connector again',
    );
  }
}
