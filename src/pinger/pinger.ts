import type { Config } from '../config/index.js';
import { isRetriable, LivefyreError } from '../errors.js';
import type { DeadLetterReason } from '../events/envelope.js';
import type { LivefyreClient } from '../livefyre/client.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { createRetryPolicy, type RetryPolicy } from '../retry.js';
import type { Clock, Random, Timers } from '../time.js';
import { Coalescer } from './coalescer.js';
import { createThrottle, type Release, type Throttle } from './throttle.js';

/** What the pinger needs of an event: when its change committed (for end-to-end latency). */
export interface Pingable {
  readonly commitTsMs: number | undefined;
}

export interface PingerCoreDeps<T extends Pingable> {
  client: Pick<LivefyreClient, 'ping'>;
  settings: Config['pinger'];
  logger: Logger;
  metrics: Pick<Metrics, 'pingsTotal' | 'endToEndSeconds' | 'livefyreTokenRefused'>;
  clock: Clock;
  timers: Timers;
  random: Random;
  policy?: RetryPolicy;
  /** Events whose ping got its 200. */
  onPinged(events: readonly T[]): void;
  /** Events whose ping failed for good. */
  onGaveUp(events: readonly T[], reason: DeadLetterReason, attempts: number, error: string): void;
  /**
   * Called before each ping, which waits for it: the pull confirmation loop
   * records that the ping awaits its pull. A failure fails the attempt. It
   * runs before the ping takes its permit (rate and concurrency ceilings),
   * for up to 4 × `concurrency` users at once.
   */
  beforePing?(userId: string, events: readonly T[]): Promise<void>;
}

export interface PingerCoreState {
  forbidden: boolean;
  /** Epoch milliseconds when Livefyre first refused the token, while it still does. */
  forbiddenSinceMs: number | undefined;
  inFlight: number;
  /** Events held: waiting for the window, a permit, a retry, or in flight. */
  pendingEvents: number;
  pendingUsers: number;
  lastOkMs: number | undefined;
}

/**
 * Recording slots per ping slot. A record waits for the writer's request in
 * flight, then for its own, then for a permit: with as many recording slots
 * as ping slots, the two stages take turns and only about half the ping
 * slots are busy. Four keep every ping slot busy while Kafka's ack takes up
 * to about three times a ping's round trip.
 */
const RECORDING_SLOTS_PER_PING_SLOT = 4;

interface Forbidden {
  sinceMs: number;
  /** No probe before this time. */
  probeAtMs: number;
  probing: boolean;
  timer: unknown;
}

/**
 * Pings Livefyre for users with pending events: coalesced per user, within
 * the rate and concurrency ceilings, retried with backoff, given up after
 * the retry budget. A 403 means our token is refused, which says nothing
 * about the user: everyone waits, and one probe ping per pause finds out
 * when Livefyre accepts the token again.
 */
export class PingerCore<T extends Pingable> {
  private readonly coalescer: Coalescer<T>;
  private readonly throttle: Throttle;
  /**
   * Users between `beforePing` and their ping's permit, at most
   * RECORDING_SLOTS_PER_PING_SLOT × `concurrency`: their records are written
   * together (the writer batches) while pings are in flight, yet no user
   * records a ping long before it goes out when the ceilings hold pings back.
   */
  private readonly recording: Throttle;
  private readonly policy: RetryPolicy;
  private readonly inFlight = new Set<AbortController>();
  private readonly parked = new Set<string>();
  private readonly idleWaiters: Array<() => void> = [];
  private forbidden: Forbidden | undefined;
  private lastOkMs: number | undefined;
  private stopping = false;

  constructor(private readonly deps: PingerCoreDeps<T>) {
    const { settings, clock, timers } = deps;
    this.coalescer = new Coalescer<T>({
      windowMs: settings.coalesceMs,
      clock,
      timers,
      onDue: (userId) => this.due(userId),
    });
    this.throttle = createThrottle({
      ratePerSecond: settings.ratePerSecond,
      concurrency: settings.concurrency,
      clock,
      timers,
    });
    this.recording = createThrottle({
      ratePerSecond: Infinity,
      concurrency: RECORDING_SLOTS_PER_PING_SLOT * settings.concurrency,
      clock,
      timers,
    });
    this.policy =
      deps.policy ??
      createRetryPolicy({
        baseMs: settings.retryBaseMs,
        maxMs: settings.retryMaxMs,
        maxAttempts: settings.maxAttempts,
      });
  }

  submit(userId: string, event: T): void {
    this.coalescer.add(userId, event);
  }

  state(): PingerCoreState {
    return {
      forbidden: this.forbidden !== undefined,
      forbiddenSinceMs: this.forbidden?.sinceMs,
      inFlight: this.inFlight.size,
      pendingEvents: this.coalescer.size,
      pendingUsers: this.coalescer.users,
      lastOkMs: this.lastOkMs,
    };
  }

  /**
   * Stops starting pings; waits up to `graceMs` for the ones in flight, then
   * abandons them. Events not pinged stay unacknowledged.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.coalescer.close();
    this.recording.close();
    this.throttle.close();
    if (this.forbidden !== undefined) this.deps.timers.clearTimeout(this.forbidden.timer);
    if (this.inFlight.size === 0) return;
    let grace: unknown;
    await new Promise<void>((resolve) => {
      grace = this.deps.timers.setTimeout(resolve, graceMs);
      this.idleWaiters.push(resolve);
    });
    this.deps.timers.clearTimeout(grace);
    if (this.inFlight.size === 0) return;
    this.deps.logger.info({ inFlight: this.inFlight.size }, 'abandoning pings still in flight');
    for (const controller of this.inFlight) controller.abort();
    await new Promise<void>((resolve) => {
      if (this.inFlight.size === 0) resolve();
      else this.idleWaiters.push(resolve);
    });
  }

  /**
   * One ping outside the coalescing, within the rate and concurrency
   * ceilings (a re-ping of the pull confirmation loop); throws what the ping
   * threw. Sends nothing once the pinger stops.
   */
  async pingOnce(userId: string): Promise<void> {
    const release = await this.throttle.acquire();
    if (release === undefined) return;
    const controller = new AbortController();
    this.inFlight.add(controller);
    try {
      await this.deps.client.ping(userId, controller.signal);
      this.lastOkMs = this.deps.clock.now();
    } finally {
      release();
      this.inFlight.delete(controller);
      if (this.inFlight.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private due(userId: string): void {
    if (this.stopping) return;
    const forbidden = this.forbidden;
    if (forbidden === undefined) {
      void this.launch(userId, false);
    } else if (!forbidden.probing && this.deps.clock.now() >= forbidden.probeAtMs) {
      forbidden.probing = true;
      void this.launch(userId, true);
    } else {
      this.parked.add(userId);
    }
  }

  private async launch(userId: string, probe: boolean): Promise<void> {
    const { beforePing } = this.deps;
    // With a record to write first, the user takes a recording slot, not a
    // ping's permit: the wait for Kafka's ack holds no ping slot.
    const first = await (beforePing === undefined ? this.throttle : this.recording).acquire();
    if (first === undefined) return;
    if (this.forbidden !== undefined && !probe) {
      first();
      this.parked.add(userId);
      return;
    }
    const started = this.coalescer.begin(userId);
    if (started === undefined) {
      first();
      return;
    }
    const controller = new AbortController();
    this.inFlight.add(controller);
    let release: Release | undefined = first;
    try {
      if (beforePing !== undefined) {
        await beforePing(userId, started.items);
        release = await this.throttle.acquire();
        // The recording slot is held until the permit: pings held back by the ceilings hold back records too.
        first();
        // Stopping: the events stay unacknowledged and come again from Kafka.
        if (release === undefined) return;
        if (this.forbidden !== undefined && !probe) {
          // Refused meanwhile: the user waits with the others (its record only costs a ping sent again).
          this.coalescer.hold(userId);
          this.parked.add(userId);
          return;
        }
      }
      await this.deps.client.ping(userId, controller.signal);
      this.succeeded(userId);
    } catch (error) {
      if (!this.stopping) this.failed(userId, error, started.attempt, probe);
    } finally {
      first();
      release?.();
      this.inFlight.delete(controller);
      if (this.inFlight.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private succeeded(userId: string): void {
    const now = this.deps.clock.now();
    const events = this.coalescer.succeeded(userId);
    this.lastOkMs = now;
    this.deps.metrics.pingsTotal.inc({ result: 'ok' });
    for (const event of events) {
      if (event.commitTsMs !== undefined) {
        this.deps.metrics.endToEndSeconds.observe(Math.max(0, now - event.commitTsMs) / 1000);
      }
    }
    this.deps.onPinged(events);
    if (this.forbidden !== undefined) this.forgiven();
  }

  private failed(userId: string, error: unknown, attempt: number, probe: boolean): void {
    if (error instanceof LivefyreError && error.status === 403) {
      this.refused(userId, error, probe);
      return;
    }
    if (probe && this.forbidden !== undefined) this.scheduleProbe(this.forbidden);
    const decision = this.policy(attempt, error, this.deps.random);
    const message = error instanceof Error ? error.message : String(error);
    if (decision !== 'stop') {
      this.deps.metrics.pingsTotal.inc({ result: 'retry' });
      this.deps.logger.debug({ userId, attempt, delayMs: decision, error: message }, 'ping failed, will retry');
      this.coalescer.retry(userId, decision);
      return;
    }
    const events = this.coalescer.failed(userId);
    const reason: DeadLetterReason = isRetriable(error) ? 'max-attempts' : 'rejected';
    this.deps.metrics.pingsTotal.inc({ result: 'dead_letter' });
    this.deps.logger.warn(
      { userId, attempts: attempt, reason, events: events.length, error: message },
      'giving up on a ping; its events go to the dead letter topic',
    );
    this.deps.onGaveUp(events, reason, attempt, message);
  }

  private refused(userId: string, error: LivefyreError, probe: boolean): void {
    this.deps.metrics.pingsTotal.inc({ result: 'forbidden' });
    this.coalescer.hold(userId);
    this.parked.add(userId);
    let forbidden = this.forbidden;
    if (forbidden === undefined) {
      forbidden = { sinceMs: this.deps.clock.now(), probeAtMs: 0, probing: false, timer: undefined };
      this.forbidden = forbidden;
      this.deps.metrics.livefyreTokenRefused.set(1);
      this.deps.logger.error(
        { status: 403, pauseMs: this.deps.settings.forbiddenPauseMs },
        'Livefyre refuses the system token (HTTP 403): livefyre.networkKey (or livefyre.network) is wrong. ' +
          `Pinging is paused: one ping is tried every ${this.deps.settings.forbiddenPauseMs} ms, and nothing is ` +
          `committed or dead-lettered until Livefyre accepts the token (${error.message})`,
      );
      this.scheduleProbe(forbidden);
    } else if (probe) {
      this.deps.logger.debug('Livefyre still refuses the system token');
      this.scheduleProbe(forbidden);
    }
  }

  private scheduleProbe(forbidden: Forbidden): void {
    const pauseMs = this.deps.settings.forbiddenPauseMs;
    forbidden.probing = false;
    forbidden.probeAtMs = this.deps.clock.now() + pauseMs;
    this.deps.timers.clearTimeout(forbidden.timer);
    forbidden.timer = this.deps.timers.setTimeout(() => {
      forbidden.timer = undefined;
      const next = this.parked.values().next();
      if (next.done === true || forbidden.probing || this.stopping) return;
      this.parked.delete(next.value);
      forbidden.probing = true;
      void this.launch(next.value, true);
    }, pauseMs);
  }

  private forgiven(): void {
    const forbidden = this.forbidden as Forbidden;
    this.deps.timers.clearTimeout(forbidden.timer);
    this.forbidden = undefined;
    this.deps.metrics.livefyreTokenRefused.set(0);
    this.deps.logger.info(
      { forbiddenForMs: this.deps.clock.now() - forbidden.sinceMs },
      'Livefyre accepts the system token again; pinging resumes',
    );
    const parked = [...this.parked];
    this.parked.clear();
    for (const userId of parked) this.coalescer.release(userId);
  }
}
