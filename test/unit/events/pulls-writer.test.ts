import type { Kafka, Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { connectPullsWriter, HEADER_PULL } from '../../../src/events/pulls.js';
import { createLogger } from '../../../src/log.js';
import { FakeTime, flush } from '../../helpers/fake-time.js';

/** A producer whose requests stay in flight until the test answers them. */
function fakeKafka() {
  const requests: Array<{ messages: Message[]; answer(): void }> = [];
  const producer = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    send: ({ messages }: { messages: Message[] }) =>
      new Promise<void>((resolve) => requests.push({ messages, answer: resolve })),
  };
  return { kafka: { producer: () => producer } as unknown as Kafka, requests };
}

const keys = (messages: readonly Message[]): string[] => messages.map((message) => String(message.key));

/** A writer on that producer, with fake time: `served` records linger `servedLingerMs`. */
async function setup(servedLingerMs: number) {
  const { kafka, requests } = fakeKafka();
  const time = new FakeTime();
  const writer = await connectPullsWriter({
    kafka,
    topic: 'pulls',
    clock: time,
    timers: time,
    logger: createLogger('silent'),
    servedLingerMs,
  });
  return { writer, requests };
}

describe('the pulls topic writer', () => {
  it('sends a backlog of records in requests of at most 500, in order, one at a time', async () => {
    const { writer, requests } = await setup(0);
    writer.served('u0');
    // a backlog builds up while the first request is in flight (Kafka slow or away)
    for (let i = 1; i <= 1_200; i += 1) writer.served(`u${i}`);
    expect(requests.map((request) => request.messages.length)).toEqual([1]);
    for (let answered = 0; answered < 3; answered += 1) {
      requests[answered]?.answer();
      await flush();
    }
    expect(requests.map((request) => request.messages.length)).toEqual([1, 500, 500, 200]);
    expect(requests.flatMap((request) => keys(request.messages))).toEqual(
      Array.from({ length: 1_201 }, (_, i) => `u${i}`),
    );
    expect(requests.every((request) => request.messages.every((m) => m.headers?.[HEADER_PULL] === 'served'))).toBe(
      true,
    );
  });

  it('disconnecting sends the whole backlog first, request after request', async () => {
    const { writer, requests } = await setup(100);
    for (let i = 0; i < 1_001; i += 1) writer.served(`u${i}`);
    let disconnected = false;
    const disconnecting = writer.disconnect().then(() => (disconnected = true));
    for (let answered = 0; answered < 2; answered += 1) {
      await flush();
      expect(disconnected).toBe(false);
      requests[answered]?.answer();
    }
    await flush();
    expect(disconnected).toBe(false);
    requests[2]?.answer();
    await disconnecting;
    expect(requests.map((request) => request.messages.length)).toEqual([500, 500, 1]);
  });
});
