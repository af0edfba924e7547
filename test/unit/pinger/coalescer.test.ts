import { describe, expect, it } from 'vitest';
import { Coalescer } from '../../../src/pinger/coalescer.js';
import { FakeTime } from '../../helpers/fake-time.js';

function setup(windowMs = 500) {
  const time = new FakeTime();
  const due: Array<{ key: string; at: number }> = [];
  const coalescer = new Coalescer<number>({
    windowMs,
    clock: time,
    timers: time,
    onDue: (key) => due.push({ key, at: time.now() }),
  });
  return { time, due, coalescer };
}

describe('coalescer', () => {
  it('turns the events of one user within the window into one ping', async () => {
    const { time, due, coalescer } = setup();
    const start = time.now();
    coalescer.add('u1', 1);
    await time.advance(100);
    coalescer.add('u1', 2);
    coalescer.add('u2', 3);
    await time.advance(399);
    expect(due).toEqual([]);
    await time.advance(1);
    expect(due).toEqual([{ key: 'u1', at: start + 500 }]);
    expect(coalescer.begin('u1')).toEqual({ items: [1, 2], attempt: 1 });
    expect(coalescer.size).toBe(3);
    expect(coalescer.succeeded('u1')).toEqual([1, 2]);
    expect(coalescer.size).toBe(1);
    await time.advance(100);
    expect(due.map((d) => d.key)).toEqual(['u1', 'u2']);
  });

  it('events that arrive while the ping waits for a permit ride along', async () => {
    const { time, coalescer } = setup();
    coalescer.add('u1', 1);
    await time.advance(500);
    coalescer.add('u1', 2);
    expect(coalescer.begin('u1')?.items).toEqual([1, 2]);
  });

  it('an event during the ping gets a follow-up ping, its window counted from its arrival', async () => {
    const { time, due, coalescer } = setup();
    coalescer.add('u1', 1);
    await time.advance(500);
    coalescer.begin('u1');
    coalescer.add('u1', 2);
    await time.advance(300);
    coalescer.add('u1', 3);
    expect(coalescer.succeeded('u1')).toEqual([1]);
    expect(coalescer.state('u1')).toBe('window');
    await time.advance(199);
    expect(due).toHaveLength(1);
    await time.advance(1);
    expect(due).toHaveLength(2);
    expect(coalescer.begin('u1')).toEqual({ items: [2, 3], attempt: 1 });
  });

  it('a retry carries everything that came meanwhile, and counts attempts', async () => {
    const { time, due, coalescer } = setup();
    coalescer.add('u1', 1);
    await time.advance(500);
    coalescer.begin('u1');
    coalescer.add('u1', 2);
    coalescer.retry('u1', 1_000);
    coalescer.add('u1', 3);
    expect(coalescer.state('u1')).toBe('retrying');
    await time.advance(1_000);
    expect(due).toHaveLength(2);
    expect(coalescer.begin('u1')).toEqual({ items: [1, 2, 3], attempt: 2 });
    expect(coalescer.failed('u1')).toEqual([1, 2, 3]);
    expect(coalescer.size).toBe(0);
    expect(coalescer.users).toBe(0);
  });

  it('a held group waits without a timer and without counting an attempt until released', async () => {
    const { time, due, coalescer } = setup(0);
    coalescer.add('u1', 1);
    await time.advance(0);
    coalescer.begin('u1');
    coalescer.hold('u1');
    await time.advance(60_000);
    expect(due).toHaveLength(1);
    coalescer.release('u1');
    expect(due).toHaveLength(2);
    expect(coalescer.begin('u1')).toEqual({ items: [1], attempt: 1 });
  });

  it('a burst of 50 updates to one user over 2 s becomes a handful of pings', async () => {
    const { time, due, coalescer } = setup(500);
    let pings = 0;
    for (let i = 0; i < 50; i += 1) {
      coalescer.add('u1', i);
      await time.advance(40);
      while (due.length > 0) {
        const { key } = due.shift() as { key: string };
        coalescer.begin(key);
        pings += 1;
        coalescer.succeeded(key);
      }
    }
    await time.advance(1_000);
    pings += due.length;
    expect(pings).toBeLessThanOrEqual(5);
    expect(pings).toBeGreaterThanOrEqual(4);
  });

  it('close() cancels every timer', async () => {
    const { time, coalescer } = setup();
    coalescer.add('u1', 1);
    coalescer.add('u2', 2);
    coalescer.close();
    expect(time.pendingTimers).toBe(0);
  });
});
