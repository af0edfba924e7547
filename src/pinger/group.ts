import type { Config } from '../config/index.js';
import { PingerStartError, PingpullError } from '../errors.js';
import { startChangeConsumer, type ChangeConsumer, type CommitOffset } from '../events/consumer.js';
import { connectDeadLetterProducer, type DeadLetterProducer } from '../events/dead-letters.js';
import { ensureTopics, type Kafka } from '../events/kafka.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { Clock, Timers } from '../time.js';
import type { DeadLetterDrain } from './dead-letter-drain.js';
import type { OffsetManager } from './offset-manager.js';
import type { PingerCore } from './pinger.js';
import type { PullConfirmation } from './pull-confirmation.js';
import type { PendingEvent, PingerRunner } from './runner.js';

export type PingerStatus = 'starting' | 'running' | 'forbidden' | 'stopping' | 'stopped' | 'failed';

export interface PingerState {
  status: PingerStatus;
  /** Livefyre refuses the system token (403): pinging is paused, nothing is committed. */
  forbidden: boolean;
  forbiddenSince: string | null;
  inFlight: number;
  pendingEvents: number;
  pendingUsers: number;
  /** Events on their way to the dead letter topic. */
  deadLettering: number;
  lastPingOkAt: string | null;
  /** The offsets last committed, per partition. */
  committed: CommitOffset[];
  /** Times this member joined the consumer group (1 without rebalances). */
  groupJoins: number;
}

export interface PingerGroupDeps {
  kafka: Kafka;
  config: Pick<Config, 'kafka' | 'pinger'>;
  logger: Logger;
  metrics: Pick<Metrics, 'deadLettersTotal'>;
  clock: Clock;
  timers: Timers;
  core: Pick<PingerCore<PendingEvent>, 'stop' | 'state'>;
  runner: PingerRunner;
  offsets: OffsetManager;
  deadLetters: DeadLetterDrain<PendingEvent>;
  /** The pull confirmation loop, unless pinger.pullConfirmMs is 0. */
  confirmation?: PullConfirmation;
}

/**
 * The pinger's membership of the consumer group, from start to stop: it
 * connects the dead letter producer and the consumer, reports the state
 * (paused while Livefyre refuses the token), and at the stop lets pings in
 * flight finish, commits what is done and disconnects.
 */
export class PingerGroup {
  readonly done: Promise<void>;
  private status: PingerStatus = 'starting';
  private groupJoins = 0;
  private consumer: ChangeConsumer | undefined;
  private producer: DeadLetterProducer | undefined;
  private started: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private resolveDone: () => void = () => undefined;
  private rejectDone: (error: unknown) => void = () => undefined;

  constructor(private readonly deps: PingerGroupDeps) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined);
  }

  /** Starts in the background: a failure to start settles `done`. */
  start(): void {
    this.started = this.connect().then(
      () => {
        this.consumer?.crashed.catch((error: unknown) => this.halt(error));
        this.deps.confirmation?.crashed.catch((error: unknown) => this.halt(error));
      },
      (error: unknown) => {
        this.deps.logger.error({ err: error }, 'the pinger could not start');
        return this.halt(startFailure(error, this.deps.config.kafka));
      },
    );
  }

  async stop(): Promise<void> {
    await this.started;
    await this.halt();
  }

  state(): PingerState {
    const pings = this.deps.core.state();
    const forbidden = pings.forbidden;
    return {
      status: this.status === 'running' && forbidden ? 'forbidden' : this.status,
      forbidden,
      forbiddenSince: pings.forbiddenSinceMs === undefined ? null : new Date(pings.forbiddenSinceMs).toISOString(),
      inFlight: pings.inFlight,
      pendingEvents: pings.pendingEvents,
      pendingUsers: pings.pendingUsers,
      deadLettering: this.deps.deadLetters.size,
      lastPingOkAt: pings.lastOkMs === undefined ? null : new Date(pings.lastOkMs).toISOString(),
      committed: this.deps.offsets.committed(),
      groupJoins: this.groupJoins,
    };
  }

  private async connect(): Promise<void> {
    const { kafka, config, logger, runner } = this.deps;
    await ensureTopics(kafka, [config.kafka.topic, config.kafka.dlqTopic], config.kafka.partitions);
    this.producer = await connectDeadLetterProducer({
      kafka,
      topic: config.kafka.dlqTopic,
      clock: this.deps.clock,
      metrics: this.deps.metrics,
    });
    this.deps.deadLetters.start(this.producer);
    await this.deps.confirmation?.start(this.producer);
    this.consumer = await startChangeConsumer({
      kafka,
      groupId: config.kafka.groupId,
      topic: config.kafka.topic,
      logger,
      heartbeatEveryMs: config.pinger.heartbeatIntervalMs,
      sessionTimeoutMs: config.pinger.sessionTimeoutMs,
      sink: {
        accept: (message) => runner.accept(message),
        hasRoom: () => runner.hasRoom(),
        waitForRoom: (ms) => runner.waitForRoom(ms),
        onRejoin: () => {
          this.groupJoins += 1;
          runner.rejoined();
        },
      },
    });
    this.status = 'running';
    this.deps.offsets.start(this.consumer);
    logger.info(
      { topic: config.kafka.topic, groupId: config.kafka.groupId, ratePerSecond: config.pinger.ratePerSecond },
      'pinger started',
    );
  }

  private halt(failure?: unknown): Promise<void> {
    this.stopping ??= this.shutdown().then(
      () => {
        if (failure === undefined) return this.resolveDone();
        this.status = 'failed';
        this.rejectDone(failure);
      },
      (shutdownError: unknown) => {
        this.status = 'failed';
        this.rejectDone(failure ?? shutdownError);
      },
    );
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const { config, offsets } = this.deps;
    this.status = 'stopping';
    this.consumer?.pause();
    this.deps.runner.wakeAll();
    offsets.stop();
    await this.deps.core.stop(config.pinger.stopGraceMs);
    await this.deps.confirmation?.stop();
    await this.deps.deadLetters.close(config.pinger.stopGraceMs);
    await offsets.commit();
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
    this.status = 'stopped';
    this.deps.logger.info({ committed: offsets.committed() }, 'pinger stopped');
  }
}

/** Says where the pinger tried to go, so a failed start reads as one actionable line. */
function startFailure(error: unknown, kafka: Config['kafka']): unknown {
  if (error instanceof PingpullError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PingerStartError(
    `the pinger could not start with Kafka at ${kafka.brokers} (kafka.brokers; ` +
      `topics ${kafka.topic}, ${kafka.dlqTopic}; group ${kafka.groupId}): ${message}`,
    error,
  );
}
