import { randomBytes } from 'node:crypto';
import type { Config } from '../src/config/index.js';
import { servicesUp } from '../tools/devenv/index.js';
import { createKafka, ensureTopics, plaintextConnection, type Kafka } from '../src/events/kafka.js';
import { createLivefyreClient } from '../src/livefyre/client.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics/registry.js';
import { startPinger, type PingerHandle } from '../src/pinger/index.js';
import { startSimulator, type Simulator } from '../src/simulator/index.js';
import { systemClock, systemRandom, systemTimers } from '../src/time.js';
import { report } from './lib/results.js';

// The pinger against the Livefyre simulator (in this process) and the local
// Kafka (`servicesUp()`, or PINGPULL_KAFKA_BROKERS when set), on loopback.
//
// 1. baseline: the Livefyre client alone, CONCURRENCY pings in flight in a
//    closed loop, BASELINE_PINGS pings: the ceiling of ping throughput here;
// 2. throughput: EVENTS change events over USERS users already on the topic,
//    then a pinger (rate limit out of the way, same CONCURRENCY, no
//    coalescing window) drains them; pings/s between its first and last ping,
//    and events/s from its start to the last offset committed;
// 3. coalescing: BURST_USERS users with BURST_UPDATES updates each, all
//    produced within the coalescing window: events per ping.
// Bounded: each phase gives up after PHASE_LIMIT_MS.

const CONCURRENCY = 32;
const BASELINE_PINGS = 10_000;
const EVENTS = 20_000;
const USERS = 5_000;
const BURST_USERS = 1_000;
const BURST_UPDATES = 10;
const COALESCE_MS = 1_000;
const PARTITIONS = 6;
const PHASE_LIMIT_MS = 60_000;
const NETWORK = 'bench.fyre.co';
const NETWORK_KEY = randomBytes(20).toString('base64');

const logger = createLogger('error');
// No pull URL is registered, so each pull the simulator tries fails at once (and would log a warning).
const simulatorLogger = createLogger('silent');

const settings: Config['pinger'] = {
  ratePerSecond: 1_000_000,
  concurrency: CONCURRENCY,
  coalesceMs: 0,
  maxAttempts: 8,
  retryBaseMs: 100,
  retryMaxMs: 1_000,
  forbiddenPauseMs: 60_000,
  commitIntervalMs: 200,
  maxPendingEvents: 10_000,
  stopGraceMs: 2_000,
  heartbeatIntervalMs: 1_000,
  sessionTimeoutMs: 30_000,
  pullConfirmMs: 0,
  pullConfirmAttempts: 4,
};

function changeEvent(id: string, n: number): string {
  const now = Date.now();
  return JSON.stringify({
    before: null,
    after: { id, display_name: `User ${id} v${n}` },
    source: {
      version: '0.1.0',
      connector: 'pingpull',
      name: 'bench',
      ts_ms: now,
      snapshot: 'false',
      db: 'bench',
      sequence: '[null,"1"]',
      schema: 'public',
      table: 'users',
      txId: n,
      lsn: n,
      xmin: null,
    },
    op: 'u',
    ts_ms: now,
  });
}

async function until(what: string, condition: () => boolean | Promise<boolean>, everyMs = 50): Promise<void> {
  const deadline = Date.now() + PHASE_LIMIT_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`bench: gave up waiting for ${what} after ${PHASE_LIMIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

const okPings = (sim: Simulator) => sim.pings().filter((ping) => ping.status === 200);

function newSimulator(): Promise<Simulator> {
  return startSimulator({ network: NETWORK, networkKey: NETWORK_KEY, logger: simulatorLogger, recordLimit: 200_000 });
}

async function baseline(): Promise<number> {
  const sim = await newSimulator();
  const client = createLivefyreClient(
    { network: NETWORK, networkKey: NETWORK_KEY, baseUrl: sim.url, timeoutMs: 10_000 },
    { connections: CONCURRENCY },
  );
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let n = next++; n < BASELINE_PINGS; n = next++) await client.ping(`user-${n % USERS}`);
    };
    await Promise.all(Array.from({ length: 200 }, (_, n) => client.ping(`warm-${n}`)));
    next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return BASELINE_PINGS / ((performance.now() - started) / 1000);
  } finally {
    await client.close();
    await sim.close();
  }
}

interface PingerRun {
  pings: number;
  pingsPerSecond: number;
  eventsPerSecond: number;
}

/** Produces `events` on a fresh topic, then runs a pinger over them until every offset is committed. */
async function drain(
  kafka: Kafka,
  brokers: string,
  events: Array<{ key: string; value: string }>,
  pinger: Config['pinger'],
): Promise<PingerRun> {
  const name = `bench_pinger_${randomBytes(4).toString('hex')}`;
  const topic = `${name}_changes`;
  const dlqTopic = `${name}_dlq`;
  await ensureTopics(kafka, [topic, dlqTopic], PARTITIONS);
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < events.length; i += 2_000) {
    await producer.send({ topic, acks: -1, messages: events.slice(i, i + 2_000) });
  }
  await producer.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  const end = (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
  await admin.disconnect();

  const sim = await newSimulator();
  const client = createLivefyreClient(
    { network: NETWORK, networkKey: NETWORK_KEY, baseUrl: sim.url, timeoutMs: 10_000 },
    { connections: pinger.concurrency },
  );
  let handle: PingerHandle | undefined;
  try {
    const started = performance.now();
    handle = startPinger({
      kafka,
      config: {
        kafka: {
          ...plaintextConnection(brokers),
          clientId: 'pingpull-bench',
          topic,
          dlqTopic,
          pullsTopic: '',
          groupId: `${name}_group`,
          partitions: PARTITIONS,
        },
        pinger,
      },
      client,
      logger,
      metrics: createMetrics({ defaultMetrics: false }),
      clock: systemClock,
      timers: systemTimers,
      random: systemRandom,
    });
    const running = handle;
    await until(
      'every offset committed',
      () => running.state().committed.reduce((sum, c) => sum + Number(c.offset), 0) === end,
    );
    const elapsedS = (performance.now() - started) / 1000;
    const times = okPings(sim).map((ping) => ping.receivedAt);
    const spanS = Math.max(0.001, (Math.max(...times) - Math.min(...times)) / 1000);
    return { pings: times.length, pingsPerSecond: times.length / spanS, eventsPerSecond: events.length / elapsedS };
  } finally {
    await handle?.stop();
    await client.close();
    await sim.close();
  }
}

async function main(): Promise<void> {
  const brokers = process.env.PINGPULL_KAFKA_BROKERS ?? (await servicesUp()).kafkaBrokers;
  const kafka = createKafka({ connection: plaintextConnection(brokers), clientId: 'pingpull-bench', logger });

  const rawPerSecond = await baseline();

  const spread = Array.from({ length: EVENTS }, (_, n) => {
    const id = `user-${n % USERS}`;
    return { key: id, value: changeEvent(id, n) };
  });
  const throughput = await drain(kafka, brokers, spread, settings);

  const burst: Array<{ key: string; value: string }> = [];
  for (let update = 0; update < BURST_UPDATES; update += 1) {
    for (let user = 0; user < BURST_USERS; user += 1)
      burst.push({ key: `burst-${user}`, value: changeEvent(`burst-${user}`, update) });
  }
  const coalesced = await drain(kafka, brokers, burst, { ...settings, coalesceMs: COALESCE_MS });

  report({
    name: 'pinger',
    figures: {
      baselineClientPingsPerSecond: Math.round(rawPerSecond),
      pingerPingsPerSecond: Math.round(throughput.pingsPerSecond),
      pingerEventsPerSecond: Math.round(throughput.eventsPerSecond),
      pingerPings: throughput.pings,
      pingerEvents: EVENTS,
      burstEvents: burst.length,
      burstPings: coalesced.pings,
    },
    ratios: {
      pingerVsRawClientPingsPerSecond: throughput.pingsPerSecond / rawPerSecond,
      burstEventsPerPing: burst.length / coalesced.pings,
    },
    notes:
      `Livefyre simulator in this process, local Kafka, loopback. Baseline: the Livefyre client alone, ${CONCURRENCY} pings in flight, ` +
      `${BASELINE_PINGS} pings. Pinger: ${EVENTS} events over ${USERS} users already on a ${PARTITIONS}-partition topic, concurrency ` +
      `${CONCURRENCY}, rate limit out of the way, coalescing window 0 (events of a user arriving while its ping is in flight get a ` +
      `follow-up ping); pings/s between its first and last ping, events/s from its start to the last offset committed. Coalescing: ` +
      `${BURST_USERS} users x ${BURST_UPDATES} updates produced at once, window ${COALESCE_MS} ms: events per ping.`,
  });
}

const timer = setTimeout(() => {
  process.stderr.write('bench: pinger benchmark exceeded 90 s\n');
  process.exit(1);
}, 90_000);
timer.unref();
main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
