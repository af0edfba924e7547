import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorHandle } from '../../src/cdc/connector.js';
import { parseLsn } from '../../src/cdc/lsn.js';
import { startDedicatedKafka, type DedicatedKafka } from '../../tools/devenv/dedicated.js';
import { createTestDatabase, uniqueName, type TestDatabase } from '../helpers/services.js';
import {
  createTopicOn,
  currentWalLsn,
  failedSessions,
  missingFromTopic,
  prepareDatabase,
  startTestConnector,
  Writer,
} from '../helpers/fault-harness.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Kafka goes away for a while under a steady write load, on a broker of this
 * test's own (the shared one stays untouched). The connector must stop
 * reading (backpressure: it does not buffer the outage in memory), must not
 * crash-loop, and once Kafka is back every committed change must be there.
 */
const OUTAGE_MS = Number(process.env.PINGPULL_FAULT_OUTAGE_MS ?? 20_000);

describe('Kafka stopped and restarted mid-stream', () => {
  let kafka: DedicatedKafka;
  let database: TestDatabase;
  let connector: ConnectorHandle | undefined;
  let writer: Writer | undefined;

  beforeAll(async () => {
    [kafka, database] = await Promise.all([startDedicatedKafka(), createTestDatabase()]);
  }, 180_000);

  afterAll(async () => {
    await writer?.stop();
    await connector?.stop();
    await kafka?.destroy();
    await database?.drop();
  }, 60_000);

  it('loses nothing, stops reading while Kafka is away and backs off', async () => {
    const replication = await prepareDatabase(database.url);
    const topic = uniqueName('fault_kafka');
    await createTopicOn(kafka.brokers, topic);
    const { logger, lines } = capturingLogger();
    connector = startTestConnector({
      databaseUrl: database.url,
      brokers: kafka.brokers,
      topic,
      logger,
      ...replication,
    });
    let failed: unknown = null;
    connector.done.catch((error: unknown) => (failed = error));

    writer = new Writer(database.url);
    // Streaming and publishing before the outage.
    await waitFor(
      async () => {
        const p = connector?.positions();
        return p !== null && p !== undefined && parseLsn(p.published) > 0n && writer!.committed.size > 200;
      },
      { what: 'the connector to publish', timeoutMs: 60_000 },
    );

    await kafka.stop('fast');
    const walAtStop = await currentWalLsn(database.url);
    const committedAtStop = writer.committed.size;
    let maxReceived = 0n;
    const deadline = Date.now() + OUTAGE_MS;
    while (Date.now() < deadline) {
      const p = connector.positions();
      if (p !== null) maxReceived = maxReceived > parseLsn(p.received) ? maxReceived : parseLsn(p.received);
      // Sampling the position for the whole outage, which lasts OUTAGE_MS whatever happens.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const walAtRestart = await currentWalLsn(database.url);
    const writtenDuringOutage = writer.committed.size - committedAtStop;
    await kafka.start();

    // Keep writing a while after the restart, then stop and check.
    const committedAtRestart = writer.committed.size;
    await waitFor(() => writer!.committed.size > committedAtRestart + 200, {
      what: 'writes after the restart',
      timeoutMs: 60_000,
    });
    const stopped = writer;
    writer = undefined;
    await stopped.stop();
    const committed = stopped.committed;
    const { missing, events } = await missingFromTopic(kafka.brokers, topic, committed, 90_000);
    expect(
      missing,
      `${missing.length} committed rows never reached Kafka, e.g. ${missing.slice(0, 5).join(',')}`,
    ).toEqual([]);
    expect(failed).toBeNull();

    // Backpressure: while Kafka was away the connector read only what fits
    // its bounded buffer, not the WAL written meanwhile.
    expect(writtenDuringOutage).toBeGreaterThan(100);
    const walDuringOutage = walAtRestart - walAtStop;
    const readDuringOutage = maxReceived > walAtStop ? maxReceived - walAtStop : 0n;
    expect(
      readDuringOutage * 2n < walDuringOutage,
      `read ${readDuringOutage} of ${walDuringOutage} WAL bytes written while Kafka was away`,
    ).toBe(true);

    // No crash loop: failed sessions are few, and without progress in
    // between each waits longer than the one before.
    const failures = failedSessions(lines);
    expect(failures.length).toBeLessThanOrEqual(6);
    for (let i = 1; i < failures.length; i++) {
      const [previous, current] = [failures[i - 1]!, failures[i]!];
      if ((current.attempt ?? 0) !== 1) expect(current.attempt).toBe((previous.attempt ?? 0) + 1);
    }
    console.info(
      `fault-kafka: ${committed.size} rows (${writtenDuringOutage} during a ${OUTAGE_MS} ms outage), ${events} events, ` +
        `${failures.length} failed session(s) [attempts ${failures.map((f) => f.attempt).join(',')}], read ${readDuringOutage} of ${walDuringOutage} WAL bytes during the outage`,
    );
  }, 240_000);
});
