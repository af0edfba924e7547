import type { Clock, Timers } from '../time.js';

/**
 * - `window`: collecting events until the coalescing window closes;
 * - `due`: handed to the pinger, waiting for a permit (or parked while Livefyre refuses us);
 * - `in-flight`: a ping is on the wire; new events wait in `next`;
 * - `retrying`: waiting for the retry delay.
 */
export type GroupState = 'window' | 'due' | 'in-flight' | 'retrying';

interface Group<T> {
  state: GroupState;
  items: T[];
  /** Events that arrived while the ping was in flight: the ping may have been too early for them. */
  next: T[];
  /** When the first of `next` arrived, to start its window from then. */
  nextSince: number;
  /** Failed attempts counted against the retry budget. */
  failures: number;
  timer: unknown;
}

export interface CoalescerOptions {
  windowMs: number;
  clock: Clock;
  timers: Timers;
  /** Called (from a timer) when a user's group should be pinged. */
  onDue: (key: string) => void;
}

/**
 * Turns the events of one user into as few pings as possible: events within
 * the window, and everything that arrives while the user's ping waits for a
 * permit or for a retry, ride on one ping. An event that arrives while the
 * ping is in flight gets a follow-up ping, since Livefyre may pull before
 * the change that event reports.
 */
export class Coalescer<T> {
  private readonly groups = new Map<string, Group<T>>();
  private pending = 0;
  private closed = false;

  constructor(private readonly options: CoalescerOptions) {}

  /** Events held, in all groups. */
  get size(): number {
    return this.pending;
  }

  /** Users with a group. */
  get users(): number {
    return this.groups.size;
  }

  state(key: string): GroupState | undefined {
    return this.groups.get(key)?.state;
  }

  add(key: string, item: T): void {
    this.pending += 1;
    const group = this.groups.get(key);
    if (group === undefined) {
      const created: Group<T> = {
        state: 'window',
        items: [item],
        next: [],
        nextSince: 0,
        failures: 0,
        timer: undefined,
      };
      this.groups.set(key, created);
      this.schedule(key, created, this.options.windowMs, 'window');
      return;
    }
    if (group.state === 'in-flight') {
      if (group.next.length === 0) group.nextSince = this.options.clock.now();
      group.next.push(item);
      return;
    }
    group.items.push(item);
  }

  /** The ping starts: the group's events and the attempt number (1 for the first). */
  begin(key: string): { items: readonly T[]; attempt: number } | undefined {
    const group = this.groups.get(key);
    if (group === undefined || group.state !== 'due') return undefined;
    group.state = 'in-flight';
    return { items: group.items, attempt: group.failures + 1 };
  }

  /** The ping got its 200: its events are done. Events that came meanwhile start their own window. */
  succeeded(key: string): T[] {
    return this.finish(key);
  }

  /** The ping failed for good: its events are returned (for the dead letter topic). */
  failed(key: string): T[] {
    return this.finish(key);
  }

  /** The ping failed and is tried again after `delayMs`, with whatever arrived meanwhile. */
  retry(key: string, delayMs: number): void {
    const group = this.inFlight(key);
    group.failures += 1;
    this.mergeNext(group);
    this.schedule(key, group, delayMs, 'retrying');
  }

  /**
   * The ping failed in a way that says nothing about this user (Livefyre
   * refuses our token): the group waits in `due`, no attempt counted, until
   * the pinger calls `release`.
   */
  hold(key: string): void {
    const group = this.inFlight(key);
    this.mergeNext(group);
    group.state = 'due';
  }

  /** A held or due group goes back to the pinger. */
  release(key: string): void {
    const group = this.groups.get(key);
    if (group?.state === 'due') this.options.onDue(key);
  }

  /** Cancels every timer (on stop): events still held stay unacknowledged and come again from Kafka. */
  close(): void {
    this.closed = true;
    for (const group of this.groups.values()) {
      if (group.timer !== undefined) this.options.timers.clearTimeout(group.timer);
      group.timer = undefined;
    }
  }

  private finish(key: string): T[] {
    const group = this.inFlight(key);
    const done = group.items;
    this.pending -= done.length;
    if (group.next.length === 0) {
      this.groups.delete(key);
      return done;
    }
    group.items = group.next;
    group.next = [];
    group.failures = 0;
    const elapsed = this.options.clock.now() - group.nextSince;
    this.schedule(key, group, Math.max(0, this.options.windowMs - elapsed), 'window');
    return done;
  }

  private inFlight(key: string): Group<T> {
    const group = this.groups.get(key);
    if (group === undefined || group.state !== 'in-flight') {
      throw new Error(`coalescer: no ping in flight for ${key}`);
    }
    return group;
  }

  private mergeNext(group: Group<T>): void {
    if (group.next.length > 0) {
      group.items = group.items.concat(group.next);
      group.next = [];
    }
  }

  private schedule(key: string, group: Group<T>, delayMs: number, state: 'window' | 'retrying'): void {
    group.state = state;
    if (this.closed) return;
    group.timer = this.options.timers.setTimeout(() => {
      group.timer = undefined;
      group.state = 'due';
      this.options.onDue(key);
    }, delayMs);
  }
}
