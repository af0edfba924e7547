import type { Clock, Timers } from '../../../src/time.js';

/** A clock and timers that move only when a test says so. */
export class ManualTime {
  #now: number;
  #tasks: Array<{ at: number; run: () => void; handle: object }> = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  readonly clock: Clock = { now: () => this.#now };

  readonly timers: Timers = {
    setTimeout: (run, ms) => {
      const handle = {};
      this.#tasks.push({ at: this.#now + ms, run, handle });
      return handle;
    },
    clearTimeout: (handle) => {
      this.#tasks = this.#tasks.filter((task) => task.handle !== handle);
    },
  };

  pending(): number {
    return this.#tasks.length;
  }

  /** Moves time forward, running every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#tasks.filter((task) => task.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#tasks = this.#tasks.filter((task) => task !== due);
      this.#now = Math.max(this.#now, due.at);
      due.run();
    }
    this.#now = end;
  }
}
