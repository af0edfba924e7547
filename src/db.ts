import pg from 'pg';
import { SOCKET_REASONS } from './errors.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/**
 * TCP keepalives on every connection, the replication one too: an idle
 * connection is probed after this long, so a peer gone without a word
 * (failover, a dropped NAT entry) is found by the OS instead of never. When
 * the OS gives up still follows its own probe interval and count (Linux: 9
 * probes 75 s apart), so queries also have timeouts and the replication
 * stream a silence watch.
 */
export const TCP_KEEPALIVE_DELAY_MS = 10_000;

/** A server that does not complete a connection within this is taken for unreachable. */
export const CONNECT_TIMEOUT_MS = 5_000;

/**
 * How much longer than the statement timeout the client waits for an answer:
 * Postgres ends a slow query itself, this only catches a server that no
 * longer answers at all (the query's connection is then dropped from the pool).
 */
const QUERY_TIMEOUT_MARGIN_MS = 5_000;

/**
 * A pooled connection for queries (pulls, resync, lag); replication uses its
 * own connection. `statementTimeoutMs`: every query ends within it (plus the
 * margin when the server is silent); without it only setup's DDL runs, which
 * may wait for long transactions by design.
 */
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
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: TCP_KEEPALIVE_DELAY_MS,
    ...(options.statementTimeoutMs === undefined
      ? {}
      : {
          statement_timeout: options.statementTimeoutMs,
          query_timeout: options.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
        }),
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

/**
 * When `error` (or an error it wraps) means the database could not be
 * reached, one line naming the key and the address (never the password),
 * such as `database.url: cannot reach 127.0.0.1:5 (connection refused)`.
 */
export function describeDatabaseUnreachable(error: unknown, url: string): string | undefined {
  const address = databaseAddress(url);
  if (address === undefined) return undefined;
  for (let current = error; current instanceof Error; current = current.cause) {
    const { code, port } = current as NodeJS.ErrnoException & { port?: number };
    // Another service refusing (Livefyre, say) is not the database: the socket error must name its port.
    const socketReason = code === undefined || port !== address.port ? undefined : SOCKET_REASONS[code];
    const reason =
      socketReason ??
      (/Connection terminated due to connection timeout|timeout expired/i.test(current.message)
        ? 'no answer in time'
        : undefined);
    if (reason !== undefined) return `database.url: cannot reach ${address.host}:${address.port} (${reason})`;
  }
  return undefined;
}

function databaseAddress(url: string): { host: string; port: number } | undefined {
  try {
    const { hostname, port } = new URL(url);
    return { host: hostname || 'localhost', port: Number(port || '5432') };
  } catch {
    return undefined;
  }
}
