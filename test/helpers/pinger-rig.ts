import type { Admin, Producer } from 'kafkajs';
import type { TestContext } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { createKafka, plaintextConnection, type Kafka } from '../../src/events/kafka.js';
import { createLivefyreClient, type LivefyreClient } from '../../src/livefyre/client.js';
import { createLogger, type Logger } from '../../src/log.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import { startPinger, type PingerHandle } from '../../src/pinger/index.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { systemClock, systemRandom, systemTimers } from '../../src/time.js';
import { kafkaBrokers } from './services.js';

const logger = createLogger('silent');

/** A connector change event for user `id`, as JSON, stamped now. */
export function changeEventJson(id: string): string {
  return JSON.stringify({
    before: null,
    after: { id, display_name: `User ${id}` },
    source: {
      version: '0.1.0',
      connector: 'pingpull',
      name: 'pingpull',
      ts_ms: Date.now(),
      db: 'app',
      schema: 'public',
      table: 'users',
      txId: 1,
      lsn: 1,
    },
    op: 'u',
    ts_ms: Date.now(),
  });
}

/** The ids of the users the simulator answered 200 for. */
export const okUserIds = (sim: Simulator): Set<string> =>
  new Set(
    sim
      .pings()
      .filter((p) => p.status === 200)
      .map((p) => p.id),
  );

/** An in-process pinger with the system clock, timers and randomness, logging nothing unless given a logger. */
export function startTestPinger(options: {
  kafka: Kafka;
  config: Pick<Config, 'kafka' | 'pinger'>;
  client: Pick<LivefyreClient, 'ping'>;
  metrics?: Metrics;
  logger?: Logger;
}): PingerHandle {
  return startPinger({
    kafka: options.kafka,
    config: options.config,
    client: options.client,
    logger: options.logger ?? logger,
    metrics: options.metrics ?? createMetrics({ defaultMetrics: false }),
    clock: systemClock,
    timers: systemTimers,
    random: systemRandom,
  });
}

export interface PingerRig {
  kafka: Kafka;
  sim: Simulator;
  client: LivefyreClient;
  producer: Producer;
  admin: Admin;
  /** Starts the pinger; it is stopped first when the test finishes. */
  start(config: Pick<Config, 'kafka' | 'pinger'>, metrics?: Metrics, pingerLogger?: Logger): PingerHandle;
}

/**
 * A simulator for `network`, a Livefyre client on it, a connected producer and
 * admin on the test broker; all closed when the test finishes.
 */
export async function pingerRig(
  context: TestContext,
  options: { clientId: string; network: string; networkKey: string; connections?: number },
): Promise<PingerRig> {
  const kafka = createKafka({ connection: plaintextConnection(kafkaBrokers()), clientId: options.clientId, logger });
  const sim = await startSimulator({ network: options.network, networkKey: options.networkKey, logger });
  const client = createLivefyreClient(
    { network: options.network, networkKey: options.networkKey, baseUrl: sim.url, timeoutMs: 2_000 },
    options.connections === undefined ? undefined : { connections: options.connections },
  );
  const producer = kafka.producer();
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  let pinger: PingerHandle | undefined;
  context.onTestFinished(async () => {
    await pinger?.stop();
    await client.close();
    await producer.disconnect();
    await admin.disconnect();
    await sim.close();
  });
  return {
    kafka,
    sim,
    client,
    producer,
    admin,
    start(config, metrics, pingerLogger) {
      pinger = startTestPinger({ kafka, config, client, metrics, logger: pingerLogger });
      return pinger;
    },
  };
}
