import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { ChangeMessage } from '../../../src/events/envelope.js';
import { ChangePublisher, type AckedBatch } from '../../../src/events/publisher.js';
import { createLogger } from '../../../src/log.js';
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
  const kafka = { producer: () => producer } as unknown as Kafka;
  return { kafka, requests };
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
