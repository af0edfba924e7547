import type { Reading } from './readings.js';

/**
 * The console's memory: readings at a fixed pace in a ring buffer, so the
 * charts are full the moment someone opens the page, not from then on.
 */
export class ReadingHistory {
  private readonly ring: Reading[] = [];
  private next = 0;

  constructor(readonly capacity: number) {}

  add(reading: Reading): void {
    if (this.ring.length < this.capacity) this.ring.push(reading);
    else this.ring[this.next] = reading;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Oldest first. */
  all(): Reading[] {
    if (this.ring.length < this.capacity) return [...this.ring];
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }

  /** The newest reading at least `ageMs` older than `t` (the oldest one when none is that old). */
  before(t: number, ageMs: number): Reading | undefined {
    const readings = this.all();
    for (let index = readings.length - 1; index >= 0; index -= 1) {
      const reading = readings[index];
      if (reading !== undefined && reading.t <= t - ageMs) return reading;
    }
    return readings[0];
  }
}

export interface Point {
  t: number;
  value: number;
}

export interface Series {
  key: string;
  title: string;
  unit: 'bytes' | 'seconds' | 'messages' | 'per-second';
  points: Point[];
  /** A second line: the WAL the slot may still retain before Postgres invalidates it. */
  limit?: Point[];
}

function gaugeSeries(readings: Reading[], pick: (reading: Reading) => number | null): Point[] {
  const points: Point[] = [];
  for (const reading of readings) {
    const value = pick(reading);
    if (value !== null) points.push({ t: reading.t, value });
  }
  return points;
}

/** Per-second rates between consecutive readings; a counter that went down (a restart) restarts the rate. */
function rateSeries(readings: Reading[], pick: (reading: Reading) => number): Point[] {
  const points: Point[] = [];
  for (let index = 1; index < readings.length; index += 1) {
    const [before, after] = [readings[index - 1], readings[index]];
    if (before === undefined || after === undefined || after.t <= before.t) continue;
    const delta = pick(after) - pick(before);
    points.push({ t: after.t, value: delta < 0 ? 0 : (delta / (after.t - before.t)) * 1000 });
  }
  return points;
}

/** The `q` quantile of the commit-to-ping delays between two readings, from the histogram's buckets. */
export function quantileBetween(
  before: Reading,
  after: Reading,
  q: number,
  histogram: 'endToEnd' | 'pingToPull' = 'endToEnd',
): number | null {
  const counts = after[histogram].map((bucket, index) => ({
    le: bucket.le,
    count: bucket.count - (before[histogram][index]?.count ?? 0),
  }));
  const total = counts[counts.length - 1]?.count ?? 0;
  if (total <= 0) return null;
  const wanted = q * total;
  const hit = counts.find((bucket) => bucket.count >= wanted);
  return hit === undefined || !Number.isFinite(hit.le) ? null : hit.le;
}

/** Quantiles over the minute before each reading: a quiet sample interval alone does not break the line. */
function quantileSeries(readings: Reading[], q: number, histogram: 'endToEnd' | 'pingToPull'): Point[] {
  const points: Point[] = [];
  let start = 0;
  for (let index = 1; index < readings.length; index += 1) {
    const after = readings[index];
    if (after === undefined) continue;
    while (start < index - 1 && (readings[start + 1]?.t ?? Infinity) <= after.t - QUANTILE_WINDOW_MS) start += 1;
    const before = readings[start];
    const value = before === undefined ? null : quantileBetween(before, after, q, histogram);
    if (value !== null) points.push({ t: after.t, value });
  }
  return points;
}

const QUANTILE_WINDOW_MS = 60_000;

/** Every chart of the console, from the kept readings. */
export function chartSeries(readings: Reading[]): Series[] {
  const pings = (r: Reading) => r.pings.ok + r.pings.retry + r.pings.forbidden + r.pings.deadLetter;
  const pulls = (r: Reading) => r.pulls.ok + r.pulls.clientError + r.pulls.unavailable + r.pulls.other;
  return [
    {
      key: 'slot-lag',
      title: 'Slot lag',
      unit: 'bytes',
      points: gaugeSeries(readings, (r) => r.replicationLagBytes),
    },
    {
      key: 'retained-wal',
      title: 'Retained WAL (dashed: safe_wal_size headroom)',
      unit: 'bytes',
      points: gaugeSeries(readings, (r) => r.retainedBytes),
      limit: gaugeSeries(readings, (r) =>
        r.safeWalSizeBytes === null || r.retainedBytes === null ? null : r.retainedBytes + r.safeWalSizeBytes,
      ),
    },
    {
      key: 'consumer-lag',
      title: 'Consumer lag',
      unit: 'messages',
      points: gaugeSeries(readings, (r) => r.consumerLagMessages),
    },
    {
      key: 'source-lag',
      title: 'Source lag',
      unit: 'seconds',
      points: gaugeSeries(readings, (r) => r.sourceLagSeconds),
    },
    {
      key: 'events-rate',
      title: 'Events published',
      unit: 'per-second',
      points: rateSeries(readings, (r) => r.events),
    },
    { key: 'pings-rate', title: 'Pings', unit: 'per-second', points: rateSeries(readings, pings) },
    { key: 'pulls-rate', title: 'Pulls served', unit: 'per-second', points: rateSeries(readings, pulls) },
    {
      key: 'delay-p50',
      title: 'Commit to ping, median',
      unit: 'seconds',
      points: quantileSeries(readings, 0.5, 'endToEnd'),
    },
    {
      key: 'delay-p99',
      title: 'Commit to ping, 99th percentile',
      unit: 'seconds',
      points: quantileSeries(readings, 0.99, 'endToEnd'),
    },
    {
      key: 'pull-p50',
      title: 'Ping to pull, median',
      unit: 'seconds',
      points: quantileSeries(readings, 0.5, 'pingToPull'),
    },
    {
      key: 'pull-p99',
      title: 'Ping to pull, 99th percentile',
      unit: 'seconds',
      points: quantileSeries(readings, 0.99, 'pingToPull'),
    },
  ];
}
