import type { Pool } from '../db.js';
import type { Logger } from '../log.js';
import { sleep, type Timers } from '../time.js';

export const HEARTBEAT_PREFIX = 'pingpull-heartbeat';

export interface SessionTimerOptions {
  statusIntervalMs: number;
  /** 0: no heartbeat messages. */
  heartbeatMs: number;
  /** Ends the timers (the session closed). */
  signal: AbortSignal;
  timers: Timers;
  /** Sends a standby status update for what Kafka holds. */
  confirm(): void;
  /** Emits a heartbeat message and checks the table is still published. */
  heartbeat(): Promise<void>;
}

/**
 * The two clocks of a streaming session: a status update every
 * `statusIntervalMs` (the slot follows Kafka even when the server asks for
 * nothing), and a heartbeat message every `heartbeatMs`, whose return through
 * the stream lets the slot move past WAL of other tables while ours is idle.
 * Resolves once `signal` aborted and a running task finished.
 */
export function runSessionTimers(options: SessionTimerOptions): Promise<void> {
  const loops = [
    every(options.statusIntervalMs, options.signal, options.timers, async () => {
      options.confirm();
    }),
  ];
  if (options.heartbeatMs > 0) {
    loops.push(every(options.heartbeatMs, options.signal, options.timers, options.heartbeat));
  }
  return Promise.all(loops).then(() => undefined);
}

/** A non-transactional logical message: it comes back through the slot without touching a table. */
export async function emitHeartbeat(pool: Pick<Pool, 'query'>, logger: Logger): Promise<void> {
  try {
    await pool.query(`SELECT pg_logical_emit_message(false, $1, '')`, [HEARTBEAT_PREFIX]);
  } catch (error) {
    logger.warn({ err: error }, 'heartbeat message failed: an idle users table may keep WAL until the next change');
  }
}

async function every(ms: number, signal: AbortSignal, timers: Timers, task: () => Promise<void>): Promise<void> {
  while (!signal.aborted) {
    await sleep(ms, signal, timers);
    if (!signal.aborted) await task();
  }
}
