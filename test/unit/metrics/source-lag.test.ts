import { describe, expect, it } from 'vitest';
import { SourceLagEstimator } from '../../../src/metrics/source-lag.js';

const reading = (walEndBytes: number, confirmedFlushBytes: number | null) => ({ walEndBytes, confirmedFlushBytes });

describe('SourceLagEstimator', () => {
  it('is 0 while the slot confirms everything it is shown', () => {
    const lag = new SourceLagEstimator();
    expect(lag.observe(0, reading(100, 100))).toBe(0);
    expect(lag.observe(5_000, reading(180, 180))).toBe(0);
    expect(lag.observe(10_000, reading(180, 180))).toBe(0);
  });

  it('is 0, not a spike, when the slot is just short of the WAL end it was shown last time (a heartbeat in flight)', () => {
    const lag = new SourceLagEstimator();
    expect(lag.observe(0, reading(100, 100))).toBe(0);
    expect(lag.observe(5_000, reading(172, 100))).toBe(0);
    expect(lag.observe(10_000, reading(244, 172))).toBe(0);
  });

  it('grows with the time since the first reading the slot has not passed, for as long as it stays stuck', () => {
    const lag = new SourceLagEstimator();
    lag.observe(0, reading(100, 100));
    lag.observe(5_000, reading(400, 100));
    expect(lag.observe(10_000, reading(900, 100))).toBe(5);
    expect(lag.observe(15_000, reading(900, 100))).toBe(10);
    expect(lag.observe(65_000, reading(1_500, 100))).toBe(60);
  });

  it('falls as the slot catches up, reading by reading, to 0', () => {
    const lag = new SourceLagEstimator();
    lag.observe(0, reading(100, 100));
    lag.observe(5_000, reading(200, 100));
    lag.observe(10_000, reading(300, 100));
    lag.observe(15_000, reading(400, 100));
    // WAL 250..300 was written between the readings at 5 s and 10 s: at least 10 s old at 20 s.
    expect(lag.observe(20_000, reading(400, 250))).toBe(10);
    expect(lag.observe(25_000, reading(400, 400))).toBe(0);
  });

  it('keeps the oldest reading through a long stall even when it thins the rest', () => {
    const lag = new SourceLagEstimator(4);
    lag.observe(0, reading(100, 100));
    for (let i = 1; i <= 20; i++) lag.observe(i * 1_000, reading(100 + i * 10, 100));
    expect(lag.observe(21_000, reading(400, 100))).toBe(20);
  });

  it('is unknown while the slot never confirmed anything', () => {
    expect(new SourceLagEstimator().observe(0, reading(100, null))).toBeNull();
  });
});
