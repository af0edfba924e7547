import { sleep, type Timers } from '../time.js';

export interface Periodic {
  /** Stops the loop and waits for a run in progress to end. */
  stop(): Promise<void>;
}

/** Runs `task` now and then every `intervalMs` until stopped; `task` must not throw. */
export function startPeriodic(intervalMs: number, task: () => Promise<void>, timers: Timers): Periodic {
  const abort = new AbortController();
  const loop = (async () => {
    while (!abort.signal.aborted) {
      await task();
      await sleep(intervalMs, abort.signal, timers);
    }
  })();
  return {
    async stop() {
      abort.abort();
      await loop;
    },
  };
}
