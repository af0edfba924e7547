import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startConnector, type ConnectorHandle } from '../src/cdc/connector.js';
import { setupDatabase } from '../src/cdc/setup.js';
import { schema } from '../src/config/schema.js';
import { createKafka, plaintextConnection, type SocketFactory } from '../src/events/kafka.js';
import { createLogger } from '../src/log.js';
import { createMetrics, type Metrics } from '../src/metrics/registry.js';
import { systemClock } from '../src/time.js';
import {
  benchServices,
  createDatabase,
  createTopic,
  deleteTopic,
  dropDatabase,
  pgRecvlogical,
  sleep,
  suffix,
  topicSize,
} from './lib/cdc.js';
import { delayBrokers } from './lib/delay-proxy.js';
import { connectorLikeMessages, produceAlone, type BaselineRun } from './lib/kafka-baseline.js';
import { report } from './lib/results.js';

// Connector throughput against two ceilings, with the connector in this
// process (its CPU is this process's CPU). UPDATES profile updates are
// committed in transactions of 1,000 rows, and again of 30,000 rows, while
// nothing reads the slots; each backlog is drained
// - by `pg_recvlogical` (decoding only, output to /dev/null) from a slot of
//   its own: the decode ceiling;
// - by the connector (decode, change detection, envelope, Kafka with
//   acks=all, 3 partitions) from its own slot, timed from its start until
//   Kafka acknowledged the last event, with the process CPU over that time.
// After an untimed warm-up of both (CONNECTOR_WARMUP updates drained, and
// kafkajs alone's own), each backlog is drained DRAIN_RUNS times, fresh each
// time, and each drain is paired with a run of kafkajs alone just before it:
// the ratio is taken per pair (a neighbour's burst of CPU on a shared machine
// weighs on both of a pair alike) and the median pair counts, the lowest and
// highest printed beside it.
// The Kafka-side ceiling, "kafkajs alone": the same number of messages, built
// like the connector's (envelope, key, headers), produced by kafkajs with
// nothing else to do, acks=all, to a 3-partition topic, batch size and
// requests in flight tuned for it (the best of a few settings), in a process
// of its own with Node's default flags: the client at its fastest, while the
// connector runs as `pingpull` does (npm run bench gives every bench the
// launcher's Node flags, which cost kafkajs alone more than the connector).
// Then both again over a simulated 20 ms broker round trip (a proxy that
// delays each direction by 10 ms; the clients dial it through their socket
// factory, so connections to the advertised broker address go through it
// too), 1,000-row transactions.
//
// Then the idle-table slot lag: another table of the same database is written
// continuously for LAG_SECONDS while the users table is idle; the slot's lag
// (pg_current_wal_lsn() - confirmed_flush_lsn) is sampled, with heartbeats
// at HEARTBEAT_MS. Bounded: a few minutes at most.

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const UPDATES = USERS;
/** While iterating: BENCH_TX_SIZES=30000 drains only those transaction sizes. */
const TX_SIZES = (process.env.BENCH_TX_SIZES ?? '1000,30000').split(',').map(Number);
const RTT_MS = 20;
/** Updates drained untimed before anything is measured, so the connector's code is compiled as kafkajs alone's is. */
const CONNECTOR_WARMUP = 20_000;
/** Drains of each backlog (fresh each time), each paired with a run of kafkajs alone: the median pair counts. */
const DRAIN_RUNS = Number(process.env.BENCH_DRAIN_RUNS ?? 3);
const LAG_SECONDS = Number(process.env.BENCH_LAG_SECONDS ?? 30);
const HEARTBEAT_MS = Number(process.env.BENCH_HEARTBEAT_MS ?? 10_000);
/** The configuration's default unless overridden for an experiment. */
/** While iterating: a comma-separated subset of alone, drain, rtt, lag (default all). */
const PARTS = new Set((process.env.BENCH_PARTS ?? 'alone,drain,rtt,lag').split(','));
const BATCH_SIZE = Number(process.env.BENCH_BATCH_SIZE ?? schema.replication.batchSize.default);
/** kafkajs alone: [messages per request, requests in flight]; the best counts. */
const ALONE_SETTINGS: ReadonlyArray<readonly [number, number]> = [
  [1_000, 1],
  [1_000, 4],
  [5_000, 4],
];
const source = {
  table: 'public.users',
  idColumn: 'id',
  columns: { display_name: 'display_name', email: 'email', image_url: 'avatar_url' },
  updatedAtColumn: '',
};

interface Bench {
  pool: pg.Pool;
  url: string;
  brokers: string;
  publication: string;
}

interface Drain {
  rawMs: number | null;
  connectorMs: number;
  cpuUs: number;
  inKafka: number;
}

const logger = createLogger(process.env.BENCH_LOG ?? 'warn');

function replicationConfig(publication: string, slot: string) {
  return {
    slot,
    publication,
    heartbeatMs: HEARTBEAT_MS,
    statusIntervalMs: 1_000,
    batchSize: BATCH_SIZE,
    knownUsers: schema.replication.knownUsers.default,
  };
}

function startBenchConnector(
  bench: Bench,
  slot: string,
  topic: string,
  metrics: Metrics,
  socketFactory?: SocketFactory,
): ConnectorHandle {
  return startConnector({
    databaseUrl: bench.url,
    source,
    replication: replicationConfig(bench.publication, slot),
    kafka: createKafka({
      connection: plaintextConnection(bench.brokers),
      clientId: 'pingpull-bench',
      logger,
      ...(socketFactory === undefined ? {} : { socketFactory }),
    }),
    topic,
    logger,
    metrics,
    clock: systemClock,
  });
}

/**
 * Writes a backlog of `updates` (UPDATES unless told) in transactions of
 * `txRows`, then drains it: with pg_recvlogical (unless `raw` is false), then
 * with the connector.
 */
async function drain(
  bench: Bench,
  txRows: number,
  options: { raw: boolean; socketFactory?: SocketFactory; updates?: number },
): Promise<Drain> {
  const { pool, url, brokers, publication } = bench;
  const updates = options.updates ?? UPDATES;
  const slot = `c_${suffix()}`;
  const rawSlot = `raw_${suffix()}`;
  const topic = `bench_cdc_${suffix()}`;
  await setupDatabase({ pool, source, replication: replicationConfig(publication, slot), logger });
  if (options.raw) await pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [rawSlot]);
  await createTopic(brokers, topic, 3);
  try {
    for (let first = 1; first <= updates; first += txRows) {
      await pool.query(`UPDATE users SET display_name = display_name || '.' WHERE id BETWEEN $1 AND $2`, [
        first,
        Math.min(updates, first + txRows - 1),
      ]);
    }
    const endLsn = (await pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    // Something past endLsn so pg_recvlogical sees the WAL end move past it and stops.
    await pool.query(`SELECT pg_logical_emit_message(false, 'bench', '')`);

    let rawMs: number | null = null;
    if (options.raw) {
      const rawStart = performance.now();
      await runPgRecvlogical(url, rawSlot, publication, endLsn);
      rawMs = performance.now() - rawStart;
      await pool.query('SELECT pg_drop_replication_slot($1)', [rawSlot]);
    }

    const metrics = createMetrics({ defaultMetrics: false });
    const cpu = process.cpuUsage();
    const start = performance.now();
    const connector = startBenchConnector(bench, slot, topic, metrics, options.socketFactory);
    let connectorMs: number;
    let used: NodeJS.CpuUsage;
    try {
      const deadline = Date.now() + 600_000;
      while ((await published(metrics)) < updates) {
        if (Date.now() > deadline)
          throw new Error(`connector published ${await published(metrics)} of ${updates} in 10 minutes`);
        await sleep(20);
      }
    } finally {
      connectorMs = performance.now() - start;
      used = process.cpuUsage(cpu);
      await connector.stop();
    }
    // The slot stays (caught up, inactive) until the database is dropped at the end.
    return { rawMs, connectorMs, cpuUs: used.user + used.system, inKafka: await topicSize(brokers, topic) };
  } finally {
    await deleteTopic(brokers, topic);
  }
}

/**
 * DRAIN_RUNS drains of fresh backlogs, fastest first (the connector at its
 * best), each after a run of kafkajs alone in its own process when `paired`.
 */
async function drains(
  bench: Bench,
  txRows: number,
  options: { raw: boolean; socketFactory?: SocketFactory; paired: boolean },
): Promise<Pair[]> {
  const pairs: Pair[] = [];
  for (let i = 0; i < DRAIN_RUNS; i += 1) {
    const alone = options.paired ? kafkajsAloneInOwnProcess(false).loopback : null;
    const run = await drain(bench, txRows, options);
    const rate = UPDATES / (run.connectorMs / 1000);
    const ratio = alone === null ? NaN : alone.ms / run.connectorMs;
    process.stdout.write(
      `  connector${options.socketFactory === undefined ? '' : ` (${RTT_MS} ms RTT)`}, ${txRows}-row transactions, ` +
        `run ${i + 1}/${DRAIN_RUNS}: ${Math.round(rate)} events/s` +
        `${alone === null ? '' : `, ${round(run.cpuUs / UPDATES)} µs CPU per event; ratio to the kafkajs alone run before it ${ratio.toFixed(3)}`}\n`,
    );
    pairs.push({ run, alone, ratio });
  }
  return pairs.sort((a, b) => a.run.connectorMs - b.run.connectorMs);
}

interface Pair {
  run: Drain;
  /** The kafkajs-alone run just before the drain (null when not paired). */
  alone: AloneRun | null;
  /** kafkajs alone's time / the connector's: the connector's rate as a share of the client's. */
  ratio: number;
}

async function runPgRecvlogical(url: string, slot: string, publication: string, endLsn: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      pgRecvlogical(),
      [
        '--start',
        '-S',
        slot,
        '-d',
        url,
        '-o',
        'proto_version=1',
        '-o',
        `publication_names=${publication}`,
        '-f',
        '/dev/null',
        `--endpos=${endLsn}`,
        '--no-loop',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`pg_recvlogical exited ${code}: ${stderr}`));
    });
  });
}

/** kafkajs alone at each setting; the fastest run. */
async function kafkajsAlone(brokers: string, socketFactory?: SocketFactory): Promise<AloneRun> {
  const messages = connectorLikeMessages(UPDATES, 'c_00000000', 'bench_cdc_00000000');
  let best: AloneRun | null = null;
  for (const [batch, inFlight] of ALONE_SETTINGS) {
    const run = await produceAlone(brokers, messages, {
      batch,
      inFlight,
      ...(socketFactory === undefined ? {} : { socketFactory }),
    });
    process.stdout.write(
      `  kafkajs alone${socketFactory === undefined ? '' : ` (${RTT_MS} ms RTT)`}, ${batch}/request, ${inFlight} in flight: ` +
        `${Math.round(UPDATES / (run.ms / 1000))} messages/s\n`,
    );
    if (best === null || run.ms < best.ms) best = { ...run, batch, inFlight };
  }
  return best!;
}

type AloneRun = BaselineRun & { batch: number; inFlight: number };

/** Set in the process that runs only the kafkajs-alone baselines. */
const ALONE_CHILD = 'BENCH_KAFKAJS_ALONE_CHILD';

/**
 * The kafkajs-alone baselines (loopback, and over the delayed round trip when
 * `rtt` is true) run by this script in a process of its own, with Node's
 * default flags: its progress lines pass through, its last line is the result.
 */
function kafkajsAloneInOwnProcess(rtt: boolean): { loopback: AloneRun; rtt: AloneRun | null } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, [ALONE_CHILD]: rtt ? 'rtt' : 'loopback' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  });
  if (result.status !== 0) throw new Error(`the kafkajs-alone process exited ${result.status}`);
  const lines = result.stdout.trimEnd().split('\n');
  process.stdout.write(`${lines.slice(0, -1).join('\n')}\n`);
  return JSON.parse(lines.at(-1)!) as { loopback: AloneRun; rtt: AloneRun | null };
}

/** The body of that process. */
async function kafkajsAloneChild(rtt: boolean): Promise<void> {
  const { brokers } = await benchServices();
  // Warm-up, untimed: kafkajs's code paths get compiled before anything is measured.
  await produceAlone(brokers, connectorLikeMessages(5_000, 'c_00000000', 'bench_cdc_00000000'), {
    batch: 500,
    inFlight: 2,
  });
  const loopback = await kafkajsAlone(brokers);
  let delayedRun: AloneRun | null = null;
  if (rtt) {
    const delayed = await delayBrokers(brokers, RTT_MS / 2);
    try {
      delayedRun = await kafkajsAlone(brokers, delayed.socketFactory);
    } finally {
      await delayed.close();
    }
  }
  process.stdout.write(`${JSON.stringify({ loopback, rtt: delayedRun })}\n`);
}

/** Idle users table, busy neighbour: the slot's lag with heartbeats. */
async function idleLag(bench: Bench) {
  const { pool } = bench;
  const slot = `c_${suffix()}`;
  const topic = `bench_cdc_${suffix()}`;
  await setupDatabase({ pool, source, replication: replicationConfig(bench.publication, slot), logger });
  await createTopic(bench.brokers, topic, 3);
  const connector = startBenchConnector(bench, slot, topic, createMetrics({ defaultMetrics: false }));
  try {
    let writing = true;
    const writer = (async () => {
      while (writing) await pool.query(`INSERT INTO page_views (path) SELECT '/p/' || g FROM generate_series(1, 50) g`);
    })();
    const samples: number[] = [];
    const walPosition = async () =>
      BigInt(
        (await pool.query<{ n: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint::text AS n`))
          .rows[0]!.n,
      );
    const walStart = await walPosition();
    const lagEnd = Date.now() + LAG_SECONDS * 1_000;
    while (Date.now() < lagEnd) {
      const { rows } = await pool.query<{ lag: string }>(
        'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS lag FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      samples.push(Number(rows[0]?.lag ?? 0));
      await sleep(250);
    }
    writing = false;
    await writer;
    return {
      walWritten: Number((await walPosition()) - walStart),
      maxLag: Math.max(...samples),
      avgLag: samples.reduce((a, b) => a + b, 0) / samples.length,
    };
  } finally {
    await connector.stop();
    await deleteTopic(bench.brokers, topic);
  }
}

async function main(): Promise<void> {
  const { adminUrl, brokers } = await benchServices();
  const name = `bench_cdc_${suffix()}`;
  const url = await createDatabase(adminUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const bench: Bench = { pool, url, brokers, publication: `p_${suffix()}` };
  try {
    await pool.query(
      'CREATE TABLE users (id bigint PRIMARY KEY, display_name text, email text, avatar_url text, password_hash text)',
    );
    await pool.query('CREATE TABLE page_views (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), path text)');
    await pool.query(
      `INSERT INTO users SELECT id, 'user ' || id, id || '@example.com', 'https://cdn.example.com/' || id || '.png', 'secret' FROM generate_series(1, $1) id`,
      [USERS],
    );

    // Warm-up, untimed: the connector's code (decoding, change detection, the envelope, kafkajs) gets compiled
    // before anything is measured, as kafkajs alone's does in its own process.
    if (PARTS.has('drain') || PARTS.has('rtt')) await drain(bench, 1_000, { raw: false, updates: CONNECTOR_WARMUP });
    const baselines = PARTS.has('alone') ? kafkajsAloneInOwnProcess(PARTS.has('rtt')) : null;
    const alone = baselines?.loopback ?? { ms: NaN, cpuUs: NaN, batch: 0, inFlight: 0 };
    const aloneRate = UPDATES / (alone.ms / 1000);
    const figures: Record<string, number> = {
      updates: UPDATES,
      batchSize: BATCH_SIZE,
      kafkajsAloneMessagesPerSecond: Math.round(aloneRate),
      kafkajsAloneCpuUsPerMessage: round(alone.cpuUs / UPDATES),
      kafkajsAloneBatch: alone.batch,
      kafkajsAloneInFlight: alone.inFlight,
    };
    const ratios: Record<string, number> = {};
    let loopback1000 = 0;
    for (const txRows of PARTS.has('drain') ? TX_SIZES : []) {
      const pairs = await drains(bench, txRows, { raw: true, paired: PARTS.has('alone') });
      const byRatio = [...pairs].sort((a, b) => a.ratio - b.ratio);
      const median = byRatio[Math.floor(byRatio.length / 2)]!;
      const rate = UPDATES / (median.run.connectorMs / 1000);
      const rawRate = Math.max(...pairs.map((pair) => UPDATES / (pair.run.rawMs! / 1000)));
      if (txRows === 1_000) loopback1000 = UPDATES / (pairs[0]!.run.connectorMs / 1000);
      const tag = `Tx${txRows}`;
      Object.assign(figures, {
        [`pgRecvlogicalEventsPerSecond${tag}`]: Math.round(rawRate),
        [`connectorEventsPerSecond${tag}`]: Math.round(rate),
        [`connectorCpuUsPerEvent${tag}`]: round(median.run.cpuUs / UPDATES),
        [`kafkajsAloneMessagesPerSecond${tag}`]:
          median.alone === null ? NaN : Math.round(UPDATES / (median.alone.ms / 1000)),
        [`kafkajsAloneCpuUsPerMessage${tag}`]: median.alone === null ? NaN : round(median.alone.cpuUs / UPDATES),
        [`kafkaMessages${tag}`]: Math.min(...pairs.map((pair) => pair.run.inKafka)),
      });
      ratios[`connectorVsKafkajsAlone${tag}`] = median.ratio;
      ratios[`connectorVsKafkajsAloneLowest${tag}`] = byRatio[0]!.ratio;
      ratios[`connectorVsKafkajsAloneHighest${tag}`] = byRatio.at(-1)!.ratio;
      ratios[`connectorVsPgRecvlogical${tag}`] = rate / rawRate;
    }

    if (PARTS.has('rtt')) {
      const delayed = await delayBrokers(brokers, RTT_MS / 2);
      try {
        const aloneRttRate = baselines?.rtt == null ? NaN : UPDATES / (baselines.rtt.ms / 1000);
        const run = (
          await drains(bench, 1_000, { raw: false, socketFactory: delayed.socketFactory, paired: false })
        )[0]!.run;
        const rate = UPDATES / (run.connectorMs / 1000);
        Object.assign(figures, {
          kafkajsAloneMessagesPerSecondRtt20ms: Math.round(aloneRttRate),
          connectorEventsPerSecondRtt20msTx1000: Math.round(rate),
          connectorCpuUsPerEventRtt20msTx1000: round(run.cpuUs / UPDATES),
          kafkaMessagesRtt20msTx1000: run.inKafka,
        });
        ratios.connectorRtt20msVsLoopbackTx1000 = rate / loopback1000;
        ratios.kafkajsAloneRtt20msVsLoopback = aloneRttRate / aloneRate;
      } finally {
        await delayed.close();
      }
    }
    if (PARTS.has('lag')) {
      const lag = await idleLag(bench);
      Object.assign(figures, {
        idleLagSeconds: LAG_SECONDS,
        idleLagHeartbeatMs: HEARTBEAT_MS,
        idleLagNeighbourWalBytes: lag.walWritten,
        idleLagMaxBytes: lag.maxLag,
        idleLagAvgBytes: Math.round(lag.avgLag),
      });
    }
    report({
      name: 'cdc-throughput',
      figures,
      ratios,
      notes:
        `${UPDATES} single-row-change updates, in transactions of ${TX_SIZES.join(' and of ')} rows, each backlog drained by pg_recvlogical ` +
        `(proto 1, same publication, to /dev/null) and by the connector (in this process, Node flags: ${process.execArgv.filter((flag) => flag.startsWith('--max') || flag.startsWith('--heap')).join(' ') || "Node's defaults"}; replication.batchSize ${BATCH_SIZE}) until Kafka ` +
        `(acks=all, 3 partitions) acknowledged every event, ${DRAIN_RUNS} times on fresh backlogs, each drain paired with a run of kafkajs alone just before it; ` +
        `the ratio is the median pair's (Lowest, Highest: the other pairs), its figures those of that pair; ` +
        `CPU is the process's user+system time over the drain; the Rtt20ms ratio compares the fastest drains. kafkajs alone: the same ` +
        `number of connector-like messages (same envelope, keys, headers) produced by kafkajs alone in a process of its own with Node's default flags, acks=all, 3 partitions, best of ` +
        `${ALONE_SETTINGS.map(([b, f]) => `${b}/request x ${f} in flight`).join(', ')}. Rtt20ms: the same through a proxy delaying ` +
        `each direction by ${RTT_MS / 2} ms. Then ${LAG_SECONDS} s of inserts into another table with the users table idle: ` +
        `slot lag (WAL end - confirmed flush) sampled every 250 ms, heartbeat every ${HEARTBEAT_MS} ms.`,
    });
  } finally {
    await pool.end();
    await dropDatabase(adminUrl, name);
  }
}

const round = (value: number): number => Math.round(value * 10) / 10;

async function published(metrics: Metrics): Promise<number> {
  const { values } = await metrics.eventsTotal.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

const child = process.env[ALONE_CHILD];
(child === undefined ? main() : kafkajsAloneChild(child === 'rtt')).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
