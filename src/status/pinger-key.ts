const REFUSED = /^pingpull_livefyre_token_refused(?:\{[^}]*\})?\s+(\S+)/m;

/** Where the pingers' /metrics are: the configured URLs, or this host's metrics port. */
export function pingerMetricsUrls(status: { pingerMetricsUrls: string }, metrics: { port: number }): string[] {
  const listed = status.pingerMetricsUrls
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (listed.length > 0) return listed;
  return metrics.port === 0 ? [] : [`http://127.0.0.1:${metrics.port}/metrics`];
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
  fetchText: (url: string, signal: AbortSignal) => Promise<string> = defaultFetchText,
): Promise<boolean | undefined> {
  const readings = await Promise.all(
    urls.map(async (url) => {
      try {
        const match = REFUSED.exec(await fetchText(url, AbortSignal.timeout(timeoutMs)));
        return match === null ? undefined : Number(match[1]) > 0;
      } catch {
        return undefined;
      }
    }),
  );
  if (readings.includes(true)) return true;
  return readings.includes(false) ? false : undefined;
}

async function defaultFetchText(url: string, signal: AbortSignal): Promise<string> {
  const response = await fetch(url, { signal });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.text();
}
