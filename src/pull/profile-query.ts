import { createHash } from 'node:crypto';
import type { Pool } from '../db.js';
import { parseTableName, quoteIdent, type TableName } from '../db.js';
import { ConfigError, DatabaseSetupError } from '../errors.js';
import type { ProfilePlan } from './profile-mapping.js';

export interface ProfileRow {
  readonly id: string;
  readonly [alias: string]: unknown;
}

/** Reads one user's mapped columns; `undefined` when there is no such user. */
export interface ProfileQuery {
  find(id: string): Promise<ProfileRow | undefined>;
}

interface ColumnInfo {
  attname: string;
  typname: string;
  typcategory: string;
  /** The type without modifiers (`character varying`, not `character varying(40)`): a cast to it never truncates. */
  basetype: string;
  elemcategory: string | null;
  readable: boolean;
}

/**
 * How the id parameter is compared. The result must equal `id_column::text = $1`,
 * but an integer or uuid column compared that way cannot use its index, so for
 * those the parameter is cast to the column's type instead, after a check that
 * the id is in the column type's canonical text form (anything else is no user,
 * answered without asking the database).
 */
type IdMatch = { sql: string; accepts: (id: string) => boolean };

const INTEGER_RANGES: Record<string, readonly [bigint, bigint]> = {
  int2: [-(2n ** 15n), 2n ** 15n - 1n],
  int4: [-(2n ** 31n), 2n ** 31n - 1n],
  int8: [-(2n ** 63n), 2n ** 63n - 1n],
};
const CANONICAL_INTEGER = /^(0|-?[1-9][0-9]{0,18})$/;
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function idMatch(column: ColumnInfo): IdMatch {
  const name = quoteIdent(column.attname);
  const range = INTEGER_RANGES[column.typname];
  if (range !== undefined) {
    const [min, max] = range;
    return {
      sql: `${name} = $1::${column.typname}`,
      accepts: (id) => CANONICAL_INTEGER.test(id) && BigInt(id) >= min && BigInt(id) <= max,
    };
  }
  if (column.typname === 'uuid') return { sql: `${name} = $1::uuid`, accepts: (id) => CANONICAL_UUID.test(id) };
  if (column.typname === 'text' || column.typname === 'varchar') return { sql: `${name} = $1::text`, accepts: () => true };
  return { sql: `${name}::text = $1::text`, accepts: () => true };
}

function selectExpression(column: ColumnInfo, kind: string, alias: string): string {
  const name = quoteIdent(column.attname);
  if (kind === 'boolean') return `${name} AS ${alias}`;
  if (kind === 'string[]') return `${name}::text[] AS ${alias}`;
  return `${name}::text AS ${alias}`;
}

/** Problems with a mapped column's type, or undefined when the field can be built from it. */
function typeProblem(field: string, column: ColumnInfo, kind: string, table: TableName): string | undefined {
  const where = `column "${column.attname}" of ${table.schema}.${table.name}`;
  if (kind === 'boolean' && column.typname !== 'bool') {
    return `source.columns: field "${field}" needs a boolean column, ${where} is ${column.basetype}`;
  }
  if (kind === 'string[]' && !(column.typcategory === 'A' && column.elemcategory === 'S')) {
    return `source.columns: field "${field}" needs a text array column (text[]), ${where} is ${column.basetype}`;
  }
  return undefined;
}

/**
 * Checks the table and every mapped column once at start-up (all problems
 * reported together), then builds the one parameterised statement pulls use.
 * It is a named (prepared) statement, so each pooled connection plans it once.
 */
export async function prepareProfileQuery(
  pool: Pool,
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
  for (const mapped of plan.fields) {
    const column = columns.get(mapped.column);
    if (column === undefined) {
      problems.push(missing(`source.columns.${mapped.field}`, mapped.column));
      continue;
    }
    const problem = typeProblem(mapped.field, column, mapped.kind, table);
    if (problem !== undefined) problems.push(problem);
    selects.push(selectExpression(column, mapped.kind, mapped.alias));
  }
  if (problems.length > 0 || idColumn === undefined) throw new ConfigError(problems);

  const unreadable = [idColumn, ...plan.fields.map((f) => columns.get(f.column) as ColumnInfo)].filter((c) => !c.readable);
  if (unreadable.length > 0) {
    throw new DatabaseSetupError(
      `the database user lacks SELECT on ${table.schema}.${table.name} (${[...new Set(unreadable.map((c) => c.attname))].join(', ')})`,
    );
  }

  const match = idMatch(idColumn);
  const text =
    `SELECT ${quoteIdent(idColumn.attname)}::text AS id${selects.map((s) => `, ${s}`).join('')} ` +
    `FROM ${table.qualified} WHERE ${match.sql} LIMIT 1`;
  // The name depends on the text: two configurations sharing a pool never collide.
  const name = `pingpull_pull_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;

  return {
    async find(id) {
      if (!match.accepts(id)) return undefined;
      const result = await pool.query<ProfileRow>({ name, text, values: [id] });
      return result.rows[0];
    },
  };
}

async function describeTable(pool: Pool, table: TableName): Promise<Map<string, ColumnInfo>> {
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
