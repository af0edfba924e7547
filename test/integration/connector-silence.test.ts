import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConnectorHandle } from '../../src/cdc/connector.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { readTopic } from '../helpers/connector-kafka.js';
import { prepareDatabase, startTestConnector } from '../helpers/fault-harness.js';
import { createTestDatabase, createTopic, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startBlackHoleProxy, type BlackHoleProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A half-open connection: the network between the connector and Postgres
 * drops everything without closing anything (a failover, a lost NAT entry).
 * The replication session must notice the silence (longer than the server's
 * wal_sender_timeout plus a margin), and the connector reconnect once the
 * network is back, with nothing lost.
 */
const WAL_SENDER_TIMEOUT_MS = 2_000;

describe('a replication connection that goes silent', () => {
  let db: TestDatabase;
  let proxy: BlackHoleProxy | undefined;
  let connector: ConnectorHandle | undefined;

  afterAll(async () => {
    await connector?.stop();
    await proxy?.close();
    await db?.drop();
  });

  it('is taken for dead and replaced, and every change still arrives', async () => {
    db = await createTestDatabase();
    const replication = await prepareDatabase(db.url);
    const topic = await createTopic(uniqueName('silence'), 1);
    const direct = new URL(db.url);
    proxy = await startBlackHoleProxy({ host: direct.hostname, port: Number(direct.port) });
    const viaProxy = new URL(db.url);
    viaProxy.host = `${proxy.host}:${proxy.port}`;
    // Per session, as an operator may set it for a role: the connector reads it with SHOW.
    viaProxy.searchParams.set('options', `-c wal_sender_timeout=${WAL_SENDER_TIMEOUT_MS}`);
    const { logger, lines } = capturingLogger();
    connector = startTestConnector({
      databaseUrl: viaProxy.toString(),
      brokers: kafkaBrokers(),
      topic,
      logger,
      statementTimeoutMs: 1_000,
      ...replication,
    });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(`INSERT INTO members VALUES (1, 'one', 'one@example.com', 'h')`);
      await waitFor(() => connector?.positions() !== null, { what: 'streaming' });
      await readTopic(topic, (messages) => messages.some((m) => m.key === '1'));

      proxy.blackhole();
      const holedAt = Date.now();
      await client.query(`INSERT INTO members VALUES (2, 'two', 'two@example.com', 'h')`);
      const silent = await waitFor(
        () => lines.find((line) => String(line.err?.['message' as never] ?? line.err ?? '').includes('was silent')),
        { what: 'the session to notice the silence', timeoutMs: 60_000 },
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\n${lines.map((line) => JSON.stringify(line)).join('\n')}`);
      });
      const noticedAfterMs = Date.now() - holedAt;
      proxy.restore();
      await client.query(`INSERT INTO members VALUES (3, 'three', 'three@example.com', 'h')`);
      const messages = await readTopic(topic, (read) => ['1', '2', '3'].every((id) => read.some((m) => m.key === id)));
      expect(messages.map((m) => m.key)).toEqual(expect.arrayContaining(['1', '2', '3']));
      // Noticed after wal_sender_timeout plus the 5 s margin; the session then
      // ends once its heartbeat queries on the black-holed pool time out
      // (statement timeout plus 5 s each), slower on a loaded machine.
      expect(String(silent.err?.['message' as never] ?? silent.err)).toMatch(/silent for [7-9] s/);
      expect(noticedAfterMs).toBeLessThan(45_000);
      console.info(`connector-silence: a black-holed stream was replaced after ${noticedAfterMs} ms`);
    } finally {
      await client.end();
    }
  }, 90_000);
});
