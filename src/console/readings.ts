import type { Counter, Gauge, Histogram } from 'prom-client';
import type { Metrics } from '../metrics/registry.js';

/** What the console reads from the process's own metrics at one instant. */
export interface Reading {
  /** Unix milliseconds. */
  t: number;
  rowChanges: number;
  skipped: number;
  /** Rows whose user id is NULL: nobody to ping. */
  nullIds: number;
  /** TRUNCATEs: published, naming no user. */
  truncates: number;
  /** Events published, all ops. */
  events: number;
  pings: { ok: number; retry: number; forbidden: number; deadLetter: number };
  pulls: { ok: number; clientError: number; unavailable: number; other: number };
  /** Null until the process has read the figure (its role runs elsewhere, or no reading yet). */
  replicationLagBytes: number | null;
  retainedBytes: number | null;
  /** Null when unlimited. */
  safeWalSizeBytes: number | null;
  sourceLagSeconds: number | null;
  consumerLagMessages: number | null;
  /** Commit-to-ping histogram: cumulative counts per upper bound (seconds). */
  endToEnd: Array<{ le: number; count: number }>;
  /** Ping-to-pull histogram of the pings a served pull confirmed. */
  pingToPull: Array<{ le: number; count: number }>;
  /** Pings a served pull confirmed. */
  confirmed: number;
}

type Sample = { value: number; labels: Partial<Record<string, string | number>>; metricName?: string };

async function samples(metric: Counter<string> | Gauge<string> | Histogram<string>): Promise<Sample[]> {
  return (await metric.get()).values as Sample[];
}

async function sum(metric: Counter<string> | Gauge<string>): Promise<number> {
  return (await samples(metric)).reduce((total, sample) => total + sample.value, 0);
}

/** A gauge nobody has set yet has no sample: that is "not read", not 0. */
async function gauge(metric: Gauge<string>): Promise<number | null> {
  const values = await samples(metric);
  if (values.length === 0) return null;
  return values.reduce((total, sample) => total + sample.value, 0);
}

async function byLabel(metric: Counter<string>, label: string): Promise<Map<string, number>> {
  const totals = new Map<string, number>();
  for (const sample of await samples(metric)) {
    const key = String(sample.labels[label] ?? '');
    totals.set(key, (totals.get(key) ?? 0) + sample.value);
  }
  return totals;
}

export async function readMetrics(metrics: Metrics, t: number): Promise<Reading> {
  const pings = await byLabel(metrics.pingsTotal, 'result');
  const pulls = { ok: 0, clientError: 0, unavailable: 0, other: 0 };
  for (const [status, count] of await byLabel(metrics.pullRequestsTotal, 'status')) {
    if (status === '200') pulls.ok += count;
    else if (status.startsWith('4')) pulls.clientError += count;
    else if (status === '503') pulls.unavailable += count;
    else pulls.other += count;
  }
  const safe = await gauge(metrics.replicationSlotSafeWalSizeBytes);
  const buckets = async (histogram: Histogram<string>) =>
    (await samples(histogram))
      .filter((s) => s.metricName?.endsWith('_bucket'))
      .map((s) => ({ le: Number(s.labels.le), count: s.value }));
  const pingToPull = await buckets(metrics.pingToPullSeconds);
  return {
    t,
    rowChanges: await sum(metrics.rowChangesTotal),
    skipped: await sum(metrics.skippedUpdatesTotal),
    nullIds: await sum(metrics.nullIdRowsTotal),
    truncates: await sum(metrics.truncatesTotal),
    events: await sum(metrics.eventsTotal),
    pings: {
      ok: pings.get('ok') ?? 0,
      retry: pings.get('retry') ?? 0,
      forbidden: pings.get('forbidden') ?? 0,
      deadLetter: pings.get('dead_letter') ?? 0,
    },
    pulls,
    replicationLagBytes: await gauge(metrics.replicationLagBytes),
    retainedBytes: await gauge(metrics.replicationRetainedBytes),
    safeWalSizeBytes: safe === null || Number.isFinite(safe) ? safe : null,
    sourceLagSeconds: await gauge(metrics.sourceLagSeconds),
    consumerLagMessages: await gauge(metrics.consumerLagMessages),
    endToEnd: await buckets(metrics.endToEndSeconds),
    pingToPull,
    confirmed: pingToPull[pingToPull.length - 1]?.count ?? 0,
  };
}
