import { describe, expect, it } from 'vitest';
import { createThrottle, type Release } from '../../../src/pinger/throttle.js';
import { FakeTime, flush } from '../../helpers/fake-time.js';

describe('throttle', () => {
  it('grants at most ratePerSecond permits per second after the initial burst', async () => {
    const time = new FakeTime();
    const throttle = createThrottle({ ratePerSecond: 20, concurrency: 1000, burst: 2, clock: time, timers: time });
    const grantedAt: number[] = [];
    for (let i = 0; i < 42; i += 1) {
      void throttle.acquire().then((release) => {
        grantedAt.push(time.now());
        release?.();
      });
    }
    await time.advance(2_000);
    expect(grantedAt).toHaveLength(42);
    // 2 at once (the burst), then one every 50 ms
    const start = grantedAt[0] as number;
    expect(grantedAt.slice(0, 2)).toEqual([start, start]);
    expect((grantedAt[41] as number) - start).toBe(2_000);
    for (let i = 2; i < grantedAt.length; i += 1) {
      expect((grantedAt[i] as number) - (grantedAt[i - 1] as number)).toBe(50);
    }
  });

  it('without a rate (Infinity) is a semaphore: permits at once, up to `concurrency`, no timer', async () => {
    const time = new FakeTime();
    const throttle = createThrottle({ ratePerSecond: Infinity, concurrency: 2, clock: time, timers: time });
    const held: Release[] = [];
    for (let i = 0; i < 5; i += 1) void throttle.acquire().then((release) => release && held.push(release));
    await flush();
    expect(held).toHaveLength(2);
    expect(time.pendingTimers).toBe(0);
    for (let i = 0; i < 3; i += 1) {
      held[i]?.();
      await flush();
    }
    expect(held).toHaveLength(5);
    expect(throttle.inFlight).toBe(2);
    expect(time.pendingTimers).toBe(0);
  });

  it('never has more than `concurrency` permits out', async () => {
    const time = new FakeTime();
    const throttle = createThrottle({ ratePerSecond: 1000, concurrency: 3, clock: time, timers: time });
    const held: Release[] = [];
    for (let i = 0; i < 10; i += 1) void throttle.acquire().then((release) => release && held.push(release));
    await time.advance(100);
    expect(held).toHaveLength(3);
    expect(throttle.inFlight).toBe(3);
    expect(throttle.waiting).toBe(7);
    held[0]?.();
    held[0]?.(); // twice is harmless
    await time.advance(100);
    expect(held).toHaveLength(4);
    expect(throttle.inFlight).toBe(3);
  });

  it('grants in FIFO order', async () => {
    const time = new FakeTime();
    const throttle = createThrottle({ ratePerSecond: 10, concurrency: 10, burst: 1, clock: time, timers: time });
    const order: number[] = [];
    for (let i = 0; i < 5; i += 1) void throttle.acquire().then(() => order.push(i));
    await time.advance(1_000);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it('close() turns waiting and later acquisitions away and cancels its timer', async () => {
    const time = new FakeTime();
    const throttle = createThrottle({ ratePerSecond: 1, concurrency: 10, burst: 1, clock: time, timers: time });
    const results: Array<Release | undefined> = [];
    for (let i = 0; i < 3; i += 1) void throttle.acquire().then((release) => results.push(release));
    await flush();
    throttle.close();
    await flush();
    expect(results.map((r) => typeof r)).toEqual(['function', 'undefined', 'undefined']);
    expect(await throttle.acquire()).toBeUndefined();
    expect(time.pendingTimers).toBe(0);
  });
});
