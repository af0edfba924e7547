import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createResources } from '../src/app/resources.js';
import { startConnectorRole, startPingerRole, type RoleHandle } from '../src/app/roles.js';
import { setupDatabase } from '../src/cdc/setup.js';
import { teardownDatabase } from '../src/cdc/teardown.js';
import { loadConfig } from '../src/config/index.js';
import { ensureTopics } from '../src/events/kafka.js';
import { createLogger } from '../src/log.js';
import type { PingRecord } from '../src/simulator/records.js';
import { freePort } from '../tools/devenv/util.js';
import { benchServices, createDatabase, dropDatabase, kafkaClient, suffix } from './lib/cdc.js';
import type { GeneratorJob, GeneratorResult } from './lib/commit-generator.js';
import { report } from './lib/results.js';

// Latency under steady load: profile updates committed one per transaction
// at several rates through the real connector and pinger (in this process)
// to the Livefyre simulator (its own process, answering at once; built:
// `npm run bench` builds first).
//
// Each commit updates a user no other commit of the run touches, so every
// stage of it can be found again by the user id:
// - commit: the moment the UPDATE's commit returned to the writer;
// - Kafka: the broker's LogAppendTime of the change event (the topic is
//   created here with message.timestamp.type=LogAppendTime), i.e. when the
//   event was in Kafka, not when the connector handed it to the producer;
// - pinger: `pingedAtMs` of the pinger's record on the pulls topic (written
//   just before each ping, after the consumer fetched the event, the
//   coalescer released it and the throttle granted it);
// - ping: the simulator's receipt of the ping.
// The Kafka-side figures are read back after the run, so no reader competes
// with the pipeline for the CPU while it is measured.
//
// Commits come from WRITERS connections, each taking every WRITERS-th
// commit at its due time (a late writer catches up at once): the achieved
// rate is printed next to the target. Diagnostics per rate: GC pauses and the
// event loop's delay in this process, and the breakdown of the slowest commits.

// single-row commits per second; BENCH_LATENCY_RATES=1000 runs only some (for a profile)
const RATES = (process.env.BENCH_LATENCY_RATES ?? '10,200,1000').split(',').map(Number);
const SECONDS: Record<number, number> = { 10: 10, 200: 6, 1000: 10 };
const WARMUP_RATE = 100;
const WARMUP_SECONDS = 3;
const WRITERS = 16;
const PARTITIONS = 6;
const USERS = WARMUP_RATE * WARMUP_SECONDS + RATES.reduce((sum, rate) => sum + rate * (SECONDS[rate] ?? 0), 0);
const SLOWEST_SHOWN = 5;
const BIN = fileURLToPath(new URL('../bin/pingpull.js', import.meta.url));

const services = await benchServices();
const dbName = `bench_latency_${suffix()}`;
const databaseUrl = await createDatabase(services.adminUrl, dbName);
const logger = createLogger('warn');
const networkKey = randomBytes(20).toString('base64');
const simulator = await startSimulatorProcess(networkKey);
const topic = `bench-latency-${suffix()}`;
const pullsTopic = `${topic}.pulls`;
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
    'kafka.pullsTopic': pullsTopic,
    'kafka.dlqTopic': `${topic}.dlq`,
    'kafka.groupId': `${topic}-pinger`,
    'kafka.partitions': PARTITIONS,
    'livefyre.network': 'bench.fyre.co',
    'livefyre.networkKey': networkKey,
    'livefyre.baseUrl': simulator.origin,
    'pinger.ratePerSecond': 10_000,
    'pinger.concurrency': 32,
    // No coalescing window: each update is its own ping, so the figure is the pipeline's own delay.
    'pinger.coalesceMs': 0,
    'metrics.port': 0,
    'log.level': 'warn',
    ...(process.env.BENCH_LATENCY_PULL_CONFIRM === '0' ? { 'pinger.pullConfirmMs': 0 } : {}),
  },
});
// The change topic stamps records with the broker's append time: commit → Kafka ends when Kafka has the event.
await ensureTopics(kafkaClient(services.brokers), [topic], PARTITIONS, {
  configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
});

const writers = new pg.Client({ connectionString: databaseUrl });
await writers.connect();
await writers.query(
  'CREATE TABLE users (id bigint PRIMARY KEY, display_name text NOT NULL, email text, password_hash text)',
);
await writers.query(
  `INSERT INTO users SELECT n, 'user ' || n, 'u' || n || '@example.com', md5(n::text) FROM generate_series(1, $1::int) AS n`,
  [USERS],
);
const resources = createResources(config, logger);
await setupDatabase({ pool: resources.pool(), source: config.source, replication: config.replication, logger });
// The resources' stop signal never aborts here: both roles start once Kafka answers.
const roles = [await startConnectorRole(resources), await startPingerRole(resources)].filter(
  (role): role is RoleHandle => role !== undefined,
);
const generator = fork(
  fileURLToPath(new URL('./lib/commit-generator.ts', import.meta.url)),
  [databaseUrl, String(WRITERS)],
  {
    execArgv: ['--import', 'tsx'],
  },
);

// GC pauses of this process, by start time.
const gcPauses: Array<{ start: number; ms: number }> = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries() as PerformanceEntry[])
    gcPauses.push({ start: performance.timeOrigin + entry.startTime, ms: entry.duration });
});
gcObserver.observe({ entryTypes: ['gc'] });
const loopDelay = monitorEventLoopDelay({ resolution: 5 });

interface Commit {
  id: string;
  committedAt: number;
}
interface Run {
  rate: number;
  start: number;
  end: number;
  commits: Commit[];
  achievedPerSecond: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /**
   * CPU time of this process (connector and pinger, all threads: the simulator and the generator are processes of
   * their own) per commit, user + system, from the first commit until the last ping, the catching-up included.
   */
  cpuMicrosPerCommit: number;
}

let nextUser = 1;
// Warm-up (JIT, connections, the consumer group's first fetches): measured by nothing.
const warmup = await commitAt(WARMUP_RATE, WARMUP_SECONDS);
await waitForPings(warmup.commits);
const runs: Run[] = [];
for (const rate of RATES) {
  loopDelay.reset();
  loopDelay.enable();
  const cpuBefore = process.cpuUsage();
  const run = await commitAt(rate, SECONDS[rate] ?? 6);
  await waitForPings(run.commits);
  const cpu = process.cpuUsage(cpuBefore);
  loopDelay.disable();
  runs.push({
    ...run,
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    loopDelayMaxMs: loopDelay.max / 1e6,
    cpuMicrosPerCommit: (cpu.user + cpu.system) / run.commits.length,
  });
}
gcObserver.disconnect();

const total = warmup.commits.length + runs.reduce((sum, run) => sum + run.commits.length, 0);
// A change event's key, and a pulls record's, is the user id.
const inKafka = await readTopic(topic, total);
const pullConfirmation = config.pinger.pullConfirmMs > 0;
const pingerStarted = pullConfirmation ? await readTopic(pullsTopic, total) : new Map<string, Read>();

const pings = new Map<string, number>();
for (const ping of await simulator.pings())
  if (ping.status === 200 && !pings.has(ping.id)) pings.set(ping.id, ping.receivedAt);

const figures: Record<string, number> = {};
const ratios: Record<string, number> = {};
for (const run of runs) {
  const rows = run.commits.map(({ id, committedAt }) => {
    const kafkaAt = inKafka.get(id)?.timestamp;
    const pingerAt = pingerStarted.get(id)?.pingedAtMs;
    const pingAt = pings.get(id);
    return {
      id,
      committedAt,
      toKafka: kafkaAt === undefined ? Number.NaN : kafkaAt - committedAt,
      kafkaToPinger: kafkaAt === undefined || pingerAt === undefined ? Number.NaN : pingerAt - kafkaAt,
      pingerToPing: pingerAt === undefined || pingAt === undefined ? Number.NaN : pingAt - pingerAt,
      toPing: pingAt === undefined ? Number.NaN : pingAt - committedAt,
    };
  });
  const kafka = percentiles(rows.map((row) => row.toKafka));
  const ping = percentiles(rows.map((row) => row.toPing));
  const fetch = percentiles(
    rows.map((row) => row.kafkaToPinger),
    !pullConfirmation,
  );
  const send = percentiles(
    rows.map((row) => row.pingerToPing),
    !pullConfirmation,
  );
  const at = `@${run.rate}/s`;
  figures[`achievedCommitsPerSecond${at}`] = Math.round(run.achievedPerSecond);
  for (const [name, p] of [
    ['commitToKafka', kafka],
    ['commitToPing', ping],
  ] as const) {
    figures[`${name}P50Ms${at}`] = p.p50;
    figures[`${name}P95Ms${at}`] = p.p95;
    figures[`${name}P99Ms${at}`] = p.p99;
    figures[`${name}MaxMs${at}`] = p.max;
  }
  figures[`kafkaToPingerP99Ms${at}`] = fetch.p99;
  figures[`pingerToPingP99Ms${at}`] = send.p99;
  const gc = gcPauses.filter((pause) => pause.start >= run.start && pause.start <= run.end + 1_000);
  figures[`gcPauseMaxMs${at}`] = round(Math.max(0, ...gc.map((pause) => pause.ms)));
  figures[`eventLoopDelayP99Ms${at}`] = round(run.loopDelayP99Ms);
  figures[`cpuMicrosPerCommit${at}`] = Math.round(run.cpuMicrosPerCommit);
  ratios[`achievedVsTargetRate${at}`] = run.achievedPerSecond / run.rate;
  ratios[`commitToKafkaP99${at} vs 50 ms target`] = kafka.p99 / 50;
  ratios[`commitToPingP99${at} vs 100 ms target`] = ping.p99 / 100;

  const slowest = [...rows].sort((a, b) => b.toPing - a.toPing).slice(0, SLOWEST_SHOWN);
  process.stdout.write(
    `${at}: commit→ping p50/p99/max ${ping.p50}/${ping.p99}/${ping.max} ms; ${run.commits.length} commits, ${Math.round(run.cpuMicrosPerCommit)} µs CPU each, achieved ${run.achievedPerSecond.toFixed(0)}/s; ` +
      `GC pauses ${gc.length} (sum ${round(gc.reduce((sum, pause) => sum + pause.ms, 0))} ms); ` +
      `event loop delay p99 ${round(run.loopDelayP99Ms)} ms max ${round(run.loopDelayMaxMs)} ms\n` +
      `  stage p50/p99 ms: commit→kafka ${kafka.p50}/${kafka.p99}, kafka→pinger ${fetch.p50}/${fetch.p99}, ` +
      `pinger→ping ${send.p50}/${send.p99}\n  slowest commit→ping (commit→kafka + kafka→pinger + pinger→ping, ms):\n`,
  );
  for (const row of slowest) {
    const overlapping = gc.filter(
      (pause) => pause.start >= row.committedAt && pause.start <= row.committedAt + row.toPing,
    );
    process.stdout.write(
      `    +${row.committedAt - run.start} ms: ${row.toPing} = ${row.toKafka} + ${row.kafkaToPinger} + ${row.pingerToPing}` +
        `${overlapping.length === 0 ? '' : ` (GC ${overlapping.map((pause) => round(pause.ms)).join(', ')} ms meanwhile)`}\n`,
    );
  }
}

for (const role of roles.reverse()) await role.stop();
await teardownDatabase({
  pool: resources.pool(),
  source: config.source,
  replication: config.replication,
  force: true,
  logger,
});
await resources.close();
simulator.close();
await writers.end();
generator.send('close');
await dropDatabase(services.adminUrl, dbName);
const admin = kafkaClient(services.brokers).admin();
await admin.connect();
await admin.deleteTopics({ topics: [topic, pullsTopic, `${topic}.dlq`] }).catch(() => undefined);
await admin.disconnect();

report({
  name: 'latency',
  figures,
  ratios,
  notes:
    `one-row transactions at ${RATES.join(', ')} commits/s (${RATES.map((rate) => `${SECONDS[rate]} s`).join(', ')}) ` +
    `after a ${WARMUP_SECONDS} s warm-up at ${WARMUP_RATE}/s, from ${WRITERS} connections, each commit a different user; ` +
    'commit → Kafka ends at the broker’s LogAppendTime; connector and pinger in one process, the Livefyre simulator ' +
    '(answering at once) and the commit generator each in their own; pinger.coalesceMs 0, pull confirmation on (its default)',
});

/** Commits `rate` single-row updates per second for `seconds` (in the generator process), each of a new user. */
async function commitAt(
  rate: number,
  seconds: number,
): Promise<Omit<Run, 'loopDelayP99Ms' | 'loopDelayMaxMs' | 'cpuMicrosPerCommit'>> {
  const job: GeneratorJob = { rate, seconds, firstId: nextUser };
  nextUser += rate * seconds;
  const result = await new Promise<GeneratorResult>((resolve, reject) => {
    generator.once('message', (result) => resolve(result as GeneratorResult));
    generator.once('exit', (code) => reject(new Error(`the commit generator exited (${code})`)));
    generator.send(job);
  });
  generator.removeAllListeners('exit');
  const commits = result.committedAt.map((committedAt, i) => ({ id: String(job.firstId + i), committedAt }));
  const end = Math.max(...result.committedAt);
  // the rate over the span the commits were due in, plus one interval for the last one
  const achievedPerSecond = commits.length / ((end - result.start) / 1000 + 1 / rate);
  return { rate, start: result.start, end, commits, achievedPerSecond };
}

/** Waits until the simulator has a 200 ping of every commit's user. */
async function waitForPings(commits: readonly Commit[]): Promise<void> {
  const deadline = Date.now() + 120_000;
  const waiting = new Set(commits.map((commit) => commit.id));
  while (waiting.size > 0) {
    if (Date.now() > deadline) throw new Error(`${waiting.size} commits were not pinged within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    for (const ping of await simulator.pings()) if (ping.status === 200) waiting.delete(ping.id);
  }
}

/**
 * The Livefyre simulator in a process of its own (`pingpull livefyre-sim`,
 * built), as Livefyre is another machine: its token checks and pulls do not
 * weigh on the measured process. No pull URL is registered: its pulls fail at once.
 */
async function startSimulatorProcess(
  key: string,
): Promise<{ origin: string; pings(): Promise<PingRecord[]>; close(): void }> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'livefyre-sim', '--port', String(port)], {
    env: {
      ...process.env,
      PINGPULL_LIVEFYRE_NETWORK: 'bench.fyre.co',
      PINGPULL_LIVEFYRE_NETWORK_KEY: key,
      PINGPULL_SIMULATOR_HOST: '127.0.0.1',
      PINGPULL_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const origin = `http://127.0.0.1:${port}`;
  const pings = async (): Promise<PingRecord[]> => (await (await fetch(`${origin}/sim/pings`)).json()) as PingRecord[];
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the Livefyre simulator exited with code ${child.exitCode}`);
    try {
      if ((await fetch(`${origin}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the Livefyre simulator did not start in 20 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { origin, pings, close: () => child.kill('SIGTERM') };
}

interface Read {
  timestamp: number;
  pingedAtMs?: number;
}

/** The records of `name` by key (the first record of each key; tombstones are skipped). */
async function readTopic(name: string, expected: number): Promise<Map<string, Read>> {
  const found = new Map<string, Read>();
  const consumer = kafkaClient(services.brokers).consumer({ groupId: `${name}-reader-${suffix()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: name, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const key = message.key?.toString();
        if (key === undefined || message.value === null || found.has(key)) return;
        const read: Read = { timestamp: Number(message.timestamp) };
        if (name === pullsTopic) {
          read.pingedAtMs = (JSON.parse(message.value.toString()) as { pingedAtMs: number }).pingedAtMs;
        }
        found.set(key, read);
      },
    });
    await waitUntil(() => found.size >= expected, 60_000);
  } finally {
    await consumer.disconnect();
  }
  return found;
}

function percentiles(values: number[], untraced = false): { p50: number; p95: number; p99: number; max: number } {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length < values.length && !untraced)
    throw new Error(`${values.length - sorted.length} commits were not traced`);
  const pick = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: pick(0.5), p95: pick(0.95), p99: pick(0.99), max: sorted.at(-1) ?? Number.NaN };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('benchmark timed out waiting for the pipeline');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
