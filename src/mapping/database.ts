import { quoteIdent, type Pool } from '../db.js';
import { ConfigError, SchemaChangeError } from '../errors.js';
import type { ProfileMapping, RelatedTable } from './mapping.js';

/** What the database says about one table the mapping reads. */
export interface TableShape {
  /** Columns in attnum order; empty when the table is missing. */
  readonly columns: readonly string[];
  readonly types: ReadonlyMap<string, string>;
  readonly replicaIdentity: 'd' | 'n' | 'f' | 'i' | null;
  /** Primary key (identity default) or replica identity index columns. */
  readonly identityColumns: readonly string[];
}

export interface RelatedShape {
  readonly related: RelatedTable;
  readonly shape: TableShape;
}

/** The mapping checked against the database: every problem is one line naming the key to change. */
export interface MappingSurvey {
  readonly users: TableShape;
  readonly related: readonly RelatedShape[];
  readonly problems: readonly string[];
  /** Columns of the users table the mapping names and the table lacks, with the keys naming them. */
  readonly missingUsersColumns: readonly { column: string; keys: string }[];
}

/**
 * Checks, without changing anything, that every column the mapping watches
 * exists, and that each related table can say whose row changed: an id
 * column of a type comparable with the users table's id, kept in deletes by
 * the replica identity.
 */
export async function surveyMapping(pool: Pick<Pool, 'query'>, mapping: ProfileMapping): Promise<MappingSurvey> {
  const problems: string[] = [];
  const missingUsersColumns: { column: string; keys: string }[] = [];
  const { table } = mapping;
  const users = await readTableShape(pool, table.qualified);
  const missing = (column: string, where: string, key: string): string =>
    `column ${column} does not exist in ${where} (${key})`;
  if (users.columns.length > 0) {
    const usersName = `${table.schema}.${table.name}`;
    const named = [{ column: mapping.idColumn, keys: 'source.idColumn' }].concat(
      mapping.watched.map((watched) => ({ column: watched.column, keys: watched.keys.join(', ') })),
    );
    for (const { column, keys } of named) {
      if (users.columns.includes(column)) continue;
      problems.push(missing(column, usersName, keys));
      missingUsersColumns.push({ column, keys });
    }
  }
  const related: RelatedShape[] = [];
  for (const entry of mapping.related) {
    const shape = await readTableShape(pool, entry.table.qualified);
    related.push({ related: entry, shape });
    const name = `${entry.table.schema}.${entry.table.name}`;
    if (shape.columns.length === 0) {
      problems.push(`table ${name} does not exist (${entry.key}.table)`);
      continue;
    }
    if (!shape.columns.includes(entry.idColumn)) {
      problems.push(missing(entry.idColumn, name, `${entry.key}.idColumn`));
    } else {
      const idType = users.types.get(mapping.idColumn);
      const theirs = shape.types.get(entry.idColumn) as string;
      if (idType !== undefined && !comparableIds(idType, theirs)) {
        problems.push(
          `${entry.key}.idColumn: ${name}.${entry.idColumn} is ${theirs}, which cannot hold the user ids of ` +
            `${table.schema}.${table.name}.${mapping.idColumn} (${idType})`,
        );
      }
      if (!identityKeepsColumn(shape, entry.idColumn)) {
        problems.push(
          `${entry.key}: the replica identity of ${name} does not include ${entry.idColumn}, so a delete there would ` +
            `not say whose row it was: have its owner run ALTER TABLE ${entry.table.qualified} REPLICA IDENTITY FULL ` +
            `(or USING INDEX an index on ${quoteIdent(entry.idColumn)})`,
        );
      }
    }
    for (const column of entry.columns) {
      if (!shape.columns.includes(column)) problems.push(missing(column, name, `${entry.key}.columns`));
    }
  }
  return { users, related, problems, missingUsersColumns };
}

/** Start-up: a mapping the database cannot serve stops the role with every problem named. */
export async function assertMappingFits(pool: Pick<Pool, 'query'>, mapping: ProfileMapping): Promise<void> {
  const survey = await surveyMapping(pool, mapping);
  if (survey.users.columns.length === 0) {
    throw new ConfigError([`source.table: table ${mapping.table.schema}.${mapping.table.name} does not exist`]);
  }
  const missing = survey.missingUsersColumns;
  if (missing.length > 0) {
    // A column there when the mapping was written was dropped or renamed: the same error as in the stream.
    const names = missing.map(({ column, keys }) => `${column} (${keys})`).join(', ');
    throw new SchemaChangeError(
      `mapped column${missing.length > 1 ? 's' : ''} ${names} ${missing.length > 1 ? 'are' : 'is'} not in ` +
        `${mapping.table.schema}.${mapping.table.name}: dropped or renamed. Update the mapping to the new column name ` +
        '(or remove it, or restore the column), run pingpull setup, then start again',
    );
  }
  if (survey.problems.length > 0) throw new ConfigError([...survey.problems]);
}

const INTEGER_TYPES = new Set(['int2', 'int4', 'int8', 'numeric']);
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'citext', 'name']);

function comparableIds(a: string, b: string): boolean {
  if (a === b) return true;
  return (INTEGER_TYPES.has(a) && INTEGER_TYPES.has(b)) || (TEXT_TYPES.has(a) && TEXT_TYPES.has(b));
}

function identityKeepsColumn(shape: TableShape, column: string): boolean {
  if (shape.replicaIdentity === 'f') return true;
  if (shape.replicaIdentity === 'n') return false;
  return shape.identityColumns.includes(column);
}

export async function readTableShape(pool: Pick<Pool, 'query'>, qualified: string): Promise<TableShape> {
  const relation = await pool.query<{ oid: number; replident: 'd' | 'n' | 'f' | 'i' }>(
    `SELECT c.oid, c.relreplident AS replident FROM pg_class c WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')`,
    [qualified],
  );
  const rel = relation.rows[0];
  if (rel === undefined) return { columns: [], types: new Map(), replicaIdentity: null, identityColumns: [] };
  const attributes = await pool.query<{ attname: string; typname: string }>(
    `SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [rel.oid],
  );
  const identity = await pool.query<{ attname: string }>(
    `SELECT a.attname FROM pg_index i
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
      WHERE i.indrelid = $1 AND (CASE $2::text WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END)
      ORDER BY a.attnum`,
    [rel.oid, rel.replident],
  );
  return {
    columns: attributes.rows.map((row) => row.attname),
    types: new Map(attributes.rows.map((row) => [row.attname, row.typname])),
    replicaIdentity: rel.replident,
    identityColumns: identity.rows.map((row) => row.attname),
  };
}
