import { createHash } from 'node:crypto';
import type { ClusterStage } from './cluster.js';
import type { ConsoleView, Liveness } from './console.js';
import type { FunnelRow } from './funnel.js';
import type { Point, Series } from './history.js';
import type { Problem } from './problems.js';
import { count, inUnit } from './units.js';

/**
 * The console as one HTML document drawn on the server: charts are inline
 * SVG, there is no script at all, and the page reloads itself. So it needs
 * no build step and no outside resource, and its policy allows only its own
 * stylesheet.
 */
const STYLE = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;padding:1em;max-width:1280px;color:#1f2328;background:#fff}
h1{font-size:1.3em;margin:.2em 0;overflow-wrap:anywhere}h2{font-size:1.05em;margin:1.2em 0 .4em}
.note{color:#57606a;font-size:.9em}
.panels{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:1em}
table{border-collapse:collapse;width:100%}
td,th{padding:.25em .5em;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}
td.k{white-space:nowrap}td.w{overflow-wrap:anywhere}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.d1 td:first-child{padding-left:1.6em;color:#57606a}
.ok{color:#1a7f37}.bad{color:#cf222e;font-weight:600}.na{color:#8c959f;font-style:italic}
figure{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:.5em}
figcaption{font-size:.9em;display:flex;justify-content:space-between;gap:.5em}
svg{width:100%;height:auto;display:block}
.line{fill:none;stroke:#0969da;stroke-width:2}
.limit{fill:none;stroke:#cf222e;stroke-width:1.5;stroke-dasharray:5 4}
.axis{stroke:#d0d7de}
.empty{fill:#8c959f;font-size:12px}
.scale{fill:#57606a;font-size:11px}
`;

const W = 320;
const H = 110;

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function polyline(points: Point[], t0: number, t1: number, max: number, cls: string): string {
  const x = (t: number) => (((t - t0) / Math.max(1, t1 - t0)) * (W - 8) + 4).toFixed(1);
  const y = (v: number) => (H - 4 - (v / max) * (H - 24)).toFixed(1);
  // A single reading is drawn flat across the chart: a value, not an empty frame.
  const drawn =
    points.length === 1 && points[0] !== undefined
      ? [
          { ...points[0], t: t0 },
          { ...points[0], t: t1 },
        ]
      : points;
  return `<polyline class="${cls}" points="${drawn.map((p) => `${x(p.t)},${y(p.value)}`).join(' ')}"/>`;
}

function chart(series: Series, span: { t0: number; t1: number }): string {
  const latest = series.points[series.points.length - 1]?.value ?? null;
  const all = [...series.points, ...(series.limit ?? [])].map((p) => p.value);
  const max = Math.max(1, ...all);
  const body =
    series.points.length === 0
      ? `<text class="empty" x="8" y="${H / 2}">no readings yet in this process</text>`
      : polyline(series.points, span.t0, span.t1, max, 'line') +
        (series.limit === undefined || series.limit.length === 0
          ? ''
          : polyline(series.limit, span.t0, span.t1, max, 'limit')) +
        `<text class="scale" x="4" y="12">max ${escape(inUnit(series.unit, max))}</text>`;
  return (
    `<figure id="chart-${series.key}" data-points="${series.points.length}">` +
    `<figcaption><span>${escape(series.title)}</span><b>${escape(inUnit(series.unit, latest))}</b></figcaption>` +
    `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escape(series.title)}">` +
    `<line class="axis" x1="0" y1="${H - 4}" x2="${W}" y2="${H - 4}"/>${body}</svg></figure>`
  );
}

function funnelRow(row: FunnelRow): string {
  const cells =
    row.unavailable === undefined
      ? `<td class="n">${count(row.total)}</td><td class="n">${count(row.lastMinute)}</td>`
      : `<td class="na" colspan="2">${escape(row.unavailable)}</td>`;
  return `<tr class="d${row.depth}" data-funnel="${row.key}"><td>${escape(row.label)}</td>${cells}</tr>`;
}

function aliveRow(alive: Liveness): string {
  return (
    `<tr data-role="${escape(alive.role)}"><td class="k">${escape(alive.role)}</td>` +
    `<td class="k ${alive.healthy ? 'ok' : 'bad'}">${escape(alive.state)}</td>` +
    `<td class="w">${alive.details.map(escape).join('<br>')}</td></tr>`
  );
}

function clusterRow(stage: ClusterStage): string {
  const problems = stage.problems.map((problem) => `<br><span class="bad">${escape(problem)}</span>`).join('');
  return (
    `<tr data-stage="${escape(stage.stage)}"><td class="k">${escape(stage.stage)}</td>` +
    `<td class="k ${stage.healthy ? 'ok' : 'bad'}">${stage.healthy ? 'ok' : 'FAIL'}</td>` +
    `<td class="w">${escape(stage.figures)}${problems}</td></tr>`
  );
}

function clusterPanel(cluster: ConsoleView['cluster']): string {
  const body =
    cluster === null
      ? '<tr><td class="na">not read: this process has no database.url</td></tr>'
      : 'error' in cluster
        ? `<tr><td class="bad">could not be read: ${escape(cluster.error)}</td></tr>`
        : cluster.stages.map(clusterRow).join('');
  return (
    '<section><h2>The whole pipeline, from Postgres and Kafka</h2>' +
    `<table id="cluster"><tbody>${body}</tbody></table></section>`
  );
}

function problemRow(problem: Problem): string {
  const context = Object.entries(problem.context)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(', ');
  return (
    `<tr><td class="n">${escape(problem.at.slice(11, 19))}</td>` +
    `<td class="${problem.level === 'warn' ? '' : 'bad'}">${problem.level}</td>` +
    `<td class="w">${escape(problem.message)}${context === '' ? '' : `<br><span class="note">${escape(context)}</span>`}</td></tr>`
  );
}

export function renderConsole(view: ConsoleView, refreshSeconds: number): string {
  const times = view.charts.flatMap((series) => series.points.map((p) => p.t));
  const span = { t0: Math.min(Date.parse(view.checkedAt), ...times), t1: Date.parse(view.checkedAt) };
  const unhealthy = view.alive.filter((alive) => !alive.healthy).length;
  const others =
    view.otherRoles.length === 0
      ? ''
      : `<p class="note" id="other-roles">This process does not host: ${view.otherRoles.map(escape).join(', ')}. ` +
        'Their figures are on the console of the process that runs them.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pingpull console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${refreshSeconds}">
<style>${STYLE}</style></head>
<body>
<h1>pingpull console: <span id="overall" class="${unhealthy === 0 ? 'ok' : 'bad'}">${
    unhealthy === 0 ? 'all roles alive' : `${unhealthy} role(s) need attention`
  }</span></h1>
<p class="note">Roles here: ${view.hostedRoles.map(escape).join(', ') || 'none'}. Read at ${escape(
    view.checkedAt,
  )}; refreshes every ${refreshSeconds} s. Figures as JSON: <a href="status.json">status.json</a>.</p>
${others}
<div class="panels">
<section><h2>Delivery funnel</h2>
<table id="funnel"><thead><tr><th>stage</th><th class="n">since start</th><th class="n">last minute</th></tr></thead>
<tbody>${view.funnel.map(funnelRow).join('')}</tbody></table></section>
<section><h2>Who is alive</h2>
<table id="alive"><tbody>${view.alive.map(aliveRow).join('')}</tbody></table></section>
${clusterPanel(view.cluster)}
</div>
<h2>The last hour</h2>
<div class="panels" id="charts">${view.charts.map((series) => chart(series, span)).join('')}</div>
<h2>Recent problems</h2>
<table id="problems"><tbody>${
    view.problems.length === 0
      ? '<tr><td class="ok">no warnings or errors since start</td></tr>'
      : view.problems.map(problemRow).join('')
  }</tbody></table>
</body></html>
`;
}

/** Only the page's own stylesheet applies; nothing loads, runs or frames it. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
