import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from '../db.js';
import { parseTableName, quoteIdent, type TableName } from '../db.js';
import { ConfigError, DatabaseSetupError } from '../errors.js';
import type { ProfilePlan, ReadColumn } from './profile-mapping.js';

export interface ProfileRow {
  readonly id: string;
  readonly [alias: string]: unknown;
}

/** What a profile query runs on: a pooled client (or, in tests, anything that answers queries). */
export type Queryable = Pick<PoolClient, 'query'>;

/** Reads one user's profile columns with one prepared statement. */
export interface ProfileQuery {
  readonly plan: ProfilePlan;
  /** The statement's SQL (`$1` is the id), for diagnostics such as EXPLAIN. */
  readonly sql: string;
  /** False when no user can have this id (not the canonical text of the id's type): answered without the database. */
  accepts(id: string): boolean;
  /** The user's row, or `undefined` when there is no such user. */
  read(db: Queryable, id: string): Promise<ProfileRow | undefined>;
  /**
   * The rows of many users with one statement, by id (ids the map lacks are no
   * user); absent when the query reads one user at a time (`pull.query`).
   * Every id must be one `accepts` took.
   */
  readMany?(db: Queryable, ids: readonly string[]): Promise<Map<string, ProfileRow>>;
}

export interface TypeInfo {
  typname: string;
  typcategory: string;
  /** The type without modifiers (`character varying`, not `character varying(40)`): a cast to it never truncates. */
  basetype: string;
  elemcategory: string | null;
}

interface ColumnInfo extends TypeInfo {
  attname: string;
  readable: boolean;
}

const INTEGER_RANGES: Record<string, readonly [bigint, bigint]> = {
  int2: [-(2n ** 15n), 2n ** 15n - 1n],
  int4: [-(2n ** 31n), 2n ** 31n - 1n],
  int8: [-(2n ** 63n), 2n ** 63n - 1n],
};
const CANONICAL_INTEGER = /^(0|-?[1-9][0-9]{0,18})$/;
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Which ids a parameter of this type can match. An id is looked up only in
 * its type's canonical text form: `007` or `1.0` is no user of an integer
 * column (`7` is), so every profile's id is exactly the id Livefyre asked for.
 */
export function idAcceptor(typname: string): (id: string) => boolean {
  const range = INTEGER_RANGES[typname];
  if (range !== undefined) {
    const [min, max] = range;
    return (id) => CANONICAL_INTEGER.test(id) && BigInt(id) >= min && BigInt(id) <= max;
  }
  if (typname === 'uuid') return (id) => CANONICAL_UUID.test(id);
  return () => true;
}

/**
 * How the id parameter is compared. The result must equal `id_column::text = $1`,
 * but an integer or uuid column compared that way cannot use its index, so for
 * those the parameter is cast to the column's type instead.
 */
function idCondition(column: ColumnInfo): string {
  const name = quoteIdent(column.attname);
  if (INTEGER_RANGES[column.typname] !== undefined || column.typname === 'uuid')
    return `${name} = $1::${column.typname}`;
  if (column.typname === 'text' || column.typname === 'varchar') return `${name} = $1::text`;
  return `${name}::text = $1::text`;
}

/** `idCondition` for many ids at once: `$1` is an array of ids, matched the same way. */
function idsCondition(column: ColumnInfo): string {
  const name = quoteIdent(column.attname);
  if (INTEGER_RANGES[column.typname] !== undefined || column.typname === 'uuid')
    return `${name} = ANY($1::${column.typname}[])`;
  if (column.typname === 'text' || column.typname === 'varchar') return `${name} = ANY($1::text[])`;
  return `${name}::text = ANY($1::text[])`;
}

/** The select-list entry of one read column: booleans as they are, arrays as text[], the rest as text. */
export function selectExpression(expression: string, read: ReadColumn): string {
  if (read.kind === 'boolean') return `${expression} AS ${read.alias}`;
  if (read.kind === 'string[]') return `${expression}::text[] AS ${read.alias}`;
  return `${expression}::text AS ${read.alias}`;
}

/** Problems with a read column's type, or undefined when the field can be built from it. */
export function typeProblem(read: ReadColumn, type: TypeInfo, where: string): string | undefined {
  if (read.kind === 'boolean' && type.typname !== 'bool') {
    return `${read.key}: needs a boolean column, ${where} is ${type.basetype}`;
  }
  if (read.kind === 'string[]' && !(type.typcategory === 'A' && type.elemcategory === 'S')) {
    return `${read.key}: needs a text array column (text[]), ${where} is ${type.basetype}`;
  }
  return undefined;
}

/** A statement name that depends on the text: two configurations sharing a pool never collide. */
export function statementName(text: string): string {
  return `pingpull_pull_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

/**
 * Checks the table and every column the plan reads once at start-up (all
 * problems reported together), then builds the one parameterised statement
 * pulls use. It is a named (prepared) statement, so each pooled connection
 * plans it once.
 */
export async function prepareProfileQuery(
  pool: Pick<Pool, 'query'>,
  source: { table: string; idColumn: string },
  plan: ProfilePlan,
): Promise<ProfileQuery> {
  const table = parseTableName(source.table);
  const columns = await describeTable(pool, table);
  if (columns.size === 0) {
    throw new ConfigError([`source.table: table ${table.schema}.${table.name} does not exist (or has no columns)`]);
  }

  const problems: string[] = [];
  const missing = (key: string, column: string): string =>
    `${key}: column "${column}" does not exist in ${table.schema}.${table.name}`;
  const idColumn = columns.get(source.idColumn);
  if (idColumn === undefined) problems.push(missing('source.idColumn', source.idColumn));
  const selects: string[] = [];
  const read: ColumnInfo[] = [];
  for (const entry of plan.reads) {
    const column = columns.get(entry.column);
    if (column === undefined) {
      problems.push(missing(entry.key, entry.column));
      continue;
    }
    const problem = typeProblem(entry, column, `column "${column.attname}" of ${table.schema}.${table.name}`);
    if (problem !== undefined) problems.push(problem);
    selects.push(selectExpression(quoteIdent(column.attname), entry));
    read.push(column);
  }
  if (problems.length > 0 || idColumn === undefined) throw new ConfigError(problems);

  const unreadable = [idColumn, ...read].filter((c) => !c.readable);
  if (unreadable.length > 0) {
    throw new DatabaseSetupError(
      `the database user lacks SELECT on ${table.schema}.${table.name} (${[...new Set(unreadable.map((c) => c.attname))].join(', ')})`,
    );
  }

  const selectList = `SELECT ${quoteIdent(idColumn.attname)}::text AS id${selects.map((s) => `, ${s}`).join('')} `;
  const text = `${selectList}FROM ${table.qualified} WHERE ${idCondition(idColumn)} LIMIT 1`;
  const name = statementName(text);
  const manyText = `${selectList}FROM ${table.qualified} WHERE ${idsCondition(idColumn)}`;
  const manyName = statementName(manyText);
  return {
    plan,
    sql: text,
    accepts: idAcceptor(idColumn.typname),
    async read(db, id) {
      const result = await db.query<ProfileRow>({ name, text, values: [id] });
      return result.rows[0];
    },
    async readMany(db, ids) {
      const result = await db.query<ProfileRow>({ name: manyName, text: manyText, values: [ids] });
      const rows = new Map<string, ProfileRow>();
      // `id` is the id column as text: the id asked for, since only canonical ids are looked up (idAcceptor).
      // Were the column not unique, the first row of an id answers it, as LIMIT 1 does for one id.
      for (const row of result.rows) if (!rows.has(row.id)) rows.set(row.id, row);
      return rows;
    },
  };
}

async function describeTable(pool: Pick<Pool, 'query'>, table: TableName): Promise<Map<string, ColumnInfo>> {
  const result = await pool.query<ColumnInfo>(
    `SELECT a.attname, t.typname, t.typcategory, format_type(a.atttypid, NULL) AS basetype,
            e.typcategory AS elemcategory,
            has_column_privilege(a.attrelid, a.attnum, 'SELECT') AS readable
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [table.qualified],
  );
  return new Map(result.rows.map((row) => [row.attname, row]));
}
