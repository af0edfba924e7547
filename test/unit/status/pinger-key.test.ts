import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/registry.js';
import { pingerMetricsUrls, readPingerKeyRefused } from '../../../src/status/pinger-key.js';

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
    expect(
      pingerMetricsUrls({ pingerMetricsUrls: 'http://p1:9464/metrics, http://p2:9464/metrics' }, { port: 1 }),
    ).toEqual(['http://p1:9464/metrics', 'http://p2:9464/metrics']);
    expect(pingerMetricsUrls({ pingerMetricsUrls: '' }, { port: 9464 })).toEqual(['http://127.0.0.1:9464/metrics']);
    expect(pingerMetricsUrls({ pingerMetricsUrls: '' }, { port: 0 })).toEqual([]);
  });
});
