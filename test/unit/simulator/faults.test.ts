import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { FaultInjector, parseFaultSpec } from '../../../src/simulator/faults.js';

/** A deterministic source of "random" draws. */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
};

describe('fault specs', () => {
  it('parses the documented shapes', () => {
    expect(parseFaultSpec({ status: 503, rate: 0.3, retryAfterSeconds: 1 })).toEqual({
      status: 503,
      rate: 0.3,
      retryAfterSeconds: 1,
    });
    expect(parseFaultSpec({ status: 500, count: 5 })).toEqual({ status: 500, count: 5 });
  });

  it('reports every problem at once', () => {
    expect(() => parseFaultSpec({ status: 200, rate: 2, count: 0, colour: 'red' })).toThrow(UsageError);
    try {
      parseFaultSpec({ status: 200, rate: 2, count: 0, colour: 'red' });
    } catch (error) {
      expect((error as Error).message).toMatch(/colour.*status.*rate.*count/s);
    }
    expect(() => parseFaultSpec({ rate: 0.5 })).toThrow(/status: required/);
    expect(() => parseFaultSpec([503])).toThrow(UsageError);
  });
});

describe('fault injector', () => {
  it('fails the next `count` pings, then clears itself', () => {
    const faults = new FaultInjector(sequence(0.99));
    faults.set({ status: 500, count: 2 });
    expect(faults.next()).toEqual({ status: 500, retryAfterSeconds: undefined, delayMs: 0 });
    expect(faults.next()?.status).toBe(500);
    expect(faults.next()).toBeUndefined();
    expect(faults.current()).toBeUndefined();
  });

  it('fails a ping when the draw is below the rate, reproducibly', () => {
    const faults = new FaultInjector(sequence(0.1, 0.5, 0.29, 0.3));
    faults.set({ status: 503, rate: 0.3, retryAfterSeconds: 1 });
    const statuses = [1, 2, 3, 4].map(() => faults.next()?.status);
    expect(statuses).toEqual([503, undefined, 503, undefined]);
    expect(faults.current()).toEqual({ spec: { status: 503, rate: 0.3, retryAfterSeconds: 1 }, injected: 2 });
  });

  it('stops at clear()', () => {
    const faults = new FaultInjector(sequence(0));
    faults.set({ status: 429 });
    expect(faults.next()?.status).toBe(429);
    faults.clear();
    expect(faults.next()).toBeUndefined();
  });
});
