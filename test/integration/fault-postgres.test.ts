import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorHandle } from '../../src/cdc/connector.js';
import { parseLsn } from '../../src/cdc/lsn.js';
import { startDedicatedPostgres, type DedicatedPostgres } from '../../tools/devenv/dedicated.js';
import { createTopic, kafkaBrokers, uniqueName } from '../helpers/services.js';
import {
  failedSessions,
  missingFromTopic,
  prepareDatabase,
  startTestConnector,
  Writer,
} from '../helpers/fault-harness.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { waitFor } from '../helpers/wait.js';

/**
 * PostgreSQL restarts under a steady write load, on a cluster of this test's
 * own: once cleanly (fast shutdown) and once like a crash (immediate). The
 * connector must reconnect on its own, from its durable position, and every
 * committed change must reach Kafka.
 */
const DOWN_MS = 4_000;

describe('PostgreSQL restarted mid-stream', () => {
  let postgres: DedicatedPostgres;
  let connector: ConnectorHandle | undefined;
  let writer: Writer | undefined;

  beforeAll(async () => {
    postgres = await startDedicatedPostgres();
  }, 180_000);

  afterAll(async () => {
    await writer?.stop();
    await connector?.stop();
    await postgres?.destroy();
  }, 60_000);

  it('loses nothing across a clean restart and a crash', async () => {
    const replication = await prepareDatabase(postgres.url);
    const topic = await createTopic(uniqueName('fault_pg'), 3);
    const { logger, lines } = capturingLogger();
    connector = startTestConnector({
      databaseUrl: postgres.url,
      brokers: kafkaBrokers(),
      topic,
      logger,
      ...replication,
    });
    let failed: unknown = null;
    connector.done.catch((error: unknown) => (failed = error));
    const w = new Writer(postgres.url);
    writer = w;

    const published = async (): Promise<bigint> => parseLsn(connector?.positions()?.published ?? '0/0');
    for (const mode of ['fast', 'kill'] as const) {
      const before = w.committed.size;
      // Some progress in this round before the database goes away.
      await waitFor(async () => w.committed.size > before + 200 && (await published()) > 0n, {
        what: 'writes and publishing',
        timeoutMs: 60_000,
      });
      await postgres.stop(mode);
      // The outage itself: the database stays away this long.
      await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
      await postgres.start();
      // Streaming again: the connector found its way back.
      await waitFor(async () => connector?.positions() !== null, {
        what: 'the connector to stream again',
        timeoutMs: 90_000,
      });
    }
    // Writes after the last restart too, which the connector must also deliver.
    const afterRestart = w.committed.size;
    await waitFor(() => w.committed.size > afterRestart + 200, { what: 'writes after the restart', timeoutMs: 60_000 });
    writer = undefined;
    await w.stop();

    const { missing, events } = await missingFromTopic(kafkaBrokers(), topic, w.committed, 90_000);
    expect(
      missing,
      `${missing.length} committed rows never reached Kafka, e.g. ${missing.slice(0, 5).join(',')}`,
    ).toEqual([]);
    expect(failed).toBeNull();
    const failures = failedSessions(lines);
    expect(failures.length).toBeGreaterThan(0);
    // Reconnects back off (a down database is retried ever slower, not in a tight loop).
    expect(failures.length).toBeLessThanOrEqual(20);
    console.info(
      `fault-postgres: ${w.committed.size} rows, ${w.failures} refused writes, ${events} events, ${failures.length} failed session(s) [attempts ${failures.map((f) => f.attempt).join(',')}]`,
    );
  }, 240_000);
});
