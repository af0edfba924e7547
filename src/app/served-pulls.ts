import type { Config } from '../config/index.js';
import type { Kafka } from '../events/kafka.js';
import { connectPullsWriter, ensurePullsTopic, type PullsWriter } from '../events/pulls.js';
import { untilKafkaAnswers } from '../events/kafka-wait.js';
import type { Logger } from '../log.js';
import { sleep, type Clock, type Timers } from '../time.js';

/**
 * How long a served pull's record waits for others: the pull confirmation
 * window is minutes, so this costs nothing, and it turns a steady stream of
 * pulls into one Kafka request per linger instead of one per pull or two.
 */
const SERVED_LINGER_MS = 100;

/** How long the pull server waits before it tries Kafka again. */
const RECONNECT_MS = 5_000;

export interface ServedPulls {
  served(userId: string): void;
  stop(): Promise<void>;
}

/**
 * The pull server's half of the pull confirmation loop (src/pinger/awaiting-pulls.ts):
 * every pull answered goes to the pulls topic. Kafka is reached in the
 * background, so pulls are served while it is away; the pulls not recorded
 * meanwhile only cost pings sent again.
 */
export function recordServedPulls(deps: {
  kafka: () => Kafka;
  config: Pick<Config, 'kafka'>;
  logger: Logger;
  clock: Clock;
  timers: Timers;
}): ServedPulls {
  const { config, logger } = deps;
  const stopped = new AbortController();
  let writer: PullsWriter | undefined;
  void (async () => {
    while (!stopped.signal.aborted) {
      try {
        const answered = await untilKafkaAnswers({
          connection: config.kafka,
          clientId: `${config.kafka.clientId}-wait`,
          waiter: 'the pull server (recording pulls)',
          logger,
          signal: stopped.signal,
          timers: deps.timers,
        });
        if (!answered) return;
        await ensurePullsTopic(deps.kafka(), config.kafka.pullsTopic, config.kafka.partitions);
        const connected = await connectPullsWriter({
          kafka: deps.kafka(),
          topic: config.kafka.pullsTopic,
          clock: deps.clock,
          logger,
          servedLingerMs: SERVED_LINGER_MS,
          timers: deps.timers,
        });
        if (stopped.signal.aborted) await connected.disconnect();
        else writer = connected;
        return;
      } catch (error) {
        logger.warn(
          { err: error, topic: config.kafka.pullsTopic, retryInMs: RECONNECT_MS },
          'the pull server cannot record pulls in Kafka yet; their pings will be sent again',
        );
        await sleep(RECONNECT_MS, stopped.signal, deps.timers);
      }
    }
  })();
  return {
    served: (userId) => writer?.served(userId),
    async stop() {
      // A connection still being made is closed as soon as it is made: stopping does not wait for Kafka.
      stopped.abort();
      await writer?.disconnect();
    },
  };
}
