import type { RawMessage } from '../events/consumer.js';
import type { DeadLetter, DeadLetterProducer } from '../events/dead-letters.js';
import type { DeadLetterReason } from '../events/envelope.js';
import type { Logger } from '../log.js';
import { createRetryPolicy, deadLetterSchedule, type RetryPolicy } from '../retry.js';
import { sleep, type Random, type Timers } from '../time.js';

const DEAD_LETTER_BATCH = 500;

export interface DeadLetterDrainDeps<T> {
  topic: string;
  retryBaseMs: number;
  retryMaxMs: number;
  random: Random;
  logger: Logger;
  timers: Timers;
  /** Events now in the dead letter topic: their offsets may be committed. */
  delivered(events: readonly T[]): void;
}

/**
 * Events that failed for good, on their way to the dead letter topic. One
 * request at a time, in order, so the topic keeps the order they failed in;
 * a failed send is retried (the offsets wait) until the drain is closed.
 */
export class DeadLetterDrain<T extends { readonly message: RawMessage }> {
  private readonly queue: Array<{ event: T; letter: DeadLetter }> = [];
  private readonly closed = new AbortController();
  private producer: Pick<DeadLetterProducer, 'send'> | undefined;
  private running: Promise<void> | undefined;
  private readonly retry: RetryPolicy;

  constructor(private readonly deps: DeadLetterDrainDeps<T>) {
    this.retry = createRetryPolicy(deadLetterSchedule(deps));
  }

  /** Events waiting for the dead letter topic. */
  get size(): number {
    return this.queue.length;
  }

  start(producer: Pick<DeadLetterProducer, 'send'>): void {
    this.producer = producer;
    this.drain();
  }

  add(events: readonly T[], reason: DeadLetterReason, attempts: number, error: string): void {
    for (const event of events) this.queue.push({ event, letter: { message: event.message, reason, attempts, error } });
    this.drain();
  }

  /** Waits for the running send within `graceMs`, then stops sending: what is left stays uncommitted. */
  async close(graceMs: number): Promise<void> {
    if (this.running !== undefined) {
      let grace: unknown;
      await Promise.race([
        this.running,
        new Promise<void>((resolve) => {
          grace = this.deps.timers.setTimeout(resolve, graceMs);
        }),
      ]);
      this.deps.timers.clearTimeout(grace);
    }
    this.closed.abort();
  }

  private drain(): void {
    const producer = this.producer;
    if (producer === undefined || this.running !== undefined || this.closed.signal.aborted) return;
    this.running = this.send(producer).finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.drain();
    });
  }

  private async send(producer: Pick<DeadLetterProducer, 'send'>): Promise<void> {
    const { logger } = this.deps;
    for (let failures = 0; this.queue.length > 0 && !this.closed.signal.aborted;) {
      const batch = this.queue.slice(0, DEAD_LETTER_BATCH);
      try {
        await producer.send(batch.map((item) => item.letter));
        this.queue.splice(0, batch.length);
        failures = 0;
        this.deps.delivered(batch.map((item) => item.event));
      } catch (sendError) {
        // Retries any error, for ever: never 'stop'.
        const delayMs = this.retry(failures + 1, sendError, this.deps.random) as number;
        failures += 1;
        logger.error({ err: sendError, delayMs }, `writing to the dead letter topic ${this.deps.topic} failed`);
        await sleep(delayMs, this.closed.signal, this.deps.timers);
      }
    }
  }
}
