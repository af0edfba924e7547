/**
 * The pull confirmation loop: a ping's 200 only says Livefyre queued the
 * work; a change is delivered once our own pull server served that user.
 *
 * Design. All state is in one compacted Kafka topic, `kafka.pullsTopic`,
 * keyed by user id (src/events/pulls.ts), so any process may die at any time:
 * - Just before each ping, the pinger writes an `awaiting` record (when, which
 *   attempt, the change event it pings for) and waits for Kafka's ack. A pull
 *   caused by that ping is therefore recorded after it in the partition.
 * - The pull server writes a `served` tombstone for every pull it answers.
 *   A served record confirms every awaiting record before it in the log: the
 *   pull read the database after the change was in Kafka, so after it committed.
 * - Pingers also form the group `<kafka.groupId>-pulls` on that topic. The
 *   owner of a partition rebuilds its users' latest records (reading from the
 *   committed offset, which is the oldest record still awaited), and only once
 *   it has read up to the end as of its assignment does it judge deadlines.
 * - A wait whose deadline (`pinger.pullConfirmMs` after its latest ping)
 *   passes is judged by the one retry policy (src/retry.ts) with the loop's
 *   own budget, `pinger.pullConfirmAttempts` re-pings: after the backoff the
 *   owner writes the next `awaiting` record and pings again; once the budget
 *   is spent the change goes to the dead letter topic as `not_pulled` and a
 *   `settled` tombstone ends the wait. A re-ping Livefyre fails is retried
 *   with the ping's own policy (`pinger.maxAttempts`) and spends none of
 *   that budget: an outage of Livefyre is not a missed pull.
 * - The owner commits, per partition, the offset of the oldest awaited record
 *   with a summary (how many wait, the oldest first ping) as commit metadata,
 *   which `pingpull status` reads without joining any group.
 * Extra pings are the price of every race here (a rebalance, a record written
 * while a re-ping is decided); a ping is harmless, a lost change is not.
 */
import { LivefyreError, NotPulledError } from '../errors.js';
import type { DeadLetter } from '../events/dead-letters.js';
import {
  awaitedEventMessage,
  encodePullsSummary,
  type AwaitingPull,
  type PullRecord,
  type PullsAssignment,
  type PullsWriter,
} from '../events/pulls.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RetryPolicy } from '../retry.js';
import type { Clock, Random, Timers } from '../time.js';

export interface AwaitingPullsDeps {
  confirmMs: number;
  /**
   * Judges a missed window: the backoff before the re-ping, and the budget
   * (its maxAttempts counts the first ping too: 1 + pinger.pullConfirmAttempts).
   */
  windowPolicy: RetryPolicy;
  /** The pinger's retry policy, for a re-ping Livefyre failed (its maxAttempts: pinger.maxAttempts). */
  pingPolicy: RetryPolicy;
  /** Wait after a failed write to Kafka, and after Livefyre refused our token (403), before trying again. */
  retryMs: number;
  forbiddenPauseMs: number;
  /** Sends one ping within the pinger's rate and concurrency ceilings. */
  rePing(userId: string): Promise<void>;
  metrics: Pick<Metrics, 'pingsAwaitingPull' | 'oldestAwaitingPullSeconds' | 'pingToPullSeconds' | 'repingsTotal'>;
  logger: Logger;
  clock: Clock;
  timers: Timers;
  random: Random;
}

interface Wait {
  userId: string;
  partition: number;
  /** Where its latest record is in the partition. */
  offset: bigint;
  awaiting: AwaitingPull;
  timer: unknown;
  /** Its deadline passed before the partition was rebuilt: judged once it is. */
  deferred: boolean;
  /** Livefyre failures of the current re-ping (kept in memory: a new owner starts again at 0). */
  failures: number;
}

interface OwnedPartition {
  /** One past the last record read. */
  next: bigint;
  /** The end as of the assignment; undefined until known. */
  end: bigint | undefined;
  rebuilt: boolean;
}

export interface AwaitingPullsState {
  awaiting: number;
  oldestFirstPingedAtMs: number | null;
}

export class AwaitingPulls {
  private readonly waits = new Map<string, Wait>();
  private readonly partitions = new Map<number, OwnedPartition>();
  private writer: Pick<PullsWriter, 'awaiting' | 'settled'> | undefined;
  private deadLetter: (letter: DeadLetter) => Promise<void> = async () => undefined;
  private closed = false;

  constructor(private readonly deps: AwaitingPullsDeps) {}

  /** `deadLetter` resolves once the letter is in the dead letter topic. */
  start(writer: Pick<PullsWriter, 'awaiting' | 'settled'>, deadLetter: (letter: DeadLetter) => Promise<void>): void {
    this.writer = writer;
    this.deadLetter = deadLetter;
  }

  /** A new group generation: what was built belongs to the previous assignment. */
  joined(): void {
    for (const wait of this.waits.values()) this.deps.timers.clearTimeout(wait.timer);
    this.waits.clear();
    this.partitions.clear();
    this.publish();
  }

  assigned(assignment: PullsAssignment): void {
    for (const { partition, from, end } of assignment.partitions) {
      const owned = this.partition(partition, from);
      owned.end = end;
      this.checkRebuilt(partition, owned);
    }
  }

  record(partition: number, offset: bigint, record: PullRecord): void {
    const owned = this.partition(partition, offset);
    if (offset >= owned.next) owned.next = offset + 1n;
    if (record.kind === 'awaiting') {
      this.forget(record.userId);
      const wait: Wait = {
        userId: record.userId,
        partition,
        offset,
        awaiting: record.awaiting,
        timer: undefined,
        deferred: false,
        failures: 0,
      };
      this.waits.set(record.userId, wait);
      this.scheduleDeadline(wait);
    } else if (record.kind === 'served') {
      const wait = this.waits.get(record.userId);
      if (wait !== undefined) {
        const delayMs = Math.max(0, record.atMs - wait.awaiting.pingedAtMs);
        this.deps.metrics.pingToPullSeconds.observe(delayMs / 1000);
        this.forget(record.userId);
      }
    } else if (record.kind === 'settled') {
      this.forget(record.userId);
    }
    this.checkRebuilt(partition, owned);
  }

  state(): AwaitingPullsState {
    let oldest: number | null = null;
    for (const wait of this.waits.values()) {
      if (oldest === null || wait.awaiting.firstPingedAtMs < oldest) oldest = wait.awaiting.firstPingedAtMs;
    }
    return { awaiting: this.waits.size, oldestFirstPingedAtMs: oldest };
  }

  /**
   * Per rebuilt partition: where a new owner must start (the oldest awaited
   * record, or past everything read) and the summary `status` shows.
   */
  marks(): Array<{ partition: number; offset: string; metadata: string }> {
    this.publish();
    const now = this.deps.clock.now();
    // One pass over the waits, whatever the number of partitions.
    const summaries = new Map<number, { from: bigint; awaiting: number; oldest: number | null }>();
    for (const [partition, owned] of this.partitions) {
      if (owned.rebuilt) summaries.set(partition, { from: owned.next, awaiting: 0, oldest: null });
    }
    for (const wait of this.waits.values()) {
      const summary = summaries.get(wait.partition);
      if (summary === undefined) continue;
      summary.awaiting += 1;
      if (wait.offset < summary.from) summary.from = wait.offset;
      const first = wait.awaiting.firstPingedAtMs;
      if (summary.oldest === null || first < summary.oldest) summary.oldest = first;
    }
    return [...summaries].map(([partition, { from, awaiting, oldest }]) => ({
      partition,
      offset: from.toString(),
      metadata: encodePullsSummary({ awaiting, oldestFirstPingedAtMs: oldest, atMs: now }),
    }));
  }

  close(): void {
    this.closed = true;
    for (const wait of this.waits.values()) this.deps.timers.clearTimeout(wait.timer);
  }

  private partition(partition: number, from: bigint): OwnedPartition {
    let owned = this.partitions.get(partition);
    if (owned === undefined) {
      owned = { next: from, end: undefined, rebuilt: false };
      this.partitions.set(partition, owned);
    }
    return owned;
  }

  private checkRebuilt(partition: number, owned: OwnedPartition): void {
    if (owned.rebuilt || owned.end === undefined || owned.next < owned.end) return;
    owned.rebuilt = true;
    for (const wait of this.waits.values()) {
      if (wait.partition === partition && wait.deferred) this.deadlinePassed(wait);
    }
  }

  private forget(userId: string): void {
    const wait = this.waits.get(userId);
    if (wait === undefined) return;
    this.deps.timers.clearTimeout(wait.timer);
    this.waits.delete(userId);
  }

  private current(wait: Wait): boolean {
    return !this.closed && this.waits.get(wait.userId) === wait;
  }

  private later(wait: Wait, delayMs: number, step: (wait: Wait) => void): void {
    this.deps.timers.clearTimeout(wait.timer);
    if (this.closed) return;
    wait.timer = this.deps.timers.setTimeout(() => {
      wait.timer = undefined;
      if (this.current(wait)) step(wait);
    }, delayMs);
  }

  private scheduleDeadline(wait: Wait): void {
    const dueMs = wait.awaiting.pingedAtMs + this.deps.confirmMs - this.deps.clock.now();
    this.later(wait, Math.max(0, dueMs), (w) => this.deadlinePassed(w));
  }

  private deadlinePassed(wait: Wait): void {
    wait.deferred = false;
    if (this.partitions.get(wait.partition)?.rebuilt !== true) {
      wait.deferred = true;
      return;
    }
    const missed = new NotPulledError(this.deps.confirmMs, wait.awaiting.attempt);
    this.decide(wait, this.deps.windowPolicy(wait.awaiting.attempt, missed, this.deps.random), missed);
  }

  private decide(wait: Wait, decision: number | 'stop', error: unknown): void {
    if (decision === 'stop') {
      void this.giveUp(wait, error);
      return;
    }
    this.later(wait, decision, (w) => void this.pingAgain(w));
  }

  private async pingAgain(waitBefore: Wait): Promise<void> {
    const { userId } = waitBefore;
    const previous = waitBefore.awaiting;
    const next: AwaitingPull = { ...previous, pingedAtMs: this.deps.clock.now(), attempt: previous.attempt + 1 };
    try {
      await (this.writer as Pick<PullsWriter, 'awaiting' | 'settled'>).awaiting(userId, next);
    } catch (error) {
      this.deps.logger.warn({ err: error, userId }, 'recording a re-ping in the pulls topic failed; trying again');
      if (this.current(waitBefore)) this.later(waitBefore, this.deps.retryMs, (w) => void this.pingAgain(w));
      return;
    }
    // The record may have been read back before Kafka's ack reached us: that
    // wait is this one, and its ping must still go out.
    const wait = this.waits.get(userId);
    const ours =
      wait === waitBefore ||
      (wait !== undefined && wait.awaiting.pingedAtMs === next.pingedAtMs && wait.awaiting.attempt === next.attempt);
    if (this.closed || wait === undefined || !ours) return;
    // Reading the record back later finds these same figures.
    wait.awaiting = next;
    this.deps.metrics.repingsTotal.inc();
    this.deps.logger.info(
      { userId, attempt: next.attempt, confirmMs: this.deps.confirmMs },
      'no pull followed the ping in time; pinging again',
    );
    try {
      await this.deps.rePing(userId);
      wait.failures = 0;
      if (this.current(wait)) this.scheduleDeadline(wait);
    } catch (error) {
      if (!this.current(wait)) return;
      // No ping reached Livefyre: no window was spent either.
      wait.awaiting = { ...next, attempt: previous.attempt };
      if (error instanceof LivefyreError && error.status === 403) {
        // Says nothing about this user: nothing counts.
        this.later(wait, this.deps.forbiddenPauseMs, (w) => void this.pingAgain(w));
        return;
      }
      wait.failures += 1;
      this.decide(wait, this.deps.pingPolicy(wait.failures, error, this.deps.random), error);
    }
  }

  private async giveUp(wait: Wait, error: unknown): Promise<void> {
    const { userId, awaiting } = wait;
    const message = error instanceof Error ? error.message : String(error);
    try {
      await this.deadLetter({
        message: awaitedEventMessage(userId, awaiting),
        reason: 'not_pulled',
        attempts: awaiting.attempt,
        error: message,
      });
      // A newer ping of this user (read meanwhile) has its own wait: only this one ends.
      if (this.current(wait)) await (this.writer as Pick<PullsWriter, 'awaiting' | 'settled'>).settled(userId);
    } catch (writeError) {
      this.deps.logger.warn({ err: writeError, userId }, 'writing a not_pulled dead letter failed; trying again');
      if (this.current(wait)) this.later(wait, this.deps.retryMs, (w) => void this.giveUp(w, error));
      return;
    }
    this.deps.logger.warn(
      { userId, attempts: awaiting.attempt, error: message },
      'giving up on a pull; the change goes to the dead letter topic as not_pulled',
    );
    if (this.current(wait)) this.forget(userId);
  }

  private publish(): void {
    const { awaiting, oldestFirstPingedAtMs } = this.state();
    this.deps.metrics.pingsAwaitingPull.set(awaiting);
    const ageMs = oldestFirstPingedAtMs === null ? 0 : Math.max(0, this.deps.clock.now() - oldestFirstPingedAtMs);
    this.deps.metrics.oldestAwaitingPullSeconds.set(ageMs / 1000);
  }
}
