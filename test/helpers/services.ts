import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { inject } from 'vitest';
import { waitFor } from './wait.js';
import { ensureTopics } from '../../src/events/kafka.js';

// Test files run in parallel against one cluster and one broker, so each
// isolates itself with its own database, topics and consumer groups.

/** `prefix` plus a short random suffix, safe as a database, slot, topic or group name. */
export function uniqueName(prefix: string): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `${clean}_${randomBytes(5).toString('hex')}`;
}

/** Superuser URL of the `postgres` database on the test cluster. */
export const databaseUrl = (): string => inject('databaseUrl');

/** `host:port[,host:port]` of the test broker(s). */
export const kafkaBrokers = (): string => inject('kafkaBrokers');

async function withAdminClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh database on the test cluster; `drop()` also removes its replication slots. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = uniqueName('test');
  await withAdminClient((c) => c.query(`CREATE DATABASE ${quoteIdent(name)}`));
  const url = new URL(databaseUrl());
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => dropTestDatabase(name) };
}

async function dropTestDatabase(name: string): Promise<void> {
  await withAdminClient(async (c) => {
    // DROP DATABASE refuses while logical slots exist in it, even WITH (FORCE).
    for (let attempt = 0; ; attempt++) {
      const { rows } = await c.query<{ slot_name: string; active_pid: number | null }>(
        'SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = $1',
        [name],
      );
      if (rows.length === 0) break;
      for (const slot of rows) {
        if (slot.active_pid) await c.query('SELECT pg_terminate_backend($1)', [slot.active_pid]);
      }
      try {
        for (const slot of rows) await c.query('SELECT pg_drop_replication_slot($1)', [slot.slot_name]);
      } catch (err) {
        // A terminated walsender may still hold its slot for a moment.
        if (attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // FORCE terminates sessions still connected, and a pool that is still
    // closing its clients then meets a FATAL nobody listens for (an uncaught
    // error that fails the whole run): give ended pools a moment to leave.
    await waitFor(
      async () => {
        const { rows } = await c.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
          [name],
        );
        return rows[0]?.n === 0;
      },
      { timeoutMs: 5_000, what: `sessions of ${name} to close` },
    ).catch(() => undefined);
    await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  });
}

/** Creates a topic on the test broker and waits for its partition leaders. */
export async function createTopic(name: string, partitions = 3): Promise<string> {
  const kafka = new Kafka({
    clientId: 'pingpull-tests',
    brokers: kafkaBrokers().split(','),
    logLevel: logLevel.NOTHING,
  });
  await ensureTopics(kafka, [name], partitions);
  return name;
}
