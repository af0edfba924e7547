import type { ChangeConsumer, CommitOffset, RawMessage } from '../events/consumer.js';
import type { Timers } from '../time.js';
import { OffsetTracker, type OffsetRef } from './offsets.js';

export interface OffsetManagerDeps {
  commitIntervalMs: number;
  timers: Timers;
}

/**
 * Commits consumed offsets, on a timer and once more at the stop: an offset
 * is committed only once every event up to it was pinged OK or is in the
 * dead letter topic.
 */
export class OffsetManager {
  private readonly tracker = new OffsetTracker();
  /** The offsets last committed, per partition. */
  private readonly latest = new Map<string, CommitOffset>();
  private consumer: Pick<ChangeConsumer, 'commit'> | undefined;
  private timer: unknown;
  private stopped = false;

  constructor(private readonly deps: OffsetManagerDeps) {}

  /** Records a consumed message; undefined when it is a re-fetch of one already in flight. */
  track(message: RawMessage): OffsetRef | undefined {
    return this.tracker.track(message.topic, message.partition, message.offset);
  }

  done(refs: Iterable<OffsetRef>): void {
    this.tracker.done(refs);
  }

  /** The group (re)joined: Kafka re-delivers from the committed offsets. */
  reset(): void {
    this.tracker.reset();
  }

  /** Commits to `consumer` every commit interval until stop(). */
  start(consumer: Pick<ChangeConsumer, 'commit'>): void {
    this.consumer = consumer;
    this.schedule();
  }

  /** Ends the timer; commit() still works, for the last commit. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
  }

  async commit(): Promise<void> {
    const offsets = this.tracker.committable();
    if (this.consumer === undefined || offsets.length === 0) return;
    if (await this.consumer.commit(offsets)) {
      this.tracker.committed(offsets);
      for (const offset of offsets) this.latest.set(`${offset.topic}/${offset.partition}`, offset);
    }
  }

  committed(): CommitOffset[] {
    return [...this.latest.values()];
  }

  private schedule(): void {
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = undefined;
      void this.commit().finally(() => {
        if (!this.stopped) this.schedule();
      });
    }, this.deps.commitIntervalMs);
  }
}
