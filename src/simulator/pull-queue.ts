import type { Clock, Timers } from '../time.js';

export interface PullQueueOptions {
  /** How long after a ping its pull starts (Livefyre takes minutes; tests want 0). */
  delayMs: number;
  /** Pulls in flight at once. */
  concurrency: number;
  clock: Clock;
  timers: Timers;
  /** Performs and records one pull; must not reject. */
  pull: (id: string) => Promise<void>;
}

interface Waiting {
  id: string;
  dueAt: number;
}

/**
 * Livefyre's side of a ping: answer now, pull later. Entries wait `delayMs`
 * in arrival order (the delay is constant, so arrival order is due order).
 * A ping for an id that is still waiting joins that entry; a ping for an id
 * whose pull is already running queues a new pull, since the running one may
 * have read the row before the change.
 */
export class PullQueue {
  readonly #options: PullQueueOptions;
  #waiting: Waiting[] = [];
  #head = 0;
  readonly #pending = new Set<string>();
  #active = 0;
  #timer: unknown;
  #closed = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: PullQueueOptions) {
    this.#options = options;
  }

  /** Queues a pull of `id`; false when a waiting pull of the same id absorbed it. */
  enqueue(id: string): boolean {
    if (this.#closed) return false;
    if (this.#pending.has(id)) return false;
    this.#pending.add(id);
    this.#waiting.push({ id, dueAt: this.#options.clock.now() + this.#options.delayMs });
    this.#pump();
    return true;
  }

  /** Pulls waiting or running. */
  size(): number {
    return this.#waiting.length - this.#head + this.#active;
  }

  /** Resolves once nothing waits and nothing runs. */
  idle(): Promise<void> {
    if (this.size() === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Drops waiting pulls, cancels the timer and waits for running pulls. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#cancelTimer();
    this.#waiting = [];
    this.#head = 0;
    this.#pending.clear();
    await this.idle();
  }

  #pump(): void {
    const { clock, concurrency } = this.#options;
    while (!this.#closed && this.#active < concurrency && this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head] as Waiting;
      const wait = next.dueAt - clock.now();
      if (wait > 0) {
        this.#schedule(wait);
        break;
      }
      this.#head += 1;
      this.#pending.delete(next.id);
      this.#active += 1;
      void this.#options.pull(next.id).finally(() => {
        this.#active -= 1;
        this.#pump();
        this.#settleIdle();
      });
    }
    this.#compact();
    this.#settleIdle();
  }

  #schedule(ms: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = this.#options.timers.setTimeout(() => {
      this.#timer = undefined;
      this.#pump();
    }, ms);
  }

  #cancelTimer(): void {
    if (this.#timer === undefined) return;
    this.#options.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
  }

  #settleIdle(): void {
    if (this.size() > 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
