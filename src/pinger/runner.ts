import type { MessageSink, RawMessage } from '../events/consumer.js';
import { decodeChange, type DeadLetterReason } from '../events/envelope.js';
import type { Logger } from '../log.js';
import type { Timers } from '../time.js';
import type { OffsetManager } from './offset-manager.js';
import type { OffsetRef } from './offsets.js';

/** A consumed event on its way through the pinger. */
export interface PendingEvent {
  ref: OffsetRef;
  message: RawMessage;
  commitTsMs: number | undefined;
}

export interface PingerRunnerDeps {
  offsets: Pick<OffsetManager, 'track' | 'done' | 'reset'>;
  /** Hands a user's event to the pinging. */
  ping(userId: string, event: PendingEvent): void;
  deadLetter(events: readonly PendingEvent[], reason: DeadLetterReason, attempts: number, error: string): void;
  maxPendingEvents: number;
  logger: Logger;
  timers: Timers;
}

/**
 * Where the consumer's batches go: each message is decoded and handed to
 * the pinging (or skipped, or dead-lettered), and the consumer is held back
 * while `maxPendingEvents` events are unfinished.
 */
export class PingerRunner implements Omit<MessageSink, 'onRejoin'> {
  private outstanding = 0;
  private readonly roomWaiters: Array<() => void> = [];

  constructor(private readonly deps: PingerRunnerDeps) {}

  accept(message: RawMessage): void {
    const ref = this.deps.offsets.track(message);
    if (ref === undefined) return;
    this.outstanding += 1;
    const change = decodeChange(message.key, message.value);
    const event: PendingEvent = { ref, message, commitTsMs: change.kind === 'ping' ? change.commitTsMs : undefined };
    if (change.kind === 'ping') {
      this.deps.ping(change.userId, event);
    } else if (change.kind === 'skip') {
      this.finished([event]);
    } else {
      this.deps.logger.warn(
        { topic: message.topic, partition: message.partition, offset: message.offset, reason: change.reason },
        `poison event: ${change.detail}`,
      );
      this.deps.deadLetter([event], change.reason, 0, change.detail);
    }
  }

  /** Events pinged OK, skipped or dead-lettered: their offsets may be committed, and they leave room. */
  finished(events: readonly PendingEvent[]): void {
    this.deps.offsets.done(events.map((event) => event.ref));
    this.outstanding -= events.length;
    this.wakeAll();
  }

  hasRoom(): boolean {
    return this.outstanding < this.deps.maxPendingEvents;
  }

  waitForRoom(ms: number): Promise<void> {
    const { timers } = this.deps;
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        timers.clearTimeout(timer);
        resolve();
      };
      const timer = timers.setTimeout(() => {
        const index = this.roomWaiters.indexOf(wake);
        if (index >= 0) this.roomWaiters.splice(index, 1);
        resolve();
      }, ms);
      this.roomWaiters.push(wake);
    });
  }

  /** Lets a consumer waiting for room go on (to see it is paused, at a stop). */
  wakeAll(): void {
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  /** The group (re)joined: Kafka re-delivers from the committed offsets. */
  rejoined(): void {
    this.deps.offsets.reset();
  }
}
