import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Pool, PoolClient } from '../../../src/db.js';
import { createBatchingGate, createDatabaseGate, type BatchRead } from '../../../src/pull/admission.js';
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

/** A batched read over a fixed table of keys, recording the keys of every query; it waits while `held` is set. */
function tableRead(table: Record<string, string>) {
  const queries: string[][] = [];
  let release: (() => void) | undefined;
  let failWith: unknown;
  const read: BatchRead<string> = async (_client, keys) => {
    queries.push([...keys]);
    if (hold) await new Promise<void>((resolve) => (release = resolve));
    if (failWith !== undefined) throw failWith;
    return new Map(keys.flatMap((key) => (table[key] === undefined ? [] : [[key, table[key] as string] as const])));
  };
  let hold = false;
  return {
    read,
    queries,
    holdQueries: () => {
      hold = true;
    },
    releaseQuery: () => {
      hold = false;
      release?.();
    },
    fail: (error: unknown) => {
      failWith = error;
    },
  };
}

/** Hands out the next connection once one is asked for (a few turns of the event loop at most). */
async function grantNext(manual: ReturnType<typeof manualPool>): Promise<void> {
  for (let turn = 0; turn < 10 && manual.waiting === 0; turn++) await flush();
  if (manual.waiting === 0) throw new Error('no connection was asked for');
  manual.grant();
}

describe('batching database gate', () => {
  const table = { a: 'Ada', b: 'Bob', c: 'Cy' };
  const gateOver = (
    manual: ReturnType<typeof manualPool>,
    read: BatchRead<string>,
    time: FakeTime,
    limits: Partial<{ maxInFlight: number; timeoutMs: number; maxBatch: number; maxBatches: number }> = {},
  ) =>
    createBatchingGate({
      pool: manual.pool,
      read,
      maxInFlight: 100,
      timeoutMs: 1000,
      maxBatch: 100,
      maxBatches: 1,
      timers: time,
      ...limits,
    });

  it('answers the lookups of one turn with one query on one connection, each its own value or none', async () => {
    const manual = manualPool();
    const time = new FakeTime();
    const { read, queries } = tableRead(table);
    const gate = gateOver(manual, read, time);
    const outcomes = ['a', 'zz', 'b', 'a'].map((key) => gate.run(key));
    await flush();
    expect(manual.waiting).toBe(1);
    manual.grant();
    expect(await Promise.all(outcomes)).toEqual([
      { status: 'done', value: 'Ada' },
      { status: 'done', value: undefined },
      { status: 'done', value: 'Bob' },
      { status: 'done', value: 'Ada' },
    ]);
    expect(queries).toEqual([['a', 'zz', 'b']]);
    expect(manual.released).toEqual([false]);
    expect(gate.inFlight).toBe(0);
    expect(gate.batches).toBe(0);
    expect(time.pendingTimers).toBe(0);
  });

  it('collects the lookups that arrive while a query runs into the next query, at most maxBatch keys each', async () => {
    const manual = manualPool();
    const time = new FakeTime();
    const reads = tableRead(table);
    const gate = gateOver(manual, reads.read, time, { maxBatch: 2 });
    reads.holdQueries();
    const first = gate.run('a');
    await flush();
    manual.grant();
    await flush();
    expect(reads.queries).toEqual([['a']]);
    const later = ['b', 'c', 'zz'].map((key) => gate.run(key));
    await flush();
    expect(manual.waiting).toBe(0);
    reads.releaseQuery();
    expect(await first).toEqual({ status: 'done', value: 'Ada' });
    await grantNext(manual);
    await grantNext(manual);
    expect(await Promise.all(later)).toEqual([
      { status: 'done', value: 'Bob' },
      { status: 'done', value: 'Cy' },
      { status: 'done', value: undefined },
    ]);
    expect(reads.queries).toEqual([['a'], ['b', 'c'], ['zz']]);
  });

  it('runs up to maxBatches queries at once', async () => {
    const manual = manualPool();
    const time = new FakeTime();
    const reads = tableRead(table);
    const gate = gateOver(manual, reads.read, time, { maxBatch: 1, maxBatches: 2 });
    const outcomes = ['a', 'b', 'c'].map((key) => gate.run(key));
    await flush();
    expect(manual.waiting).toBe(2);
    expect(gate.batches).toBe(2);
    manual.grant();
    manual.grant();
    await grantNext(manual);
    expect((await Promise.all(outcomes)).map((outcome) => outcome.status)).toEqual(['done', 'done', 'done']);
    expect(reads.queries).toEqual([['a'], ['b'], ['c']]);
  });

  it('counts lookups waiting for a query against the cap and refuses the one beyond it at once', async () => {
    const manual = manualPool();
    const time = new FakeTime();
    const reads = tableRead(table);
    const gate = gateOver(manual, reads.read, time, { maxInFlight: 2 });
    reads.holdQueries();
    const first = gate.run('a');
    await flush();
    manual.grant();
    await flush();
    const waiting = gate.run('b');
    expect(await gate.run('c')).toEqual({ status: 'busy' });
    expect(gate.inFlight).toBe(2);
    reads.releaseQuery();
    expect(await first).toEqual({ status: 'done', value: 'Ada' });
    await grantNext(manual);
    expect(await waiting).toEqual({ status: 'done', value: 'Bob' });
  });

  it('times a waiting lookup out at its deadline and drops it from the count at once', async () => {
    const manual = manualPool();
    const time = new FakeTime();
    const reads = tableRead(table);
    const gate = gateOver(manual, reads.read, time, { timeoutMs: 1000 });
    reads.holdQueries();
    const first = gate.run('a');
    await flush();
    manual.grant();
    await time.advance(500);
    const second = gate.run('b');
    await time.advance(600);
    // the first one's query still runs (it keeps its place); the second never reached a query
    expect(await first).toEqual({ status: 'timeout' });
    await time.advance(400);
    expect(await second).toEqual({ status: 'timeout' });
    expect(gate.inFlight).toBe(1);
    reads.releaseQuery();
    await flush();
    expect(gate.inFlight).toBe(0);
    expect(reads.queries).toEqual([['a']]);
    expect(manual.waiting).toBe(0);
  });

  it('hands back a connection that comes after every lookup of its batch timed out, without a query', async () => {
    const manual = manualPool();
    const time = new FakeTime();
    const reads = tableRead(table);
    const gate = gateOver(manual, reads.read, time, { maxInFlight: 2 });
    const outcomes = [gate.run('a'), gate.run('b')];
    await time.advance(1000);
    expect(await Promise.all(outcomes)).toEqual([{ status: 'timeout' }, { status: 'timeout' }]);
    expect(await gate.run('c')).toEqual({ status: 'busy' });
    manual.grant();
    await flush();
    expect(reads.queries).toEqual([]);
    expect(manual.released).toEqual([false]);
    expect(gate.inFlight).toBe(0);
  });

  it('gives every lookup of a failed query the error, and keeps the connection only after a database error', async () => {
    const manual = manualPool();
    const time = new FakeTime();
    const reads = tableRead(table);
    const gate = gateOver(manual, reads.read, time);
    reads.fail(new Error('connection reset'));
    const broken = ['a', 'zz'].map((key) => gate.run(key));
    await flush();
    manual.grant();
    for (const outcome of broken) await expect(outcome).rejects.toThrow('connection reset');
    expect(manual.released).toEqual([true]);

    reads.fail(new pg.DatabaseError('column "nick" does not exist', 0, 'error'));
    const refused = ['a', 'b'].map((key) => gate.run(key));
    await flush();
    manual.grant();
    for (const outcome of refused) await expect(outcome).rejects.toThrow('column "nick" does not exist');
    expect(manual.released).toEqual([true, false]);
    expect(gate.inFlight).toBe(0);
    expect(time.pendingTimers).toBe(0);
  });

  it('gives every lookup the error when no connection can be had', async () => {
    const time = new FakeTime();
    const reads = tableRead(table);
    const pool = { connect: () => Promise.reject(new Error('ECONNREFUSED')) } as unknown as Pick<Pool, 'connect'>;
    const gate = createBatchingGate({
      pool,
      read: reads.read,
      maxInFlight: 10,
      timeoutMs: 1000,
      maxBatch: 10,
      maxBatches: 1,
      timers: time,
    });
    const outcomes = ['a', 'b'].map((key) => gate.run(key));
    for (const outcome of outcomes) await expect(outcome).rejects.toThrow('ECONNREFUSED');
    expect(gate.inFlight).toBe(0);
  });
});
