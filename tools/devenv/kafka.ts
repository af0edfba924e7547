import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import {
  aptInstall,
  cacheDir,
  commandExists,
  freePort,
  type Log,
  portOpen,
  processMatches,
  runOrThrow,
  sleep,
  stateDir,
  tail,
} from './util.js';

/** The broker version tests run against; the variable is for trying another one. */
export const KAFKA_VERSION = process.env.PINGPULL_KAFKA_VERSION || '4.4.0';

export interface KafkaState {
  pid: number;
  port: number;
  controllerPort: number;
  version: string;
  propertiesFile: string;
}

const kafkaDir = path.join(stateDir, 'kafka');
const pidFile = path.join(kafkaDir, 'kafka.pid');
const propertiesFile = path.join(kafkaDir, 'server.properties');
const log4jFile = path.join(kafkaDir, 'log4j2.properties');
const logFile = path.join(kafkaDir, 'kafka.log');
const READY_TIMEOUT_MS = 90_000;
const POM = fileURLToPath(new URL('./kafka/pom.xml', import.meta.url));

export async function ensureTool(log: Log, cmd: string, pkg: string): Promise<void> {
  if (!(await commandExists(cmd))) await aptInstall(log, [pkg]);
}

/**
 * Resolves the broker's runtime classpath through Maven once per version. The
 * download goes to a temporary folder renamed at the end, so an interrupted
 * download is never mistaken for a complete one.
 */
export async function ensureJars(log: Log, version: string): Promise<string> {
  const home = path.join(cacheDir, `kafka-${version}`);
  const libs = path.join(home, 'libs');
  if (existsSync(path.join(libs, '.complete'))) return libs;
  await ensureTool(log, 'mvn', 'maven');
  await mkdir(home, { recursive: true });
  await copyFile(POM, path.join(home, 'pom.xml'));
  const tmp = path.join(home, 'libs.tmp');
  await rm(tmp, { recursive: true, force: true });
  log(`downloading Kafka ${version} jars with Maven into ${home} (first run only)`);
  await runOrThrow(
    'mvn',
    [
      '-B',
      '-q',
      '-f',
      path.join(home, 'pom.xml'),
      `-Dkafka.version=${version}`,
      `-Dmaven.repo.local=${path.join(home, 'm2')}`,
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${tmp}`,
    ],
    { cwd: home },
  );
  await writeFile(path.join(tmp, '.complete'), new Date().toISOString());
  await rm(libs, { recursive: true, force: true });
  await rename(tmp, libs);
  return libs;
}

/**
 * What every single-node KRaft broker of the dev tools shares: combined
 * broker and controller, one replica of everything, no group start delay.
 * Listeners and security are the caller's.
 */
export function singleNodeProperties(controllerPort: number, dataDir: string): Record<string, string | number> {
  return {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    'controller.listener.names': 'CONTROLLER',
    'log.dirs': dataDir,
    'num.partitions': 3,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Tests create many short-lived groups; the default 3 s delay would slow each one.
    'group.initial.rebalance.delay.ms': 0,
  };
}

export function propertiesText(props: Record<string, string | number>): string {
  return (
    Object.entries(props)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n'
  );
}

export function serverProperties(port: number, controllerPort: number, dataDir = path.join(kafkaDir, 'data')): string {
  return propertiesText({
    ...singleNodeProperties(controllerPort, dataDir),
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    // 127.0.0.1, not localhost: Node may resolve localhost to ::1 first.
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'auto.create.topics.enable': 'true',
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
  });
}

// WARN keeps the log small; the one INFO logger gives the "Kafka Server started" line.
export const LOG4J2 = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
`;

function readPid(): number | undefined {
  try {
    return Number(readFileSync(pidFile, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

export async function kafkaAlive(state: KafkaState): Promise<boolean> {
  // Generous timeout: a false "dead" would wipe a broker other test runs are using.
  return processMatches(state.pid, state.propertiesFile) && (await portOpen(state.port, '127.0.0.1', 5000));
}

/**
 * A kafkajs admin round trip: the port alone opens before the broker serves
 * metadata reliably. `security` carries TLS and SASL for a secured listener.
 */
export async function adminAnswers(port: number, security: Pick<KafkaConfig, 'ssl' | 'sasl'> = {}): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'pingpull-services',
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    ...security,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Formats a fresh single-node KRaft broker (wiping any previous one) and starts it detached. */
export async function startKafka(log: Log, version = KAFKA_VERSION): Promise<KafkaState> {
  await ensureTool(log, 'java', 'default-jre-headless');
  const libs = await ensureJars(log, version);
  const classpath = path.join(libs, '*'); // expanded by java itself, no shell involved
  for (let attempt = 1; ; attempt++) {
    await stopKafka(log);
    await mkdir(path.join(kafkaDir, 'data'), { recursive: true });
    const port = await freePort();
    let controllerPort = await freePort();
    while (controllerPort === port) controllerPort = await freePort();
    await writeFile(propertiesFile, serverProperties(port, controllerPort));
    await writeFile(log4jFile, LOG4J2);
    const clusterId = randomBytes(16).toString('base64url');
    const log4jOpt = `-Dlog4j2.configurationFile=${log4jFile}`;
    await runOrThrow('java', [
      log4jOpt,
      '-cp',
      classpath,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      propertiesFile,
    ]);

    log(`starting Kafka ${version} on 127.0.0.1:${port}`);
    const out = openSync(logFile, 'a');
    const child = spawn(
      'java',
      ['-Xms256m', '-Xmx512m', '-Djava.awt.headless=true', log4jOpt, '-cp', classpath, 'kafka.Kafka', propertiesFile],
      {
        cwd: kafkaDir,
        detached: true, // own process group: survives us, and `down` can kill it whole
        stdio: ['ignore', out, out],
      },
    );
    closeSync(out);
    child.unref();
    const pid = child.pid;
    if (!pid) throw new Error('could not spawn java');
    await writeFile(pidFile, `${pid}\n`);

    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline && processMatches(pid, propertiesFile)) {
      if ((await portOpen(port)) && (await adminAnswers(port))) {
        return { pid, port, controllerPort, version, propertiesFile };
      }
      await sleep(500);
    }
    const logTail = await tail(logFile);
    if (attempt < 3 && /BindException|Address already in use/.test(logTail)) {
      log('Kafka port was taken meanwhile, retrying with other ports');
      continue;
    }
    await stopKafka(log, false);
    throw new Error(`Kafka did not become ready within ${READY_TIMEOUT_MS / 1000} s\n--- ${logFile} ---\n${logTail}`);
  }
}

/** Kills this checkout's broker (whole process group) if it runs; `wipe` deletes its data and log. */
export async function stopKafka(log: Log, wipe = true): Promise<void> {
  const pid = readPid();
  if (pid && processMatches(pid, propertiesFile)) {
    log(`stopping Kafka (pid ${pid})`);
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        // group already gone
      }
    };
    signal('SIGTERM');
    // Data is thrown away, so a slow controlled shutdown is not worth waiting for.
    for (let i = 0; i < 150 && processMatches(pid, propertiesFile); i++) await sleep(100);
    if (processMatches(pid, propertiesFile)) signal('SIGKILL');
    for (let i = 0; i < 50 && processMatches(pid, propertiesFile); i++) await sleep(100);
  }
  if (wipe) await rm(kafkaDir, { recursive: true, force: true });
}
