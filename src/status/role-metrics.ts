import { parsePullHealth, type PullServerReading } from '../pull/health.js';

const REFUSED = /^pingpull_livefyre_token_refused(?:\{[^}]*\})?\s+(\S+)/m;

type FetchText = (url: string, signal: AbortSignal) => Promise<string>;

/** Where a role's /metrics are: the URLs listed (comma-separated), or this host's metrics port. */
export function roleMetricsUrls(listed: string, metrics: { port: number }): string[] {
  const urls = listed
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (urls.length > 0) return urls;
  return metrics.port === 0 ? [] : [`http://127.0.0.1:${metrics.port}/metrics`];
}

/** Each URL's /metrics text, or undefined for one that did not answer in time. */
function readAll(urls: readonly string[], timeoutMs: number, fetchText: FetchText): Promise<Array<string | undefined>> {
  return Promise.all(urls.map((url) => fetchText(url, AbortSignal.timeout(timeoutMs)).catch(() => undefined)));
}

/**
 * Whether Livefyre refuses the pingers' key, from their own metrics: true
 * when any pinger reports it refused, false when every pinger that answered
 * reports it accepted, undefined when none answered (no pinger to ask:
 * only a ping can tell).
 */
export async function readPingerKeyRefused(
  urls: readonly string[],
  timeoutMs: number,
  fetchText: FetchText = defaultFetchText,
): Promise<boolean | undefined> {
  const readings = (await readAll(urls, timeoutMs, fetchText)).map((text) => {
    const match = text === undefined ? null : REFUSED.exec(text);
    return match === null ? undefined : Number(match[1]) > 0;
  });
  if (readings.includes(true)) return true;
  return readings.includes(false) ? false : undefined;
}

/**
 * Whether the pull servers' profile queries fail, from their own metrics
 * (`pingpull_pull_failing_since_seconds`): the earliest failing one when any
 * fails, "not failing" when every one that answered says so, undefined when
 * none answered.
 */
export async function readPullServerHealth(
  urls: readonly string[],
  timeoutMs: number,
  fetchText: FetchText = defaultFetchText,
): Promise<PullServerReading | undefined> {
  const readings = (await readAll(urls, timeoutMs, fetchText)).map((text) =>
    text === undefined ? undefined : parsePullHealth(text),
  );
  const failing = readings
    .filter((reading): reading is Extract<PullServerReading, { failing: true }> => reading?.failing === true)
    .sort((a, b) => a.sinceMs - b.sinceMs)[0];
  if (failing !== undefined) return failing;
  return readings.some((reading) => reading !== undefined) ? { failing: false } : undefined;
}

async function defaultFetchText(url: string, signal: AbortSignal): Promise<string> {
  const response = await fetch(url, { signal });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.text();
}
