import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Pool as HttpPool } from 'undici';
import { schema } from '../src/config/schema.js';
import { freePort } from '../tools/devenv/util.js';
import { createSystemToken, importNetworkKey } from '../src/livefyre/token.js';
import { systemClock } from '../src/time.js';
import { benchServices } from './lib/cdc.js';
import { report } from './lib/results.js';
import { launcherNodeFlags } from '../test/helpers/launcher.js';

// The pull server as Livefyre meets it: the real `pingpull pull-server`
// process (built: run `npm run build` first) on a loopback port, a users
// table of USERS rows, and a closed-loop load of CONNECTIONS concurrent
// pulls of random ids. The same server's /healthz (no token, no database),
// measured the same way in the same run, is the ceiling the pull rate is
// compared with. The two alternate in SLICE_MS slices (ROUNDS of each), so a
// neighbour's burst of CPU on a shared machine weighs on both alike and the
// ratio stays meaningful. The server runs as deployed (every pull answered
// is recorded in Kafka for the pull confirmation loop), then a second one
// with the loop off (pinger.pullConfirmMs 0): what the loop costs a pull.
// Everything stays on 127.0.0.1; the whole run is bounded (about a minute
// once the services are up).

const USERS = 100_000;
const CONNECTIONS = 16;
const WARMUP_MS = 2_000;
const SLICE_MS = 1_000;
const ROUNDS = 10;
const NETWORK = 'bench.fyre.co';
const NETWORK_KEY = randomBytes(20).toString('base64');
const PATH = '/livefyre/profiles';
// BENCH_PULL_SERVER_BIN: another build's bin/pingpull.js, for an A/B of two versions
const BIN = process.env.BENCH_PULL_SERVER_BIN ?? fileURLToPath(new URL('../bin/pingpull.js', import.meta.url));

interface Run {
  requests: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers other than 200. */
  failures: number;
  /** The server's CPU time per request: steadier than the rates on a shared machine. */
  cpuMicrosPerRequest: number;
  /** CPU time per request of the PostgreSQL backends serving the bench's database (on the same machine). */
  databaseCpuMicrosPerRequest: number;
}

async function main(): Promise<void> {
  const { adminUrl, brokers } = await benchServices();
  const database = await createUsersDatabase(adminUrl);
  try {
    // As deployed (the pull confirmation loop on: every pull answered is recorded in Kafka), then with it off.
    const loop = await measure(database, brokers, true);
    const noLoop = await measure(database, brokers, false);
    report({
      name: 'pull-server',
      figures: {
        users: USERS,
        connections: CONNECTIONS,
        pullRequestsPerSecond: Math.round(loop.pulls.perSecond),
        pullP50Ms: loop.pulls.p50Ms,
        pullP99Ms: loop.pulls.p99Ms,
        pullFailures: loop.pulls.failures,
        healthzRequestsPerSecond: Math.round(loop.healthz.perSecond),
        healthzP99Ms: loop.healthz.p99Ms,
        serverCpuMicrosPerPull: Math.round(loop.pulls.cpuMicrosPerRequest),
        serverCpuMicrosPerHealthz: Math.round(loop.healthz.cpuMicrosPerRequest),
        databaseCpuMicrosPerPull: Math.round(loop.pulls.databaseCpuMicrosPerRequest),
        pullRequestsPerSecondLoopOff: Math.round(noLoop.pulls.perSecond),
        pullFailuresLoopOff: noLoop.pulls.failures,
        healthzRequestsPerSecondLoopOff: Math.round(noLoop.healthz.perSecond),
        serverCpuMicrosPerPullLoopOff: Math.round(noLoop.pulls.cpuMicrosPerRequest),
        serverCpuMicrosPerHealthzLoopOff: Math.round(noLoop.healthz.cpuMicrosPerRequest),
      },
      ratios: {
        pullVsHealthz: loop.pulls.perSecond / loop.healthz.perSecond,
        // what the rate ratio would be were the server CPU-bound alone (Postgres's own CPU per pull not counted)
        pullVsHealthzByServerCpu: loop.healthz.cpuMicrosPerRequest / loop.pulls.cpuMicrosPerRequest,
        pullVsHealthzLoopOff: noLoop.pulls.perSecond / noLoop.healthz.perSecond,
        pullVsHealthzByServerCpuLoopOff: noLoop.healthz.cpuMicrosPerRequest / noLoop.pulls.cpuMicrosPerRequest,
      },
      notes:
        `pingpull pull-server (own process) on 127.0.0.1, ${USERS} users (bigint ids), ${CONNECTIONS} keep-alive connections, ` +
        `closed loop, ${ROUNDS} alternating ${SLICE_MS / 1000} s slices of pulls and of /healthz after warm-up; ` +
        'pulls of uniformly random ids with one reused system token; ' +
        'the load generator (undici) shares the machine, so both figures are lower bounds of the server alone. ' +
        'As deployed, every pull answered is recorded in the Kafka pulls topic (the pull confirmation loop); ' +
        'LoopOff: a second server with pinger.pullConfirmMs 0, which records nothing',
    });
    if (loop.pulls.failures + noLoop.pulls.failures > 0) process.exitCode = 1;
  } finally {
    await database.drop();
  }
}

/** One `pingpull pull-server` process: its pulls and its /healthz, in alternating slices. */
async function measure(
  database: { name: string; url: string },
  brokers: string,
  confirmationLoop: boolean,
): Promise<{ pulls: Run; healthz: Run }> {
  const port = await freePort();
  // e.g. BENCH_PULL_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/pull-prof' profiles the server
  const nodeArgs = (process.env.BENCH_PULL_SERVER_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  // started as the launcher starts it (its Node flags), as `pingpull pull-server` runs
  const server = spawn(process.execPath, [...launcherNodeFlags(), ...nodeArgs, BIN, 'pull-server'], {
    env: {
      ...process.env,
      PINGPULL_DATABASE_URL: database.url,
      PINGPULL_KAFKA_BROKERS: brokers,
      PINGPULL_PINGER_PULL_CONFIRM_MS: confirmationLoop ? String(schema.pinger.pullConfirmMs.default) : '0',
      PINGPULL_LIVEFYRE_NETWORK: NETWORK,
      PINGPULL_LIVEFYRE_NETWORK_KEY: NETWORK_KEY,
      PINGPULL_PULL_HOST: '127.0.0.1',
      PINGPULL_PULL_PORT: String(port),
      PINGPULL_METRICS_PORT: '0',
      PINGPULL_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const http = new HttpPool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 });
  try {
    await waitUntilServing(http, server);
    const { token } = await createSystemToken({
      network: NETWORK,
      key: importNetworkKey(NETWORK_KEY),
      clock: systemClock,
    });
    const lftoken = encodeURIComponent(token);
    const pullPath = () => `${PATH}/${1 + Math.floor(Math.random() * USERS)}?lftoken=${lftoken}`;

    const serverCpu = (): number => processCpuMicros(server.pid as number);
    const databaseCpu = (): number => backendsCpuMicros(database.name);
    await load(http, pullPath, WARMUP_MS, serverCpu, databaseCpu);
    await load(http, () => '/healthz', WARMUP_MS / 2, serverCpu, databaseCpu);
    const pullSlices: Slice[] = [];
    const healthzSlices: Slice[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      pullSlices.push(await load(http, pullPath, SLICE_MS, serverCpu, databaseCpu));
      healthzSlices.push(await load(http, () => '/healthz', SLICE_MS, serverCpu, databaseCpu));
    }
    return { pulls: summarise(pullSlices), healthz: summarise(healthzSlices) };
  } finally {
    await http.close();
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  }
}

interface Slice {
  latencies: number[];
  seconds: number;
  failures: number;
  /** CPU time the server process spent in the slice (user + system). */
  serverCpuMicros: number;
  /** CPU time the database's backends spent in the slice. */
  databaseCpuMicros: number;
}

function summarise(slices: readonly Slice[]): Run {
  const latencies = slices.flatMap((slice) => slice.latencies).sort((a, b) => a - b);
  const seconds = slices.reduce((sum, slice) => sum + slice.seconds, 0);
  const percentile = (p: number): number =>
    round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0);
  return {
    requests: latencies.length,
    perSecond: latencies.length / seconds,
    p50Ms: percentile(0.5),
    p99Ms: percentile(0.99),
    failures: slices.reduce((sum, slice) => sum + slice.failures, 0),
    cpuMicrosPerRequest: slices.reduce((sum, slice) => sum + slice.serverCpuMicros, 0) / latencies.length,
    databaseCpuMicrosPerRequest: slices.reduce((sum, slice) => sum + slice.databaseCpuMicros, 0) / latencies.length,
  };
}

/**
 * `CONNECTIONS` loops each sending its next request as soon as the previous answer is read,
 * until `durationMs` passes.
 */
async function load(
  http: HttpPool,
  nextPath: () => string,
  durationMs: number,
  serverCpu: () => number,
  databaseCpu: () => number,
): Promise<Slice> {
  const cpuBefore = serverCpu();
  const databaseCpuBefore = databaseCpu();
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      const response = await http.request({ method: 'GET', path: nextPath() });
      await response.body.dump();
      latencies.push(performance.now() - sent);
      if (response.statusCode !== 200) failures += 1;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  return {
    latencies,
    seconds: (performance.now() - started) / 1000,
    failures,
    serverCpuMicros: serverCpu() - cpuBefore,
    databaseCpuMicros: databaseCpu() - databaseCpuBefore,
  };
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** User + system CPU time of a process so far (Linux /proc), in microseconds. */
function processCpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second on Linux)
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * CPU time so far of the PostgreSQL backends connected to `database` (their
 * process title names it), when PostgreSQL runs on this machine; 0 otherwise.
 * The pull server keeps its pool's connections through a run, so the
 * difference over a slice is their work in it.
 */
function backendsCpuMicros(database: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!title.startsWith('postgres: ') || !title.includes(` ${database} `)) continue;
      total += processCpuMicros(Number(entry));
    } catch {
      // the process ended meanwhile, or is not ours to read
    }
  }
  return total;
}

async function waitUntilServing(http: HttpPool, server: ReturnType<typeof spawn>): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`pingpull pull-server exited with code ${server.exitCode}`);
    try {
      const response = await http.request({ method: 'GET', path: '/readyz' });
      await response.body.dump();
      if (response.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('pingpull pull-server did not become ready in 20 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A throwaway database with `public.users` as the default mapping expects it, filled with USERS rows. */
async function createUsersDatabase(adminUrl: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `pingpull_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query(`
    CREATE TABLE public.users (
      id bigint PRIMARY KEY,
      display_name text NOT NULL,
      email text,
      avatar_url text,
      password_hash text
    );
    INSERT INTO public.users
      SELECT n, 'User ' || n, 'user' || n || '@example.com', 'https://cdn.example.com/avatars/' || n || '.jpg', md5(n::text)
        FROM generate_series(1, ${USERS}) AS n;
    ANALYZE public.users;
  `);
  await client.end();
  return {
    name,
    url: url.toString(),
    async drop() {
      const again = new pg.Client({ connectionString: adminUrl });
      await again.connect();
      await again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await again.end();
    },
  };
}

await main();
