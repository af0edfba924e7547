import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Pool } from '../db.js';
import { quoteIdent } from '../db.js';
import { pullFieldEntries } from '../config/index.js';
import { ConfigError, DatabaseSetupError } from '../errors.js';
import { PROFILE_FIELDS } from '../livefyre/profile.js';
import { planProfile, type PlanOptions } from './profile-mapping.js';
import {
  idAcceptor,
  selectExpression,
  statementName,
  typeProblem,
  type ProfileQuery,
  type ProfileRow,
  type TypeInfo,
} from './profile-query.js';

/**
 * `pull.query`: the user's own SELECT for profiles that span several tables.
 * Wrapped as a subquery (`SELECT … FROM (<query>) AS q LIMIT 1`), which also
 * makes anything but a single read-only query a syntax error. Validated once
 * at start-up by preparing it: exactly one parameter, `$1`; result columns
 * named after Livefyre fields (or used by a template or as the image version)
 * and of fitting types. A LIMIT 0 probe plans it without reading a row.
 */
export async function prepareCustomQuery(
  pool: Pool,
  sql: string,
  options: Omit<PlanOptions, 'columnsKey'>,
): Promise<ProfileQuery> {
  const inner = sql.trim().replace(/;\s*$/, '');
  const probe = await describeQuery(pool, inner);

  const problems: string[] = [];
  if (probe.parameterTypes.length !== 1) {
    problems.push(
      `pull.query: must have exactly one parameter, $1 (the user id); it has ${probe.parameterTypes.length}`,
    );
  }
  const used = new Set<string>([options.imageVersionColumn ?? '', 'id']);
  const fieldEntries = pullFieldEntries(options.fields ?? {});
  const templates = fieldEntries.flatMap(([, spec]) => ('template' in spec ? [spec.template] : []));
  if (options.displayNameFallback !== undefined) templates.push(options.displayNameFallback);
  for (const template of templates) {
    for (const match of template.matchAll(/\{([^{}]+)\}/g)) used.add(match[1] as string);
  }
  const columns: Record<string, string> = {};
  const seen = new Set<string>();
  for (const column of probe.columns) {
    if (seen.has(column.name)) problems.push(`pull.query: result column "${column.name}" appears twice`);
    seen.add(column.name);
    if (PROFILE_FIELDS.has(column.name)) columns[column.name] = column.name;
    else if (!used.has(column.name)) {
      problems.push(
        `pull.query: result column "${column.name}" is neither a Livefyre field nor used by pull.fields, ` +
          'pull.displayNameFallback or pull.imageVersionColumn',
      );
    }
  }
  if (!Object.hasOwn(columns, 'display_name') && !fieldEntries.some(([field]) => field === 'display_name')) {
    problems.push('pull.query: must have a result column "display_name" (or pull.fields must set it)');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const plan = planProfile(columns, { ...options, columnsKey: 'pull.query' });
  const types = new Map(probe.columns.map((column) => [column.name, probe.types.get(column.typeId)]));
  const selects: string[] = [];
  for (const read of plan.reads) {
    if (!types.has(read.column)) {
      problems.push(`${read.key}: column "${read.column}" is not a result column of pull.query`);
      continue;
    }
    const type = types.get(read.column);
    const problem =
      type === undefined ? undefined : typeProblem(read, type, `result column "${read.column}" of pull.query`);
    if (problem !== undefined) problems.push(problem);
    selects.push(selectExpression(`q.${quoteIdent(read.column)}`, read));
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const text = `SELECT ${selects.length === 0 ? 'true AS found' : selects.join(', ')} FROM (${inner}) AS q LIMIT 1`;
  const name = statementName(text);
  return {
    plan,
    sql: text,
    accepts: idAcceptor(probe.parameterTypes[0] ?? 'text'),
    async read(db, id) {
      let row: Record<string, unknown> | undefined;
      try {
        row = (await db.query({ name, text, values: [id] })).rows[0];
      } catch (error) {
        // class 22, data exception: this id is not a value of the parameter's type, so no user has it
        if (error instanceof pg.DatabaseError && error.code?.startsWith('22')) return undefined;
        throw error;
      }
      if (row === undefined) return undefined;
      row.id = id;
      return row as ProfileRow;
    },
  };
}

interface QueryDescription {
  parameterTypes: string[];
  columns: Array<{ name: string; typeId: number }>;
  types: Map<number, TypeInfo>;
}

/** Prepares the query on one connection (never executing it for a row), and reads its parameters and result columns. */
async function describeQuery(pool: Pool, inner: string): Promise<QueryDescription> {
  const client = await pool.connect();
  const name = `pingpull_probe_${randomBytes(6).toString('hex')}`;
  try {
    try {
      await client.query(`PREPARE ${name} AS SELECT * FROM (${inner}) AS q LIMIT 0`);
    } catch (error) {
      if (error instanceof pg.DatabaseError && error.code === '42501') {
        throw new DatabaseSetupError(`pull.query: the database user lacks a privilege: ${error.message}`, error);
      }
      if (error instanceof pg.DatabaseError) throw new ConfigError([`pull.query: ${error.message}`]);
      throw error;
    }
    try {
      const parameters = await client.query<{ typname: string }>(
        `SELECT t.typname
           FROM pg_prepared_statements p, unnest(p.parameter_types) WITH ORDINALITY AS pt(type, n)
           JOIN pg_type t ON t.oid = pt.type
          WHERE p.name = $1 ORDER BY pt.n`,
        [name],
      );
      const parameterTypes = parameters.rows.map((row) => row.typname);
      const values = parameterTypes.map(() => 'NULL').join(', ');
      const probe = await client.query(`EXECUTE ${name}${values === '' ? '' : `(${values})`}`);
      const columns = probe.fields.map((field) => ({ name: field.name, typeId: field.dataTypeID }));
      const types = await client.query<TypeInfo & { oid: number }>(
        `SELECT t.oid, t.typname, t.typcategory, format_type(t.oid, NULL) AS basetype, e.typcategory AS elemcategory
           FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
          WHERE t.oid = ANY($1::oid[])`,
        [columns.map((column) => column.typeId)],
      );
      return { parameterTypes, columns, types: new Map(types.rows.map((row) => [Number(row.oid), row])) };
    } finally {
      await client.query(`DEALLOCATE ${name}`);
    }
  } finally {
    client.release();
  }
}
