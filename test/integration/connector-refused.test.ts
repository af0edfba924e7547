import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ConnectorHandle } from '../../src/cdc/connector.js';
import { HEADER_DLQ_REASON, HEADER_TRUNCATED } from '../../src/events/envelope.js';
import { createKafka, ensureTopics, plaintextConnection } from '../../src/events/kafka.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { readTopic } from '../helpers/connector-kafka.js';
import { prepareDatabase, startTestConnector } from '../helpers/fault-harness.js';
import { createTestDatabase, createTopic, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';

/**
 * Records Kafka will never take: a 2 MB display name is over the broker's
 * default max.message.bytes (about 1 MB). The stream must go on: the event
 * goes out without its row images, and what even that cannot carry goes to
 * the dead letter topic.
 */
const HUGE_NICK = 'x'.repeat(2 * 1024 * 1024);

describe('a change event Kafka refuses for good', () => {
  const databases: TestDatabase[] = [];
  let connector: ConnectorHandle | undefined;

  afterEach(async () => {
    await connector?.stop();
    connector = undefined;
  });

  afterAll(async () => {
    for (const db of databases) await db.drop();
  });

  async function run(topic: string, dlq: string, writes: (client: pg.Client) => Promise<void>) {
    const db = await createTestDatabase();
    databases.push(db);
    const replication = await prepareDatabase(db.url);
    const metrics = createMetrics({ defaultMetrics: false });
    const { logger, lines } = capturingLogger();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await writes(client);
    } finally {
      await client.end();
    }
    connector = startTestConnector({
      databaseUrl: db.url,
      brokers: kafkaBrokers(),
      topic,
      deadLetterTopic: dlq,
      logger,
      metrics,
      ...replication,
    });
    return { metrics, lines };
  }

  it('publishes an event too large without its row images, and the stream goes on', async () => {
    const topic = await createTopic(uniqueName('refused'), 3);
    const dlq = await createTopic(uniqueName('refused_dlq'), 1);
    const { metrics } = await run(topic, dlq, async (client) => {
      await client.query(`INSERT INTO members VALUES (1, $1, 'one@example.com', 'h')`, [HUGE_NICK]);
      await client.query(`INSERT INTO members VALUES (2, 'two', 'two@example.com', 'h')`);
    });
    // The two users may sit on different partitions: the small event can be in
    // Kafka before the huge one's image-less re-send, so wait for both.
    const messages = await readTopic(
      topic,
      (read) => read.some((m) => m.key === '1') && read.some((m) => m.key === '2'),
      60_000,
    );
    const huge = messages.find((m) => m.key === '1');
    expect(huge?.headers[HEADER_TRUNCATED]).toBe('before,after');
    expect(huge?.value).toMatchObject({ op: 'c', before: null, after: null, source: { table: 'members' } });
    expect(messages.find((m) => m.key === '2')?.value).toMatchObject({ after: { user_id: '2', nick: 'two' } });
    expect((await metrics.refusedEventsTotal.get()).values).toEqual([
      expect.objectContaining({ labels: { outcome: 'truncated' }, value: 1 }),
    ]);
  });

  it('sends what Kafka refuses even without row images to the dead letter topic, with the reason', async () => {
    // A topic whose limit is below even a bare envelope.
    const topic = uniqueName('tiny');
    const kafka = createKafka({
      connection: plaintextConnection(kafkaBrokers()),
      clientId: 'pingpull-tests',
      logger: createLogger('silent'),
    });
    await ensureTopics(kafka, [topic], 1, { configEntries: [{ name: 'max.message.bytes', value: '200' }] });
    const dlq = await createTopic(uniqueName('tiny_dlq'), 1);
    const { metrics, lines } = await run(topic, dlq, async (client) => {
      await client.query(`INSERT INTO members VALUES (3, 'three', 'three@example.com', 'h')`);
    });
    const letters = await readTopic(dlq, (read) => read.length > 0, 60_000);
    expect(letters[0]?.key).toBe('3');
    expect(letters[0]?.headers[HEADER_DLQ_REASON]).toBe('too-large');
    expect(letters[0]?.headers[HEADER_TRUNCATED]).toBe('before,after');
    expect((await metrics.refusedEventsTotal.get()).values).toEqual([
      expect.objectContaining({ labels: { outcome: 'dead_letter' }, value: 1 }),
    ]);
    expect(lines.some((line) => line.msg.includes(`went to the dead letter topic ${dlq}`))).toBe(true);
  });
});
