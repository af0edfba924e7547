import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { sleep, type Timers } from '../time.js';
import type { LsnCheckpoint } from './checkpoint.js';
import { formatLsn, type Lsn } from './lsn.js';
import type { SlotPosition } from './slot-catalog.js';

/**
 * How long a graceful stop waits for Postgres to apply its last confirmation.
 * Bounded: a walsender busy decoding a huge transaction may not read replies
 * for a while, and a stop must end (what is not confirmed is only sent again).
 */
const FINAL_CONFIRM = { pollMs: 20, attempts: 250 } as const;

export interface SlotConfirmationDeps {
  checkpoint: LsnCheckpoint;
  /** Sends a standby status update (the library's own acknowledgement is off); `requestReply` asks for a keepalive. */
  sendStatus(lsn: Lsn, requestReply: boolean): void;
  readSlot(): Promise<SlotPosition>;
  metrics: Pick<Metrics, 'sourceLagSeconds'>;
  logger: Logger;
  timers: Timers;
}

/**
 * What one session confirms to Postgres: never more than Kafka holds
 * (`checkpoint.published`), never less than the slot already stands at.
 */
export class SlotConfirmation {
  // The slot's confirmed flush once this session holds the slot. Another
  // connector (we were its standby) may have moved it after we read it, and
  // PostgreSQL 15 takes a lower confirmation as is: confirming less than it
  // would move the slot back. Nothing is confirmed until it is known.
  private floor: Lsn | null = null;
  private floorKnown: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SlotConfirmationDeps) {}

  /**
   * Call once the session holds the slot: no other reader can move it any
   * more. No guessing on failure (the start position may be older than the
   * slot): `onError` ends the session, which then confirms nothing.
   */
  learnFloor(onError: (error: unknown) => void): void {
    this.floorKnown = this.deps.readSlot().then((position) => {
      this.floor = position.confirmedFlush;
    }, onError);
  }

  /**
   * Sends a standby status update for what Kafka holds; returns the LSN sent,
   * if any. `requestReply` makes the server answer with a keepalive at once.
   */
  confirm(requestReply = false): Lsn | null {
    const { checkpoint } = this.deps;
    if (this.floor === null || checkpoint.published < this.floor) return null;
    const lsn = checkpoint.published;
    this.deps.sendStatus(lsn, requestReply);
    checkpoint.markFlushed(lsn);
    return lsn;
  }

  /**
   * A primary keepalive, answered by hand. `caughtUp`: every message received
   * so far was handled, so the server's WAL end holds nothing of ours still
   * on its way.
   */
  keepalive(walEnd: Lsn, shouldRespond: boolean, caughtUp: boolean): void {
    if (caughtUp && this.deps.checkpoint.serverWalEnd(walEnd)) this.deps.metrics.sourceLagSeconds.set(0);
    if (shouldRespond) this.confirm();
  }

  /**
   * The last confirmation of a graceful stop (Kafka has acknowledged what was
   * in flight). Sending is not enough: the library hangs up by destroying the
   * socket (START_REPLICATION counts as a running query), and a walsender that
   * had not read the status update yet (a loaded machine) dies on the reset
   * while sending, without applying it. The slot then stays behind what Kafka
   * holds and the next reader (a standby) sends it all again.
   */
  async confirmFinal(streamOpen: () => boolean): Promise<void> {
    // A stop right after the start must not skip the confirmation for want of the floor.
    await this.floorKnown;
    const confirmed = this.confirm();
    if (confirmed !== null) await this.awaitApplied(confirmed, streamOpen);
  }

  /**
   * Waits until the slot's confirmed flush has reached `lsn` (the status update
   * was applied), within a bound. Reading the slot is the only answer that
   * proves it: a keepalive cannot be told apart from one sent before the
   * server read our update.
   */
  private async awaitApplied(lsn: Lsn, streamOpen: () => boolean): Promise<void> {
    const { logger } = this.deps;
    for (let attempt = 1; ; attempt++) {
      let confirmed: Lsn;
      try {
        confirmed = (await this.deps.readSlot()).confirmedFlush;
      } catch (error) {
        logger.warn(
          { err: error, lsn: formatLsn(lsn) },
          'cannot read the slot to check the last confirmation: its changes may be sent again',
        );
        return;
      }
      if (confirmed >= lsn) return;
      if (!streamOpen() || attempt >= FINAL_CONFIRM.attempts) {
        logger.warn(
          { lsn: formatLsn(lsn), confirmed: formatLsn(confirmed) },
          'Postgres did not apply the last confirmation before the stop: ' +
            'changes after the slot position will be sent again',
        );
        return;
      }
      await sleep(FINAL_CONFIRM.pollMs, undefined, this.deps.timers);
    }
  }
}
