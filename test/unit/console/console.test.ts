import { afterEach, describe, expect, it } from 'vitest';
import { OperatorConsole, type ConsoleView } from '../../../src/console/console.js';
import { RecentProblems } from '../../../src/console/problems.js';
import { createMetrics, type Metrics } from '../../../src/metrics/registry.js';
import { FakeTime } from '../../helpers/fake-time.js';

const SAMPLE_MS = 5_000;

describe('the operator console', () => {
  let operatorConsole: OperatorConsole | undefined;
  afterEach(async () => operatorConsole?.stop());

  function setUp(hosted: string[] = ['connector', 'pinger', 'pull-server']) {
    const time = new FakeTime();
    const metrics: Metrics = createMetrics({ defaultMetrics: false });
    const problems = new RecentProblems();
    operatorConsole = new OperatorConsole({ metrics, problems, clock: time, timers: time, sampleMs: SAMPLE_MS });
    for (const role of hosted)
      operatorConsole.host(role, async () => ({ role, state: 'ok', healthy: true, details: [] }));
    operatorConsole.start();
    return { time, metrics, problems, console: operatorConsole };
  }

  const row = (view: ConsoleView, key: string) => view.funnel.find((candidate) => candidate.key === key);
  const chart = (view: ConsoleView, key: string) => view.charts.find((candidate) => candidate.key === key);

  it('has history for its charts before anyone opens it, and counts the last minute apart from the total', async () => {
    const { time, metrics, console } = setUp();
    for (let second = 0; second < 120; second += 5) {
      metrics.rowChangesTotal.inc(10);
      metrics.eventsTotal.inc({ op: 'u' }, 10);
      metrics.pingsTotal.inc({ result: 'ok' }, 10);
      metrics.replicationLagBytes.set(second * 1000);
      await time.advance(SAMPLE_MS);
    }
    const view = await console.view();
    expect(chart(view, 'slot-lag')?.points.length).toBeGreaterThanOrEqual(24);
    expect(chart(view, 'events-rate')?.points.at(-2)?.value).toBe(2);
    expect(row(view, 'row-changes')).toMatchObject({ total: 240, lastMinute: 120 });
    expect(row(view, 'pings-ok')).toMatchObject({ total: 240, lastMinute: 120 });
    expect(row(view, 'confirmed')).toMatchObject({ total: 0, lastMinute: 0 });
  });

  it('keeps one hour of readings and forgets the older ones', async () => {
    const { time, console } = setUp();
    await time.advance(2 * 3_600_000);
    const points = chart(await console.view(), 'source-lag')?.points ?? [];
    expect(points.length).toBe(3_600_000 / SAMPLE_MS + 1);
    expect(time.now() - (points[0]?.t ?? 0)).toBeLessThanOrEqual(3_600_000);
  });

  it('says which roles it does not host, and shows no slot figures without the connector', async () => {
    const { time, metrics, console } = setUp(['pinger']);
    metrics.replicationLagBytes.set(4096);
    await time.advance(SAMPLE_MS * 3);
    const view = await console.view();
    expect(view.otherRoles).toEqual(['connector', 'pull-server']);
    expect(chart(view, 'slot-lag')?.points).toEqual([]);
    expect(row(view, 'events')).toMatchObject({ total: null, unavailable: 'the connector runs in another process' });
    expect(row(view, 'pings')?.total).toBe(0);
  });

  it('shows a failing role as such instead of failing the page', async () => {
    const { console } = setUp([]);
    console.host('pinger', async () => {
      throw new Error('state unreadable');
    });
    const view = await console.view();
    expect(view.alive).toEqual([{ role: 'pinger', state: 'unknown', healthy: false, details: ['state unreadable'] }]);
  });
});
