import { USER_ID_PATTERN, isValidUserId } from '../livefyre/profile.js';

/** Why an event went to the dead letter topic; also the `reason` label of pingpull_dead_letters_total. */
export type DeadLetterReason = 'invalid-key' | 'invalid-json' | 'invalid-envelope' | 'rejected' | 'max-attempts';

export type DecodedChange =
  | { kind: 'ping'; userId: string; commitTsMs: number | undefined }
  /**
   * Nothing to ping: a tombstone (null value, Debezium's follow-up to a delete)
   * or a truncate (op t without a key, as Debezium writes it; the connector logged it).
   */
  | { kind: 'skip' }
  | { kind: 'poison'; reason: DeadLetterReason; detail: string };

const OPS = new Set(['c', 'u', 'd', 'r', 't']);

/** Reads a change event's key (the user id) and value (the Debezium envelope). */
export function decodeChange(key: Buffer | null, value: Buffer | null): DecodedChange {
  const userId = key?.toString('utf8') ?? '';
  if (userId === '' && isTruncate(value)) return { kind: 'skip' };
  if (!isValidUserId(userId)) {
    return {
      kind: 'poison',
      reason: 'invalid-key',
      detail: `message key ${JSON.stringify(userId.slice(0, 100))} is not a user id (${USER_ID_PATTERN.source})`,
    };
  }
  if (value === null || value.length === 0) return { kind: 'skip' };

  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    return { kind: 'poison', reason: 'invalid-json', detail: `value is not JSON: ${(error as Error).message}` };
  }
  const problem = envelopeProblem(parsed);
  if (problem !== undefined) return { kind: 'poison', reason: 'invalid-envelope', detail: problem };
  const source = (parsed as { source: { ts_ms?: unknown } }).source;
  return { kind: 'ping', userId, commitTsMs: typeof source.ts_ms === 'number' ? source.ts_ms : undefined };
}

function isTruncate(value: Buffer | null): boolean {
  if (value === null) return false;
  try {
    return (JSON.parse(value.toString('utf8')) as { op?: unknown } | null)?.op === 't';
  } catch {
    return false;
  }
}

function envelopeProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return 'value is not a change event: expected a JSON object with before, after, source, op';
  }
  const event = value as Record<string, unknown>;
  if (typeof event.op !== 'string' || !OPS.has(event.op)) {
    return `value is not a change event: op is ${JSON.stringify(event.op)}, expected one of c, u, d, r, t`;
  }
  for (const field of ['before', 'after'] as const) {
    const row = event[field];
    if (row !== null && row !== undefined && (typeof row !== 'object' || Array.isArray(row))) {
      return `value is not a change event: ${field} must be an object or null`;
    }
  }
  const source = event.source;
  if (source === null || typeof source !== 'object' || Array.isArray(source)) {
    return 'value is not a change event: source must be an object';
  }
  return undefined;
}
