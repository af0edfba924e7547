import { Pool, request } from 'undici';
import type { Config } from '../config/index.js';
import { LivefyreError, UsageError } from '../errors.js';
import { redactUrl } from '../log.js';
import { systemClock, systemTimers, type Clock, type Timers } from '../time.js';
import { isValidUserId, USER_ID_PATTERN } from './profile.js';
import { createSystemToken, defaultBaseUrl, importNetworkKey } from './token.js';

/** The calls pingpull makes to Livefyre: the ping and registering the pull URL (README, "Commands"). */
export interface LivefyreClient {
  /** Pings Livefyre for one user; resolves on 200, throws a LivefyreError otherwise. */
  ping(userId: string, signal?: AbortSignal): Promise<void>;
  /** Registers the pull URL template (must contain `{id}`); resolves with the 2xx status (204 expected). */
  registerPullUrl(template: string): Promise<{ status: number }>;
  /** Closes the pooled connections. */
  close(): Promise<void>;
}

export interface LivefyreClientDeps {
  clock?: Clock;
  timers?: Timers;
  /** Keep-alive connections kept open to Livefyre (the pinger's concurrency is a good value). */
  connections?: number;
  /** Lifetime of the system token; it is renewed at half of it. */
  tokenTtlSeconds?: number;
}

type LivefyreSettings = Pick<Config['livefyre'], 'network' | 'networkKey' | 'baseUrl' | 'timeoutMs'>;

const DEFAULT_TOKEN_TTL_SECONDS = 86_400;

export function createLivefyreClient(settings: LivefyreSettings, deps: LivefyreClientDeps = {}): LivefyreClient {
  const clock = deps.clock ?? systemClock;
  const timers = deps.timers ?? systemTimers;
  const base = new URL(livefyreBaseUrl(settings));
  const prefix = base.pathname.replace(/\/+$/, '');
  const pool = new Pool(base.origin, {
    connections: deps.connections ?? 10,
    keepAliveTimeout: 30_000,
    headersTimeout: settings.timeoutMs,
    bodyTimeout: settings.timeoutMs,
    connectTimeout: settings.timeoutMs,
  });
  const token = createTokenSource({
    network: settings.network,
    networkKey: settings.networkKey,
    clock,
    ttlSeconds: deps.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS,
  });

  async function send(
    what: string,
    request: { path: string; logUrl: string; body?: string; signal?: AbortSignal | undefined },
  ): Promise<number> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = timers.setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, settings.timeoutMs);
    const onOuterAbort = (): void => controller.abort();
    if (request.signal?.aborted === true) controller.abort();
    request.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const described = `${what} (POST ${request.logUrl})`;
    try {
      const response = await pool.request({
        method: 'POST',
        path: request.path,
        headers: request.body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' },
        body: request.body ?? '',
        signal: controller.signal,
      });
      if (response.statusCode >= 200 && response.statusCode < 300) {
        await response.body.dump();
        return response.statusCode;
      }
      const detail = await errorDetail(response.body);
      throw statusError(described, response.statusCode, response.headers['retry-after'], clock.now(), detail);
    } catch (error) {
      if (error instanceof LivefyreError) throw error;
      if (timedOut) {
        throw new LivefyreError(`${described} got no answer within ${settings.timeoutMs} ms`, {
          retriable: true,
        });
      }
      if (request.signal?.aborted === true) {
        throw new LivefyreError(`${described} was abandoned`, { retriable: true, cause: error });
      }
      const code = (error as { code?: unknown }).code;
      throw new LivefyreError(
        `${described} failed: ${typeof code === 'string' ? `${code} ` : ''}${(error as Error).message}`,
        { retriable: true, cause: error },
      );
    } finally {
      timers.clearTimeout(timer);
      request.signal?.removeEventListener('abort', onOuterAbort);
    }
  }

  return {
    async ping(userId, signal) {
      if (!isValidUserId(userId)) {
        throw new LivefyreError(`user id ${JSON.stringify(userId)} does not match ${USER_ID_PATTERN.source}`, {
          retriable: false,
        });
      }
      const path = `${prefix}/api/v3_0/user/${userId}/refresh`;
      const lftoken = await token.current();
      await send(`ping of user ${userId}`, {
        path,
        logUrl: `${base.origin}${path}`,
        body: new URLSearchParams({ lftoken }).toString(),
        signal,
      });
    },

    async registerPullUrl(template) {
      checkTemplate(template);
      const query = new URLSearchParams({ actor_token: await token.current(), pull_profile_url: template });
      const path = `${prefix}/?${query.toString()}`;
      const status = await send('registering the pull URL', { path, logUrl: redactUrl(`${base.origin}${path}`) });
      return { status };
    },

    async close() {
      await pool.close();
    },
  };
}

/** Livefyre's API: `livefyre.baseUrl`, else the network's own host; '' when neither is set. */
export function livefyreBaseUrl(settings: Pick<LivefyreSettings, 'network' | 'baseUrl'>): string {
  if (settings.baseUrl !== '') return settings.baseUrl;
  return settings.network === '' ? '' : defaultBaseUrl(settings.network);
}

export interface LivefyreProbe {
  reachable: boolean;
  /** The HTTP status of a GET of the base URL (any answer means reachable). */
  httpStatus: number | null;
  /** Why there was no answer (null: there was one). */
  error: string | null;
}

/**
 * Whether Livefyre's API host answers at all: one GET of the base URL, no
 * token sent, nothing changed there, no redirect followed. Any HTTP answer
 * counts as reachable; a wrong key shows only when a ping is refused, which
 * a reachability check must not cause. Needs no network key, so `check` and
 * `status` can ask on a host that runs only the connector.
 */
export async function probeLivefyre(baseUrl: string, timeoutMs: number): Promise<LivefyreProbe> {
  if (baseUrl === '') {
    return { reachable: false, httpStatus: null, error: 'no Livefyre base URL (livefyre.network is not set)' };
  }
  try {
    // One question, then the connection closes: nothing is left open to keep the process alive.
    const response = await request(baseUrl, { method: 'GET', reset: true, signal: AbortSignal.timeout(timeoutMs) });
    await response.body.dump();
    return { reachable: true, httpStatus: response.statusCode, error: null };
  } catch (error) {
    return { reachable: false, httpStatus: null, error: describeFailure(error) };
  }
}

/**
 * The pull URL template registered at Livefyre's side, where that can be
 * asked: the simulator shows it at `GET /sim/pull-url`; Livefyre itself has
 * no documented way to read it back, so the answer there is `unknown`.
 */
export async function registeredPullUrl(
  baseUrl: string,
  timeoutMs: number,
): Promise<{ known: true; template: string | null } | { known: false }> {
  try {
    const response = await request(new URL('/sim/pull-url', baseUrl), {
      method: 'GET',
      reset: true,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      return { known: false };
    }
    const body = (await response.body.json()) as { template?: unknown };
    if (body.template === null) return { known: true, template: null };
    return typeof body.template === 'string' ? { known: true, template: body.template } : { known: false };
  } catch {
    return { known: false };
  }
}

function describeFailure(error: unknown): string {
  if (error instanceof Error) return error.message === '' ? error.name : error.message;
  return String(error);
}

function checkTemplate(template: string): void {
  if (!template.includes('{id}')) {
    throw new UsageError(`the pull URL template must contain {id}, received ${JSON.stringify(template)}`);
  }
  let url: URL;
  try {
    url = new URL(template.replaceAll('{id}', 'id'));
  } catch {
    throw new UsageError(`the pull URL template must be a fully qualified URL, received ${JSON.stringify(template)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`the pull URL template must be an http(s) URL, received ${JSON.stringify(template)}`);
  }
}

/**
 * 403: the token is not accepted (wrong network key or network), which no
 * retry fixes. 5xx and 429 are Livefyre's transient trouble; other 4xx mean
 * the request itself is wrong.
 */
function statusError(
  described: string,
  status: number,
  retryAfter: string | string[] | undefined,
  nowMs: number,
  detail: string | undefined,
): LivefyreError {
  if (status === 403) {
    return new LivefyreError(
      `${described} was answered 403: Livefyre does not accept the system token; check livefyre.network and livefyre.networkKey`,
      { status, retriable: false },
    );
  }
  const retriable = status >= 500 || status === 429;
  const retryAfterMs = retriable ? parseRetryAfter(retryAfter, nowMs) : undefined;
  return new LivefyreError(`${described} was answered ${status}${detail === undefined ? '' : `: ${detail}`}`, {
    status,
    retriable,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/**
 * Livefyre explains a refusal in `{"status": "error", "code": 400, "msg": "..."}`;
 * the `msg` (or the start of a text body), on one line, for the error message.
 */
async function errorDetail(body: { text(): Promise<string> }): Promise<string | undefined> {
  let text: string;
  try {
    text = await body.text();
  } catch {
    return undefined;
  }
  let detail = text;
  try {
    const parsed = JSON.parse(text) as { msg?: unknown };
    if (typeof parsed.msg === 'string') detail = parsed.msg;
  } catch {
    // not JSON: the text itself
  }
  detail = detail.replace(/\s+/g, ' ').trim().slice(0, 200);
  return detail === '' ? undefined : detail;
}

/**
 * `Retry-After` as delay-seconds or an HTTP date, in milliseconds from `nowMs`;
 * undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number.parseInt(text, 10) * 1000;
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

export interface TokenSource {
  /** The system token, built on first use and rebuilt once half its lifetime has passed. */
  current(): Promise<string>;
}

export function createTokenSource(options: {
  network: string;
  networkKey: string;
  clock: Clock;
  ttlSeconds: number;
}): TokenSource {
  const key = importNetworkKey(options.networkKey);
  let cached: { token: string; renewAtMs: number } | undefined;
  let building: Promise<string> | undefined;

  async function build(): Promise<string> {
    const issuedAtMs = options.clock.now();
    const { token } = await createSystemToken({
      network: options.network,
      key,
      clock: options.clock,
      ttlSeconds: options.ttlSeconds,
    });
    cached = { token, renewAtMs: issuedAtMs + (options.ttlSeconds * 1000) / 2 };
    return token;
  }

  return {
    current() {
      if (cached !== undefined && options.clock.now() < cached.renewAtMs) return Promise.resolve(cached.token);
      building ??= build().finally(() => {
        building = undefined;
      });
      return building;
    },
  };
}
