import { describe, expect, it } from 'vitest';
import { ReplicationError } from '../../../src/errors.js';
import { silenceLimitMs, watchSilence } from '../../../src/cdc/silence.js';
import { FakeTime } from '../../helpers/fake-time.js';

describe('watchSilence', () => {
  it('probes half-way, then takes a stream silent past the limit for dead (retriable)', async () => {
    const time = new FakeTime();
    const heard = time.now();
    let probes = 0;
    const abort = new AbortController();
    let outcome: unknown = 'running';
    void watchSilence({
      limitMs: 10_000,
      lastHeard: () => heard,
      probe: () => (probes += 1),
      signal: abort.signal,
      clock: time,
      timers: time,
    }).then(
      () => (outcome = 'resolved'),
      (error: unknown) => (outcome = error),
    );
    await time.advance(4_000);
    expect(probes).toBe(0);
    await time.advance(2_000);
    expect(probes).toBe(1);
    expect(outcome).toBe('running');
    await time.advance(4_000);
    expect(outcome).toBeInstanceOf(ReplicationError);
    expect((outcome as ReplicationError).retriable).toBe(true);
    expect((outcome as ReplicationError).message).toContain('silent for 10 s');
    expect(probes).toBe(1);
  });

  it('keeps quiet while the server speaks, and ends with the session', async () => {
    const time = new FakeTime();
    let heard = time.now();
    const abort = new AbortController();
    let outcome: unknown = 'running';
    void watchSilence({
      limitMs: 10_000,
      lastHeard: () => heard,
      probe: () => undefined,
      signal: abort.signal,
      clock: time,
      timers: time,
    }).then(
      () => (outcome = 'resolved'),
      (error: unknown) => (outcome = error),
    );
    for (let i = 0; i < 10; i++) {
      await time.advance(4_000);
      heard = time.now();
    }
    expect(outcome).toBe('running');
    abort.abort();
    await time.advance(1_000);
    expect(outcome).toBe('resolved');
  });

  it('allows the server its wal_sender_timeout plus a margin, and a default when the timeout is off', () => {
    expect(silenceLimitMs(60_000)).toBe(65_000);
    expect(silenceLimitMs(0)).toBe(65_000);
    expect(silenceLimitMs(2_000)).toBe(7_000);
  });
});
