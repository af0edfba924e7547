export interface WaitOptions {
  /** How long to keep trying before failing the test. */
  timeoutMs?: number;
  /** What is awaited, for the failure message. */
  what?: string;
  everyMs?: number;
}

type Pending = undefined | false;

/**
 * Polls `condition` until it returns something other than undefined or false, and returns that. A condition that
 * throws is retried too (a server still starting); the last error is in the failure message. Tests wait on this
 * instead of sleeping a fixed time, so they are as fast as the system allows and fail clearly when it never gets there.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 30_000, what = 'the condition', everyMs = 100 }: WaitOptions = {},
): Promise<Exclude<T, Pending>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value as Exclude<T, Pending>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? '' : `: ${String(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
