import { LivefyreError, UsageError } from '../errors.js';
import type { LivefyreClient } from '../livefyre/client.js';
import { USER_ID_PATTERN, isValidUserId } from '../livefyre/profile.js';

export type PingNowResult = { id: string; ok: true } | { id: string; ok: false; error: LivefyreError };

/**
 * `pingpull ping <id>...`: one ping per distinct id, in order, no retries
 * (the person at the terminal decides). Throws a UsageError naming every
 * malformed id before pinging anyone.
 */
export async function pingNow(client: Pick<LivefyreClient, 'ping'>, ids: readonly string[]): Promise<PingNowResult[]> {
  assertPingableIds(ids);
  const results: PingNowResult[] = [];
  for (const id of new Set(ids)) {
    try {
      await client.ping(id);
      results.push({ id, ok: true });
    } catch (error) {
      if (!(error instanceof LivefyreError)) throw error;
      results.push({ id, ok: false, error });
      // A refused token fails every other id the same way.
      if (error.status === 403) break;
    }
  }
  return results;
}

/** Throws a UsageError naming every malformed id, before anything is looked up or pinged. */
export function assertPingableIds(ids: readonly string[]): void {
  if (ids.length === 0) throw new UsageError('expected at least one user id');
  const invalid = ids.filter((id) => !isValidUserId(id));
  if (invalid.length > 0) {
    throw new UsageError(
      `user ids must match ${USER_ID_PATTERN.source}; not valid: ${invalid.map((id) => JSON.stringify(id)).join(', ')}`,
    );
  }
}
