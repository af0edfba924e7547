import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startConnector, type ConnectorHandle } from '../../src/cdc/connector.js';
import { createKafka, plaintextConnection } from '../../src/events/kafka.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { systemClock } from '../../src/time.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { readTopic } from '../helpers/connector-kafka.js';
import { failedSessions, prepareDatabase, source } from '../helpers/fault-harness.js';
import { createTestDatabase, createTopic, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';

/**
 * The connector keeps several produce requests in flight. A backlog of many
 * small requests (batchSize 5) drained that way must still put each user's
 * events on the topic in commit order, every one of them.
 */
const USERS = 30;
const ROUNDS = 60;

describe('pipelined publishing', () => {
  let db: TestDatabase;
  let connector: ConnectorHandle | undefined;

  afterAll(async () => {
    await connector?.stop();
    await db?.drop();
  });

  it("keeps each user's events in commit order", async () => {
    db = await createTestDatabase();
    const replication = await prepareDatabase(db.url);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO members SELECT g, 'r-1', g || '@example.com', 'h' FROM generate_series(1, ${USERS}) g`,
      );
      // The backlog, written before the connector starts: one transaction per round, every user in it.
      for (let round = 0; round < ROUNDS; round++) {
        await client.query(`UPDATE members SET nick = $1`, [`r${round}`]);
      }
    } finally {
      await client.end();
    }
    const topic = await createTopic(uniqueName('pipelined'), 3);
    const { logger, lines } = capturingLogger();
    connector = startConnector({
      databaseUrl: db.url,
      source,
      replication: { ...replication, heartbeatMs: 0, statusIntervalMs: 200, batchSize: 5, knownUsers: 1_000 },
      kafka: createKafka({ connection: plaintextConnection(kafkaBrokers()), clientId: 'pingpull-test', logger }),
      topic,
      logger,
      metrics: createMetrics({ defaultMetrics: false }),
      clock: systemClock,
    });
    const last = `r${ROUNDS - 1}`;
    const messages = await readTopic(
      topic,
      (read) => read.filter((m) => (m.value?.after as { nick?: string } | null)?.nick === last).length === USERS,
      120_000,
    );
    expect(failedSessions(lines)).toEqual([]);
    const rounds = new Map<string, number[]>();
    for (const message of messages) {
      const nick = (message.value?.after as { nick: string }).nick;
      const list = rounds.get(message.key ?? '') ?? [];
      list.push(Number(nick.slice(1)));
      rounds.set(message.key ?? '', list);
    }
    const expected = [-1, ...Array.from({ length: ROUNDS }, (_, round) => round)];
    expect(rounds.size).toBe(USERS);
    for (const [user, seen] of rounds) expect(seen, `user ${user}`).toEqual(expected);
  }, 180_000);
});
