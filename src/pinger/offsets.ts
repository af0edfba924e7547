import type { CommitOffset } from '../events/consumer.js';

/** One consumed message's place, marked done once pinged OK or dead-lettered. */
export interface OffsetRef {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly epoch: number;
  done: boolean;
}

interface PartitionLog {
  topic: string;
  partition: number;
  /** Refs in offset order; `head` is the first one not yet done. */
  refs: OffsetRef[];
  head: number;
  /** One past the highest offset seen. */
  end: bigint;
  /** The last offset committed, or the first offset seen: commits only move past it. */
  committed: bigint;
}

/**
 * Per partition, the offsets in flight through the pinger. The committable
 * offset is the first one not done: events finish out of order (coalescing,
 * retries), but a commit must never pass an event that is still pending.
 */
export class OffsetTracker {
  private readonly logs = new Map<string, PartitionLog>();
  private epoch = 0;

  /** Records a consumed offset; undefined when it was already seen in this epoch (a re-fetch). */
  track(topic: string, partition: number, offset: string): OffsetRef | undefined {
    const id = `${topic}\u0000${partition}`;
    const value = BigInt(offset);
    let log = this.logs.get(id);
    if (log === undefined) {
      log = { topic, partition, refs: [], head: 0, end: value, committed: value };
      this.logs.set(id, log);
    } else if (value < log.end) {
      return undefined;
    }
    const ref: OffsetRef = { topic, partition, offset: value, epoch: this.epoch, done: false };
    log.refs.push(ref);
    log.end = value + 1n;
    return ref;
  }

  /** Marks refs done; refs of an earlier epoch (before a rebalance) are ignored. */
  done(refs: Iterable<OffsetRef>): void {
    for (const ref of refs) {
      if (ref.epoch === this.epoch) ref.done = true;
    }
  }

  /** The offsets to commit now: per partition, only when it moved past the last commit. */
  committable(): CommitOffset[] {
    const result: CommitOffset[] = [];
    for (const log of this.logs.values()) {
      while (log.head < log.refs.length && (log.refs[log.head] as OffsetRef).done) log.head += 1;
      if (log.head > 1024 && log.head * 2 > log.refs.length) {
        log.refs = log.refs.slice(log.head);
        log.head = 0;
      }
      const next = log.head < log.refs.length ? (log.refs[log.head] as OffsetRef).offset : log.end;
      if (next > log.committed) result.push({ topic: log.topic, partition: log.partition, offset: next.toString() });
    }
    return result;
  }

  /** Remembers what Kafka accepted, so the same offsets are not committed again. */
  committed(offsets: readonly CommitOffset[]): void {
    for (const { topic, partition, offset } of offsets) {
      const log = this.logs.get(`${topic}\u0000${partition}`);
      if (log !== undefined && BigInt(offset) > log.committed) log.committed = BigInt(offset);
    }
  }

  /** A rebalance: Kafka re-delivers from the committed offsets, so forget everything in flight. */
  reset(): void {
    this.epoch += 1;
    this.logs.clear();
  }

  /** Offsets seen but not done, over all partitions. */
  get pending(): number {
    let count = 0;
    for (const log of this.logs.values()) {
      for (let i = log.head; i < log.refs.length; i += 1) if (!(log.refs[i] as OffsetRef).done) count += 1;
    }
    return count;
  }
}
