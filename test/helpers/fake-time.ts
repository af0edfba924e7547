import type { Clock, Timers } from '../../src/time.js';

interface Pending {
  id: number;
  at: number;
  callback: () => void;
}

/** The one fake clock for tests: a clock and timers that move only when the test says so. */
export class FakeTime implements Clock, Timers {
  private current: number;
  private nextId = 1;
  private pending: Pending[] = [];

  constructor(start = 1_780_000_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): { id: number; unref(): void } {
    const timer = { id: this.nextId++, at: this.current + Math.max(0, ms), callback };
    this.pending.push(timer);
    return { id: timer.id, unref: () => undefined };
  }

  clearTimeout(handle: unknown): void {
    const id = (handle as { id?: number } | undefined)?.id;
    this.pending = this.pending.filter((timer) => timer.id !== id);
  }

  /** Timers set and neither fired nor cleared yet. */
  get pendingTimers(): number {
    return this.pending.length;
  }

  /** Moves time forward, firing due timers in order and letting promises settle between them. */
  async advance(ms: number): Promise<void> {
    const until = this.current + ms;
    for (;;) {
      await flush();
      const next = this.pending.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (next === undefined) break;
      this.pending = this.pending.filter((timer) => timer !== next);
      this.current = Math.max(this.current, next.at);
      next.callback();
    }
    this.current = until;
    await flush();
  }
}

/** Lets every queued promise callback run. */
export async function flush(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}
