import { connect } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startConnector, type ConnectorHandle } from '../../src/cdc/connector.js';
import { parseLsn } from '../../src/cdc/lsn.js';
import { createKafka, plaintextConnection, type SocketFactory } from '../../src/events/kafka.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { systemClock } from '../../src/time.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { readTopic } from '../helpers/connector-kafka.js';
import { failedSessions, prepareDatabase, source } from '../helpers/fault-harness.js';
import { createTestDatabase, createTopic, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startHoldingProxy, type HoldingProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Bounded read-ahead: while Kafka does not acknowledge, the connector reads
 * no further into the replication stream than its byte bound of events not
 * yet acknowledged (src/events/publisher.ts), however large the transaction
 * and however far below the event bound (replication.batchSize) it is.
 * The broker is made slow by a proxy that holds its replies.
 */
const ROWS = 400;
const NICK_BYTES = 4_000;
const MAX_PENDING_BYTES = 64 * 1024;

describe('read-ahead while Kafka does not acknowledge', () => {
  let db: TestDatabase;
  let connector: ConnectorHandle | undefined;
  const proxies: HoldingProxy[] = [];

  afterAll(async () => {
    for (const proxy of proxies) proxy.release();
    await connector?.stop();
    for (const proxy of proxies) await proxy.close();
    await db?.drop();
  });

  it('pauses the stream at the byte bound, then publishes everything once Kafka answers', async () => {
    db = await createTestDatabase();
    const replication = await prepareDatabase(db.url);
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    try {
      await pool.query(
        `INSERT INTO members SELECT g, 'n', g || '@example.com', 'h' FROM generate_series(1, ${ROWS}) g`,
      );
      const topic = await createTopic(uniqueName('read_ahead'), 3);

      // Every broker address (the bootstrap one and those the metadata advertises) through a holding proxy.
      const admin = new Kafka({
        clientId: 'pingpull-tests',
        brokers: kafkaBrokers().split(','),
        logLevel: logLevel.NOTHING,
      }).admin();
      await admin.connect();
      const { brokers } = await admin.describeCluster();
      await admin.disconnect();
      const routes = new Map<string, number>();
      for (const address of [...kafkaBrokers().split(','), ...brokers.map((b) => `${b.host}:${b.port}`)]) {
        if (routes.has(address)) continue;
        const [host, port] = address.split(':') as [string, string];
        const proxy = await startHoldingProxy({ host, port: Number(port) });
        proxies.push(proxy);
        routes.set(address, proxy.port);
      }
      const socketFactory: SocketFactory = ({ host, port, onConnect }) => {
        const proxyPort = routes.get(`${host}:${port}`);
        if (proxyPort === undefined) throw new Error(`no proxy for broker ${host}:${port}`);
        return connect({ host: '127.0.0.1', port: proxyPort }, onConnect);
      };

      const { logger, lines } = capturingLogger();
      connector = startConnector({
        databaseUrl: db.url,
        source,
        // Far above the transaction: only the byte bound can stop the reading.
        replication: { ...replication, heartbeatMs: 0, statusIntervalMs: 200, batchSize: 1_000, knownUsers: 1_000 },
        maxPendingBytes: MAX_PENDING_BYTES,
        kafka: createKafka({
          connection: plaintextConnection(kafkaBrokers()),
          clientId: 'pingpull-test',
          logger,
          socketFactory,
        }),
        topic,
        logger,
        metrics: createMetrics({ defaultMetrics: false }),
        clock: systemClock,
      });
      // The inserts first reach Kafka unhindered.
      const inserted = await currentLsn(pool);
      await waitFor(() => parseLsn(connector?.positions()?.published ?? '0/0') >= inserted, {
        what: 'the inserts in Kafka',
      });

      for (const proxy of proxies) proxy.hold();
      await pool.query(`UPDATE members SET nick = repeat('x', ${NICK_BYTES}) || user_id`);
      const end = await currentLsn(pool);

      // Kafka answers nothing: the connector waits for it with the bound reached, and reads no further.
      const waiting = await waitFor(() => (connector!.backlog().waiting ? connector!.backlog() : false), {
        what: 'enqueue waiting for Kafka',
      });
      expect(waiting.bytes).toBeGreaterThanOrEqual(MAX_PENDING_BYTES);
      expect(waiting.events).toBeLessThan(ROWS / 10);
      expect(parseLsn(connector.positions()!.received)).toBeLessThan(end);

      for (const proxy of proxies) proxy.release();
      const messages = await readTopic(
        topic,
        (read) =>
          new Set(
            read.filter((m) => (m.value?.after as { nick?: string } | null)?.nick?.startsWith('x')).map((m) => m.key),
          ).size === ROWS,
        120_000,
      );
      expect(messages.length).toBeGreaterThanOrEqual(ROWS);
      expect(failedSessions(lines)).toEqual([]);
      // The bound lets one event past it (the one that reached it): at most the largest event's key and value.
      const event = Math.max(...messages.map((m) => Buffer.byteLength(m.key ?? '') + Buffer.byteLength(m.raw ?? '')));
      expect(event).toBeGreaterThan(NICK_BYTES);
      expect(waiting.peakBytes).toBeLessThan(MAX_PENDING_BYTES + event);
      // Bounded all along, not only when it was looked at.
      expect(connector.backlog().peakBytes).toBeLessThan(MAX_PENDING_BYTES + event);
      await waitFor(() => parseLsn(connector!.positions()!.published) >= end, {
        what: 'the checkpoint past the update',
      });
    } finally {
      await pool.end();
    }
  }, 180_000);
});

async function currentLsn(pool: pg.Pool): Promise<bigint> {
  const { rows } = await pool.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
  return parseLsn(rows[0]!.lsn);
}
