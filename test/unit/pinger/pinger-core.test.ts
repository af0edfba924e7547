import { describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config/index.js';
import { LivefyreError, PublishError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import { PingerCore } from '../../../src/pinger/pinger.js';
import { FakeTime } from '../../helpers/fake-time.js';
import { testPingerSettings } from '../../helpers/pinger-settings.js';

const settings = testPingerSettings({
  ratePerSecond: 100,
  concurrency: 4,
  coalesceMs: 100,
  retryBaseMs: 1_000,
  retryMaxMs: 10_000,
  forbiddenPauseMs: 30_000,
  commitIntervalMs: 1_000,
  stopGraceMs: 5_000,
});

interface Event {
  n: number;
  commitTsMs: number | undefined;
}

type Answer = 'ok' | LivefyreError;

/** A ping's answer: at once, or a promise that settles when the test says (`signal` aborts an abandoned ping). */
function setup(
  answer: (userId: string, call: number, signal?: AbortSignal) => Answer | Promise<void>,
  overrides: Partial<Config['pinger']> = {},
  beforePing?: (userId: string, events: readonly Event[]) => Promise<void>,
) {
  const time = new FakeTime();
  const metrics = createMetrics({ defaultMetrics: false });
  const calls: Array<{ userId: string; at: number }> = [];
  const pinged: Event[] = [];
  const gaveUp: Array<{ events: readonly Event[]; reason: string; attempts: number }> = [];
  const lines: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => lines.push(line) });
  const core = new PingerCore<Event>({
    client: {
      ping: async (userId, signal) => {
        calls.push({ userId, at: time.now() });
        const result = answer(userId, calls.length, signal);
        if (result instanceof Promise) return result;
        if (result !== 'ok') throw result;
      },
    },
    settings: { ...settings, ...overrides },
    logger,
    metrics,
    clock: time,
    timers: time,
    random: () => 0.5,
    onPinged: (events) => pinged.push(...events),
    onGaveUp: (events, reason, attempts) => gaveUp.push({ events, reason, attempts }),
    ...(beforePing === undefined ? {} : { beforePing }),
  });
  const count = async (result: string) =>
    (await metrics.pingsTotal.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  const errors = () => lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 50);
  return { time, core, calls, pinged, gaveUp, count, errors, metrics };
}

const unavailable = () => new LivefyreError('503', { status: 503, retriable: true });
const forbidden = () => new LivefyreError('403', { status: 403, retriable: false });

describe('pinger core', () => {
  it('pings once per user for coalesced events and records end-to-end latency', async () => {
    const { time, core, calls, pinged, count, metrics } = setup(() => 'ok');
    core.submit('u1', { n: 1, commitTsMs: time.now() - 200 });
    core.submit('u1', { n: 2, commitTsMs: time.now() - 100 });
    core.submit('u2', { n: 3, commitTsMs: undefined });
    await time.advance(100);
    expect(calls.map((c) => c.userId)).toEqual(['u1', 'u2']);
    expect(pinged.map((e) => e.n)).toEqual([1, 2, 3]);
    expect(await count('ok')).toBe(2);
    const histogram = (await metrics.endToEndSeconds.get()).values.find((v) => v.metricName?.endsWith('_count'));
    expect(histogram?.value).toBe(2);
    expect(core.state()).toMatchObject({ pendingEvents: 0, inFlight: 0, forbidden: false });
  });

  it('retries transient failures with backoff and succeeds', async () => {
    const { time, core, calls, pinged, count } = setup((_, call) => (call <= 2 ? unavailable() : 'ok'));
    core.submit('u1', { n: 1, commitTsMs: undefined });
    await time.advance(100);
    await time.advance(10_000);
    expect(calls).toHaveLength(3);
    // equal jitter with random 0.5: 750 ms, then 1500 ms
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBe(750);
    expect((calls[2]?.at ?? 0) - (calls[1]?.at ?? 0)).toBe(1_500);
    expect(pinged).toHaveLength(1);
    expect(await count('retry')).toBe(2);
  });

  it('honours Retry-After', async () => {
    const tooMany = new LivefyreError('429', { status: 429, retriable: true, retryAfterMs: 5_000 });
    const { time, core, calls } = setup((_, call) => (call === 1 ? tooMany : 'ok'));
    core.submit('u1', { n: 1, commitTsMs: undefined });
    await time.advance(100);
    await time.advance(4_999);
    expect(calls).toHaveLength(1);
    await time.advance(1);
    expect(calls).toHaveLength(2);
  });

  it('gives up after maxAttempts with every event of the user', async () => {
    const { time, core, calls, gaveUp, count } = setup(() => unavailable());
    core.submit('u1', { n: 1, commitTsMs: undefined });
    await time.advance(100);
    core.submit('u1', { n: 2, commitTsMs: undefined });
    await time.advance(60_000);
    expect(calls).toHaveLength(4);
    expect(gaveUp).toEqual([
      {
        events: [
          { n: 1, commitTsMs: undefined },
          { n: 2, commitTsMs: undefined },
        ],
        reason: 'max-attempts',
        attempts: 4,
      },
    ]);
    expect(await count('dead_letter')).toBe(1);
    expect(core.state().pendingEvents).toBe(0);
  });

  it('gives up at once on a 4xx other than 403', async () => {
    const { time, core, gaveUp } = setup(() => new LivefyreError('404', { status: 404, retriable: false }));
    core.submit('u1', { n: 1, commitTsMs: undefined });
    await time.advance(100);
    expect(gaveUp).toMatchObject([{ reason: 'rejected', attempts: 1 }]);
  });

  it('on 403: one error, nobody burns retries, one probe per pause, everyone resumes when accepted', async () => {
    let accepted = false;
    const { time, core, calls, pinged, gaveUp, count, errors } = setup(() => (accepted ? 'ok' : forbidden()));
    for (let i = 0; i < 10; i += 1) core.submit(`u${i}`, { n: i, commitTsMs: undefined });
    await time.advance(100);
    // the first pings were already on their way (concurrency 4), the rest are parked
    expect(calls.length).toBeLessThanOrEqual(10);
    const first = calls.length;
    expect(core.state().forbidden).toBe(true);
    expect(errors()).toHaveLength(1);
    expect(errors()[0]?.msg).toMatch(/403.*livefyre\.networkKey/s);

    await time.advance(30_000 * 5);
    // one probe per pause
    expect(calls.length - first).toBe(5);
    expect(errors()).toHaveLength(1);
    expect(gaveUp).toEqual([]);
    expect(pinged).toEqual([]);
    expect(await count('forbidden')).toBe(calls.length);
    core.submit('u0', { n: 100, commitTsMs: undefined });

    accepted = true;
    await time.advance(30_000);
    await time.advance(1_000);
    expect(core.state().forbidden).toBe(false);
    expect(pinged.map((e) => e.n).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100]);
    expect(core.state().pendingEvents).toBe(0);
  });

  it('stop() waits for pings in flight within the grace, then abandons them', async () => {
    const aborted: string[] = [];
    const { time, core } = setup(
      (userId, _call, signal) =>
        new Promise<void>((_, reject) => {
          signal?.addEventListener('abort', () => {
            aborted.push(userId);
            reject(new LivefyreError('abandoned', { retriable: true }));
          });
        }),
    );
    core.submit('u1', { n: 1, commitTsMs: undefined });
    core.submit('u2', { n: 2, commitTsMs: undefined });
    await time.advance(100);
    expect(core.state().inFlight).toBe(2);
    const stopped = core.stop(5_000);
    await time.advance(4_999);
    expect(aborted).toEqual([]);
    await time.advance(1);
    await stopped;
    expect(aborted.sort()).toEqual(['u1', 'u2']);
    expect(time.pendingTimers).toBe(0);
  });

  describe('with a record written before each ping (pull confirmation)', () => {
    /** `beforePing` calls that wait until the test acknowledges them, as Kafka would. */
    function recorder() {
      const pending: Array<{ userId: string; ack: () => void; fail: (error: Error) => void }> = [];
      const recorded: string[] = [];
      const beforePing = (userId: string): Promise<void> =>
        new Promise<void>((resolve, reject) => {
          recorded.push(userId);
          pending.push({ userId, ack: resolve, fail: reject });
        });
      const ackAll = (): void => {
        for (const record of pending.splice(0)) record.ack();
      };
      return { pending, recorded, beforePing, ackAll };
    }

    it('sends no ping before its record is acknowledged', async () => {
      const records = recorder();
      const { time, core, calls, pinged } = setup(() => 'ok', {}, records.beforePing);
      core.submit('u1', { n: 1, commitTsMs: undefined });
      await time.advance(100);
      expect(records.recorded).toEqual(['u1']);
      expect(calls).toEqual([]);
      expect(core.state().inFlight).toBe(1);
      records.ackAll();
      await time.advance(0);
      expect(calls.map((c) => c.userId)).toEqual(['u1']);
      expect(pinged.map((e) => e.n)).toEqual([1]);
    });

    it('writes the records of up to 4 × `concurrency` users at once, outside the ping slots', async () => {
      const records = recorder();
      const answers: Array<() => void> = [];
      const pingedUsers: string[] = [];
      // Pings that stay in flight until the test answers them.
      const { time, core } = setup(
        (userId) =>
          new Promise<void>((resolve) => {
            pingedUsers.push(userId);
            answers.push(resolve);
          }),
        { concurrency: 1 },
        records.beforePing,
      );
      for (let i = 1; i <= 8; i += 1) core.submit(`u${i}`, { n: i, commitTsMs: undefined });
      await time.advance(100);
      // Four records at a time, none acknowledged yet: no ping.
      expect(records.recorded).toEqual(['u1', 'u2', 'u3', 'u4']);
      expect(pingedUsers).toEqual([]);
      records.ackAll();
      await time.advance(0);
      // u1 holds the one ping slot; u2-u4 wait for it, and u5's record is written meanwhile.
      expect(pingedUsers).toEqual(['u1']);
      expect(records.recorded).toEqual(['u1', 'u2', 'u3', 'u4', 'u5']);
      records.ackAll();
      await time.advance(0);
      // Acknowledged users keep their recording slots until their permit: no further record.
      expect(pingedUsers).toEqual(['u1']);
      expect(records.recorded).toHaveLength(5);
      answers.shift()?.();
      await time.advance(0);
      expect(pingedUsers).toEqual(['u1', 'u2']);
      expect(records.recorded).toEqual(['u1', 'u2', 'u3', 'u4', 'u5', 'u6']);
    });

    it('a failed record fails the attempt: no ping, retried with backoff', async () => {
      let failNext = true;
      const { time, core, calls, pinged } = setup(
        () => 'ok',
        {},
        async () => {
          if (failNext) {
            failNext = false;
            throw new PublishError('Kafka refused the record', undefined);
          }
        },
      );
      core.submit('u1', { n: 1, commitTsMs: undefined });
      await time.advance(100);
      expect(calls).toEqual([]);
      await time.advance(1_000);
      expect(calls.map((c) => c.userId)).toEqual(['u1']);
      expect(pinged.map((e) => e.n)).toEqual([1]);
    });

    it('a user whose record was acknowledged after Livefyre refused the token waits for the token, then is pinged', async () => {
      let accepted = false;
      const records = recorder();
      const { time, core, calls, pinged } = setup(() => (accepted ? 'ok' : forbidden()), {}, records.beforePing);
      core.submit('u1', { n: 1, commitTsMs: undefined });
      core.submit('u2', { n: 2, commitTsMs: undefined });
      await time.advance(100);
      expect(records.recorded).toEqual(['u1', 'u2']);
      // u1's ping gets the 403 while u2's record waits for Kafka.
      records.pending.shift()?.ack();
      await time.advance(0);
      expect(core.state().forbidden).toBe(true);
      records.ackAll();
      await time.advance(0);
      // u2 is held with the others: no ping while Livefyre refuses the token.
      expect(calls.map((c) => c.userId)).toEqual(['u1']);
      expect(core.state()).toMatchObject({ inFlight: 0, pendingEvents: 2 });
      accepted = true;
      // The probe after the pause (u1 again: recorded, then pinged) lets everyone go on.
      await time.advance(30_000);
      records.ackAll();
      await time.advance(0);
      records.ackAll();
      await time.advance(0);
      expect(core.state().forbidden).toBe(false);
      expect(calls.map((c) => c.userId)).toEqual(['u1', 'u1', 'u2']);
      expect(pinged.map((e) => e.n).sort()).toEqual([1, 2]);
    });
  });
});
