import { describe, expect, it } from 'vitest';
import { LivefyreError } from '../../../src/errors.js';
import type { DeadLetter } from '../../../src/events/dead-letters.js';
import type { AwaitingPull } from '../../../src/events/pulls.js';
import { createLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import { AwaitingPulls } from '../../../src/pinger/awaiting-pulls.js';
import { createRetryPolicy } from '../../../src/retry.js';
import { FakeTime } from '../../helpers/fake-time.js';

const CONFIRM_MS = 60_000;

function setup(
  options: {
    maxAttempts?: number;
    pingAttempts?: number;
    rePing?: (userId: string) => Promise<void>;
    /** Runs as a record is written, before the write resolves (a consumer reading it before the producer's ack). */
    onWrite?: (userId: string, awaiting: AwaitingPull) => void;
  } = {},
) {
  const time = new FakeTime();
  const metrics = createMetrics({ defaultMetrics: false });
  const written: Array<{ userId: string; awaiting: AwaitingPull | 'settled' }> = [];
  const rePings: string[] = [];
  const letters: DeadLetter[] = [];
  const pulls = new AwaitingPulls({
    confirmMs: CONFIRM_MS,
    windowPolicy: createRetryPolicy({
      baseMs: 1_000,
      maxMs: 1_000,
      maxAttempts: options.maxAttempts ?? 3,
      jitter: 'none',
    }),
    pingPolicy: createRetryPolicy({
      baseMs: 1_000,
      maxMs: 1_000,
      maxAttempts: options.pingAttempts ?? 3,
      jitter: 'none',
    }),
    retryMs: 500,
    forbiddenPauseMs: 30_000,
    rePing: async (userId) => {
      rePings.push(userId);
      await options.rePing?.(userId);
    },
    metrics,
    logger: createLogger('silent'),
    clock: time,
    timers: time,
    random: () => 0.5,
  });
  pulls.start(
    {
      awaiting: async (userId, awaiting) => {
        written.push({ userId, awaiting });
        options.onWrite?.(userId, awaiting);
      },
      settled: async (userId) => void written.push({ userId, awaiting: 'settled' }),
    },
    async (letter) => void letters.push(letter),
  );
  const awaiting = (attempt = 1): AwaitingPull => ({
    pingedAtMs: time.now(),
    firstPingedAtMs: time.now(),
    attempt,
    event: { topic: 'changes', partition: 0, offset: '41', value: '{"op":"u"}', headers: { h: 'v' } },
  });
  return { time, metrics, pulls, written, rePings, letters, awaiting };
}

describe('AwaitingPulls', () => {
  it('a served pull after the ping confirms it: no re-ping, the delay observed', async () => {
    const t = setup();
    t.pulls.assigned({ partitions: [{ partition: 0, from: 0n, end: 0n }] });
    t.pulls.record(0, 0n, { kind: 'awaiting', userId: 'u1', awaiting: t.awaiting() });
    expect(t.pulls.state().awaiting).toBe(1);
    await t.time.advance(5_000);
    t.pulls.record(0, 1n, { kind: 'served', userId: 'u1', atMs: t.time.now() });
    await t.time.advance(CONFIRM_MS * 2);
    expect(t.rePings).toEqual([]);
    expect(t.pulls.state()).toEqual({ awaiting: 0, oldestFirstPingedAtMs: null });
    expect(await t.metrics.registry.getSingleMetricAsString('pingpull_ping_to_pull_seconds')).toContain(
      'pingpull_ping_to_pull_seconds_sum 5',
    );
  });

  it('pings again after the deadline and the backoff, recording the attempt first', async () => {
    const t = setup();
    t.pulls.assigned({ partitions: [{ partition: 0, from: 0n, end: 0n }] });
    const first = t.awaiting();
    t.pulls.record(0, 0n, { kind: 'awaiting', userId: 'u1', awaiting: first });
    await t.time.advance(CONFIRM_MS + 999);
    expect(t.rePings).toEqual([]);
    await t.time.advance(1);
    expect(t.rePings).toEqual(['u1']);
    expect(t.written).toEqual([
      { userId: 'u1', awaiting: { ...first, pingedAtMs: first.pingedAtMs + CONFIRM_MS + 1_000, attempt: 2 } },
    ]);
    expect(t.pulls.state().oldestFirstPingedAtMs).toBe(first.firstPingedAtMs);
  });

  it("sends the re-ping when its own record is read back before Kafka's ack", async () => {
    let offset = 0n;
    const t = setup({
      maxAttempts: 3,
      onWrite: (userId, awaiting) => t.pulls.record(0, (offset += 1n), { kind: 'awaiting', userId, awaiting }),
    });
    t.pulls.assigned({ partitions: [{ partition: 0, from: 0n, end: 0n }] });
    t.pulls.record(0, 0n, { kind: 'awaiting', userId: 'u1', awaiting: t.awaiting() });
    await t.time.advance(CONFIRM_MS + 1_000);
    expect(t.rePings).toEqual(['u1']);
    await t.time.advance(CONFIRM_MS + 1_000);
    expect(t.rePings).toEqual(['u1', 'u1']);
    await t.time.advance(CONFIRM_MS);
    // every attempt the dead letter counts was a ping sent
    expect(t.letters.map((letter) => letter.attempts)).toEqual([3]);
  });

  it('dead-letters the change as not_pulled once the budget is spent, then ends the wait', async () => {
    const t = setup({ maxAttempts: 2 });
    t.pulls.assigned({ partitions: [{ partition: 0, from: 0n, end: 0n }] });
    t.pulls.record(0, 0n, { kind: 'awaiting', userId: 'u1', awaiting: t.awaiting() });
    await t.time.advance(CONFIRM_MS + 1_000);
    expect(t.rePings).toEqual(['u1']);
    await t.time.advance(CONFIRM_MS);
    expect(t.letters).toHaveLength(1);
    expect(t.letters[0]).toMatchObject({ reason: 'not_pulled', attempts: 2 });
    expect(t.letters[0]?.message).toMatchObject({ topic: 'changes', partition: 0, offset: '41', headers: { h: 'v' } });
    expect(t.letters[0]?.message.key?.toString()).toBe('u1');
    expect(t.letters[0]?.message.value?.toString()).toBe('{"op":"u"}');
    expect(t.written.at(-1)).toEqual({ userId: 'u1', awaiting: 'settled' });
    expect(t.pulls.state().awaiting).toBe(0);
  });

  it('judges no deadline before the partition is rebuilt up to its end', async () => {
    const t = setup();
    t.pulls.assigned({ partitions: [{ partition: 0, from: 0n, end: 3n }] });
    t.pulls.record(0, 0n, { kind: 'awaiting', userId: 'u1', awaiting: t.awaiting() });
    await t.time.advance(CONFIRM_MS * 3);
    expect(t.rePings).toEqual([]);
    // the pull recorded later in the log arrives: nothing was due after all
    t.pulls.record(0, 2n, { kind: 'served', userId: 'u1', atMs: t.time.now() });
    await t.time.advance(CONFIRM_MS * 3);
    expect(t.rePings).toEqual([]);
  });

  it('a wait found overdue while rebuilding is judged once the partition is rebuilt', async () => {
    const t = setup();
    t.pulls.assigned({ partitions: [{ partition: 0, from: 0n, end: 2n }] });
    t.pulls.record(0, 0n, { kind: 'awaiting', userId: 'u1', awaiting: t.awaiting() });
    await t.time.advance(CONFIRM_MS * 2);
    t.pulls.record(0, 1n, { kind: 'served', userId: 'other', atMs: t.time.now() });
    await t.time.advance(1_000);
    expect(t.rePings).toEqual(['u1']);
  });

  it('a 403 to a re-ping spends no attempt', async () => {
    const t = setup({
      maxAttempts: 2,
      rePing: async () => Promise.reject(new LivefyreError('refused', { status: 403, retriable: false })),
    });
    t.pulls.assigned({ partitions: [{ partition: 0, from: 0n, end: 0n }] });
    t.pulls.record(0, 0n, { kind: 'awaiting', userId: 'u1', awaiting: t.awaiting() });
    await t.time.advance(CONFIRM_MS + 1_000 + 30_000 * 3);
    expect(t.rePings.length).toBe(4);
    expect(t.letters).toEqual([]);
  });

  it('a re-ping Livefyre fails spends no window: retried with the ping policy, then dead-lettered', async () => {
    let failing = true;
    const t = setup({
      maxAttempts: 2,
      pingAttempts: 3,
      rePing: async () => {
        if (failing) throw new LivefyreError('unavailable', { status: 503, retriable: true });
      },
    });
    t.pulls.assigned({ partitions: [{ partition: 0, from: 0n, end: 0n }] });
    t.pulls.record(0, 0n, { kind: 'awaiting', userId: 'u1', awaiting: t.awaiting() });
    await t.time.advance(CONFIRM_MS + 1_000 + 1_000);
    // two failed re-pings: the window budget (one re-ping) is untouched, the wait goes on
    expect(t.rePings).toEqual(['u1', 'u1']);
    expect(t.letters).toEqual([]);
    failing = false;
    await t.time.advance(1_000);
    expect(t.rePings).toHaveLength(3);
    await t.time.advance(CONFIRM_MS);
    expect(t.letters).toMatchObject([{ reason: 'not_pulled', attempts: 2 }]);

    // A re-ping that keeps failing runs out of the ping policy's attempts instead.
    const down = setup({
      maxAttempts: 5,
      pingAttempts: 2,
      rePing: async () => Promise.reject(new LivefyreError('unavailable', { status: 503, retriable: true })),
    });
    down.pulls.assigned({ partitions: [{ partition: 0, from: 0n, end: 0n }] });
    down.pulls.record(0, 0n, { kind: 'awaiting', userId: 'u1', awaiting: down.awaiting() });
    await down.time.advance(CONFIRM_MS + 1_000 + 1_000);
    expect(down.rePings).toHaveLength(2);
    expect(down.letters).toMatchObject([{ reason: 'not_pulled', attempts: 1 }]);
  });

  it('commits the oldest awaited record per rebuilt partition, with the summary as metadata', () => {
    const t = setup();
    t.pulls.assigned({
      partitions: [
        { partition: 0, from: 0n, end: 0n },
        { partition: 1, from: 5n, end: 9n },
      ],
    });
    t.pulls.record(0, 3n, { kind: 'awaiting', userId: 'u1', awaiting: t.awaiting() });
    t.pulls.record(0, 4n, { kind: 'served', userId: 'u9', atMs: t.time.now() });
    t.pulls.record(0, 6n, { kind: 'awaiting', userId: 'u2', awaiting: t.awaiting() });
    const marks = t.pulls.marks();
    expect(marks.map((m) => [m.partition, m.offset])).toEqual([[0, '3']]);
    expect(marks[0]?.metadata).toBe(
      `pingpull-pulls:${JSON.stringify({ awaiting: 2, oldestFirstPingedAtMs: t.time.now(), atMs: t.time.now() })}`,
    );
    t.pulls.record(0, 7n, { kind: 'settled', userId: 'u1' });
    t.pulls.record(0, 8n, { kind: 'served', userId: 'u2', atMs: t.time.now() });
    expect(t.pulls.marks().map((m) => [m.partition, m.offset])).toEqual([[0, '9']]);
  });

  it('summarises each rebuilt partition from its own waits only', async () => {
    const t = setup();
    t.pulls.assigned({
      partitions: [
        { partition: 0, from: 0n, end: 0n },
        { partition: 1, from: 0n, end: 5n },
        { partition: 2, from: 0n, end: 0n },
      ],
    });
    const early = t.awaiting();
    await t.time.advance(1_000);
    t.pulls.record(0, 2n, { kind: 'awaiting', userId: 'u1', awaiting: t.awaiting() });
    t.pulls.record(1, 1n, { kind: 'awaiting', userId: 'u2', awaiting: early });
    t.pulls.record(2, 4n, { kind: 'awaiting', userId: 'u3', awaiting: early });
    t.pulls.record(2, 7n, { kind: 'awaiting', userId: 'u4', awaiting: t.awaiting() });
    const summary = (metadata: string) => JSON.parse(metadata.slice('pingpull-pulls:'.length)) as object;
    // partition 1 is still being rebuilt: no mark, and its wait counts nowhere else
    expect(t.pulls.marks().map((m) => [m.partition, m.offset, summary(m.metadata)])).toEqual([
      [0, '2', { awaiting: 1, oldestFirstPingedAtMs: t.time.now(), atMs: t.time.now() }],
      [2, '4', { awaiting: 2, oldestFirstPingedAtMs: early.firstPingedAtMs, atMs: t.time.now() }],
    ]);
  });
});
