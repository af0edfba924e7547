import { UsageError } from '../errors.js';

/**
 * Pulls lost on request: Livefyre answered the ping with 200 but the pull
 * never happens, as when Livefyre loses queued work. Whether Livefyre ever
 * retries is undocumented, so a lost pull stays lost. JSON shape of
 * `POST /sim/pull-faults`:
 *
 *   { "count": 3 }               the next 3 pulls, whoever they are for
 *   { "id": "u1042" }            the next pull of u1042
 *   { "id": "u1042", "count": 2 }
 *
 * Specs add up; one naming the pulled id is used before an unnamed one.
 */
export interface PullLossSpec {
  /** Pulls to lose (default 1). */
  count?: number;
  /** Only pulls of this user id. */
  id?: string;
}

export interface PullLossState {
  id: string | null;
  /** Pulls still to lose under this spec. */
  remaining: number;
}

export function parsePullLossSpec(value: unknown): PullLossSpec {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError('a pull fault must be a JSON object such as {"count": 1} or {"id": "u1042"}');
  }
  const input = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(input)) if (key !== 'count' && key !== 'id') problems.push(`unknown key "${key}"`);
  const spec: PullLossSpec = {};
  if (input.count !== undefined) {
    if (typeof input.count === 'number' && Number.isInteger(input.count) && input.count > 0) spec.count = input.count;
    else problems.push(`count: expected a positive integer, received ${JSON.stringify(input.count)}`);
  }
  if (input.id !== undefined) {
    if (typeof input.id === 'string' && input.id.length > 0) spec.id = input.id;
    else problems.push(`id: expected a user id, received ${JSON.stringify(input.id)}`);
  }
  if (problems.length > 0) throw new UsageError(`invalid pull fault: ${problems.join('; ')}`);
  return spec;
}

/** Decides, pull by pull, whether a pull is lost. */
export class PullLoss {
  #losses: PullLossState[] = [];

  add(spec: PullLossSpec): void {
    this.#losses.push({ id: spec.id ?? null, remaining: spec.count ?? 1 });
  }

  clear(): void {
    this.#losses = [];
  }

  current(): PullLossState[] {
    return this.#losses.map((loss) => ({ ...loss }));
  }

  /** True when this pull of `id` is to be lost (and counts it). */
  take(id: string): boolean {
    const loss = this.#losses.find((entry) => entry.id === id) ?? this.#losses.find((entry) => entry.id === null);
    if (loss === undefined) return false;
    loss.remaining -= 1;
    if (loss.remaining === 0) this.#losses = this.#losses.filter((entry) => entry !== loss);
    return true;
  }
}
