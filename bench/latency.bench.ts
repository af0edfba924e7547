import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createResources } from '../src/app/resources.js';
import { startConnectorRole, startPingerRole, type RoleHandle } from '../src/app/roles.js';
import { setupDatabase } from '../src/cdc/setup.js';
import { teardownDatabase } from '../src/cdc/teardown.js';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { startSimulator } from '../src/simulator/index.js';
import { benchServices, createDatabase, dropDatabase, kafkaClient, suffix } from './lib/cdc.js';
import { report } from './lib/results.js';

// Latency under steady load: profile updates committed one per transaction
// at several rates through the real connector and pinger (in this process)
// to the Livefyre simulator. commit → Kafka is the Kafka record's timestamp
// (set when the connector hands the event to the producer) minus the moment
// the UPDATE's commit returned; commit → ping is the simulator's receipt of
// the ping minus the same moment. The baseline is the lowest rate: the
// ratios say how much the p99s grow with load.

const RATES = [10, 50, 200]; // updates per second
const SECONDS_PER_RATE = 6;
const USERS = 5_000;

const services = await benchServices();
const dbName = `bench_latency_${suffix()}`;
const databaseUrl = await createDatabase(services.adminUrl, dbName);
const logger = createLogger('warn');
const networkKey = randomBytes(20).toString('base64');
// No pull URL is registered: the simulator's pulls would only log warnings.
const simulator = await startSimulator({
  network: 'bench.fyre.co',
  networkKey,
  port: 0,
  logger: createLogger('silent'),
});
const topic = `bench-latency-${suffix()}`;
const config = loadConfig({
  env: {},
  overrides: {
    'database.url': databaseUrl,
    'source.table': 'public.users',
    'source.columns': { display_name: 'display_name', email: 'email' },
    'replication.slot': `bench_latency_${suffix()}`,
    'replication.publication': `bench_latency_${suffix()}`,
    'kafka.brokers': services.brokers,
    'kafka.topic': topic,
    'kafka.dlqTopic': `${topic}.dlq`,
    'kafka.groupId': `${topic}-pinger`,
    'livefyre.network': 'bench.fyre.co',
    'livefyre.networkKey': networkKey,
    'livefyre.baseUrl': simulator.url,
    'pinger.ratePerSecond': 10_000,
    'pinger.concurrency': 32,
    // No coalescing window: each update is its own ping, so the figure is the pipeline's own delay.
    'pinger.coalesceMs': 0,
    'metrics.port': 0,
    'log.level': 'warn',
  },
});

const writer = new pg.Client({ connectionString: databaseUrl });
await writer.connect();
await writer.query(
  'CREATE TABLE users (id bigint PRIMARY KEY, display_name text NOT NULL, email text, password_hash text)',
);
await writer.query(
  `INSERT INTO users SELECT n, 'user ' || n, 'u' || n || '@example.com', md5(n::text) FROM generate_series(1, $1::int) AS n`,
  [USERS],
);
const resources = createResources(config, logger);
await setupDatabase({ pool: resources.pool(), source: config.source, replication: config.replication, logger });
const roles: RoleHandle[] = [await startConnectorRole(resources), await startPingerRole(resources)];

const produced = new Map<string, number>();
const reader = kafkaClient(services.brokers).consumer({ groupId: `${topic}-reader` });
await reader.connect();
await reader.subscribe({ topic, fromBeginning: true });
await reader.run({
  eachMessage: async ({ message }) => {
    const event = JSON.parse(message.value?.toString() ?? 'null') as { after?: { display_name?: string } } | null;
    const name = event?.after?.display_name;
    if (name !== undefined) produced.set(name, Number(message.timestamp));
  },
});

const figures: Record<string, number> = {};
const ratios: Record<string, number> = {};
let baseline: { kafkaP99: number; pingP99: number } | undefined;
let sequence = 0;

for (const rate of RATES) {
  const committed = new Map<string, { id: string; at: number }>();
  const interval = 1000 / rate;
  const start = Date.now();
  for (let i = 0; i < rate * SECONDS_PER_RATE; i++) {
    const due = start + i * interval;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const id = String(1 + (sequence % USERS));
    const name = `latency ${rate} ${sequence++}`;
    await writer.query('UPDATE users SET display_name = $2 WHERE id = $1', [id, name]);
    committed.set(name, { id, at: Date.now() });
  }
  await waitUntil(() => [...committed.keys()].every((name) => produced.has(name)), 60_000);
  await waitUntil(() => pingsAfter(start) >= committed.size, 60_000);

  const toKafka = [...committed].map(([name, { at }]) => produced.get(name)! - at);
  // A user's pings arrive in commit order (one partition per user, no coalescing): match them in order.
  const pingTimes = new Map<string, number[]>();
  for (const ping of simulator.pings()) {
    if (ping.receivedAt >= start && ping.status === 200)
      pingTimes.set(ping.id, [...(pingTimes.get(ping.id) ?? []), ping.receivedAt]);
  }
  const toPing: number[] = [];
  for (const { id, at } of committed.values()) {
    const times = pingTimes.get(id);
    const next = times?.shift();
    if (next !== undefined) toPing.push(next - at);
  }
  const kafka = percentiles(toKafka);
  const ping = percentiles(toPing);
  figures[`commitToKafkaP50Ms@${rate}/s`] = kafka.p50;
  figures[`commitToKafkaP99Ms@${rate}/s`] = kafka.p99;
  figures[`commitToPingP50Ms@${rate}/s`] = ping.p50;
  figures[`commitToPingP99Ms@${rate}/s`] = ping.p99;
  baseline ??= { kafkaP99: kafka.p99, pingP99: ping.p99 };
  if (rate !== RATES[0]) {
    ratios[`commitToKafkaP99@${rate}/s vs @${RATES[0]}/s`] = kafka.p99 / Math.max(1, baseline.kafkaP99);
    ratios[`commitToPingP99@${rate}/s vs @${RATES[0]}/s`] = ping.p99 / Math.max(1, baseline.pingP99);
  }
}

await reader.disconnect();
for (const role of roles.reverse()) await role.stop();
await teardownDatabase({
  pool: resources.pool(),
  source: config.source,
  replication: config.replication,
  force: true,
  logger,
});
await resources.close();
await simulator.close();
await writer.end();
await dropDatabase(services.adminUrl, dbName);

report({
  name: 'latency',
  figures,
  ratios,
  notes: `one-row transactions at ${RATES.join(', ')} updates/s for ${SECONDS_PER_RATE} s each over ${USERS} users; connector and pinger in one process, pinger.coalesceMs 0; the simulator answers at once`,
});

function pingsAfter(start: number): number {
  return simulator.pings().filter((ping) => ping.receivedAt >= start && ping.status === 200).length;
}

function percentiles(values: number[]): { p50: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const pick = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: pick(0.5), p99: pick(0.99) };
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('benchmark timed out waiting for the pipeline');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
