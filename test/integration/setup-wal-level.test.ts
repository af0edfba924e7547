import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDedicatedPostgres, type DedicatedPostgres } from '../../tools/devenv/dedicated.js';
import { runCli } from '../helpers/cli.js';

/**
 * `pingpull check` and `setup` against a cluster without logical decoding
 * (wal_level = replica, PostgreSQL's default), on a cluster of this test's
 * own: one actionable line, exit 1, nothing created.
 */
describe('check and setup on a database with wal_level = replica', () => {
  let postgres: DedicatedPostgres;

  beforeAll(async () => {
    postgres = await startDedicatedPostgres({ settings: ['wal_level = replica'] });
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    await client.query('CREATE TABLE users (id bigint PRIMARY KEY, display_name text, email text, avatar_url text)');
    await client.end();
  }, 180_000);

  afterAll(async () => {
    await postgres?.destroy();
  }, 60_000);

  const env = (): Record<string, string> => ({ PINGPULL_DATABASE_URL: postgres.url, PINGPULL_LOG_LEVEL: 'silent' });

  it('check names wal_level and how to fix it', async () => {
    const result = await runCli(['check'], env());
    expect(result.code).toBe(1);
    const problems = result.stdout.split('\n').filter((line) => line.startsWith('problem:'));
    expect(problems[0]).toBe(
      'problem: wal_level is replica, expected logical: set wal_level = logical (ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL',
    );
    // The slot and publication are simply missing: a line each, nothing else.
    expect(problems).toHaveLength(3);
  });

  it('setup refuses with the same line and creates nothing', async () => {
    const result = await runCli(['setup'], env());
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('wal_level is replica, expected logical');
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        'SELECT (SELECT count(*) FROM pg_publication)::int AS publications, (SELECT count(*) FROM pg_replication_slots)::int AS slots',
      );
      expect(rows[0]).toEqual({ publications: 0, slots: 0 });
    } finally {
      await client.end();
    }
  });
});
