import { describe, expect, it } from 'vitest';
import type { Pool, PoolClient } from '../../../src/db.js';
import { createDatabaseGate } from '../../../src/pull/admission.js';
import { FakeTime, flush } from '../../helpers/fake-time.js';

/** A pool whose connections are handed out only when the test says so. */
function manualPool() {
  const waiting: Array<(client: PoolClient) => void> = [];
  const released: unknown[] = [];
  const client = { release: (destroy?: unknown) => void released.push(destroy ?? false) } as unknown as PoolClient;
  const pool = { connect: () => new Promise<PoolClient>((resolve) => waiting.push(resolve)) } as unknown as Pick<
    Pool,
    'connect'
  >;
  return {
    pool,
    released,
    grant: () => waiting.shift()?.(client),
    get waiting() {
      return waiting.length;
    },
  };
}

describe('database gate', () => {
  it('runs work on a pooled connection and hands the connection back', async () => {
    const { pool, released, grant } = manualPool();
    const timers = new FakeTime();
    const gate = createDatabaseGate({ pool, maxInFlight: 2, timeoutMs: 1000, timers });
    const outcome = gate.run(async () => 'row');
    grant();
    expect(await outcome).toEqual({ status: 'done', value: 'row' });
    expect(released).toEqual([false]);
    expect(gate.inFlight).toBe(0);
  });

  it('refuses work beyond the cap at once instead of queueing it', async () => {
    const manual = manualPool();
    const timers = new FakeTime();
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
    await flush();
    const again = gate.run(async () => 4);
    manual.grant();
    expect(await again).toEqual({ status: 'done', value: 4 });
  });

  it('answers "timeout" at the deadline, keeps counting the abandoned work, and skips it when a connection comes late', async () => {
    const manual = manualPool();
    const time = new FakeTime();
    const gate = createDatabaseGate({ pool: manual.pool, maxInFlight: 1, timeoutMs: 1000, timers: time });
    let ran = false;
    const outcome = gate.run(async () => {
      ran = true;
    });
    await time.advance(1000);
    expect(await outcome).toEqual({ status: 'timeout' });
    expect(await gate.run(async () => 'x')).toEqual({ status: 'busy' });
    manual.grant();
    await flush();
    expect(ran).toBe(false);
    expect(manual.released).toEqual([false]);
    expect(gate.inFlight).toBe(0);
  });

  it('passes errors on, and destroys a connection that failed for a reason other than SQL', async () => {
    const manual = manualPool();
    const time = new FakeTime();
    const gate = createDatabaseGate({ pool: manual.pool, maxInFlight: 1, timeoutMs: 1000, timers: time });
    const outcome = gate.run(async () => {
      throw new Error('connection reset');
    });
    manual.grant();
    await expect(outcome).rejects.toThrow('connection reset');
    expect(manual.released).toEqual([true]);
    expect(time.pendingTimers).toBe(0);
  });
});
