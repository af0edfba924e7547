import type { Reading } from './readings.js';

/** One stage of the delivery, counted since the process started and over the last minute. */
export interface FunnelRow {
  key: string;
  label: string;
  /** How far the row is indented under the stage it splits. */
  depth: number;
  total: number | null;
  lastMinute: number | null;
  /** Why a row has no figure (its role runs in another process, or the feature is missing). */
  unavailable?: string;
}

type Counted = { key: string; label: string; depth: number; pick: (reading: Reading) => number; role: string };

const STAGES: readonly Counted[] = [
  { key: 'row-changes', label: 'Row changes seen', depth: 0, pick: (r) => r.rowChanges, role: 'connector' },
  { key: 'skipped', label: 'skipped (no mapped column changed)', depth: 1, pick: (r) => r.skipped, role: 'connector' },
  { key: 'null-ids', label: 'skipped (NULL user id)', depth: 1, pick: (r) => r.nullIds, role: 'connector' },
  { key: 'events', label: 'Events published', depth: 0, pick: (r) => r.events, role: 'connector' },
  { key: 'truncates', label: 'TRUNCATEs (nobody to ping)', depth: 1, pick: (r) => r.truncates, role: 'connector' },
  {
    key: 'pings',
    label: 'Pings sent',
    depth: 0,
    pick: (r) => r.pings.ok + r.pings.retry + r.pings.forbidden + r.pings.deadLetter,
    role: 'pinger',
  },
  { key: 'pings-ok', label: 'ok', depth: 1, pick: (r) => r.pings.ok, role: 'pinger' },
  { key: 'pings-retried', label: 'retried', depth: 1, pick: (r) => r.pings.retry, role: 'pinger' },
  { key: 'pings-refused', label: 'refused (403)', depth: 1, pick: (r) => r.pings.forbidden, role: 'pinger' },
  { key: 'pings-dead', label: 'dead-lettered', depth: 1, pick: (r) => r.pings.deadLetter, role: 'pinger' },
  {
    key: 'pulls',
    label: 'Pulls served',
    depth: 0,
    pick: (r) => r.pulls.ok + r.pulls.clientError + r.pulls.unavailable + r.pulls.other,
    role: 'pull-server',
  },
  { key: 'pulls-ok', label: '200', depth: 1, pick: (r) => r.pulls.ok, role: 'pull-server' },
  { key: 'pulls-4xx', label: '4xx', depth: 1, pick: (r) => r.pulls.clientError, role: 'pull-server' },
  { key: 'pulls-503', label: '503', depth: 1, pick: (r) => r.pulls.unavailable, role: 'pull-server' },
  // The pinger that pinged matches the pull server's served pulls to its pings (the pull confirmation loop).
  { key: 'confirmed', label: 'Pings confirmed by a pull', depth: 0, pick: (r) => r.confirmed, role: 'pinger' },
];

const MINUTE_MS = 60_000;

/**
 * The funnel from the newest reading and the one a minute before it (or the
 * first one, while the process is younger than a minute). Stages of roles
 * this process does not host say so rather than show a 0 that looks real.
 */
export function funnel(now: Reading, minuteAgo: Reading | undefined, hosted: ReadonlySet<string>): FunnelRow[] {
  const rows: FunnelRow[] = STAGES.map(({ key, label, depth, pick, role }) => {
    if (!hosted.has(role)) {
      return { key, label, depth, total: null, lastMinute: null, unavailable: `the ${role} runs in another process` };
    }
    const total = pick(now);
    const base = minuteAgo === undefined || now.t - minuteAgo.t > MINUTE_MS * 2 ? undefined : pick(minuteAgo);
    return { key, label, depth, total, lastMinute: base === undefined ? total : Math.max(0, total - base) };
  });
  return rows;
}
