import { describe, expect, it } from 'vitest';
import { createKafka, ensureTopics, plaintextConnection } from '../../src/events/kafka.js';
import { createLivefyreClient } from '../../src/livefyre/client.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { freePort } from '../helpers/cli.js';
import { changeEventJson, okUserIds, pingerRig, startTestPinger } from '../helpers/pinger-rig.js';
import { createTopic, kafkaBrokers, uniqueName } from '../helpers/services.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { waitFor } from '../helpers/wait.js';
import { testPingerSettings } from '../helpers/pinger-settings.js';

const NETWORK = 'failtest.fyre.co';
const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';
const logger = createLogger('silent');

const settings = testPingerSettings({ concurrency: 4, coalesceMs: 20, maxAttempts: 3 });

describe('pinger failures', () => {
  it('rejects `done` with a clear error when Kafka is unreachable at start, and stops', async () => {
    const port = await freePort();
    const brokers = `127.0.0.1:${port}`;
    const client = createLivefyreClient({
      network: NETWORK,
      networkKey: NETWORK_KEY,
      baseUrl: 'http://127.0.0.1:9',
      timeoutMs: 1_000,
    });
    const handle = startTestPinger({
      kafka: createKafka({ connection: plaintextConnection(brokers), clientId: 'pingpull-unreachable-test', logger }),
      config: {
        kafka: {
          ...plaintextConnection(brokers),
          clientId: 'pingpull-unreachable-test',
          topic: 'changes',
          dlqTopic: 'changes.dlq',
          pullsTopic: '',
          groupId: 'g',
          partitions: 1,
        },
        pinger: settings,
      },
      client,
    });
    await expect(handle.done).rejects.toThrow(
      new RegExp(`could not start with Kafka at ${brokers} \\(kafka.brokers.*ECONNREFUSED`),
    );
    expect(handle.state().status).toBe('failed');
    await handle.stop();
    await client.close();
  }, 120_000);

  it('keeps retrying a dead letter the broker refuses, commits nothing past it, and delivers it once the broker accepts', async (context) => {
    const { kafka, sim, producer, admin, start } = await pingerRig(context, {
      clientId: 'pingpull-dlq-refused-test',
      network: NETWORK,
      networkKey: NETWORK_KEY,
    });
    const topic = await createTopic(uniqueName('refused_changes'), 1);
    const dlqTopic = uniqueName('refused_dlq');
    const groupId = uniqueName('refused_group');
    // A dead letter topic whose records may be 64 bytes at most: every dead letter is refused.
    await ensureTopics(kafka, [dlqTopic], 1, { configEntries: [{ name: 'max.message.bytes', value: '64' }] });
    const metrics = createMetrics({ defaultMetrics: false });
    const log = capturingLogger();
    const handle = start(
      {
        kafka: {
          ...plaintextConnection(kafkaBrokers()),
          clientId: 'x',
          topic,
          dlqTopic,
          pullsTopic: '',
          groupId,
          partitions: 1,
        },
        pinger: settings,
      },
      metrics,
      log.logger,
    );
    const failedDeadLetterWrites = () =>
      log.lines.filter((line) => line.msg.startsWith('writing to the dead letter topic')).length;
    const committed = async (): Promise<number> =>
      Number((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions[0]?.offset ?? -1);
    const dlqEnd = async (): Promise<number> => Number((await admin.fetchTopicOffsets(dlqTopic))[0]?.high ?? 0);

    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'poisoned', value: `{not json ${'x'.repeat(200)}` },
        ...Array.from({ length: 5 }, (_, i) => ({ key: `fine-${i}`, value: changeEventJson(`fine-${i}`) })),
      ],
    });
    await waitFor(async () => okUserIds(sim).size === 5, { what: 'the events after the poison pinged' });
    // several failed attempts at the dead letter, and still nothing committed
    await waitFor(() => failedDeadLetterWrites() >= 3, { what: 'three refused dead letter writes' });
    expect(handle.state().deadLettering).toBe(1);
    expect(await committed()).toBeLessThanOrEqual(0);
    expect(await dlqEnd()).toBe(0);
    expect(handle.state().status).toBe('running');

    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        { type: 2 /* TOPIC */, name: dlqTopic, configEntries: [{ name: 'max.message.bytes', value: '1048588' }] },
      ],
    });
    await waitFor(async () => (await dlqEnd()) === 1, { what: 'the dead letter delivered', timeoutMs: 60_000 });
    await waitFor(async () => (await committed()) === 6, { what: 'every offset committed', timeoutMs: 30_000 });
    expect(handle.state().deadLettering).toBe(0);
    const deadLetters = (await metrics.deadLettersTotal.get()).values;
    expect(deadLetters).toEqual([expect.objectContaining({ labels: { reason: 'invalid-json' }, value: 1 })]);
  }, 180_000);
});
