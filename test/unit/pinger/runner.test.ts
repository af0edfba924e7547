import { describe, expect, it } from 'vitest';
import type { RawMessage } from '../../../src/events/consumer.js';
import { createLogger } from '../../../src/log.js';
import { OffsetManager } from '../../../src/pinger/offset-manager.js';
import { PingerRunner, type PendingEvent } from '../../../src/pinger/runner.js';
import { FakeTime, flush } from '../../helpers/fake-time.js';

function change(offset: string, value: unknown): RawMessage {
  const bytes = value === undefined ? null : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
  return { topic: 't', partition: 0, offset, key: Buffer.from('u1'), value: bytes, headers: {} };
}

function setup(maxPendingEvents: number) {
  const time = new FakeTime();
  const offsets = new OffsetManager({ commitIntervalMs: 1000, timers: time });
  const pinged: PendingEvent[] = [];
  const deadLettered: Array<{ events: readonly PendingEvent[]; reason: string }> = [];
  const runner = new PingerRunner({
    offsets,
    ping: (_userId, event) => pinged.push(event),
    deadLetter: (events, reason) => deadLettered.push({ events, reason }),
    maxPendingEvents,
    logger: createLogger('silent'),
    timers: time,
  });
  return { time, runner, pinged, deadLettered };
}

describe('PingerRunner', () => {
  it('holds the consumer back while as many events as allowed are unfinished', async () => {
    const { time, runner, deadLettered } = setup(2);
    runner.accept(change('0', 'not json'));
    runner.accept(change('1', 'not json'));
    expect(deadLettered.map((d) => d.reason)).toEqual(['invalid-json', 'invalid-json']);
    expect(runner.hasRoom()).toBe(false);
    let woke = false;
    void runner.waitForRoom(5000).then(() => {
      woke = true;
    });
    await time.advance(10);
    expect(woke).toBe(false);
    runner.finished(deadLettered[0]?.events ?? []);
    await flush();
    expect(woke).toBe(true);
    expect(runner.hasRoom()).toBe(true);
  });

  it('waits for room at most the given time', async () => {
    const { time, runner } = setup(0);
    let woke = false;
    void runner.waitForRoom(100).then(() => {
      woke = true;
    });
    await time.advance(99);
    expect(woke).toBe(false);
    await time.advance(1);
    expect(woke).toBe(true);
  });

  it('ignores a re-fetched message', () => {
    const { runner, deadLettered } = setup(10);
    runner.accept(change('0', 'not json'));
    runner.accept(change('0', 'not json'));
    expect(deadLettered).toHaveLength(1);
  });
});
