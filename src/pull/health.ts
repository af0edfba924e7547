import type { Gauge } from 'prom-client';
import type { Clock } from '../time.js';

/**
 * Why the pull server's profile queries fail, from the database's answer:
 * `column`, `table` (the mapping names something the database no longer
 * has), `privilege` (SELECT refused), `query` (another SQL error) or
 * `database` (unreachable, or queries time out).
 */
export const PULL_FAILURE_CAUSES = ['column', 'table', 'privilege', 'query', 'database'] as const;
export type PullFailureCause = (typeof PULL_FAILURE_CAUSES)[number];

/** What a pull server says about its pulls: failing since when and why, or answering. */
export type PullServerReading = { failing: false } | { failing: true; cause: PullFailureCause; sinceMs: number };

/** A SQLSTATE (Node's own codes, ECONNRESET or EPIPE, start with E; no SQLSTATE class does). */
const SQLSTATE = /^[0-9A-DF-Z][0-9A-Z]{4}$/;
/** Connection exceptions, insufficient resources, operator intervention (statement timeout, shutdown). */
const CONNECTION_CLASSES = /^(08|53|57)/;

export function pullFailureCause(error: unknown): PullFailureCause {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === '42703') return 'column';
  if (code === '42P01') return 'table';
  if (code === '42501') return 'privilege';
  if (typeof code === 'string' && SQLSTATE.test(code) && !CONNECTION_CLASSES.test(code)) return 'query';
  return 'database';
}

/**
 * The pull server's failing streak, kept in `pingpull_pull_failing_since_seconds`:
 * a pull or a readiness probe whose profile query fails starts it (or
 * carries it on), one whose query succeeds ends it. Shed pulls (too many in
 * flight) are overload, not failure, and change nothing.
 */
export class PullHealth {
  private sinceMs: number | undefined;

  constructor(
    private readonly gauge: Pick<Gauge<'cause'>, 'set' | 'reset'>,
    private readonly clock: Clock,
  ) {}

  failed(cause: PullFailureCause): void {
    this.sinceMs ??= this.clock.now();
    this.gauge.reset();
    this.gauge.set({ cause }, this.sinceMs / 1000);
  }

  succeeded(): void {
    if (this.sinceMs === undefined) return;
    this.sinceMs = undefined;
    this.gauge.reset();
  }
}

/** The streak as this process's own gauge holds it: undefined when it holds none (no failure, or no pull server). */
export async function readOwnPullHealth(gauge: Pick<Gauge<'cause'>, 'get'>): Promise<PullServerReading | undefined> {
  const series = (await gauge.get()).values.filter((value) => value.value > 0);
  return earliest(
    series.map((value) => ({ cause: String(value.labels.cause ?? 'database'), sinceSeconds: value.value })),
  );
}

const SERIES = /^pingpull_pull_failing_since_seconds\{[^}]*cause="([a-z]+)"[^}]*\}\s+(\S+)/gm;
const DECLARED = /^# TYPE pingpull_pull_failing_since_seconds /m;

/**
 * The streak as a pull server's /metrics text shows it: undefined when the
 * text has no such metric (not a pingpull process, or too old a one).
 */
export function parsePullHealth(metricsText: string): PullServerReading | undefined {
  if (!DECLARED.test(metricsText)) return undefined;
  const series = [...metricsText.matchAll(SERIES)].map((match) => ({
    cause: match[1] as string,
    sinceSeconds: Number(match[2]),
  }));
  return earliest(series) ?? { failing: false };
}

function earliest(series: Array<{ cause: string; sinceSeconds: number }>): PullServerReading | undefined {
  const failing = series
    .filter((entry) => Number.isFinite(entry.sinceSeconds) && entry.sinceSeconds > 0)
    .sort((a, b) => a.sinceSeconds - b.sinceSeconds)[0];
  if (failing === undefined) return undefined;
  const cause = (PULL_FAILURE_CAUSES as readonly string[]).includes(failing.cause)
    ? (failing.cause as PullFailureCause)
    : 'database';
  return { failing: true, cause, sinceMs: failing.sinceSeconds * 1000 };
}
