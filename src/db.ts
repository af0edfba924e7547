import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** A pooled connection for queries (pulls, resync, lag); replication uses its own connection. */
export function createPool(options: {
  url: string;
  max: number;
  applicationName: string;
  statementTimeoutMs?: number;
}): pg.Pool {
  return new pg.Pool({
    connectionString: options.url,
    max: options.max,
    application_name: options.applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    ...(options.statementTimeoutMs === undefined ? {} : { statement_timeout: options.statementTimeoutMs }),
  });
}

export interface TableName {
  schema: string;
  name: string;
  /** `"schema"."name"`, safe to put in SQL. */
  qualified: string;
}

/** `users` or `app.users` → its parts; the schema defaults to `public`. */
export function parseTableName(table: string): TableName {
  const dot = table.indexOf('.');
  const schema = dot === -1 ? 'public' : table.slice(0, dot);
  const name = dot === -1 ? table : table.slice(dot + 1);
  return { schema, name, qualified: `${quoteIdent(schema)}.${quoteIdent(name)}` };
}

export function quoteIdent(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}
