import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../time.js';
import { STAGES, type StatusReport } from './report.js';

/**
 * The status page of the pull server: `GET /status` (HTML, inline script,
 * no build step, no outside resources) and `GET /status.json`. The pull
 * server faces the internet, so both show lag and health figures only: no
 * slot, topic, group or host names, no error messages (they can carry
 * internal addresses), never configuration or user data.
 */
export interface PublicStatus {
  healthy: boolean;
  checkedAt: string;
  stages: {
    database: PublicStage;
    connector: PublicStage & {
      active: boolean | null;
      walStatus: string | null;
      replicationLagBytes: number | null;
      retainedBytes: number | null;
      safeWalSizeBytes: number | null;
      sourceLagSeconds: number | null;
    };
    kafka: PublicStage & {
      consumerLagMessages: number | null;
      members: number | null;
      partitions: Array<{ partition: number; lag: number }>;
    };
    deadLetters: PublicStage & { messages: number | null; awaitingReplay: number | null };
    pulls: PublicStage & {
      awaiting: number | null;
      oldestAgeSeconds: number | null;
      /** Whether the pull server answers 503 because its profile query fails; null: unknown. */
      pullServerFailing: boolean | null;
    };
    livefyre: PublicStage & { reachable: boolean | null; forbidden: boolean | null };
  };
  /** Recent readings, oldest first: what the chart draws. */
  history: HistoryPoint[];
}

interface PublicStage {
  healthy: boolean;
  problems: string[];
}

export interface HistoryPoint {
  /** Unix milliseconds. */
  t: number;
  replicationLagBytes: number | null;
  consumerLagMessages: number | null;
  sourceLagSeconds: number | null;
}

export function publicStatus(report: StatusReport, history: HistoryPoint[]): PublicStatus {
  const stage = (name: (typeof STAGES)[number]): PublicStage => {
    const { healthy, problems, error } = report[name];
    return { healthy, problems: error === null ? [...problems] : [...problems, 'could not be read'] };
  };
  const c = report.connector;
  return {
    healthy: report.healthy,
    checkedAt: report.checkedAt,
    stages: {
      database: stage('database'),
      connector: {
        ...stage('connector'),
        active: c.active,
        walStatus: c.walStatus,
        replicationLagBytes: c.replicationLagBytes,
        retainedBytes: c.retainedBytes,
        safeWalSizeBytes: c.safeWalSizeBytes,
        sourceLagSeconds: c.sourceLagSeconds,
      },
      kafka: {
        ...stage('kafka'),
        consumerLagMessages: report.kafka.consumerLagMessages,
        members: report.kafka.members,
        partitions: report.kafka.partitions.map(({ partition, lag }) => ({ partition, lag })),
      },
      deadLetters: {
        ...stage('deadLetters'),
        messages: report.deadLetters.messages,
        awaitingReplay: report.deadLetters.awaitingReplay,
      },
      pulls: {
        ...stage('pulls'),
        awaiting: report.pulls.awaiting,
        oldestAgeSeconds: report.pulls.oldestAgeSeconds,
        pullServerFailing: report.pulls.pullServerFailing,
      },
      livefyre: { ...stage('livefyre'), reachable: report.livefyre.reachable, forbidden: report.livefyre.forbidden },
    },
    history,
  };
}

export interface StatusPageDeps {
  /** Builds a fresh report (reads Postgres, Kafka, Livefyre). */
  report: () => Promise<StatusReport>;
  clock: Clock;
  /** Reports younger than this are served again: page views cannot multiply database and broker load. */
  cacheMs?: number;
  /** How far back the chart reaches. */
  historyMs?: number;
}

/** Caches reports (one read in flight at most) and remembers their lag figures for the chart. */
export class StatusHistory {
  private readonly points: HistoryPoint[] = [];
  private latest: { atMs: number; report: StatusReport } | undefined;
  private inFlight: Promise<StatusReport> | undefined;

  constructor(private readonly deps: StatusPageDeps) {}

  async current(): Promise<PublicStatus> {
    const now = this.deps.clock.now();
    const cacheMs = this.deps.cacheMs ?? 2_000;
    let report = this.latest !== undefined && now - this.latest.atMs < cacheMs ? this.latest.report : undefined;
    if (report === undefined) {
      this.inFlight ??= this.deps.report().finally(() => {
        this.inFlight = undefined;
      });
      report = await this.inFlight;
      this.remember(report);
    }
    return publicStatus(report, [...this.points]);
  }

  private remember(report: StatusReport): void {
    const atMs = this.deps.clock.now();
    if (this.latest?.report === report) return;
    this.latest = { atMs, report };
    this.points.push({
      t: atMs,
      replicationLagBytes: report.connector.replicationLagBytes,
      consumerLagMessages: report.kafka.consumerLagMessages,
      sourceLagSeconds: report.connector.sourceLagSeconds,
    });
    const horizon = atMs - (this.deps.historyMs ?? 15 * 60_000);
    while ((this.points[0]?.t ?? Infinity) < horizon) this.points.shift();
  }
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.3em}
table{border-collapse:collapse;margin:1em 0}
td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.ok{color:#17803d}.fail{color:#b42318;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:1.5em}
figure{margin:0}figcaption{font-size:.9em;color:#555}
svg{background:#fafafa;border:1px solid #ddd}
polyline{fill:none;stroke:#2563eb;stroke-width:2}
`;

const SCRIPT = `
const CHARTS = [
  ['replicationLagBytes', 'replication lag', 'bytes'],
  ['consumerLagMessages', 'consumer lag', 'messages'],
  ['sourceLagSeconds', 'source lag', 's'],
];
const W = 320, H = 100;
function text(v) { return v === null || v === undefined ? '?' : String(v); }
function bytes(v) {
  if (v === null || v === undefined) return '?';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = v, unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return unit === 0 ? value + ' B' : value.toFixed(1) + ' ' + units[unit];
}
function duration(v) {
  if (v === null || v === undefined) return '?';
  if (v < 120) return v + ' seconds';
  if (v < 7200) return Math.round(v / 60) + ' minutes';
  return (v / 3600).toFixed(1) + ' hours';
}
const HUMAN = { bytes, s: duration, messages: text };
function row(name, stage, figures) {
  const tr = document.createElement('tr');
  tr.dataset.stage = name;
  const state = stage.healthy ? 'ok' : 'FAIL';
  for (const [cls, value] of [['', name], [stage.healthy ? 'ok' : 'fail', state], ['', figures], ['', stage.problems.join('; ')]]) {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = value;
    tr.append(td);
  }
  return tr;
}
function draw(svg, history, key) {
  const points = history.filter((p) => p[key] !== null);
  const line = svg.querySelector('polyline');
  if (points.length === 0) { line.setAttribute('points', ''); return; }
  const t0 = points[0].t, t1 = Math.max(points[points.length - 1].t, t0 + 1);
  const max = Math.max(1, ...points.map((p) => p[key]));
  line.setAttribute('points', points.map((p) =>
    ((p.t - t0) / (t1 - t0) * (W - 4) + 2).toFixed(1) + ',' + (H - 2 - p[key] / max * (H - 4)).toFixed(1)).join(' '));
  svg.querySelector('.max').textContent = 'max ' + HUMAN[svg.dataset.unit](max);
}
async function refresh() {
  let s;
  try {
    const response = await fetch(location.pathname.replace(/\\/?$/, '.json'), { cache: 'no-store' });
    s = await response.json();
  } catch (e) {
    document.getElementById('overall').textContent = 'status unavailable';
    return;
  }
  const st = s.stages, c = st.connector;
  const overall = document.getElementById('overall');
  overall.textContent = s.healthy ? 'healthy' : 'UNHEALTHY';
  overall.className = s.healthy ? 'ok' : 'fail';
  document.getElementById('checked').textContent = s.checkedAt;
  const rows = document.getElementById('stages');
  rows.replaceChildren(
    row('database', st.database, ''),
    row('connector', c, 'slot ' + (c.active ? 'active' : 'inactive') + ', wal ' + text(c.walStatus) +
      ', lag ' + bytes(c.replicationLagBytes) + ', retained ' + bytes(c.retainedBytes) + ', source lag ' + duration(c.sourceLagSeconds)),
    row('kafka', st.kafka, 'consumer lag ' + text(st.kafka.consumerLagMessages) + ' message(s), ' + text(st.kafka.members) + ' pinger(s)' +
      (st.kafka.partitions.length ? ' (' + st.kafka.partitions.map((p) => 'p' + p.partition + '=' + p.lag).join(' ') + ')' : '')),
    row('dead letters', st.deadLetters, text(st.deadLetters.awaitingReplay) + ' awaiting replay, ' + text(st.deadLetters.messages) + ' held'),
    row('pulls', st.pulls, text(st.pulls.awaiting) + ' ping(s) awaiting their pull, oldest ' +
      duration(st.pulls.oldestAgeSeconds === null ? null : Math.round(st.pulls.oldestAgeSeconds)) +
      (st.pulls.pullServerFailing ? ', the pull server answers 503 (its profile query fails)' : '')),
    row('livefyre', st.livefyre, (st.livefyre.reachable ? 'reachable' : 'unreachable') +
      (st.livefyre.forbidden === null ? '' : st.livefyre.forbidden ? ', key refused (403)' : ', key accepted')),
  );
  for (const [key] of CHARTS) draw(document.getElementById('chart-' + key), s.history, key);
}
const charts = document.getElementById('charts');
for (const [key, title, unit] of CHARTS) {
  const figure = document.createElement('figure');
  figure.innerHTML = '<svg id="chart-' + key + '" data-unit="' + unit + '" width="' + W + '" height="' + H + '" viewBox="0 0 ' + W + ' ' + H +
    '" role="img"><polyline points=""/><text class="max" x="4" y="12" font-size="10"></text></svg><figcaption></figcaption>';
  figure.querySelector('figcaption').textContent = title + ' (' + unit + ')';
  charts.append(figure);
}
refresh();
setInterval(refresh, 2000);
`;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pingpull status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body>
<h1>pingpull: <span id="overall">loading…</span></h1>
<p>checked at <span id="checked">…</span>; refreshes every 2 s.</p>
<table><thead><tr><th>stage</th><th>state</th><th>figures</th><th>problems</th></tr></thead><tbody id="stages"></tbody></table>
<div class="charts" id="charts"></div>
<script>${SCRIPT}</script>
</body></html>
`;

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Only this page's own inline script and style run; it may fetch only its own origin. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Adds `GET /status` and `GET /status.json` to the pull server. */
export function registerStatusPage(app: FastifyInstance, deps: StatusPageDeps): StatusHistory {
  const history = new StatusHistory(deps);
  app.get('/status.json', async (request, reply) => {
    reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
    try {
      return await history.current();
    } catch (error) {
      request.log.warn({ err: error }, 'status report failed');
      return reply.code(503).send({ healthy: false });
    }
  });
  app.get('/status', async (_request, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(PAGE),
  );
  return history;
}
