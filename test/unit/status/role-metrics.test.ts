import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/registry.js';
import {
  parsePullHealth,
  pullFailureCause,
  PullHealth,
  readOwnPullHealth,
  type PullFailureCause,
} from '../../../src/pull/health.js';
import { readPingerKeyRefused, readPullServerHealth, roleMetricsUrls } from '../../../src/status/role-metrics.js';

async function exposition(refused: number): Promise<string> {
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.livefyreTokenRefused.set(refused);
  return metrics.registry.metrics();
}

describe("the pinger's key, from its own metrics", () => {
  it('is refused when any pinger says so, accepted when every answering pinger says so', async () => {
    const pages = new Map([
      ['http://a/metrics', await exposition(0)],
      ['http://b/metrics', await exposition(1)],
    ]);
    const fetchText = async (url: string): Promise<string> => {
      const page = pages.get(url);
      if (page === undefined) throw new Error('connection refused');
      return page;
    };
    expect(await readPingerKeyRefused(['http://a/metrics', 'http://b/metrics'], 1_000, fetchText)).toBe(true);
    expect(await readPingerKeyRefused(['http://a/metrics', 'http://down/metrics'], 1_000, fetchText)).toBe(false);
    expect(await readPingerKeyRefused(['http://down/metrics'], 1_000, fetchText)).toBeUndefined();
    expect(await readPingerKeyRefused([], 1_000, fetchText)).toBeUndefined();
  });

  it("asks the configured pingers, else this host's metrics port", () => {
    expect(roleMetricsUrls('http://p1:9464/metrics, http://p2:9464/metrics', { port: 1 })).toEqual([
      'http://p1:9464/metrics',
      'http://p2:9464/metrics',
    ]);
    expect(roleMetricsUrls('', { port: 9464 })).toEqual(['http://127.0.0.1:9464/metrics']);
    expect(roleMetricsUrls('', { port: 0 })).toEqual([]);
  });
});

describe("the pull servers' failures, from their own metrics", () => {
  const clock = { now: () => 1_700_000_000_000 };

  async function pullServerPage(failure?: PullFailureCause, atMs = clock.now()): Promise<string> {
    const metrics = createMetrics({ defaultMetrics: false });
    const health = new PullHealth(metrics.pullFailingSinceSeconds, { now: () => atMs });
    if (failure !== undefined) health.failed(failure);
    return metrics.registry.metrics();
  }

  it('reports the earliest failing pull server with its cause, else ok, else unknown', async () => {
    const pages = new Map([
      ['http://ok/metrics', await pullServerPage()],
      ['http://late/metrics', await pullServerPage('database', clock.now() + 60_000)],
      ['http://column/metrics', await pullServerPage('column')],
      ['http://other/metrics', 'some_other_exporter 1\n'],
    ]);
    const fetchText = async (url: string): Promise<string> => {
      const page = pages.get(url);
      if (page === undefined) throw new Error('connection refused');
      return page;
    };
    const read = (urls: string[]) => readPullServerHealth(urls, 1_000, fetchText);
    expect(await read(['http://ok/metrics', 'http://late/metrics', 'http://column/metrics'])).toEqual({
      failing: true,
      cause: 'column',
      sinceMs: clock.now(),
    });
    expect(await read(['http://ok/metrics', 'http://down/metrics'])).toEqual({ failing: false });
    expect(await read(['http://down/metrics', 'http://other/metrics'])).toBeUndefined();
  });

  it('a streak starts at the first failure, keeps its start across causes, and ends with a success', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    let now = 1_000_000;
    const health = new PullHealth(metrics.pullFailingSinceSeconds, { now: () => now });
    health.failed('column');
    now += 5_000;
    health.failed('database');
    expect(await readOwnPullHealth(metrics.pullFailingSinceSeconds)).toEqual({
      failing: true,
      cause: 'database',
      sinceMs: 1_000_000,
    });
    health.succeeded();
    expect(await readOwnPullHealth(metrics.pullFailingSinceSeconds)).toBeUndefined();
    expect(parsePullHealth(await metrics.registry.metrics())).toEqual({ failing: false });
  });

  it.each([
    ['42703', 'column'],
    ['42P01', 'table'],
    ['42501', 'privilege'],
    ['22P02', 'query'],
    ['57014', 'database'],
    ['08006', 'database'],
    ['ECONNREFUSED', 'database'],
    ['EPIPE', 'database'],
    [undefined, 'database'],
  ])('a query failing with code %s has cause %s', (code, cause) => {
    expect(pullFailureCause(Object.assign(new Error('x'), { code }))).toBe(cause);
  });
});
