import type { Logger } from '../log.js';
import { createRetryPolicy, KAFKA_AT_START } from '../retry.js';
import { sleep, systemRandom, systemTimers, untilAborted, type Random, type Timers } from '../time.js';
import { createProbeKafka, type KafkaConnection } from './kafka.js';
import { describeKafkaFailure } from './kafka-failure.js';

const waitDelay = createRetryPolicy(KAFKA_AT_START);

/** How long one look at the brokers may take before it counts as no answer. */
const PROBE_TIMEOUT_MS = 5_000;

export interface KafkaWaitOptions {
  connection: KafkaConnection;
  clientId: string;
  /** Who waits, for the log line: `the pinger`. */
  waiter: string;
  logger: Logger;
  /** Aborts when the process stops: the wait ends at once. */
  signal: AbortSignal;
  /** Each failed look, as the one line that was logged (for the operator console). */
  onWaiting?: (line: string) => void;
  timers?: Timers;
  random?: Random;
}

/**
 * Before a long-running role starts: looks at the brokers with a quiet
 * client (kafkajs's own retries and logs would print a screenful per
 * attempt) until they answer, logging one warning per attempt that names
 * kafka.brokers and the address. Only an unreachable broker is waited for: a
 * TLS, SASL or ACL failure needs fixing and is thrown. Resolves true once
 * Kafka answers, false when `signal` aborted first.
 */
export async function untilKafkaAnswers(options: KafkaWaitOptions): Promise<boolean> {
  const { connection, logger, signal } = options;
  const timers = options.timers ?? systemTimers;
  const random = options.random ?? systemRandom;
  let attempt = 0;
  while (!signal.aborted) {
    const answer = await Promise.race([
      probe(options).then(
        () => undefined,
        (error: unknown) => ({ error }),
      ),
      untilAborted(signal).then(() => 'aborted' as const),
    ]);
    if (answer === 'aborted') return false;
    if (answer === undefined) {
      if (attempt > 0)
        logger.info({ brokers: connection.brokers, attempts: attempt + 1 }, `Kafka answers: ${options.waiter} starts`);
      return true;
    }
    const failure = describeKafkaFailure(answer.error, connection);
    if (failure.layer !== 'unreachable') throw answer.error;
    attempt += 1;
    // KAFKA_AT_START has no attempt limit: never 'stop'.
    const delayMs = waitDelay(attempt, answer.error, random) as number;
    const line = `${failure.line}; ${options.waiter} waits for Kafka and tries again in ${formatDelay(delayMs)}`;
    logger.warn({ attempt, retryInMs: delayMs }, line);
    options.onWaiting?.(line);
    await sleep(delayMs, signal, timers);
  }
  return false;
}

async function probe(options: KafkaWaitOptions): Promise<void> {
  const admin = createProbeKafka({
    connection: options.connection,
    clientId: options.clientId,
    timeoutMs: PROBE_TIMEOUT_MS,
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function formatDelay(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
