/**
 * Source lag measured from the replication slot alone, so it needs nothing
 * from inside the connector and keeps growing when the connector is stuck or
 * gone. Each reading notes the server's WAL end and when it was seen; the
 * oldest WAL the slot has not confirmed was written after the last reading
 * whose WAL end the slot has passed, so its age is at least "now minus the
 * first reading the slot has not passed". The connector confirms a change
 * only once it is in Kafka, so this is the age of the oldest change not yet
 * handed to Kafka: 0 when caught up, rising while anything waits, with the
 * reading interval as its resolution (a lower bound, never a spike from a
 * heartbeat in flight).
 */
export class SourceLagEstimator {
  /** Readings the slot has not passed yet, oldest first, WAL end strictly increasing. */
  private readonly pending: Array<{ atMs: number; walEnd: number }> = [];

  constructor(private readonly maxReadings = 10_000) {}

  /** Records a reading taken at `atMs`; returns the lag in seconds (null: the slot never confirmed anything). */
  observe(atMs: number, reading: { walEndBytes: number; confirmedFlushBytes: number | null }): number | null {
    const last = this.pending.at(-1);
    if (last === undefined || reading.walEndBytes > last.walEnd)
      this.pending.push({ atMs, walEnd: reading.walEndBytes });
    if (reading.confirmedFlushBytes === null) return null;
    const confirmed = reading.confirmedFlushBytes;
    let passed = 0;
    while (passed < this.pending.length && (this.pending[passed] as { walEnd: number }).walEnd <= confirmed)
      passed += 1;
    this.pending.splice(0, passed);
    // A long stall: thin the middle, keep the oldest (it carries the answer) and the newest.
    if (this.pending.length > this.maxReadings) this.pending.splice(1, 1);
    const oldest = this.pending[0];
    return oldest === undefined ? 0 : Math.max(0, atMs - oldest.atMs) / 1000;
  }
}
