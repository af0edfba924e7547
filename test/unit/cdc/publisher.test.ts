import type { Kafka, Message, ProducerConfig } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { LsnCheckpoint } from '../../../src/cdc/checkpoint.js';
import type { ChangeMessage } from '../../../src/events/envelope.js';
import { ChangePublisher, type AckedBatch } from '../../../src/events/publisher.js';
import { createLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/metrics/registry.js';
// Aliased: flush is the publisher's own word for sending.
import { flush as tick } from '../../helpers/fake-time.js';

interface SentRequest {
  keys: string[];
  acks: number | undefined;
  settle(error?: Error): void;
}

/** A producer whose requests stay in flight until the test settles them. */
function fakeKafka() {
  const requests: SentRequest[] = [];
  const configs: ProducerConfig[] = [];
  const producer = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    send: ({ messages, acks }: { messages: { key: string }[]; acks?: number }) =>
      new Promise<void>((resolve, reject) => {
        requests.push({
          keys: messages.map((m) => m.key),
          acks,
          settle: (error) => (error === undefined ? resolve() : reject(error)),
        });
      }),
  };
  const kafka = {
    producer: (config: ProducerConfig) => {
      configs.push(config);
      return producer;
    },
  } as unknown as Kafka;
  return { kafka, requests, configs };
}

function message(key: string): ChangeMessage {
  return { key, value: null, headers: {} };
}

describe('ChangePublisher', () => {
  it('sends at a flush with acks -1, and groups what arrives meanwhile into the next request', async () => {
    const { kafka, requests } = fakeKafka();
    const publisher = new ChangePublisher({ kafka, topic: 't', batchSize: 10, logger: createLogger('silent') });
    const acked: AckedBatch[] = [];
    publisher.onAcked = (batch) => acked.push(batch);
    await publisher.enqueue(message('a'));
    publisher.flush();
    await publisher.enqueue(message('b'));
    await publisher.enqueue(message('c'));
    publisher.flush();
    expect(requests.map((r) => r.keys)).toEqual([['a']]);
    expect(requests[0]?.acks).toBe(-1);
    requests[0]?.settle();
    await tick();
    expect(acked.map((b) => b.lastSeq)).toEqual([1]);
    expect(requests.map((r) => r.keys)).toEqual([['a'], ['b', 'c']]);
    requests[1]?.settle();
    await tick();
    expect(acked.map((b) => b.lastSeq)).toEqual([1, 3]);
  });

  it('makes enqueue wait while a full batch waits for Kafka', async () => {
    const { kafka, requests } = fakeKafka();
    const publisher = new ChangePublisher({ kafka, topic: 't', batchSize: 2, logger: createLogger('silent') });
    await publisher.enqueue(message('a'));
    await publisher.enqueue(message('b'));
    await publisher.enqueue(message('c')); // the full batch went out
    await publisher.enqueue(message('d'));
    let done = false;
    const blocked = publisher.enqueue(message('e')).then(() => {
      done = true;
    });
    await tick();
    expect(done).toBe(false);
    requests[0]?.settle();
    await blocked;
    expect(requests.map((r) => r.keys)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
  });

  it('makes enqueue wait while maxPendingBytes are not acknowledged, whatever the batch size; a larger event goes alone', async () => {
    const { kafka, requests } = fakeKafka();
    const publisher = new ChangePublisher({
      kafka,
      topic: 't',
      batchSize: 100,
      maxInFlight: 4,
      maxPendingBytes: 10,
      logger: createLogger('silent'),
    });
    const sized = (key: string): ChangeMessage => ({ key, value: null, headers: {} }); // key bytes only
    await publisher.enqueue(sized('aaaa'));
    await publisher.enqueue(sized('bbbb'));
    expect(publisher.backlog()).toMatchObject({ events: 2, bytes: 8, waiting: false });
    await publisher.enqueue(sized('ccc')); // 8 < 10: taken, now 11
    let done = false;
    const blocked = publisher.enqueue(sized('d')).then(() => {
      done = true;
    });
    await tick();
    // Over the bound: what waited went out, and enqueue waits for Kafka.
    expect(done).toBe(false);
    expect(publisher.backlog()).toMatchObject({ events: 3, bytes: 11, waiting: true });
    expect(requests.map((r) => r.keys)).toEqual([['aaaa', 'bbbb', 'ccc']]);
    requests[0]?.settle();
    await blocked;
    expect(publisher.backlog()).toMatchObject({ events: 1, bytes: 1, peakEvents: 3, peakBytes: 11, waiting: false });
    // One event above the bound still goes when nothing else is pending.
    publisher.flush();
    requests[1]?.settle();
    await tick();
    await publisher.enqueue(sized('x'.repeat(50)));
    expect(publisher.backlog()).toMatchObject({ events: 1, bytes: 50, peakBytes: 50 });
  });

  it('stops after a failed request and reports it once', async () => {
    const { kafka, requests } = fakeKafka();
    const publisher = new ChangePublisher({ kafka, topic: 't', batchSize: 10, logger: createLogger('silent') });
    const failures: Error[] = [];
    publisher.onFailed = (error) => failures.push(error);
    await publisher.enqueue(message('a'));
    publisher.flush();
    await publisher.enqueue(message('b'));
    requests[0]?.settle(new Error('broker down'));
    await tick();
    expect(failures).toHaveLength(1);
    expect(requests).toHaveLength(1);
    await expect(publisher.enqueue(message('c'))).rejects.toThrow(/broker down/);
    await publisher.reset();
    expect(publisher.lastSeq).toBe(0);
    await publisher.enqueue(message('d'));
    publisher.flush();
    expect(requests.map((r) => r.keys)).toEqual([['a'], ['d']]);
  });
});

describe('ChangePublisher with requests in flight (pipelining)', () => {
  /** Three one-event transactions, each flushed at its commit as the transaction handler does. */
  async function threeTransactions(publisher: ChangePublisher, checkpoint: LsnCheckpoint): Promise<void> {
    for (const [key, commitEnd] of [
      ['a', 10n],
      ['b', 20n],
      ['c', 30n],
    ] as const) {
      checkpoint.begin();
      await publisher.enqueue(message(key));
      checkpoint.commit(commitEnd, publisher.lastSeq);
      publisher.flush();
    }
  }

  /** One-event transactions are full batches with the default batchSize 1: each may take a free slot. */
  function pipelined(maxInFlight: number, batchSize = 1) {
    const fake = fakeKafka();
    const publisher = new ChangePublisher({
      kafka: fake.kafka,
      topic: 't',
      batchSize,
      maxInFlight,
      logger: createLogger('silent'),
    });
    const checkpoint = new LsnCheckpoint(0n);
    const acked: number[] = [];
    const failures: Error[] = [];
    publisher.onAcked = (batch) => {
      acked.push(batch.lastSeq);
      checkpoint.acked(batch.lastSeq);
    };
    publisher.onFailed = (error) => failures.push(error);
    return { ...fake, publisher, checkpoint, acked, failures };
  }

  it('keeps up to maxInFlight requests in flight, with kafkajs retries', async () => {
    const { publisher, checkpoint, requests, configs } = pipelined(2);
    await threeTransactions(publisher, checkpoint);
    expect(requests.map((r) => r.keys)).toEqual([['a'], ['b']]);
    expect(configs[0]).toMatchObject({ maxInFlightRequests: 2, idempotent: false });
    expect(configs[0]?.retry).toBeUndefined();
    requests[0]?.settle();
    await tick();
    expect(requests.map((r) => r.keys)).toEqual([['a'], ['b'], ['c']]);
  });

  it('sends a partial batch at once only when nothing is in flight: otherwise it grows until a batch is full or nothing is in flight', async () => {
    const { publisher, checkpoint, requests, acked } = pipelined(4, 3);
    const commit = async (keys: readonly string[], commitEnd: bigint): Promise<void> => {
      checkpoint.begin();
      for (const key of keys) await publisher.enqueue(message(key));
      checkpoint.commit(commitEnd, publisher.lastSeq);
      publisher.flush();
    };
    await commit(['a'], 10n);
    await commit(['b'], 20n);
    await commit(['c'], 30n);
    // 'a' went alone (nothing was in flight); 'b' and 'c' wait for company, though slots are free
    expect(requests.map((r) => r.keys)).toEqual([['a']]);
    await commit(['d'], 40n);
    // a full batch takes a free slot
    expect(requests.map((r) => r.keys)).toEqual([['a'], ['b', 'c', 'd']]);
    await commit(['e'], 50n);
    expect(requests).toHaveLength(2);
    requests[0]?.settle();
    await tick();
    // a request still in flight: 'e' still waits
    expect(requests).toHaveLength(2);
    requests[1]?.settle();
    await tick();
    // nothing in flight: what waits goes, full or not
    expect(requests.map((r) => r.keys)).toEqual([['a'], ['b', 'c', 'd'], ['e']]);
    requests[2]?.settle();
    await tick();
    expect(acked).toEqual([1, 4, 5]);
    expect(checkpoint.published).toBe(50n);
  });

  it('never has two requests in flight for one user: a user waits for its request, the others go ahead', async () => {
    const { publisher, checkpoint, requests, acked } = pipelined(4, 3);
    for (const [keys, commitEnd] of [
      [['a', 'b'], 10n],
      [['c', 'a', 'd'], 20n],
      [['e'], 30n],
    ] as const) {
      checkpoint.begin();
      for (const key of keys) await publisher.enqueue(message(key));
      checkpoint.commit(commitEnd, publisher.lastSeq);
      publisher.flush();
    }
    // 'c' may go while 'a' is in flight; 'a' (and everything after it) waits.
    expect(requests.map((r) => r.keys)).toEqual([['a', 'b'], ['c']]);
    requests[1]?.settle();
    await tick();
    expect(requests).toHaveLength(2);
    expect(checkpoint.published).toBe(0n);
    requests[0]?.settle();
    await tick();
    expect(requests.map((r) => r.keys)).toEqual([['a', 'b'], ['c'], ['a', 'd', 'e']]);
    expect(acked).toEqual([2, 3]);
    requests[2]?.settle();
    await tick();
    expect(acked).toEqual([2, 3, 6]);
    expect(checkpoint.published).toBe(30n);
  });

  it('keeps kafkajs retries with one request in flight', () => {
    const { kafka, configs } = fakeKafka();
    new ChangePublisher({ kafka, topic: 't', batchSize: 10, logger: createLogger('silent') });
    expect(configs[0]?.maxInFlightRequests).toBe(1);
    expect(configs[0]?.retry).toBeUndefined();
  });

  it('does not move the checkpoint past a request not yet acknowledged, whatever was acknowledged after it', async () => {
    const { publisher, checkpoint, requests, acked } = pipelined(3);
    await threeTransactions(publisher, checkpoint);
    expect(requests).toHaveLength(3);
    requests[2]?.settle();
    requests[1]?.settle();
    await tick();
    expect(acked).toEqual([]);
    expect(checkpoint.published).toBe(0n);
    requests[0]?.settle();
    await tick();
    expect(acked).toEqual([1, 2, 3]);
    expect(checkpoint.published).toBe(30n);
  });

  it('moves the checkpoint up to the gap: the acknowledged requests before it count, none after it', async () => {
    const { publisher, checkpoint, requests, acked, failures } = pipelined(3);
    await threeTransactions(publisher, checkpoint);
    requests[0]?.settle();
    requests[2]?.settle();
    await tick();
    expect(acked).toEqual([1]);
    expect(checkpoint.published).toBe(10n);
    requests[1]?.settle(new Error('connection reset'));
    await tick();
    expect(failures).toHaveLength(1);
    expect(acked).toEqual([1]);
    expect(checkpoint.published).toBe(10n);
    // The next session starts from the checkpoint; a late acknowledgement of the old one must not count.
    await publisher.reset();
    expect(publisher.lastSeq).toBe(0);
  });

  it('waits for every request in flight before a reset completes', async () => {
    const { publisher, checkpoint, requests, acked } = pipelined(3);
    await threeTransactions(publisher, checkpoint);
    let reset = false;
    const resetting = publisher.reset().then(() => (reset = true));
    requests[0]?.settle();
    requests[1]?.settle();
    await tick();
    expect(reset).toBe(false);
    requests[2]?.settle();
    await resetting;
    expect(acked).toEqual([]);
  });
});

/** What kafkajs throws when the broker refuses a request for good. */
function refusal(type: string): Error {
  return Object.assign(new Error(`refused: ${type}`), { name: 'KafkaJSProtocolError', type, retriable: false });
}

describe('ChangePublisher and events Kafka refuses for good', () => {
  /** A broker that refuses requests to `topic` holding a value longer than `limit` characters. */
  function strictKafka(limit: Record<string, number>) {
    const delivered: { topic: string; key: string | null; value: string | null; headers: Record<string, string> }[] =
      [];
    const producer = {
      connect: async () => undefined,
      disconnect: async () => undefined,
      send: async ({ topic, messages }: { topic: string; messages: Message[] }) => {
        const size = messages.reduce((sum, m) => sum + String(m.value ?? '').length, 0);
        if (size > (limit[topic] ?? Infinity)) throw refusal('MESSAGE_TOO_LARGE');
        for (const m of messages) {
          delivered.push({
            topic,
            key: m.key as string | null,
            value: m.value as string | null,
            headers: m.headers as Record<string, string>,
          });
        }
      },
    };
    return { kafka: { producer: () => producer } as unknown as Kafka, delivered };
  }

  function event(key: string, nick: string): ChangeMessage {
    return {
      key,
      headers: { 'pingpull-event-id': `0/1:${key}` },
      value: {
        before: null,
        after: { id: key, nick },
        op: 'c',
        ts_ms: 1,
        source: {
          version: '0',
          connector: 'pingpull',
          name: 's',
          ts_ms: 1,
          snapshot: 'false',
          db: 'd',
          sequence: '[]',
          schema: 'public',
          table: 'users',
          txId: 1,
          lsn: 1,
          xmin: null,
        },
      },
    };
  }

  it('sends a refused batch event by event; one too large goes without row images, in order', async () => {
    const { kafka, delivered } = strictKafka({ t: 600 });
    const metrics = createMetrics({ defaultMetrics: false });
    const publisher = new ChangePublisher({
      kafka,
      topic: 't',
      batchSize: 10,
      logger: createLogger('silent'),
      deadLetterTopic: 'dlq',
      metrics,
    });
    const acked: number[] = [];
    publisher.onAcked = (batch) => acked.push(batch.lastSeq);
    await publisher.enqueue(event('1', 'a'));
    await publisher.enqueue(event('2', 'x'.repeat(1_000)));
    await publisher.enqueue(event('3', 'c'));
    await publisher.drain();
    expect(delivered.map((m) => [m.topic, m.key, m.headers['pingpull-truncated'] ?? null])).toEqual([
      ['t', '1', null],
      ['t', '2', 'before,after'],
      ['t', '3', null],
    ]);
    expect(JSON.parse(delivered[1]?.value ?? '{}')).toMatchObject({ op: 'c', before: null, after: null });
    expect(acked).toEqual([3]);
    expect((await metrics.refusedEventsTotal.get()).values).toEqual([
      expect.objectContaining({ labels: { outcome: 'truncated' }, value: 1 }),
    ]);
  });

  it('with requests in flight, sends the ones after a refused request again after its events, so the newest event of a user stays last', async () => {
    // Requests wait for the test until `auto`; then the broker answers at once.
    const delivered: { key: string; truncated: boolean }[] = [];
    const waiting: Array<() => void> = [];
    let auto = false;
    const producer = {
      connect: async () => undefined,
      disconnect: async () => undefined,
      send: ({ messages }: { topic: string; messages: Message[] }) =>
        new Promise<void>((resolve, reject) => {
          const answer = (): void => {
            if (messages.reduce((sum, m) => sum + String(m.value ?? '').length, 0) > 600) {
              reject(refusal('MESSAGE_TOO_LARGE'));
              return;
            }
            for (const m of messages) {
              const headers = m.headers as Record<string, string>;
              delivered.push({ key: m.key as string, truncated: headers['pingpull-truncated'] !== undefined });
            }
            resolve();
          };
          if (auto) answer();
          else waiting.push(answer);
        }),
    };
    const publisher = new ChangePublisher({
      kafka: { producer: () => producer } as unknown as Kafka,
      topic: 't',
      batchSize: 2,
      maxInFlight: 2,
      logger: createLogger('silent'),
      deadLetterTopic: 'dlq',
    });
    const acked: number[] = [];
    publisher.onAcked = (batch) => acked.push(batch.lastSeq);
    await publisher.enqueue(event('1', 'old'));
    await publisher.enqueue(event('2', 'x'.repeat(1_000)));
    publisher.flush();
    // a full batch: it takes the second slot
    await publisher.enqueue(event('3', 'new'));
    await publisher.enqueue(event('4', 'other'));
    publisher.flush();
    expect(waiting).toHaveLength(2);
    // The later request lands first; then the first one is refused.
    waiting[1]?.();
    auto = true;
    waiting[0]?.();
    await publisher.drain();
    expect(delivered).toEqual([
      { key: '3', truncated: false },
      { key: '4', truncated: false },
      { key: '1', truncated: false },
      { key: '2', truncated: true },
      { key: '3', truncated: false },
      { key: '4', truncated: false },
    ]);
    expect(acked).toEqual([2, 4]);
  });

  it('dead-letters an event refused even without row images, with the reason', async () => {
    const { kafka, delivered } = strictKafka({ t: 10 });
    const publisher = new ChangePublisher({
      kafka,
      topic: 't',
      batchSize: 10,
      logger: createLogger('silent'),
      deadLetterTopic: 'dlq',
    });
    await publisher.enqueue(event('1', 'a'));
    await publisher.drain();
    expect(delivered.map((m) => [m.topic, m.key, m.headers['pingpull-dlq-reason']])).toEqual([
      ['dlq', '1', 'too-large'],
    ]);
  });

  it('does not take a broker that is away for a refusal', async () => {
    const { kafka, requests } = fakeKafka();
    const publisher = new ChangePublisher({
      kafka,
      topic: 't',
      batchSize: 10,
      logger: createLogger('silent'),
      deadLetterTopic: 'dlq',
    });
    const failures: Error[] = [];
    publisher.onFailed = (error) => failures.push(error);
    await publisher.enqueue(message('a'));
    publisher.flush();
    requests[0]?.settle(
      Object.assign(new Error('retries exhausted'), { name: 'KafkaJSNumberOfRetriesExceeded', retriable: false }),
    );
    await tick();
    expect(failures).toHaveLength(1);
    expect(requests).toHaveLength(1);
  });
});
