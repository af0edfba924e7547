import { ReplicationError } from '../errors.js';
import { sleep, type Clock, type Timers } from '../time.js';

/**
 * How much longer than the server's wal_sender_timeout a stream may stay
 * silent: the server ends a silent client after that long, so a healthy
 * stream never stays quiet past it (our probe below asks for a keepalive).
 */
export const SILENCE_MARGIN_MS = 5_000;

/** wal_sender_timeout 0 turns the server's own check off; the stream is then judged by its default. */
const DEFAULT_WAL_SENDER_TIMEOUT_MS = 60_000;

export function silenceLimitMs(walSenderTimeoutMs: number): number {
  return (walSenderTimeoutMs > 0 ? walSenderTimeoutMs : DEFAULT_WAL_SENDER_TIMEOUT_MS) + SILENCE_MARGIN_MS;
}

export interface SilenceWatchOptions {
  limitMs: number;
  /** When anything (data or keepalive) last came from the server. */
  lastHeard(): number;
  /** Asks the server for a keepalive (an idle stream may legitimately be quiet). */
  probe(): void;
  /** Ends the timers (the session closed). */
  signal: AbortSignal;
  clock: Clock;
  timers: Timers;
}

/**
 * Watches a replication stream for silence. A half-open connection sends
 * nothing and reports no error: without this a session would hang until the
 * OS gave up on the socket. Half-way to the limit the server is probed; at
 * the limit the stream counts as dead and the returned promise rejects
 * (retriable: the connector reconnects). Resolves once `signal` aborted.
 */
export async function watchSilence(options: SilenceWatchOptions): Promise<void> {
  const { limitMs, clock, signal } = options;
  const stepMs = Math.max(100, Math.floor(limitMs / 10));
  let probedAt = -1;
  while (!signal.aborted) {
    await sleep(stepMs, signal, options.timers);
    if (signal.aborted) return;
    const heard = options.lastHeard();
    const silentMs = clock.now() - heard;
    if (silentMs >= limitMs) {
      throw new ReplicationError(
        `the replication stream was silent for ${Math.round(silentMs / 1000)} s (no data, no keepalive; ` +
          `wal_sender_timeout plus ${SILENCE_MARGIN_MS / 1000} s): the connection is taken for dead, reconnecting`,
        { retriable: true },
      );
    }
    if (silentMs >= limitMs / 2 && probedAt !== heard) {
      probedAt = heard;
      options.probe();
    }
  }
}
