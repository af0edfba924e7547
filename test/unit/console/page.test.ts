import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ConsoleView } from '../../../src/console/console.js';
import { CONTENT_SECURITY_POLICY, renderConsole } from '../../../src/console/page.js';
import { bytes, count, duration, rate } from '../../../src/console/units.js';

const T = Date.parse('2026-12-02T04:00:00Z');

function view(overrides: Partial<ConsoleView> = {}): ConsoleView {
  return {
    checkedAt: new Date(T).toISOString(),
    hostedRoles: ['pinger'],
    otherRoles: ['connector', 'pull-server'],
    funnel: [{ key: 'pings', label: 'Pings sent', depth: 0, total: 1234567, lastMinute: 89 }],
    charts: [
      { key: 'consumer-lag', title: 'Consumer lag', unit: 'messages', points: [{ t: T - 5_000, value: 3 }] },
      { key: 'slot-lag', title: 'Slot lag', unit: 'bytes', points: [] },
    ],
    alive: [{ role: 'pinger', state: 'paused (403)', healthy: false, details: ['<b>refused</b>'] }],
    cluster: null,
    problems: [{ at: new Date(T).toISOString(), level: 'error', message: 'a <script>', context: { userId: 'u<1>' } }],
    ...overrides,
  };
}

describe('the console page', () => {
  it('is drawn on the server: a line for one reading, a note for none, thousands separators', () => {
    const html = renderConsole(view(), 5);
    expect(html).toMatch(
      /<figure id="chart-consumer-lag"[^]*?<polyline class="line" points="[\d.]+,[\d.]+ [\d.]+,[\d.]+"/,
    );
    expect(html).toContain('no readings yet in this process');
    expect(html).toContain('1,234,567');
    expect(html).toContain('This process does not host: connector, pull-server');
    expect(html).toContain('<meta http-equiv="refresh" content="5">');
  });

  it('shows the cluster-wide stages with their problems, or why they could not be read', () => {
    const cluster = {
      checkedAt: new Date(T).toISOString(),
      healthy: false,
      stages: [{ stage: 'replication slot', healthy: false, figures: 'lag 12.3 MB', problems: ['no connector'] }],
    };
    expect(renderConsole(view({ cluster }), 5)).toMatch(
      /data-stage="replication slot"[^]*FAIL[^]*lag 12.3 MB[^]*no connector/,
    );
    expect(renderConsole(view({ cluster: { error: 'timed out' } }), 5)).toContain('could not be read: timed out');
    expect(renderConsole(view(), 5)).toContain('not read: this process has no database.url');
  });

  it('escapes everything it did not write itself', () => {
    const html = renderConsole(view(), 5);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>refused</b>');
    expect(html).toContain('userId=u&#60;1&#62;');
  });

  it('allows only its own stylesheet: no script, no outside resource', () => {
    const html = renderConsole(view(), 5);
    const style = /<style>([^]*?)<\/style>/.exec(html)?.[1] ?? '';
    const hash = createHash('sha256').update(style).digest('base64');
    expect(CONTENT_SECURITY_POLICY).toContain(`style-src 'sha256-${hash}'`);
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'none'");
    expect(html).not.toMatch(/<script|https?:\/\//);
  });
});

describe('human units', () => {
  it('reads as a person would write it', () => {
    expect([bytes(512), bytes(1_500), bytes(2_345_678), bytes(7_000_000_000)]).toEqual([
      '512 B',
      '1.5 KB',
      '2.3 MB',
      '7 GB',
    ]);
    expect([duration(0.042), duration(3.25), duration(600), duration(10_800)]).toEqual([
      '42 ms',
      '3.3 s',
      '10 min',
      '3 h',
    ]);
    expect([count(1234567), count(null), rate(12.34)]).toEqual(['1,234,567', '–', '12.3/s']);
  });
});
