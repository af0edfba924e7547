import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type Admin, type ISocketFactory, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { Config } from '../config/index.js';
import { ConfigError, KafkaTopicsError } from '../errors.js';
import type { Logger } from '../log.js';
import { isTransientKafkaNoise } from './kafka-failure.js';
import { dropKafkajsTimeoutWarnings } from './kafkajs-warnings.js';
import { sleep, systemClock } from '../time.js';

export type { Kafka, Admin };

/**
 * How the client opens a connection to a broker (host and port as the
 * metadata advertises them). Optional everywhere: the default dials the
 * broker directly. The throughput bench passes one that dials a delaying
 * proxy, to measure over a simulated network round trip.
 */
export type SocketFactory = ISocketFactory;

/** Where the brokers are and how to get in: the same for every client of every role and command. */
export type KafkaConnection = Pick<
  Config['kafka'],
  'brokers' | 'ssl' | 'sslCaFile' | 'sslCertFile' | 'sslKeyFile' | 'saslMechanism' | 'saslUsername' | 'saslPassword'
>;

/** A broker without TLS or SASL, such as the local development services. */
export function plaintextConnection(brokers: string): KafkaConnection {
  return {
    brokers,
    ssl: false,
    sslCaFile: '',
    sslCertFile: '',
    sslKeyFile: '',
    saslMechanism: '',
    saslUsername: '',
    saslPassword: '',
  };
}

/**
 * How long a client keeps trying to reach the brokers. A role rides out an
 * outage (kafkajs retries, our loops retry after it); a one-shot command
 * gives up within about ten seconds so a person learns what is wrong.
 */
export type KafkaPatience = 'role' | 'one-shot';

const RETRIES: Record<KafkaPatience, Pick<KafkaConfig, 'connectionTimeout' | 'retry'>> = {
  role: { connectionTimeout: 3_000, retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 10_000 } },
  'one-shot': { connectionTimeout: 2_000, retry: { initialRetryTime: 300, retries: 2, maxRetryTime: 1_000 } },
};

/**
 * The one Kafka client factory; kafkajs's own logs go through our logger:
 * transient group and leader changes at debug, failures at warn for a role
 * (it retries) and at debug for a one-shot command (it reports the failure
 * in one line), stacks only at debug.
 */
export function createKafka(options: {
  connection: KafkaConnection;
  clientId: string;
  logger: Logger;
  patience?: KafkaPatience;
  /** Opens the connections to the brokers (default: directly); see SocketFactory. */
  socketFactory?: SocketFactory;
}): Kafka {
  dropKafkajsTimeoutWarnings();
  const patience = options.patience ?? 'role';
  const config: KafkaConfig = {
    ...connectionConfig(options.connection),
    ...(options.socketFactory === undefined ? {} : { socketFactory: options.socketFactory }),
    clientId: options.clientId,
    requestTimeout: 30_000,
    ...RETRIES[patience],
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }) => {
        const { message, stack, ...extra } = log;
        const failing = level <= logLevel.WARN && !isTransientKafkaNoise(message, extra.error);
        const method = failing && patience === 'role' ? 'warn' : 'debug';
        const withStack = method === 'debug' && stack !== undefined ? { ...extra, stack } : extra;
        options.logger[method]({ kafka: withStack }, `kafka: ${message}`);
      },
  };
  return new Kafka(config);
}

/**
 * A client for one-shot reads (`status`, `check`): short timeouts and a
 * single retry, so an unreachable broker is reported within seconds instead
 * of after the roles' patient retry schedule. Its own logs are dropped: the
 * caller reports the failure.
 */
export function createProbeKafka(options: { connection: KafkaConnection; clientId: string; timeoutMs: number }): Kafka {
  dropKafkajsTimeoutWarnings();
  return new Kafka({
    ...connectionConfig(options.connection),
    clientId: options.clientId,
    connectionTimeout: Math.min(3_000, options.timeoutMs),
    requestTimeout: options.timeoutMs,
    retry: { initialRetryTime: 200, retries: 1, maxRetryTime: 1_000 },
    logLevel: logLevel.NOTHING,
  });
}

/**
 * Brokers, TLS and SASL as kafkajs takes them. TLS keeps Node's certificate
 * and hostname checks; without a CA file the system trust store applies,
 * which is what public managed clusters (MSK, Confluent Cloud) need. Files
 * are read here so an unreadable one names its key and exits as a
 * configuration error.
 */
export function connectionConfig(connection: KafkaConnection): Pick<KafkaConfig, 'brokers' | 'ssl' | 'sasl'> {
  const pem = (key: 'sslCaFile' | 'sslCertFile' | 'sslKeyFile') => {
    const file = connection[key];
    if (file === '') return {};
    try {
      return { [{ sslCaFile: 'ca', sslCertFile: 'cert', sslKeyFile: 'key' }[key]]: readFileSync(file, 'utf8') };
    } catch (error) {
      throw new ConfigError([`kafka.${key}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`]);
    }
  };
  const tls = { ...pem('sslCaFile'), ...pem('sslCertFile'), ...pem('sslKeyFile') };
  return {
    brokers: connection.brokers.split(',').map((broker) => broker.trim()),
    ...(connection.ssl ? { ssl: Object.keys(tls).length > 0 ? tls : true } : {}),
    ...(connection.saslMechanism === '' ? {} : { sasl: saslOptions(connection) }),
  };
}

function saslOptions(connection: KafkaConnection): SASLOptions {
  const credentials = { username: connection.saslUsername, password: connection.saslPassword };
  switch (connection.saslMechanism) {
    case 'plain':
      return { mechanism: 'plain', ...credentials };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', ...credentials };
    default:
      return { mechanism: 'scram-sha-512', ...credentials };
  }
}

/**
 * Creates the topics when missing (idempotent, also when another process
 * creates them at the same moment) and waits until every partition has a
 * leader. kafkajs's own `waitForLeaders` gives up on the "does not host this
 * topic-partition" answers a fresh broker sends while it creates the topic.
 */
export async function ensureTopics(
  kafka: Kafka,
  topics: readonly string[],
  partitions: number,
  options: { timeoutMs?: number; configEntries?: Array<{ name: string; value: string }> } = {},
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: false,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: partitions,
          ...(options.configEntries === undefined ? {} : { configEntries: options.configEntries }),
        })),
      });
    }
    await waitForLeaders(admin, topics, options.timeoutMs ?? 30_000);
  } finally {
    await admin.disconnect();
  }
}

async function waitForLeaders(admin: Admin, topics: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = systemClock.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [...topics] });
      const ready = metadata.topics.every(
        (topic) => topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0),
      );
      if (ready) return;
    } catch (error) {
      if (!(error as { retriable?: boolean }).retriable) throw error;
      lastError = error;
    }
    if (systemClock.now() > deadline) {
      throw new KafkaTopicsError(topics, timeoutMs, lastError);
    }
    await sleep(200);
  }
}
