import { describe, expect, it } from 'vitest';
import { funnel } from '../../../src/console/funnel.js';
import { quantileBetween } from '../../../src/console/history.js';
import type { Reading } from '../../../src/console/readings.js';

function reading(t: number, scale: number, endToEnd: Array<{ le: number; count: number }> = []): Reading {
  return {
    t,
    rowChanges: 10 * scale,
    skipped: 2 * scale,
    nullIds: 0,
    truncates: 0,
    events: 8 * scale,
    pings: { ok: 7 * scale, retry: scale, forbidden: 0, deadLetter: scale },
    pulls: { ok: 7 * scale, clientError: scale, unavailable: 0, other: 0 },
    replicationLagBytes: 0,
    retainedBytes: 0,
    safeWalSizeBytes: null,
    sourceLagSeconds: 0,
    consumerLagMessages: 0,
    endToEnd,
    pingToPull: [],
    confirmed: 6 * scale,
  };
}

const ALL = new Set(['connector', 'pinger', 'pull-server']);

describe('the funnel', () => {
  it('adds up: skipped and published make the row changes, ping results make the pings', () => {
    const rows = Object.fromEntries(funnel(reading(120_000, 3), reading(60_000, 1), ALL).map((row) => [row.key, row]));
    expect(rows['skipped']!.total! + rows['events']!.total!).toBe(rows['row-changes']!.total);
    expect(
      ['pings-ok', 'pings-retried', 'pings-refused', 'pings-dead'].reduce((sum, key) => sum + rows[key]!.total!, 0),
    ).toBe(rows['pings']!.total);
    expect(rows['pulls']).toMatchObject({ total: 24, lastMinute: 16 });
  });

  it('counts the whole total as the last minute while the process is younger than a minute', () => {
    const rows = funnel(reading(30_000, 2), undefined, ALL);
    expect(rows.find((row) => row.key === 'events')).toMatchObject({ total: 16, lastMinute: 16 });
  });

  it('counts the pings a served pull confirmed, never more than the pulls served 200', () => {
    const rows = funnel(reading(120_000, 3), reading(60_000, 1), ALL);
    const confirmed = rows.find((row) => row.key === 'confirmed');
    expect(confirmed).toMatchObject({ total: 18, lastMinute: 12 });
    expect(confirmed?.total).toBeLessThanOrEqual(rows.find((row) => row.key === 'pulls-ok')?.total ?? 0);
  });
});

describe('delay percentiles', () => {
  it('reads the bucket holding the quantile of the delays between two readings', () => {
    const before = reading(0, 1, [
      { le: 0.1, count: 5 },
      { le: 1, count: 5 },
      { le: Infinity, count: 5 },
    ]);
    const after = reading(60_000, 1, [
      { le: 0.1, count: 55 },
      { le: 1, count: 104 },
      { le: Infinity, count: 105 },
    ]);
    expect(quantileBetween(before, after, 0.5)).toBe(0.1);
    expect(quantileBetween(before, after, 0.9)).toBe(1);
    expect(quantileBetween(before, after, 1)).toBeNull();
    expect(quantileBetween(after, after, 0.5)).toBeNull();
  });
});
