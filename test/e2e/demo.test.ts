import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { kafkaBrokers, uniqueName, databaseUrl } from '../helpers/services.js';

describe('pingpull demo', () => {
  it('shows profile edits turning into pings and pulls, then cleans up its slot', async () => {
    const database = uniqueName('demo');
    const result = await runCli(
      ['demo', '--duration', '6', '--interval', '500', '--users', '30', '--database', database],
      { PINGPULL_DATABASE_URL: databaseUrl(), PINGPULL_KAFKA_BROKERS: kafkaBrokers() },
      120_000,
    );
    expect(result.code, result.stderr).toBe(0);
    const edits = [...result.stdout.matchAll(/edit {2}user (\d+) +nickname → "([^"]+)"/g)];
    expect(edits.length).toBeGreaterThanOrEqual(5);
    // Every edited user's new name came back through a pull.
    const [, lastId, lastName] = edits[edits.length - 1]!;
    expect(result.stdout).toMatch(new RegExp(`pull {2}user ${lastId} +HTTP 200 {2}display_name "${lastName}" stored`));
    expect(result.stdout).toMatch(/commit → ping: median \d+ ms/);
    expect(result.stdout + result.stderr).not.toMatch(/networkKey|lftoken=[A-Za-z0-9]/);

    // The demo drops its slot on the way out (else the database could not be dropped).
    const admin = new pg.Client({ connectionString: databaseUrl() });
    await admin.connect();
    try {
      const slots = await admin.query('SELECT slot_name FROM pg_replication_slots WHERE database = $1', [database]);
      expect(slots.rows).toEqual([]);
      await admin.query(`DROP DATABASE "${database}" WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }, 150_000);
});
