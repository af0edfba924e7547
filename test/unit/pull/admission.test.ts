import { describe, expect, it } from 'vitest';
import type { Pool, PoolClient } from '../../../src/db.js';
import { createDatabaseGate } from '../../../src/pull/admission.js';
import type { Timers } from '../../../src/time.js';

/** Timers fired by hand. */
function manualTimers() {
  const pending = new Map<number, () => void>();
  let next = 0;
  const timers: Timers = {
    setTimeout: (callback) => {
      const id = next++;
      pending.set(id, callback);
      return { id } as never;
    },
    clearTimeout: (handle) => void pending.delete((handle as { id: number }).id),
  };
  return { timers, fireAll: () => [...pending.values()].forEach((fire) => fire()), get count() { return pending.size; } };
}

/** A pool whose connections are handed out only when the test says so. */
function manualPool() {
  const waiting: Array<(client: PoolClient) => void> = [];
  const released: unknown[] = [];
  const client = { release: (destroy?: unknown) => void released.push(destroy ?? false) } as unknown as PoolClient;
  const pool = { connect: () => new Promise<PoolClient>((resolve) => waiting.push(resolve)) } as unknown as Pick<Pool, 'connect'>;
  return { pool, released, grant: () => waiting.shift()?.(client), get waiting() { return waiting.length; } };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('database gate', () => {
  it('runs work on a pooled connection and hands the connection back', async () => {
    const { pool, released, grant } = manualPool();
    const { timers } = manualTimers();
    const gate = createDatabaseGate({ pool, maxInFlight: 2, timeoutMs: 1000, timers });
    const outcome = gate.run(async () => 'row');
    grant();
    expect(await outcome).toEqual({ status: 'done', value: 'row' });
    expect(released).toEqual([false]);
    expect(gate.inFlight).toBe(0);
  });

  it('refuses work beyond the cap at once instead of queueing it', async () => {
    const manual = manualPool();
    const { timers } = manualTimers();
    const gate = createDatabaseGate({ pool: manual.pool, maxInFlight: 2, timeoutMs: 1000, timers });
    const first = gate.run(async () => 1);
    const second = gate.run(async () => 2);
    expect(await gate.run(async () => 3)).toEqual({ status: 'busy' });
    expect(manual.waiting).toBe(2);
    manual.grant();
    manual.grant();
    expect([await first, await second]).toEqual([
      { status: 'done', value: 1 },
      { status: 'done', value: 2 },
    ]);
    await tick();
    const again = gate.run(async () => 4);
    manual.grant();
    expect(await again).toEqual({ status: 'done', value: 4 });
  });

  it('answers "timeout" at the deadline, keeps counting the abandoned work, and skips it when a connection comes late', async () => {
    const manual = manualPool();
    const time = manualTimers();
    const gate = createDatabaseGate({ pool: manual.pool, maxInFlight: 1, timeoutMs: 1000, timers: time.timers });
    let ran = false;
    const outcome = gate.run(async () => {
      ran = true;
    });
    time.fireAll();
    expect(await outcome).toEqual({ status: 'timeout' });
    expect(await gate.run(async () => 'x')).toEqual({ status: 'busy' });
    manual.grant();
    await tick();
    expect(ran).toBe(false);
    expect(manual.released).toEqual([false]);
    expect(gate.inFlight).toBe(0);
  });

  it('passes errors on, and destroys a connection that failed for a reason other than SQL', async () => {
    const manual = manualPool();
    const time = manualTimers();
    const gate = createDatabaseGate({ pool: manual.pool, maxInFlight: 1, timeoutMs: 1000, timers: time.timers });
    const outcome = gate.run(async () => {
      throw new Error('connection reset');
    });
    manual.grant();
    await expect(outcome).rejects.toThrow('connection reset');
    expect(manual.released).toEqual([true]);
    expect(time.count).toBe(0);
  });
});
