import pg from 'pg';
import { quoteIdent } from '../db.js';

/** The demo's users table: shaped like a legacy schema, with a column that must never leave it. */
export const DEMO_TABLE = 'public.demo_users';
export const DEMO_COLUMNS = { display_name: 'nickname', email: 'email_address', image_url: 'avatar' } as const;

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Leslie'];
const LAST = ['L.', 'H.', 'T.', 'D.', 'L.', 'K.', 'A.', 'T.', 'P.', 'L.'];

export function demoName(n: number): string {
  return `${FIRST[n % FIRST.length]} ${LAST[Math.floor(n / FIRST.length) % LAST.length]} ${n}`;
}

/**
 * Recreates the demo database from scratch (dropping the slots left in it
 * by an earlier run, which would otherwise block the drop) and seeds it.
 */
export async function createDemoDatabase(adminUrl: string, database: string, users: number): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(
      `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`,
      [database],
    );
    await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [
      database,
    ]);
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${quoteIdent(database)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`
      CREATE TABLE demo_users (
        id            bigint PRIMARY KEY,
        nickname      text NOT NULL,
        email_address text,
        avatar        text,
        password_hash text NOT NULL,
        updated_at    timestamptz NOT NULL DEFAULT now()
      )`);
    const names = Array.from({ length: users }, (_, i) => demoName(i + 1));
    await client.query(
      `INSERT INTO demo_users (id, nickname, email_address, avatar, password_hash)
       SELECT n, names[n], 'user' || n || '@example.com',
              'https://cdn.example.com/avatars/' || n || '.jpg?v=1', md5(n::text || clock_timestamp()::text)
       FROM generate_series(1, $1::int) AS n, (SELECT $2::text[] AS names) AS s`,
      [users, names],
    );
  } finally {
    await client.end();
  }
  return url.toString();
}
