import { spawn } from 'node:child_process';
import pg from 'pg';
import { startConnector } from '../src/cdc/connector.js';
import { setupDatabase } from '../src/cdc/setup.js';
import { createKafka, plaintextConnection } from '../src/events/kafka.js';
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
import { report } from './lib/results.js';

// Connector throughput against the raw ceiling. UPDATES profile updates are
// committed in transactions of TX_ROWS rows while nothing reads the slots;
// then the same backlog is drained twice: by `pg_recvlogical` (decoding
// only, output to /dev/null) from a second slot, and by the connector
// (decode, change detection, envelope, Kafka with acks=all) from its own,
// timed until Kafka acknowledged the last event. The ratio is
// connector / pg_recvlogical events per second.
//
// Then the idle-table slot lag: another table of the same database is written
// continuously for LAG_SECONDS while the users table is idle; the slot's lag
// (pg_current_wal_lsn() - confirmed_flush_lsn) is sampled, with heartbeats
// at HEARTBEAT_MS. Loopback only; bounded (a few minutes at most).

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const UPDATES = USERS;
const TX_ROWS = 1_000;
const LAG_SECONDS = Number(process.env.BENCH_LAG_SECONDS ?? 30);
const HEARTBEAT_MS = Number(process.env.BENCH_HEARTBEAT_MS ?? 10_000);
const source = {
  table: 'public.users',
  idColumn: 'id',
  columns: { display_name: 'display_name', email: 'email', image_url: 'avatar_url' },
  updatedAtColumn: '',
};

async function main(): Promise<void> {
  const { adminUrl, brokers } = await benchServices();
  const name = `bench_cdc_${suffix()}`;
  const topic = `bench_cdc_${suffix()}`;
  const url = await createDatabase(adminUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const logger = createLogger(process.env.BENCH_LOG ?? 'warn');
  try {
    await pool.query(
      'CREATE TABLE users (id bigint PRIMARY KEY, display_name text, email text, avatar_url text, password_hash text)',
    );
    await pool.query('CREATE TABLE page_views (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), path text)');
    await pool.query(
      `INSERT INTO users SELECT id, 'user ' || id, id || '@example.com', 'https://cdn.example.com/' || id || '.png', 'secret' FROM generate_series(1, $1) id`,
      [USERS],
    );
    const replication = {
      slot: `c_${suffix()}`,
      publication: `p_${suffix()}`,
      heartbeatMs: HEARTBEAT_MS,
      statusIntervalMs: 1_000,
      batchSize: 500,
      knownUsers: 100_000,
    };
    await setupDatabase({ pool, source, replication, logger });
    const rawSlot = `raw_${suffix()}`;
    await pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [rawSlot]);
    await createTopic(brokers, topic, 3);

    // The backlog: UPDATES updates in transactions of TX_ROWS rows.
    const writeStart = performance.now();
    for (let first = 1; first <= UPDATES; first += TX_ROWS) {
      await pool.query(`UPDATE users SET display_name = display_name || '.' WHERE id BETWEEN $1 AND $2`, [
        first,
        Math.min(UPDATES, first + TX_ROWS - 1),
      ]);
    }
    const writeMs = performance.now() - writeStart;
    const endLsn = (await pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    // Something past endLsn so pg_recvlogical sees the WAL end move past it and stops.
    await pool.query(`SELECT pg_logical_emit_message(false, 'bench', '')`);

    // 1. pg_recvlogical drains the raw slot.
    const rawStart = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        pgRecvlogical(),
        [
          '--start',
          '-S',
          rawSlot,
          '-d',
          url,
          '-o',
          'proto_version=1',
          '-o',
          `publication_names=${replication.publication}`,
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
    const rawMs = performance.now() - rawStart;
    await pool.query('SELECT pg_drop_replication_slot($1)', [rawSlot]);

    // 2. The connector drains its slot into Kafka.
    const metrics = createMetrics({ defaultMetrics: false });
    const connectorStart = performance.now();
    const connector = startConnector({
      databaseUrl: url,
      source,
      replication,
      kafka: createKafka({ connection: plaintextConnection(brokers), clientId: 'pingpull-bench', logger }),
      topic,
      logger,
      metrics,
      clock: systemClock,
    });
    const deadline = Date.now() + 600_000;
    while ((await published(metrics)) < UPDATES) {
      if (Date.now() > deadline)
        throw new Error(`connector published ${await published(metrics)} of ${UPDATES} in 10 minutes`);
      await sleep(20);
    }
    const connectorMs = performance.now() - connectorStart;
    const inKafka = await topicSize(brokers, topic);

    // 3. Idle users table, busy neighbour: the slot's lag with heartbeats.
    let writing = true;
    const writer = (async () => {
      while (writing) await pool.query(`INSERT INTO page_views (path) SELECT '/p/' || g FROM generate_series(1, 50) g`);
    })();
    const samples: number[] = [];
    const lagEnd = Date.now() + LAG_SECONDS * 1_000;
    let walWritten = 0n;
    const walStart = BigInt(
      (await pool.query<{ n: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint::text AS n`))
        .rows[0]!.n,
    );
    while (Date.now() < lagEnd) {
      const { rows } = await pool.query<{ lag: string }>(
        'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS lag FROM pg_replication_slots WHERE slot_name = $1',
        [replication.slot],
      );
      samples.push(Number(rows[0]?.lag ?? 0));
      await sleep(250);
    }
    writing = false;
    await writer;
    walWritten =
      BigInt(
        (await pool.query<{ n: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint::text AS n`))
          .rows[0]!.n,
      ) - walStart;
    await connector.stop();

    const connectorRate = UPDATES / (connectorMs / 1000);
    const rawRate = UPDATES / (rawMs / 1000);
    const maxLag = Math.max(...samples);
    const avgLag = samples.reduce((a, b) => a + b, 0) / samples.length;
    report({
      name: 'cdc-throughput',
      figures: {
        updates: UPDATES,
        transactionRows: TX_ROWS,
        backlogWriteMs: Math.round(writeMs),
        pgRecvlogicalMs: Math.round(rawMs),
        pgRecvlogicalEventsPerSecond: Math.round(rawRate),
        connectorMs: Math.round(connectorMs),
        connectorEventsPerSecond: Math.round(connectorRate),
        kafkaMessages: inKafka,
        idleLagSeconds: LAG_SECONDS,
        idleLagHeartbeatMs: HEARTBEAT_MS,
        idleLagNeighbourWalBytes: Number(walWritten),
        idleLagMaxBytes: maxLag,
        idleLagAvgBytes: Math.round(avgLag),
      },
      ratios: { connectorVsPgRecvlogical: connectorRate / rawRate },
      notes:
        `${UPDATES} single-row-change updates in ${UPDATES / TX_ROWS} transactions, drained from a backlog: pg_recvlogical (proto 1, same publication, to /dev/null) ` +
        `vs the connector until Kafka (acks=all, 3 partitions) acknowledged every event. Then ${LAG_SECONDS} s of inserts into another table with the users table idle: ` +
        `slot lag (WAL end - confirmed flush) sampled every 250 ms, heartbeat every ${HEARTBEAT_MS} ms.`,
    });
  } finally {
    await pool.end();
    await dropDatabase(adminUrl, name);
    await deleteTopic(brokers, topic);
  }
}

async function published(metrics: Metrics): Promise<number> {
  const { values } = await metrics.eventsTotal.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
