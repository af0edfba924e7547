import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorHandle } from '../../src/cdc/connector.js';
import { setupDatabase } from '../../src/cdc/setup.js';
import { createLogger } from '../../src/log.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import { createMembersDatabase, membersSource, startInProcessConnector } from '../helpers/members-table.js';
import { createTopic, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A burst bigger than any batch goes through with bounded memory and at a
 * useful rate; prints the figures (the benchmarks compare them properly).
 */
const logger = createLogger('silent');
const source = membersSource({ display_name: 'nick', email: 'mail' });
const ROWS = 50_000;

describe('connector throughput', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let connector: ConnectorHandle;
  let metrics: Metrics;

  beforeAll(async () => {
    ({ database, pool } = await createMembersDatabase(
      'user_id bigint PRIMARY KEY, nick text, mail text, password_hash text',
      4,
    ));
    const replication = {
      slot: uniqueName('slot'),
      publication: uniqueName('pub'),
      heartbeatMs: 0,
      statusIntervalMs: 1_000,
      batchSize: 500,
      knownUsers: 100_000,
    };
    await setupDatabase({ pool, source, replication, logger });
    const topic = await createTopic(uniqueName('burst'), 3);
    metrics = createMetrics({ defaultMetrics: false });
    connector = startInProcessConnector({ databaseUrl: database.url, source, replication, topic, logger, metrics });
  });

  afterAll(async () => {
    await connector?.stop();
    await pool?.end();
    await database?.drop();
  });

  const published = async () => (await metrics.eventsTotal.get()).values.reduce((sum, v) => sum + v.value, 0);

  it(`publishes a ${ROWS}-row transaction and a following update that changes nothing is skipped`, async () => {
    const started = Date.now();
    await pool.query(
      `INSERT INTO members SELECT g, 'user ' || g, g || '@example.com', 'secret' FROM generate_series(1, ${ROWS}) g`,
    );
    const committed = Date.now();
    await waitFor(async () => (await published()) >= ROWS, { what: 'the burst', timeoutMs: 120_000 });
    const insertMs = Date.now() - committed;
    await pool.query(`UPDATE members SET password_hash = 'other'`);
    await waitFor(async () => (await metrics.skippedUpdatesTotal.get()).values[0]?.value === ROWS, {
      what: 'skips',
      timeoutMs: 120_000,
    });
    const skipMs = Date.now() - committed - insertMs;
    const rss = process.memoryUsage().rss;
    console.info(
      `throughput: ${ROWS} inserts published in ${insertMs} ms (${Math.round((ROWS / insertMs) * 1000)}/s) after a ${committed - started} ms commit; ` +
        `${ROWS} no-op updates skipped in ${skipMs} ms (${Math.round((ROWS / skipMs) * 1000)}/s); rss ${Math.round(rss / 2 ** 20)} MiB`,
    );
    expect(await published()).toBe(ROWS);
  }, 240_000);

  it('keeps up with single-row transactions from concurrent writers', async () => {
    const before = await published();
    const perWriter = 2_500;
    const started = Date.now();
    await Promise.all(
      [0, 1, 2, 3].map(async (writer) => {
        for (let i = 0; i < perWriter; i += 1) {
          const id = ROWS + 1 + writer * perWriter + i;
          await pool.query('INSERT INTO members VALUES ($1, $2, NULL, NULL)', [id, `user ${id}`]);
        }
      }),
    );
    const committedMs = Date.now() - started;
    await waitFor(async () => (await published()) >= before + 4 * perWriter, {
      what: 'small transactions',
      timeoutMs: 120_000,
    });
    const totalMs = Date.now() - started;
    console.info(
      `throughput: ${4 * perWriter} single-row transactions committed in ${committedMs} ms (${Math.round((4 * perWriter * 1000) / committedMs)}/s), ` +
        `all published ${totalMs - committedMs} ms after the last commit`,
    );
  }, 240_000);
});
