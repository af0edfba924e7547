import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { setupDatabase } from '../src/cdc/setup.js';
import { createLogger } from '../src/log.js';
import {
  benchServices,
  createDatabase,
  createTopic,
  deleteTopic,
  distinctKeys,
  dropDatabase,
  sleep,
  suffix,
  topicSize,
} from './lib/cdc.js';
import { report } from './lib/results.js';

// Peak memory of the connector through ONE transaction that updates every
// row of a table of USERS users (1,000,000 by default). The connector runs
// as its own process (the built dist/, as `pingpull connector` would); its
// VmRSS is sampled from /proc every 100 ms, and VmHWM (the kernel's peak) is
// read at the end. Baseline: its RSS once streaming and idle. Every user must
// come out in Kafka (distinct keys counted). Expected bound: the publisher
// holds at most replication.batchSize events waiting plus one request in
// flight, and flow control keeps the socket paused meanwhile, so RSS should
// not grow with the transaction's size (Postgres spills the big transaction
// to disk in its reorder buffer, not us). Loopback only; bounded (minutes).

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const BATCH_SIZE = 500;
const CHILD = fileURLToPath(new URL('../test/helpers/connector-child.mjs', import.meta.url));

function status(pid: number): { rssKb: number; hwmKb: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

async function main(): Promise<void> {
  const { adminUrl, brokers } = await benchServices();
  const name = `bench_mem_${suffix()}`;
  const topic = `bench_mem_${suffix()}`;
  const url = await createDatabase(adminUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const source = {
    table: 'public.users',
    idColumn: 'id',
    columns: { display_name: 'display_name', email: 'email', image_url: 'avatar_url' },
    updatedAtColumn: '',
  };
  const replication = {
    slot: `m_${suffix()}`,
    publication: `p_${suffix()}`,
    heartbeatMs: 10_000,
    statusIntervalMs: 1_000,
    batchSize: BATCH_SIZE,
    knownUsers: 100_000,
  };
  let child: ReturnType<typeof spawn> | undefined;
  try {
    await pool.query(
      'CREATE TABLE users (id bigint PRIMARY KEY, display_name text, email text, avatar_url text, password_hash text)',
    );
    await pool.query(
      `INSERT INTO users SELECT id, 'user ' || id, id || '@example.com', 'https://cdn.example.com/' || id || '.png', 'secret' FROM generate_series(1, $1) id`,
      [USERS],
    );
    await setupDatabase({ pool, source, replication, logger: createLogger('warn') });
    await createTopic(brokers, topic, 3);

    // With BENCH_MAX_OLD_SPACE_MB the child's V8 heap is capped: finishing
    // the 1M-row transaction under a small cap shows the live set is bounded
    // (the default heap grows lazily, so peak RSS alone mostly measures GC slack).
    const heapCap = process.env.BENCH_MAX_OLD_SPACE_MB;
    child = spawn(process.execPath, [...(heapCap ? [`--max-old-space-size=${heapCap}`] : []), CHILD], {
      env: {
        ...process.env,
        PINGPULL_DATABASE_URL: url,
        PINGPULL_KAFKA_BROKERS: brokers,
        PINGPULL_KAFKA_TOPIC: topic,
        PINGPULL_SOURCE_TABLE: source.table,
        PINGPULL_SOURCE_ID_COLUMN: source.idColumn,
        PINGPULL_SOURCE_COLUMNS: JSON.stringify(source.columns),
        PINGPULL_REPLICATION_SLOT: replication.slot,
        PINGPULL_REPLICATION_PUBLICATION: replication.publication,
        PINGPULL_REPLICATION_BATCH_SIZE: String(BATCH_SIZE),
        PINGPULL_LOG_LEVEL: 'warn',
        KAFKAJS_NO_PARTITIONER_WARNING: '1',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const pid = child.pid!;
    // Streaming and idle: the baseline.
    for (let i = 0; i < 600; i++) {
      const { rows } = await pool.query<{ active: boolean }>(
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [replication.slot],
      );
      if (rows[0]?.active === true) break;
      await sleep(100);
    }
    await sleep(3_000);
    const idleSamples: number[] = [];
    for (let i = 0; i < 20; i++) {
      idleSamples.push(status(pid).rssKb);
      await sleep(100);
    }
    const idleKb = Math.max(...idleSamples);

    let peakKb = idleKb;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          peakKb = Math.max(peakKb, status(pid).rssKb);
        } catch {
          return;
        }
        await sleep(100);
      }
    })();

    const txStart = performance.now();
    await pool.query(`UPDATE users SET display_name = display_name || '!'`);
    const txMs = performance.now() - txStart;
    const deadline = Date.now() + 900_000;
    let size = 0;
    while ((size = await topicSize(brokers, topic)) < USERS) {
      if (Date.now() > deadline) throw new Error(`only ${size} of ${USERS} events in Kafka after 15 minutes`);
      await sleep(500);
    }
    const publishMs = performance.now() - txStart;
    sampling = false;
    await sampler;
    const hwmKb = status(pid).hwmKb;
    const keys = await distinctKeys(brokers, topic, size);
    if (keys < USERS) throw new Error(`only ${keys} distinct users of ${USERS} reached Kafka`);

    report({
      name: process.env.BENCH_MAX_OLD_SPACE_MB
        ? `connector-memory-heap${process.env.BENCH_MAX_OLD_SPACE_MB}`
        : 'connector-memory',
      figures: {
        users: USERS,
        transactionRows: USERS,
        updateMs: Math.round(txMs),
        commitToAllInKafkaMs: Math.round(publishMs),
        kafkaMessages: size,
        distinctKeys: keys,
        idleRssMb: round(idleKb / 1024),
        peakRssMb: round(peakKb / 1024),
        vmHwmMb: round(hwmKb / 1024),
        maxOldSpaceMb: Number(process.env.BENCH_MAX_OLD_SPACE_MB ?? 0),
      },
      ratios: { peakRssVsIdle: peakKb / idleKb },
      notes:
        `One UPDATE of all ${USERS} rows in a single transaction; the connector (dist/, own process, replication.batchSize ${BATCH_SIZE}) sampled every 100 ms ` +
        `from /proc/<pid>/status (VmRSS; VmHWM is the kernel's lifetime peak). Baseline: RSS streaming and idle.`,
    });
  } finally {
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child!.once('exit', resolve));
    }
    await pool.end();
    await dropDatabase(adminUrl, name);
    await deleteTopic(brokers, topic);
  }
}

const round = (value: number): number => Math.round(value * 10) / 10;

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
