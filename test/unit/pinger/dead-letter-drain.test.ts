import { describe, expect, it } from 'vitest';
import type { RawMessage } from '../../../src/events/consumer.js';
import type { DeadLetter } from '../../../src/events/dead-letters.js';
import { createLogger } from '../../../src/log.js';
import { DeadLetterDrain } from '../../../src/pinger/dead-letter-drain.js';
import { FakeTime, flush } from '../../helpers/fake-time.js';

interface Event {
  id: number;
  message: RawMessage;
}

const event = (id: number): Event => ({
  id,
  message: { topic: 't', partition: 0, offset: String(id), key: null, value: null, headers: {} },
});

function setup(failures: number) {
  const time = new FakeTime();
  const sent: Array<{ at: number; letters: readonly DeadLetter[] }> = [];
  const delivered: number[] = [];
  let calls = 0;
  const drain = new DeadLetterDrain<Event>({
    topic: 'dlq',
    retryBaseMs: 100,
    retryMaxMs: 250,
    random: () => 0.5,
    logger: createLogger('silent'),
    timers: time,
    delivered: (events) => delivered.push(...events.map((e) => e.id)),
  });
  drain.start({
    send: async (letters) => {
      calls += 1;
      if (calls <= failures) throw new Error('broker away');
      sent.push({ at: time.now(), letters });
    },
  });
  return { time, drain, sent, delivered, start: time.now() };
}

describe('DeadLetterDrain', () => {
  it('writes letters in the order the events failed, and only then lets them be committed', async () => {
    const { drain, sent, delivered } = setup(0);
    drain.add([event(1), event(2)], 'max-attempts', 5, 'HTTP 500');
    drain.add([event(3)], 'invalid-json', 0, 'not JSON');
    await flush();
    expect(sent.flatMap((s) => s.letters.map((l) => l.message.offset))).toEqual(['1', '2', '3']);
    expect(sent[0]?.letters[0]).toMatchObject({ reason: 'max-attempts', attempts: 5, error: 'HTTP 500' });
    expect(delivered).toEqual([1, 2, 3]);
    expect(drain.size).toBe(0);
  });

  it('retries a failed write with a growing, capped delay', async () => {
    const { time, drain, sent, delivered, start } = setup(3);
    drain.add([event(1)], 'max-attempts', 5, 'HTTP 500');
    await time.advance(100 + 200 + 249);
    expect(sent).toEqual([]);
    expect(delivered).toEqual([]);
    expect(drain.size).toBe(1);
    await time.advance(1);
    expect(sent.map((s) => s.at - start)).toEqual([550]);
    expect(delivered).toEqual([1]);
  });

  it('stops retrying once closed: what is left is not delivered', async () => {
    const { time, drain, delivered } = setup(Number.POSITIVE_INFINITY);
    drain.add([event(1)], 'max-attempts', 5, 'HTTP 500');
    const closed = drain.close(1000);
    await time.advance(1000);
    await closed;
    await time.advance(10_000);
    expect(delivered).toEqual([]);
    expect(drain.size).toBe(1);
  });
});
