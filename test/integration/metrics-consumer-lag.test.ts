import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaLagReader, type KafkaLagReader } from '../../src/events/consumer-lag.js';
import { createProbeKafka, plaintextConnection } from '../../src/events/kafka.js';
import { freePort } from '../helpers/cli.js';
import { createTopic, kafkaBrokers, uniqueName } from '../helpers/services.js';

// Consumer lag from the admin API against the real broker: end offsets
// minus the group's committed offsets, partition by partition.

describe('KafkaLagReader', () => {
  let topic: string;
  let reader: KafkaLagReader;
  const kafka = () =>
    new Kafka({ clientId: 'lag-test', brokers: kafkaBrokers().split(','), logLevel: logLevel.NOTHING });

  beforeAll(async () => {
    topic = await createTopic(uniqueName('lag'), 3);
    // Idempotent: a send retried under load must not write the messages twice,
    // since the assertions count them.
    const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        ...Array.from({ length: 5 }, (_, i) => ({ partition: 0, key: `a${i}`, value: 'x' })),
        ...Array.from({ length: 2 }, (_, i) => ({ partition: 1, key: `b${i}`, value: 'x' })),
      ],
    });
    await producer.disconnect();
    reader = createKafkaLagReader(kafka());
  });

  afterAll(async () => {
    await reader?.close();
  });

  it('counts a never-committed partition whole and a committed one from its offset', async () => {
    const group = uniqueName('group');
    const admin = kafka().admin();
    await admin.connect();
    await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '3' }] });
    await admin.disconnect();

    const lag = await reader.consumerLag(topic, group);
    expect(lag).toEqual({
      topic,
      exists: true,
      total: 4,
      // offsets set by an admin: a group with no consumer in it
      members: 0,
      partitions: [
        { partition: 0, endOffset: 5, committedOffset: 3, lag: 2 },
        { partition: 1, endOffset: 2, committedOffset: null, lag: 2 },
        { partition: 2, endOffset: 0, committedOffset: null, lag: 0 },
      ],
    });
    expect(await reader.topicSize(topic)).toEqual({
      topic,
      exists: true,
      messages: 7,
      partitions: [
        { partition: 0, low: '0', high: '5' },
        { partition: 1, low: '0', high: '2' },
        { partition: 2, low: '0', high: '0' },
      ],
    });
    expect(await reader.groupMarks(topic, group)).toEqual(
      expect.arrayContaining([{ partition: 0, offset: '3', metadata: null }]),
    );
  });

  it('reports a topic that does not exist instead of waiting for it', async () => {
    const missing = uniqueName('missing');
    expect(await reader.consumerLag(missing, 'any')).toEqual({
      topic: missing,
      exists: false,
      partitions: [],
      total: 0,
      members: 0,
    });
    expect(await reader.topicSize(missing)).toEqual({ topic: missing, exists: false, messages: 0, partitions: [] });
  });

  it('fails promptly on a broker that does not listen', async () => {
    const port = await freePort();
    const unreachable = createKafkaLagReader(
      createProbeKafka({
        connection: plaintextConnection(`127.0.0.1:${port}`),
        clientId: 'lag-test',
        timeoutMs: 1_000,
      }),
    );
    await expect(unreachable.consumerLag(topic, 'any')).rejects.toThrow();
    await unreachable.close();
  });
});
