import { Agent, request } from 'undici';
import { redactUrl, type Logger } from '../log.js';
import type { Clock } from '../time.js';
import type { PullRecord, SimulatorState } from './records.js';
import { buildPullUrl } from './template.js';
import { signSimSystemToken } from './token.js';
import { validateProfile } from './validate-profile.js';

export interface PullerOptions {
  network: string;
  networkKey: string;
  clock: Clock;
  timeoutMs: number;
  logger: Logger;
  state: SimulatorState;
}

export interface Puller {
  pull(id: string): Promise<void>;
  close(): Promise<void>;
}

type Attempt = Omit<PullRecord, 'finishedAt'>;

/** Larger answers are not profiles; reading stops there. */
const MAX_PROFILE_BYTES = 1024 * 1024;
/** Renew the system token this long before it expires, as a long-running client would. */
const TOKEN_RENEW_SECONDS = 3600;
/** How much of an answer that is not JSON an invalid-profile record keeps. */
const KEPT_TEXT = 1000;

/**
 * Livefyre's pull: GET the registered template for the id with a system
 * token, validate the JSON like Livefyre, store it or record why not.
 * One token is reused across pulls, as Livefyre does. A failed pull is
 * never tried again: whether Livefyre retries is undocumented, so the
 * simulator assumes the worst.
 */
export function createPuller(options: PullerOptions): Puller {
  const { clock, state, logger } = options;
  const agent = new Agent({ connect: { timeout: options.timeoutMs } });
  let token: { token: string; expires: number } | undefined;

  function currentToken(): string {
    const nowSeconds = clock.now() / 1000;
    if (token === undefined || token.expires - nowSeconds < TOKEN_RENEW_SECONDS) {
      const ttlSeconds = 86_400;
      token = { token: signSimSystemToken(options, nowSeconds, ttlSeconds), expires: nowSeconds + ttlSeconds };
    }
    return token.token;
  }

  function refused(id: string, startedAt: number, url: string, errors: string[], body: unknown): Attempt {
    state.invalidProfiles.push({ id, pulledAt: clock.now(), errors, body });
    return { id, startedAt, url, status: 200, outcome: 'invalid_profile', errors };
  }

  async function attempt(id: string, startedAt: number): Promise<Attempt> {
    const template = state.registration.template;
    if (template === null) return { id, startedAt, outcome: 'no_pull_url', errors: ['no pull URL is registered'] };
    const url = buildPullUrl(template, id, currentToken());
    const shown = redactUrl(url);
    let status: number;
    let text: string;
    try {
      const response = await request(url, {
        method: 'GET',
        dispatcher: agent,
        headers: { accept: 'application/json' },
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      return { id, startedAt, url: shown, outcome: 'network_error', errors: [errorText(error)] };
    }
    if (status !== 200) return { id, startedAt, url: shown, status, outcome: 'http_error', errors: [`HTTP ${status}`] };
    if (Buffer.byteLength(text) > MAX_PROFILE_BYTES) {
      return refused(id, startedAt, shown, ['the profile exceeds 1 MiB'], text.slice(0, KEPT_TEXT));
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return refused(id, startedAt, shown, ['the answer is not JSON'], text.slice(0, KEPT_TEXT));
    }
    const verdict = validateProfile(body, id);
    if (!verdict.ok) return refused(id, startedAt, shown, verdict.errors, body);
    state.profiles.set(id, { id, profile: verdict.profile, pulledAt: clock.now() });
    return { id, startedAt, url: shown, status, outcome: 'stored' };
  }

  return {
    async pull(id) {
      const startedAt = clock.now();
      let record: PullRecord;
      try {
        record = { ...(await attempt(id, startedAt)), finishedAt: clock.now() };
      } catch (error) {
        record = { id, startedAt, finishedAt: clock.now(), outcome: 'network_error', errors: [errorText(error)] };
      }
      state.pulls.push(record);
      const line = { id, outcome: record.outcome, status: record.status, url: record.url, errors: record.errors };
      if (record.outcome === 'stored') logger.info(line, 'pulled profile');
      else logger.warn(line, 'pull failed');
    },
    close: () => agent.close(),
  };
}

/** An error's message with any token in a URL it quotes redacted. */
function errorText(error: unknown): string {
  const text =
    error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);
  return redactUrl(text);
}
