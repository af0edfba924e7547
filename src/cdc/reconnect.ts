import { PingpullError, ReplicationError, SessionEnded } from '../errors.js';
import type { Logger } from '../log.js';
import { createRetryPolicy, RECONNECT } from '../retry.js';
import { sleep, type Random, type Timers } from '../time.js';
import { formatLsn, maxLsn, type Lsn } from './lsn.js';
import { classifySessionError } from './session.js';
import type { SlotPosition } from './slot-catalog.js';

const reconnectDelay = createRetryPolicy(RECONNECT);

/** `standby`: another connector reads the slot; `reconnecting`: a session failed and the next one waits. */
export type ConnectorState = 'starting' | 'streaming' | 'standby' | 'reconnecting';

export interface ReconnectDeps {
  /** Connects the Kafka producer (once: it stays connected across sessions). */
  connectKafka(): Promise<void>;
  readSlot(): Promise<SlotPosition>;
  /** Throws when the users table left the publication. */
  ensurePublished(): Promise<void>;
  /**
   * Streams from `durable` until stopped (resolves with the new durable
   * position) or failed (rejects, with SessionEnded once it made progress).
   */
  runSession(durable: Lsn, db: string, onStreaming: () => void): Promise<Lsn>;
  stopping(): boolean;
  /** Where the loop stands, for the operator console. */
  onState?(state: ConnectorState): void;
  /** Aborts when the connector stops: cuts a back-off short. */
  signal: AbortSignal;
  logger: Logger;
  timers: Timers;
  random: Random;
}

/**
 * Runs replication sessions until stopped: each streams from the durable
 * position, and any failure ends it and starts a new one from that position
 * (duplicates, never gaps). A slot read by another connector makes this one
 * its standby, polling until the slot is free. Rejects on a failure no retry
 * fixes.
 */
export async function runSessions(deps: ReconnectDeps): Promise<void> {
  const { logger } = deps;
  let durable: Lsn | null = null;
  let attempt = 0;
  let standby = false;
  let connected = false;
  while (!deps.stopping()) {
    let sessionStart: Lsn | null = null;
    try {
      if (!connected) {
        await deps.connectKafka();
        connected = true;
      }
      // The slot may have moved while another connector read it (we were
      // its standby): start from whichever is further, never behind it.
      const position = await deps.readSlot();
      await deps.ensurePublished();
      durable = durable === null ? position.confirmedFlush : maxLsn(durable, position.confirmedFlush);
      sessionStart = durable;
      durable = await deps.runSession(durable, position.db, () => {
        if (standby) logger.info('replication slot is free: taking over as the active connector');
        standby = false;
        deps.onState?.('streaming');
      });
    } catch (caught) {
      const error = classifySessionError(caught);
      // Only a session that made something durable resets the back-off: one
      // that connects and then fails (Kafka away, a bad row) retries ever slower.
      let progressed = false;
      if (error instanceof SessionEnded) {
        if (sessionStart !== null && error.published > sessionStart) progressed = true;
        durable = error.published;
      }
      const cause = error instanceof SessionEnded ? error.reason : error;
      if (deps.stopping()) break;
      if (cause instanceof PingpullError && !cause.retriable) {
        logger.error({ err: cause }, 'connector stopped: this needs fixing, not retrying');
        throw cause;
      }
      const slotInUse = cause instanceof ReplicationError && cause.slotInUse;
      attempt = slotInUse ? 0 : progressed ? 1 : attempt + 1;
      // Never 'stop': a cause no retry fixes was thrown above.
      const delayMs = reconnectDelay(attempt, cause, deps.random) as number;
      if (slotInUse) {
        if (!standby) {
          logger.info({ err: cause.message }, 'replication slot is read by another connector: waiting as a standby');
        }
        standby = true;
        deps.onState?.('standby');
      } else {
        deps.onState?.('reconnecting');
        logger.warn(
          { err: cause, attempt, retryInMs: delayMs },
          'replication session failed: reconnecting from the durable position',
        );
      }
      await sleep(delayMs, deps.signal, deps.timers);
    }
  }
  logger.info({ durable: durable === null ? null : formatLsn(durable) }, 'connector stopped');
}
