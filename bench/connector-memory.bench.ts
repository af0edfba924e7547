import { spawn, spawnSync } from 'node:child_process';
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
import { freePort } from '../tools/devenv/util.js';
import { LAUNCHER, launcherNodeFlags } from '../test/helpers/launcher.js';

// Peak memory of the connector through ONE transaction that updates every
// row of a table of USERS users (1,000,000 by default). The connector runs
// as users run it: `pingpull connector` (the built dist/) in its own process,
// started with the launcher's Node flags (bin/pingpull.js); its
// VmRSS is sampled from /proc every 100 ms, and VmHWM (the kernel's peak) is
// read at the end. Baseline: its RSS once streaming and idle. Every user must
// come out in Kafka (distinct keys counted). Expected bound: the publisher
// holds at most replication.batchSize events waiting plus four requests in
// flight (16 MiB at most), and flow control keeps the socket paused meanwhile, so RSS should
// not grow with the transaction's size (Postgres spills the big transaction
// to disk in its reorder buffer, not us). Loopback only; bounded (minutes).
// What is left above the idle RSS is mostly V8's heap slack (young
// generation, old generation grown to a multiple of the live set), which
// node flags change: each set in BENCH_NODE_FLAGS drains the same table once
// more (a second UPDATE of every row, same slot, fresh topic), CPU per event
// measured too. Also: the change detector's heap + array buffer bytes per remembered user
// and ns per detect() at capacity, against the detector before issue 13.

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const KNOWN_USERS = 100_000; // replication.knownUsers' default

const DETECTION = fileURLToPath(new URL('./lib/detection-memory.ts', import.meta.url));
// Node flags of each drain, '|'-separated sets: `launcher` is the flags
// bin/pingpull.js starts Node with (what `pingpull connector` runs with), an
// empty set is Node's own defaults.
const VARIANTS: string[][] = (process.env.BENCH_NODE_FLAGS ?? 'launcher|')
  .split('|')
  .map((set) => (set.trim() === 'launcher' ? launcherNodeFlags() : set.split(' ').filter((flag) => flag !== '')));

function status(pid: number): { rssKb: number; hwmKb: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

/** CPU time (user + system) of a process so far, in ms, from /proc/<pid>/stat. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ');
  // after the command: state is field 3, utime 14 and stime 15 (clock ticks, 100 per second on Linux)
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Drained {
  updateMs: number;
  publishMs: number;
  messages: number;
  keys: number;
  idleKb: number;
  peakKb: number;
  hwmKb: number;
  cpuUsPerEvent: number;
}

/** The connector child streams idle, then one UPDATE of every row; its RSS until all of it is in Kafka. */
async function drainOne(
  pool: pg.Pool,
  slot: string,
  child: ReturnType<typeof spawn>,
  brokers: string,
  topic: string,
): Promise<Drained> {
  const pid = child.pid!;
  // Streaming and idle: the baseline.
  for (let i = 0; i < 600; i++) {
    const { rows } = await pool.query<{ active_pid: number | null }>(
      'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    if (rows[0]?.active_pid != null) break;
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

  const cpuStart = cpuMs(pid);
  const txStart = performance.now();
  await pool.query(`UPDATE users SET display_name = display_name || '!'`);
  const updateMs = performance.now() - txStart;
  const deadline = Date.now() + 900_000;
  let size = 0;
  while ((size = await topicSize(brokers, topic)) < USERS) {
    if (Date.now() > deadline) throw new Error(`only ${size} of ${USERS} events in Kafka after 15 minutes`);
    await sleep(500);
  }
  const publishMs = performance.now() - txStart;
  const cpuUsPerEvent = ((cpuMs(pid) - cpuStart) * 1000) / USERS;
  sampling = false;
  await sampler;
  const hwmKb = status(pid).hwmKb;
  const keys = await distinctKeys(brokers, topic, size);
  if (keys < USERS) throw new Error(`only ${keys} distinct users of ${USERS} reached Kafka`);
  return {
    updateMs: Math.round(updateMs),
    publishMs: Math.round(publishMs),
    messages: size,
    keys,
    idleKb,
    peakKb,
    hwmKb,
    cpuUsPerEvent,
  };
}

interface DetectionFigures {
  bytesPerUser: number;
  evictingNsPerDetect: number;
  noOpNsPerDetect: number;
}

/** bench/lib/detection-memory.ts in a fresh process per detector. */
function detectionMemory(): { current: DetectionFigures; currentUuid: DetectionFigures; before: DetectionFigures } {
  const run = (...args: string[]): DetectionFigures => {
    const result = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', DETECTION, ...args], {
      encoding: 'utf8',
      env: { ...process.env, BENCH_KNOWN_USERS: String(KNOWN_USERS) },
    });
    if (result.status !== 0) throw new Error(`detection-memory ${args.join(' ')}: ${result.stderr}`);
    return JSON.parse(result.stdout) as DetectionFigures;
  };
  return { current: run('current', 'int'), currentUuid: run('current', 'uuid'), before: run('before', 'int') };
}

/** `--max-semi-space-size=2` → `MaxSemiSpaceSize2`. */
function flagTag(flags: readonly string[]): string {
  return flags
    .map((flag) =>
      flag
        .replace(/^--/, '')
        .split(/[-_=]/)
        .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
        .join(''),
    )
    .join('');
}

async function main(): Promise<void> {
  const { adminUrl, brokers } = await benchServices();
  const name = `bench_mem_${suffix()}`;
  const topics: string[] = [];
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
    batchSize: 500,
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

    const detection = detectionMemory();
    const runs: Drained[] = [];
    for (const variant of VARIANTS) {
      const topic = `bench_mem_${suffix()}`;
      topics.push(topic);
      await createTopic(brokers, topic, 3);
      const env = {
        ...process.env,
        PINGPULL_DATABASE_URL: url,
        PINGPULL_KAFKA_BROKERS: brokers,
        PINGPULL_KAFKA_TOPIC: topic,
        PINGPULL_SOURCE_TABLE: source.table,
        PINGPULL_SOURCE_ID_COLUMN: source.idColumn,
        PINGPULL_SOURCE_COLUMNS: JSON.stringify(source.columns),
        PINGPULL_REPLICATION_SLOT: replication.slot,
        PINGPULL_REPLICATION_PUBLICATION: replication.publication,
        // the metrics endpoint and the operator console run by default: so they do here
        PINGPULL_METRICS_HOST: '127.0.0.1',
        PINGPULL_METRICS_PORT: String(await freePort()),
        PINGPULL_LOG_LEVEL: 'warn',
      };
      child = spawn(process.execPath, [...variant, LAUNCHER, 'connector'], {
        env,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      runs.push(await drainOne(pool, replication.slot, child, brokers, topic));
      child.kill('SIGTERM');
      await new Promise((resolve) => child!.once('exit', resolve));
    }

    const [first] = runs;
    const figures: Record<string, number> = {
      users: USERS,
      transactionRows: USERS,
      updateMs: first!.updateMs,
    };
    const ratios: Record<string, number> = {};
    runs.forEach((run, i) => {
      const tag = i === 0 ? '' : `With${flagTag(VARIANTS[i]!) || 'NodeDefaults'}`;
      figures[`commitToAllInKafkaMs${tag}`] = run.publishMs;
      figures[`kafkaMessages${tag}`] = run.messages;
      figures[`distinctKeys${tag}`] = run.keys;
      figures[`idleRssMb${tag}`] = round(run.idleKb / 1024);
      figures[`peakRssMb${tag}`] = round(run.peakKb / 1024);
      figures[`vmHwmMb${tag}`] = round(run.hwmKb / 1024);
      figures[`connectorCpuUsPerEvent${tag}`] = round(run.cpuUsPerEvent);
      ratios[`peakRssVsIdle${tag}`] = run.peakKb / run.idleKb;
    });
    Object.assign(figures, {
      detectionBytesPerUser: round(detection.current.bytesPerUser),
      detectionBytesPerUserUuidIds: round(detection.currentUuid.bytesPerUser),
      detectionBytesPerUserBefore: round(detection.before.bytesPerUser),
      detectNsAtCapacityEvicting: Math.round(detection.current.evictingNsPerDetect),
      detectNsAtCapacityEvictingBefore: Math.round(detection.before.evictingNsPerDetect),
      detectNsAtCapacityNoOp: Math.round(detection.current.noOpNsPerDetect),
      detectNsAtCapacityNoOpBefore: Math.round(detection.before.noOpNsPerDetect),
    });
    ratios.detectionBytesVsBefore = detection.current.bytesPerUser / detection.before.bytesPerUser;
    ratios.detectNsEvictingVsBefore = detection.current.evictingNsPerDetect / detection.before.evictingNsPerDetect;

    report({
      name: 'connector-memory',
      figures,
      ratios,
      notes:
        `One UPDATE of all ${USERS} rows in a single transaction, drained by \`pingpull connector\` with default settings (dist/, own process, the launcher's Node flags: ${launcherNodeFlags().join(' ')}) ` +
        `sampled every 100 ms from /proc/<pid>/status (VmRSS; VmHWM is the kernel's lifetime peak); baseline: its RSS streaming and idle. ` +
        `Repeated on the same slot (a second UPDATE of every row) for each set of node flags: ${VARIANTS.map((v) => (v.length === 0 ? "(none: Node's defaults)" : v.join(' '))).join(', ')}. ` +
        `detection*: a ChangeDetector filled with ${KNOWN_USERS} users (replication.knownUsers) through detect() in a fresh process ` +
        `(--expose-gc, heap used + array buffers after/before gc), then ns per detect() at capacity of a user not remembered (evicts one) and of a ` +
        `no-op update (skipped); "Before": the detector before issue 13 (bench/lib/change-detection-before.ts).`,
    });
  } finally {
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child!.once('exit', resolve));
    }
    await pool.end();
    await dropDatabase(adminUrl, name);
    for (const topic of topics) await deleteTopic(brokers, topic);
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
