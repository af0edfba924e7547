import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../../src/metrics/registry.js';

// The alert rules and the dashboard may only use metrics pingpull exports
// (or Prometheus's own `up`); a renamed metric must break this test, not
// silently blank a panel or mute an alert.

const deploy = (path: string) => fileURLToPath(new URL(`../../../deploy/${path}`, import.meta.url));
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((path) => existsSync(path));

interface Rule {
  alert?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (
  parse(readFileSync(deploy('prometheus/alerts.yml'), 'utf8')) as { groups: Array<{ rules: Rule[] }> }
).groups.flatMap((group) => group.rules);

async function exportedNames(): Promise<Set<string>> {
  const metrics = createMetrics();
  const names = new Set(['up']);
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
  }
  return names;
}

const PROMQL_WORDS = new Set([
  'sum',
  'max',
  'min',
  'avg',
  'count',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'rate',
  'increase',
  'delta',
  'time',
  'histogram_quantile',
  'le',
  'bool',
  'offset',
]);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, label names or strings. */
function metricNames(expr: string): string[] {
  const withoutStrings = expr
    .replace(/"[^"]*"/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]');
  const withoutGroupings = withoutStrings.replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '');
  return [...withoutGroupings.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .map((match) => match[0])
    .filter((word) => !PROMQL_WORDS.has(word) && !/^\d/.test(word));
}

describe('deploy/prometheus/alerts.yml', () => {
  it('gives every rule an expression, a severity and a summary and description', () => {
    expect(rules.length).toBeGreaterThanOrEqual(10);
    for (const rule of rules) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^Pingpull[A-Za-z]+$/);
      expect(rule.expr, rule.alert).toBeTruthy();
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
    }
  });

  it('covers what the issue asks for: slot lag, retained WAL, wal_status, source lag, dead letters, 403s, a role down', () => {
    const names = rules.map((rule) => rule.alert);
    for (const alert of [
      'PingpullReplicationLagHigh',
      'PingpullRetainedWalHigh',
      'PingpullReplicationSlotWalNotReserved',
      'PingpullSourceLagHigh',
      'PingpullDeadLetters',
      'PingpullLivefyreForbidden',
      'PingpullRoleDown',
    ]) {
      expect(names).toContain(alert);
    }
  });

  it('refers only to metrics the registry exports', async () => {
    const known = await exportedNames();
    for (const rule of rules) {
      for (const name of metricNames(rule.expr ?? '')) expect(known, `${rule.alert}: ${name}`).toContain(name);
    }
  });

  it.skipIf(PROMTOOL === undefined)(
    `passes promtool check rules and its unit tests (alerts.test.yml)${PROMTOOL === undefined ? ' (skipped: promtool not installed; apt-get install prometheus provides it)' : ''}`,
    () => {
      const promtool = PROMTOOL as string;
      expect(
        execFileSync(promtool, ['check', 'rules', deploy('prometheus/alerts.yml')], { encoding: 'utf8' }),
      ).toContain('SUCCESS');
      expect(
        execFileSync(promtool, ['test', 'rules', deploy('prometheus/alerts.test.yml')], { encoding: 'utf8' }),
      ).toContain('SUCCESS');
      expect(
        execFileSync(promtool, ['check', 'config', deploy('prometheus/prometheus.yml')], { encoding: 'utf8' }),
      ).toContain('SUCCESS');
    },
  );
});

describe('deploy/grafana', () => {
  const dashboard = JSON.parse(readFileSync(deploy('grafana/dashboards/pingpull.json'), 'utf8')) as {
    uid: string;
    panels: Array<{
      type: string;
      title: string;
      id: number;
      datasource?: { uid: string };
      targets?: Array<{ expr: string }>;
    }>;
  };

  it('has unique panel ids and every query on the provisioned Prometheus datasource', () => {
    const datasource = parse(readFileSync(deploy('grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: Array<{ uid: string }>;
    };
    const uid = datasource.datasources[0]?.uid;
    expect(dashboard.uid).toBe('pingpull');
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(panel.datasource?.uid, panel.title).toBe(uid);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
    const provider = parse(readFileSync(deploy('grafana/provisioning/dashboards/pingpull.yml'), 'utf8')) as {
      providers: Array<{ options: { path: string } }>;
    };
    expect(provider.providers[0]?.options.path).toBeTruthy();
  });

  it('charts the four lags of the issue and refers only to exported metrics', async () => {
    const known = await exportedNames();
    const exprs = dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ title: panel.title, expr: target.expr })),
    );
    const all = exprs.map((e) => e.expr).join('\n');
    for (const lag of [
      'pingpull_replication_lag_bytes',
      'pingpull_replication_retained_bytes',
      'pingpull_source_lag_seconds',
      'pingpull_consumer_lag_messages',
    ]) {
      expect(all).toContain(lag);
    }
    for (const { title, expr } of exprs) {
      for (const name of metricNames(expr)) expect(known, `${title}: ${name}`).toContain(name);
    }
  });

  it("shows the operator console's funnel: every stage, in order, from row changes to pulls", () => {
    const funnels = dashboard.panels.filter((panel) => panel.title.startsWith('Funnel'));
    expect(funnels.map((panel) => panel.title)).toEqual([
      "Funnel over the dashboard's time range",
      'Funnel over the last minute',
    ]);
    for (const panel of funnels) {
      const exprs = (panel.targets ?? []).map((target) => target.expr).join('\n');
      for (const stage of [
        'pingpull_row_changes_total',
        'pingpull_skipped_updates_total',
        'pingpull_null_id_rows_total',
        'pingpull_events_total',
        'pingpull_truncates_total',
        'result="ok"',
        'result="retry"',
        'result="forbidden"',
        'result="dead_letter"',
        'status="200"',
        'status=~"4.."',
        'status="503"',
        'pingpull_ping_to_pull_seconds_count',
      ]) {
        expect(exprs, `${panel.title}: ${stage}`).toContain(stage);
      }
    }
  });
});
