import { quoteIdent, type Pool, type TableName } from '../db.js';
import { UsageError } from '../errors.js';

/**
 * Refuses `--ids` holding a value the id column cannot hold (`abc` for an
 * integer column) before anything is published: one bad id must not leave
 * a resync half done. Each id is cast by PostgreSQL itself, so every
 * column type is judged as the pages' query would judge it.
 */
export async function validateIds(
  pool: Pool,
  table: TableName,
  idColumn: string,
  ids: readonly string[],
): Promise<void> {
  const typed = await pool.query<{ type: string }>(
    `SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped`,
    [table.qualified, idColumn],
  );
  const type = typed.rows[0]?.type;
  if (type === undefined || type === 'text' || type.startsWith('character')) return;
  const invalid: string[] = [];
  for (const id of new Set(ids)) {
    try {
      await pool.query(`SELECT $1::text::${type}`, [id]);
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith('22') !== true) throw error;
      invalid.push(id);
    }
  }
  if (invalid.length > 0) {
    throw new UsageError(
      `--ids: ${invalid.map((id) => JSON.stringify(id)).join(', ')} cannot be ids of ${table.qualified}: ` +
        `${idColumn} is ${type}; nothing was published`,
    );
  }
}

/** The ids among `ids` that have a row in the table (compared as text, so any id column type works). */
export async function existingIds(
  pool: Pool,
  table: TableName,
  idColumn: string,
  ids: readonly string[],
): Promise<Set<string>> {
  const column = quoteIdent(idColumn);
  const found = await pool.query<{ id: string }>(
    `SELECT ${column}::text AS id FROM ${table.qualified} WHERE ${column}::text = ANY($1)`,
    [[...new Set(ids)]],
  );
  return new Set(found.rows.map((row) => row.id));
}
