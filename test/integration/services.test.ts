import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, createTopic, databaseUrl, kafkaBrokers, uniqueName } from '../helpers/services.js';

// Proves the local services are what the rest of the suite assumes.

describe('local PostgreSQL', () => {
  it('runs with wal_level=logical', async () => {
    const client = new pg.Client({ connectionString: databaseUrl() });
    await client.connect();
    try {
      const { rows } = await client.query<{ wal_level: string }>('SHOW wal_level');
      expect(rows[0]?.wal_level).toBe('logical');
    } finally {
      await client.end();
    }
  });

  it('gives each test a database whose drop also removes its replication slots', async () => {
    const db = await createTestDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const slot = uniqueName('slot');
    try {
      await client.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    } finally {
      await client.end();
    }
    await db.drop();

    const admin = new pg.Client({ connectionString: databaseUrl() });
    await admin.connect();
    try {
      const slots = await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      const dbs = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
      expect(slots.rowCount).toBe(0);
      expect(dbs.rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  });
});

describe('local Kafka', () => {
  it('round-trips messages through a consumer group with manual commits', async () => {
    const topic = await createTopic(uniqueName('services_test'), 3);
    const groupId = uniqueName('services_group');
    const kafka = new Kafka({
      clientId: 'services-test',
      brokers: kafkaBrokers().split(','),
      logLevel: logLevel.NOTHING,
    });

    // Idempotent: a send retried under load must not write the messages twice,
    // since the assertions count them.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const messages = Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 7}`, value: `v${i}` }));
    await producer.send({ topic, acks: -1, messages });
    await producer.disconnect();

    const admin = kafka.admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(topic);
    expect(ends.reduce((n, p) => n + Number(p.high), 0)).toBe(messages.length);

    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const seen: string[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        consumer
          .run({
            eachBatchAutoResolve: false,
            autoCommit: false,
            eachBatch: async ({ batch, resolveOffset }) => {
              for (const m of batch.messages) {
                seen.push(m.value!.toString());
                resolveOffset(m.offset);
              }
              const next = (BigInt(batch.lastOffset()) + 1n).toString();
              await consumer.commitOffsets([{ topic, partition: batch.partition, offset: next }]);
              if (seen.length === messages.length) resolve();
            },
          })
          .catch(reject);
      });
      expect(seen.sort()).toEqual(messages.map((m) => m.value).sort());
    } finally {
      await consumer.disconnect();
    }

    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const byPartition = new Map(ends.map((p) => [p.partition, p.high]));
    for (const p of committed!.partitions) expect(p.offset).toBe(byPartition.get(p.partition));
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
  });
});
