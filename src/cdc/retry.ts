import type { Random } from '../time.js';

/**
 * How long to wait before the next replication session: a pure function of
 * the attempt, so the loop that sleeps stays separate (and cancellable).
 */
export const RECONNECT = { baseMs: 500, maxMs: 30_000, standbyMs: 2_000 } as const;

export function reconnectDelayMs(attempt: number, slotInUse: boolean, random: Random): number {
  // A standby polls at a steady pace: it takes over as soon as the slot is free.
  if (slotInUse) return RECONNECT.standbyMs;
  const ceiling = Math.min(RECONNECT.maxMs, RECONNECT.baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
