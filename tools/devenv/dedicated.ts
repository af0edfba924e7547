import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { appendFile, chmod, chown, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { adminAnswers, ensureJars, ensureTool, KAFKA_VERSION, LOG4J2, serverProperties } from './kafka.js';
import { checkWalLevel, findBinDir, PG_PASSWORD, PG_USER, pgTool, postgresIds, postmasterPid } from './postgres.js';
import { freePort, isRoot, type Log, portOpen, processMatches, run, sleep, stateDir, tail } from './util.js';

/**
 * Throwaway services for ONE test or benchmark that needs to stop and
 * restart them (fault injection), so the shared broker and cluster other
 * test files use are never disturbed. Each instance has its own state folder
 * and ports, reuses the start code of `kafka.ts` / `postgres.ts`, keeps its
 * data (and ports) across stop()/start(), and is deleted by destroy(). If the
 * owning process dies first, an exit hook kills what it started.
 */
export interface DedicatedService {
  /** Stops the process (data stays): `fast` is a clean shutdown, `kill` is SIGKILL (a crash). */
  stop(mode?: 'fast' | 'kill'): Promise<void>;
  /** Starts it again on the same port with the same data; resolves when it serves. */
  start(): Promise<void>;
  running(): boolean;
  /** Stops it and deletes its state folder. */
  destroy(): Promise<void>;
}

export interface DedicatedKafka extends DedicatedService {
  /** 127.0.0.1:PORT */
  brokers: string;
  port: number;
}

export interface DedicatedPostgres extends DedicatedService {
  /** Superuser URL of the `postgres` database (verifying the server when it runs TLS). */
  url: string;
  port: number;
  dataDir: string;
}

const quietLog: Log = () => undefined;
const READY_TIMEOUT_MS = 120_000;
const live = new Set<() => void>();
let exitHooked = false;

function onExitKill(kill: () => void): () => void {
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => {
      for (const k of live) k();
    });
  }
  live.add(kill);
  return () => live.delete(kill);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone
  }
}

async function twoPorts(): Promise<[number, number]> {
  const a = await freePort();
  let b = await freePort();
  while (b === a) b = await freePort();
  return [a, b];
}

export interface DedicatedKafkaOptions {
  log?: Log;
  version?: string;
  /** server.properties for these ports and data folder (default: a plaintext listener). */
  properties?: (ports: { port: number; controllerPort: number; dataDir: string }) => string;
  /** More `kafka-storage format` arguments, such as `--add-scram` credentials. */
  formatArgs?: string[];
  /** Whether the broker serves (default: a plaintext admin round trip). */
  answers?: (port: number) => Promise<boolean>;
}

/** A single-node KRaft broker of its own under `.services/dedicated/`. */
export async function startDedicatedKafka(options: DedicatedKafkaOptions = {}): Promise<DedicatedKafka> {
  const log = options.log ?? quietLog;
  const version = options.version ?? KAFKA_VERSION;
  await ensureTool(log, 'java', 'default-jre-headless');
  const libs = await ensureJars(log, version);
  const classpath = path.join(libs, '*');
  await mkdir(path.join(stateDir, 'dedicated'), { recursive: true });
  const dir = await mkdtemp(path.join(stateDir, 'dedicated', 'kafka-'));
  const propertiesFile = path.join(dir, 'server.properties');
  const log4jFile = path.join(dir, 'log4j2.properties');
  const logFile = path.join(dir, 'kafka.log');
  const [port, controllerPort] = await twoPorts();
  const dataDir = path.join(dir, 'data');
  const properties = options.properties ?? ((p) => serverProperties(p.port, p.controllerPort, p.dataDir));
  const answers = options.answers ?? adminAnswers;
  await writeFile(propertiesFile, properties({ port, controllerPort, dataDir }));
  await writeFile(log4jFile, LOG4J2);
  const log4jOpt = `-Dlog4j2.configurationFile=${log4jFile}`;
  const format = await run('java', [
    log4jOpt,
    '-cp',
    classpath,
    'kafka.tools.StorageTool',
    'format',
    '-t',
    randomBytes(16).toString('base64url'),
    '-c',
    propertiesFile,
    ...(options.formatArgs ?? []),
  ]);
  if (format.code !== 0) throw new Error(`kafka storage format failed: ${format.output}`);

  let pid: number | undefined;
  let unhook: () => void = () => undefined;
  const alive = (): boolean => processMatches(pid, propertiesFile);

  const start = async (): Promise<void> => {
    if (alive()) return;
    log(`starting dedicated Kafka ${version} on 127.0.0.1:${port}`);
    const out = openSync(logFile, 'a');
    const child = spawn(
      'java',
      ['-Xms128m', '-Xmx384m', '-Djava.awt.headless=true', log4jOpt, '-cp', classpath, 'kafka.Kafka', propertiesFile],
      {
        cwd: dir,
        detached: true,
        stdio: ['ignore', out, out],
      },
    );
    closeSync(out);
    child.unref();
    pid = child.pid;
    if (pid === undefined) throw new Error('could not spawn java');
    const started = pid;
    unhook();
    unhook = onExitKill(() => killGroup(started, 'SIGKILL'));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline && alive()) {
      if ((await portOpen(port)) && (await answers(port))) return;
      await sleep(300);
    }
    const logTail = await tail(logFile);
    await stop('kill');
    throw new Error(`dedicated Kafka did not become ready on port ${port}\n--- ${logFile} ---\n${logTail}`);
  };

  const stop = async (mode: 'fast' | 'kill' = 'fast'): Promise<void> => {
    const current = pid;
    if (current === undefined || !alive()) return;
    log(`stopping dedicated Kafka (pid ${current}, ${mode})`);
    killGroup(current, mode === 'kill' ? 'SIGKILL' : 'SIGTERM');
    for (let i = 0; i < 300 && alive(); i++) await sleep(100);
    if (alive()) killGroup(current, 'SIGKILL');
    for (let i = 0; i < 100 && alive(); i++) await sleep(100);
    // The port must be free before a restart binds it again.
    for (let i = 0; i < 100 && (await portOpen(port)); i++) await sleep(100);
    unhook();
  };

  await start();
  return {
    brokers: `127.0.0.1:${port}`,
    port,
    start,
    stop,
    running: alive,
    async destroy() {
      await stop('kill');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A PostgreSQL cluster of its own (wal_level logical). As root the server
 * runs as the `postgres` OS user, so its folder is under /var/tmp.
 */
export async function startDedicatedPostgres(
  options: {
    log?: Log;
    settings?: string[];
    /**
     * Server certificate and key (PEM) and the CA that signed them: TLS on,
     * pg_hba.conf admits TLS connections only, and `url` verifies the server.
     */
    tls?: { certFile: string; keyFile: string; caFile: string };
  } = {},
): Promise<DedicatedPostgres> {
  const log = options.log ?? quietLog;
  const binDir = await findBinDir(log);
  const parent = isRoot() ? '/var/tmp' : path.join(stateDir, 'dedicated');
  await mkdir(parent, { recursive: true });
  const base = await mkdtemp(path.join(parent, isRoot() ? 'pingpull-dedicated-pg-' : 'pg-'));
  const dataDir = path.join(base, 'data');
  const logFile = path.join(base, 'postgres.log');
  const pwfile = path.join(base, 'pwfile');
  await writeFile(pwfile, `${PG_PASSWORD}\n`, { mode: 0o600 });
  if (isRoot()) {
    const { uid, gid } = await postgresIds();
    await chown(base, uid, gid);
    await chown(pwfile, uid, gid);
  }
  await pgTool(
    binDir,
    'initdb',
    ['-D', dataDir, '-U', PG_USER, `--pwfile=${pwfile}`, '--auth=trust', '--encoding=UTF8', '--no-locale', '--no-sync'],
    base,
  );
  await rm(pwfile, { force: true });
  const port = await freePort();
  const conf = [
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    "unix_socket_directories = ''",
    'wal_level = logical',
    'max_replication_slots = 16',
    'max_wal_senders = 16',
    'max_connections = 100',
    ...(options.settings ?? []),
  ];
  await appendFile(path.join(dataDir, 'postgresql.conf'), `\n${conf.join('\n')}\n`);
  if (options.tls !== undefined) await requireTls(dataDir, options.tls);

  let pid: number | undefined;
  let unhook: () => void = () => undefined;
  const alive = (): boolean => processMatches(pid, dataDir);
  const pgCtl = async (args: string[]): Promise<void> => {
    const exe = path.join(binDir, 'pg_ctl');
    const r = isRoot()
      ? await run('runuser', ['-u', 'postgres', '--', exe, ...args], { cwd: base })
      : await run(exe, args, { cwd: base });
    if (r.code !== 0)
      throw new Error(
        `pg_ctl ${args.join(' ')} exited ${r.code}: ${r.output}\n--- ${logFile} ---\n${await tail(logFile)}`,
      );
  };

  const start = async (): Promise<void> => {
    if (alive()) return;
    log(`starting dedicated postgres on 127.0.0.1:${port}`);
    await pgCtl(['-D', dataDir, '-l', logFile, '-w', '-t', '120', 'start']);
    pid = postmasterPid(dataDir);
    const started = pid;
    unhook();
    if (started !== undefined) {
      unhook = onExitKill(() => {
        try {
          process.kill(started, 'SIGQUIT');
        } catch {
          // gone
        }
      });
    }
  };

  const stop = async (mode: 'fast' | 'kill' = 'fast'): Promise<void> => {
    const current = pid;
    if (current === undefined || !alive()) return;
    log(`stopping dedicated postgres (pid ${current}, ${mode})`);
    if (mode === 'kill') {
      // Like a crash: the next start runs crash recovery.
      await pgCtl(['-D', dataDir, '-m', 'immediate', '-w', '-t', '60', 'stop']).catch(() =>
        killGroup(current, 'SIGKILL'),
      );
    } else {
      await pgCtl(['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
    }
    for (let i = 0; i < 100 && alive(); i++) await sleep(100);
    unhook();
  };

  await start();
  const verify = options.tls === undefined ? '' : `?sslmode=verify-full&sslrootcert=${options.tls.caFile}`;
  const url = `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/postgres${verify}`;
  // A test may ask for another wal_level on purpose (to see `check` complain).
  if (!(options.settings ?? []).some((line) => /^\s*wal_level\b/.test(line))) await checkWalLevel(url);
  return {
    url,
    port,
    dataDir,
    start,
    stop,
    running: alive,
    async destroy() {
      await stop('kill').catch(() => undefined);
      await rm(base, { recursive: true, force: true });
    },
  };
}

/**
 * Postgres reads `server.crt` and `server.key` from its data folder and
 * refuses a key others can read; `hostssl` lines alone turn plaintext
 * connections away (replication connections included).
 */
async function requireTls(dataDir: string, tls: { certFile: string; keyFile: string }): Promise<void> {
  await copyFile(tls.certFile, path.join(dataDir, 'server.crt'));
  await copyFile(tls.keyFile, path.join(dataDir, 'server.key'));
  await chmod(path.join(dataDir, 'server.key'), 0o600);
  if (isRoot()) {
    const { uid, gid } = await postgresIds();
    await chown(path.join(dataDir, 'server.crt'), uid, gid);
    await chown(path.join(dataDir, 'server.key'), uid, gid);
  }
  await appendFile(path.join(dataDir, 'postgresql.conf'), 'ssl = on\n');
  const hba = ['hostssl all all 127.0.0.1/32 scram-sha-256', 'hostssl replication all 127.0.0.1/32 scram-sha-256'];
  await writeFile(path.join(dataDir, 'pg_hba.conf'), `${hba.join('\n')}\n`);
}
