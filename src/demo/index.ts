import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createResources } from '../app/resources.js';
import { pipelineRoles, type RoleHandle } from '../app/roles.js';
import { setupDatabase } from '../cdc/setup.js';
import { teardownDatabase } from '../cdc/teardown.js';
import { loadConfig, type Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { readSlotLag } from '../metrics/slot-lag.js';
import { startSimulator, type PingRecord, type PullRecord } from '../simulator/index.js';
import { sleep, type Clock, type Random } from '../time.js';
import { DEMO_COLUMNS, DEMO_TABLE, createDemoDatabase, demoName } from './seed.js';

export interface DemoOptions {
  /** Superuser URL of a cluster with wal_level=logical, and Kafka brokers. */
  services: { databaseUrl: string; kafkaBrokers: string };
  database: string;
  users: number;
  intervalMs: number;
  /** The simulator's wait between a ping and its pull (Livefyre's is minutes); default 0. */
  pullDelayMs?: number;
  /** Stop after this long; undefined runs until the signal. */
  durationMs: number | undefined;
  signal: AbortSignal;
  logger: Logger;
  out: (line: string) => void;
  clock: Clock;
  random: Random;
}

export interface DemoSummary {
  edits: number;
  pings: number;
  pulls: number;
  commitToPingMs: number[];
}

/**
 * The whole pipeline on local services: a seeded users table, the three
 * roles, the Livefyre simulator, and a profile edit every interval, printed
 * as edit → ping → pull with the delay from commit to ping.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { out, clock } = options;
  const started = clock.now();
  const stamp = (): string => `+${((clock.now() - started) / 1000).toFixed(2).padStart(6)}s`;

  out(`seeding ${options.users} users in database ${options.database} (table ${DEMO_TABLE})`);
  const databaseUrl = await createDemoDatabase(options.services.databaseUrl, options.database, options.users);
  const networkKey = randomBytes(20).toString('base64');
  const simulator = await startSimulator({
    network: 'demo.fyre.co',
    networkKey,
    port: 0,
    pullDelayMs: options.pullDelayMs ?? 0,
    logger: options.logger,
  });
  const config = demoConfig(
    databaseUrl,
    options.services.kafkaBrokers,
    simulator.url,
    networkKey,
    options.logger.level,
  );
  const resources = createResources(config, options.logger);
  const roles: RoleHandle[] = [];
  const editor = new pg.Client({ connectionString: databaseUrl, application_name: 'pingpull-demo-editor' });
  const summary: DemoSummary = { edits: 0, pings: 0, pulls: 0, commitToPingMs: [] };

  try {
    for (const line of await setupDatabase({
      pool: resources.pool(),
      source: config.source,
      mapping: resources.mapping,
      replication: config.replication,
      logger: options.logger,
    })) {
      out(`setup: ${line}`);
    }
    for (const start of pipelineRoles()) {
      const role = await start(resources);
      if (role === undefined) continue;
      roles.push(role);
      // As the README's attaching steps say: the pull URL is registered before anything is pinged.
      if (role.name === 'pull-server') {
        const template = `${role.address}${config.pull.path}/{id}`;
        await resources.livefyre().registerPullUrl(template);
        out(`simulator at ${simulator.url}; pull URL registered: ${template}`);
      }
    }
    out(
      `editing one profile every ${options.intervalMs} ms${options.durationMs === undefined ? ' (Ctrl-C stops)' : ''}\n`,
    );

    await editor.connect();
    const committedAt = new Map<string, number>();
    let seenPings = 0;
    let seenPulls = 0;
    const deadline = options.durationMs === undefined ? Infinity : started + options.durationMs;
    let nextEdit = clock.now();
    let nextLagReport = clock.now() + 5_000;

    while (!options.signal.aborted && clock.now() < deadline) {
      if (clock.now() >= nextEdit) {
        const id = String(1 + Math.floor(options.random() * options.users));
        const name = demoName(Math.floor(options.random() * 1_000_000));
        await editor.query('UPDATE demo_users SET nickname = $2, updated_at = now() WHERE id = $1', [id, name]);
        committedAt.set(id, clock.now());
        summary.edits += 1;
        out(`${stamp()}  edit  user ${id.padEnd(5)} nickname → "${name}"`);
        nextEdit += options.intervalMs;
      }
      const pings = simulator.pings();
      for (const ping of pings.slice(seenPings)) printPing(ping, committedAt, summary, out, stamp);
      seenPings = pings.length;
      const pulls = simulator.pulls();
      for (const record of pulls.slice(seenPulls))
        printPull(record, simulator.profile(record.id)?.profile, summary, out, stamp);
      seenPulls = pulls.length;
      if (clock.now() >= nextLagReport) {
        const lag = await readSlotLag(resources.pool(), config.replication.slot);
        out(
          `${stamp()}  lag   slot ${lag?.lagBytes ?? '?'} B behind, ${lag?.retainedBytes ?? '?'} B of WAL retained; ${summary.pings} pings so far`,
        );
        nextLagReport += 5_000;
      }
      await sleep(50, options.signal);
    }
    // Let the last edit reach Livefyre before the summary.
    await sleep(Math.min(2_000, options.intervalMs * 2));
    for (const ping of simulator.pings().slice(seenPings)) printPing(ping, committedAt, summary, out, stamp);
    for (const record of simulator.pulls().slice(seenPulls))
      printPull(record, simulator.profile(record.id)?.profile, summary, out, stamp);
    printSummary(summary, out);
    return summary;
  } finally {
    await editor.end().catch(() => undefined);
    for (const role of roles.reverse()) await role.stop().catch(() => undefined);
    await teardownDatabase({
      pool: resources.pool(),
      source: config.source,
      replication: config.replication,
      force: true,
      logger: options.logger,
    }).catch(() => undefined);
    await resources.close();
    await simulator.close();
  }
}

function demoConfig(
  databaseUrl: string,
  kafkaBrokers: string,
  simulatorUrl: string,
  networkKey: string,
  logLevel: string,
): Config {
  return loadConfig({
    env: {},
    overrides: {
      'database.url': databaseUrl,
      'source.table': DEMO_TABLE,
      'source.idColumn': 'id',
      'source.columns': DEMO_COLUMNS,
      'source.updatedAtColumn': 'updated_at',
      'replication.slot': 'pingpull_demo',
      'replication.publication': 'pingpull_demo',
      'replication.heartbeatMs': 2_000,
      'kafka.brokers': kafkaBrokers,
      'kafka.topic': 'pingpull-demo.profile-changes',
      'kafka.dlqTopic': 'pingpull-demo.profile-changes.dlq',
      'kafka.groupId': 'pingpull-demo-pinger',
      'livefyre.network': 'demo.fyre.co',
      'livefyre.networkKey': networkKey,
      'livefyre.baseUrl': simulatorUrl,
      'pinger.coalesceMs': 50,
      'pull.host': '127.0.0.1',
      'pull.port': 0,
      'metrics.port': 0,
      'log.level': logLevel,
    },
  });
}

function printPing(
  ping: PingRecord,
  committedAt: Map<string, number>,
  summary: DemoSummary,
  out: (line: string) => void,
  stamp: () => string,
): void {
  summary.pings += 1;
  const commit = committedAt.get(ping.id);
  const delay = commit === undefined ? '' : `  (commit → ping ${Math.max(0, ping.receivedAt - commit)} ms)`;
  if (commit !== undefined && ping.status === 200) summary.commitToPingMs.push(Math.max(0, ping.receivedAt - commit));
  out(`${stamp()}  ping  user ${ping.id.padEnd(5)} HTTP ${ping.status}${delay}`);
}

function printPull(
  record: PullRecord,
  profile: Record<string, unknown> | undefined,
  summary: DemoSummary,
  out: (line: string) => void,
  stamp: () => string,
): void {
  summary.pulls += 1;
  const detail =
    record.outcome === 'stored'
      ? `display_name "${String(profile?.display_name)}" stored`
      : `${record.outcome} ${record.errors?.join('; ') ?? ''}`;
  out(`${stamp()}  pull  user ${record.id.padEnd(5)} HTTP ${record.status ?? '-'}  ${detail}`);
}

function printSummary(summary: DemoSummary, out: (line: string) => void): void {
  const sorted = [...summary.commitToPingMs].sort((a, b) => a - b);
  const pick = (q: number): string =>
    sorted.length === 0 ? '-' : `${sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]} ms`;
  out('');
  out(`edits ${summary.edits}, pings ${summary.pings}, pulls ${summary.pulls}`);
  out(
    `commit → ping: median ${pick(0.5)}, p99 ${pick(0.99)}, max ${sorted.length === 0 ? '-' : `${sorted[sorted.length - 1]} ms`}`,
  );
}
