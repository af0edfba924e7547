import { maxLsn, type Lsn } from './lsn.js';

/**
 * Where the connector stands in the WAL, kept as three separate positions:
 * - received: the newest position the stream delivered (and was handled);
 * - published: every change before it is acknowledged by Kafka, so the slot
 *   may be advanced to it;
 * - flushed: what was last confirmed to Postgres.
 * Transactions are queued at their commit with the sequence number of their
 * last event; Kafka acknowledgements (by sequence) release them in order.
 * Acknowledging anything further than `published` loses changes in a crash.
 */
interface Pending {
  /** Where the slot may go once this is durable: commit end LSN, or a heartbeat's LSN. */
  lsn: Lsn;
  lastSeq: number;
}

export class LsnCheckpoint {
  private pending: Pending[] = [];
  private head = 0;
  private open = false;
  private ackedSeq = 0;
  private _received: Lsn;
  private _published: Lsn;
  private _flushed: Lsn;

  /** `durable`: the position everything before is known to be in Kafka (the slot's confirmed flush at start). */
  constructor(durable: Lsn) {
    this._received = durable;
    this._published = durable;
    this._flushed = durable;
  }

  get received(): Lsn {
    return this._received;
  }

  get published(): Lsn {
    return this._published;
  }

  get flushed(): Lsn {
    return this._flushed;
  }

  /** Nothing is waiting for Kafka and no transaction is half received. */
  get idle(): boolean {
    return !this.open && this.head === this.pending.length;
  }

  noteReceived(lsn: Lsn): void {
    this._received = maxLsn(this._received, lsn);
  }

  begin(): void {
    this.open = true;
  }

  /** A transaction is complete; `lastSeq` is the sequence number of the last event enqueued so far. */
  commit(commitEndLsn: Lsn, lastSeq: number): void {
    this.open = false;
    this.enqueue({ lsn: commitEndLsn, lastSeq });
  }

  /**
   * A position with no events of its own (a heartbeat message came back):
   * durable once every event before it is.
   */
  marker(lsn: Lsn, lastSeq: number): void {
    this.enqueue({ lsn, lastSeq });
  }

  /** Kafka acknowledged every event up to `seq`. Returns true when `published` moved. */
  acked(seq: number): boolean {
    this.ackedSeq = Math.max(this.ackedSeq, seq);
    return this.release();
  }

  /**
   * The server's WAL end from a keepalive. When nothing is pending, every
   * change before it has been published (or was not ours), so the slot may
   * follow: otherwise an idle users table makes Postgres keep WAL forever.
   */
  serverWalEnd(walEnd: Lsn): boolean {
    if (!this.idle || walEnd <= this._published) return false;
    this._published = walEnd;
    return true;
  }

  /** The position confirmed to Postgres in a standby status update. */
  markFlushed(lsn: Lsn): void {
    this._flushed = maxLsn(this._flushed, lsn);
  }

  private enqueue(entry: Pending): void {
    this.pending.push(entry);
    this.release();
  }

  private release(): boolean {
    let moved = false;
    while (this.head < this.pending.length) {
      const entry = this.pending[this.head] as Pending;
      if (entry.lastSeq > this.ackedSeq) break;
      this.head += 1;
      if (entry.lsn > this._published) {
        this._published = entry.lsn;
        moved = true;
      }
    }
    // Compact now and then so a long burst does not keep released entries.
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    return moved;
  }
}
