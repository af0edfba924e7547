import { UsageError } from '../errors.js';
import type { Random } from '../time.js';

/**
 * Failures injected into pings (not registration, not pulls), to test the
 * pinger against an unhealthy Livefyre. JSON shape of `POST /sim/faults`:
 *
 *   { "status": 503, "rate": 0.3, "retryAfterSeconds": 1 }  30% of pings fail until cleared
 *   { "status": 500, "count": 5 }                           the next 5 pings fail
 *   { "status": 429, "rate": 0.5, "count": 10, "delayMs": 200 }
 *
 * - `status` (required): the HTTP status answered, 400-599.
 * - `rate` (default 1): probability in (0, 1] that a ping fails, drawn from the
 *   simulator's injected random source, so a seeded run is reproducible.
 * - `count` (optional): stop after this many injected failures; without it the
 *   fault stays until `DELETE /sim/faults`.
 * - `retryAfterSeconds` (optional): sent as `Retry-After` with each failure.
 * - `delayMs` (optional): the failure is answered after this delay (slow outage).
 */
export interface FaultSpec {
  status: number;
  rate?: number;
  count?: number;
  retryAfterSeconds?: number;
  delayMs?: number;
}

export interface InjectedFault {
  status: number;
  retryAfterSeconds: number | undefined;
  delayMs: number;
}

export interface FaultState {
  spec: FaultSpec;
  /** Failures injected so far under this spec. */
  injected: number;
}

export function parseFaultSpec(value: unknown): FaultSpec {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError('a fault must be a JSON object such as {"status": 503, "rate": 0.3}');
  }
  const input = value as Record<string, unknown>;
  const problems: string[] = [];
  const known = new Set(['status', 'rate', 'count', 'retryAfterSeconds', 'delayMs']);
  for (const key of Object.keys(input)) if (!known.has(key)) problems.push(`unknown key "${key}"`);
  const number = (key: string, ok: (n: number) => boolean, expected: string): number | undefined => {
    const v = input[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
      problems.push(`${key}: expected ${expected}, received ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  };
  const status = number('status', (n) => Number.isInteger(n) && n >= 400 && n <= 599, 'an HTTP status 400-599');
  if (input.status === undefined) problems.push('status: required (an HTTP status 400-599)');
  const spec: FaultSpec = { status: status ?? 0 };
  const rate = number('rate', (n) => n > 0 && n <= 1, 'a probability in (0, 1]');
  const count = number('count', (n) => Number.isInteger(n) && n > 0, 'a positive integer');
  const retryAfterSeconds = number('retryAfterSeconds', (n) => Number.isInteger(n) && n >= 0, 'whole seconds >= 0');
  const delayMs = number('delayMs', (n) => n >= 0 && n <= 600_000, 'milliseconds 0-600000');
  if (rate !== undefined) spec.rate = rate;
  if (count !== undefined) spec.count = count;
  if (retryAfterSeconds !== undefined) spec.retryAfterSeconds = retryAfterSeconds;
  if (delayMs !== undefined) spec.delayMs = delayMs;
  if (problems.length > 0) throw new UsageError(`invalid fault: ${problems.join('; ')}`);
  return spec;
}

/** Decides, ping by ping, whether the active fault strikes. */
export class FaultInjector {
  #state: FaultState | undefined;

  constructor(private readonly random: Random) {}

  set(spec: FaultSpec): void {
    this.#state = { spec: { ...spec }, injected: 0 };
  }

  clear(): void {
    this.#state = undefined;
  }

  current(): FaultState | undefined {
    return this.#state === undefined ? undefined : { spec: { ...this.#state.spec }, injected: this.#state.injected };
  }

  /** The failure to answer this ping with, or undefined to answer it normally. */
  next(): InjectedFault | undefined {
    const state = this.#state;
    if (state === undefined) return undefined;
    const { spec } = state;
    if (spec.rate !== undefined && spec.rate < 1 && this.random() >= spec.rate) return undefined;
    state.injected += 1;
    if (spec.count !== undefined && state.injected >= spec.count) this.#state = undefined;
    return { status: spec.status, retryAfterSeconds: spec.retryAfterSeconds, delayMs: spec.delayMs ?? 0 };
  }
}
