import { PROFILE_FIELDS } from '../livefyre/profile.js';

const IDENTIFIER = /^[^\u0000]{1,63}$/;

export function validateColumns(value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('must be a JSON object of Livefyre profile field → column name');
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (!entries.some(([field]) => field === 'display_name')) {
    throw new Error('must map the required Livefyre field "display_name"');
  }
  for (const [field, column] of entries) {
    if (field === 'id') throw new Error('must not map "id": the id comes from source.idColumn');
    if (!PROFILE_FIELDS.has(field)) {
      throw new Error(`maps unknown Livefyre field "${field}" (known: ${[...PROFILE_FIELDS.keys()].join(', ')})`);
    }
    if (typeof column !== 'string' || !IDENTIFIER.test(column)) {
      throw new Error(`maps "${field}" to ${JSON.stringify(column)}, expected a column name`);
    }
  }
}

function tableFormat(value: unknown): void {
  if (typeof value !== 'string' || !/^([^.\u0000]{1,63}\.)?[^.\u0000]{1,63}$/.test(value)) {
    throw new Error(`expected "table" or "schema.table", received ${JSON.stringify(value)}`);
  }
}

function identifierFormat(value: unknown): void {
  if (typeof value !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(value)) {
    throw new Error(`expected a lowercase Postgres name ([a-z_][a-z0-9_]*, at most 63), received ${JSON.stringify(value)}`);
  }
}

function postgresUrlFormat(value: unknown): void {
  if (value === '') return;
  if (typeof value !== 'string' || !/^postgres(ql)?:\/\//.test(value)) {
    throw new Error('expected a postgres:// or postgresql:// URL');
  }
  try {
    new URL(value);
  } catch {
    throw new Error('expected a postgres:// URL that parses');
  }
}

function httpUrlOrEmptyFormat(value: unknown): void {
  if (value === '') return;
  if (typeof value !== 'string' || !/^https?:\/\/[^/]+/.test(value)) {
    throw new Error(`expected an http(s) URL, received ${JSON.stringify(value)}`);
  }
}

function networkFormat(value: unknown): void {
  if (value === '') return;
  if (typeof value !== 'string' || !/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(value)) {
    throw new Error(`expected a Livefyre network such as "example.fyre.co", received ${JSON.stringify(value)}`);
  }
}

function brokersFormat(value: unknown): void {
  if (typeof value !== 'string' || !/^[^,\s:]+:\d+(,[^,\s:]+:\d+)*$/.test(value)) {
    throw new Error(`expected comma-separated host:port pairs, received ${JSON.stringify(value)}`);
  }
}

function pathFormat(value: unknown): void {
  if (typeof value !== 'string' || !/^\/[A-Za-z0-9_\-./]*[A-Za-z0-9_\-]$/.test(value)) {
    throw new Error(`expected an absolute URL path without a trailing slash, received ${JSON.stringify(value)}`);
  }
}

const positive = (name: string) =>
  function (value: unknown): void {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new Error(`expected a positive number (${name}), received ${JSON.stringify(value)}`);
    }
  };

/**
 * The configuration schema: the single source of truth for keys, defaults,
 * environment variables and documentation (the README reference is checked
 * against it by a test).
 */
export const schema = {
  database: {
    url: {
      doc: 'The user database (replication and pulls), e.g. postgres://pingpull:secret@db:5432/app',
      format: postgresUrlFormat,
      default: '',
      env: 'PINGPULL_DATABASE_URL',
      sensitive: true,
    },
    poolSize: {
      doc: 'Connections in the pool used for pulls, resync and lag queries',
      format: 'nat',
      default: 10,
      env: 'PINGPULL_DATABASE_POOL_SIZE',
    },
  },
  source: {
    table: {
      doc: 'The table holding user profiles ("table" or "schema.table")',
      format: tableFormat,
      default: 'public.users',
      env: 'PINGPULL_SOURCE_TABLE',
    },
    idColumn: {
      doc: 'Its user id column (text or integer)',
      format: String,
      default: 'id',
      env: 'PINGPULL_SOURCE_ID_COLUMN',
    },
    columns: {
      doc: 'JSON object, Livefyre profile field → column. Only these columns (and the id) ever leave the database',
      format: 'profile-columns',
      default: { display_name: 'display_name', email: 'email', image_url: 'avatar_url' } as Record<string, string>,
      env: 'PINGPULL_SOURCE_COLUMNS',
    },
    updatedAtColumn: {
      doc: 'Optional timestamp column for `resync --since` ("" when the table has none)',
      format: String,
      default: '',
      env: 'PINGPULL_SOURCE_UPDATED_AT_COLUMN',
    },
  },
  replication: {
    slot: {
      doc: 'Logical replication slot name',
      format: identifierFormat,
      default: 'pingpull',
      env: 'PINGPULL_REPLICATION_SLOT',
    },
    publication: {
      doc: 'Publication name (created by `setup` with a column list)',
      format: identifierFormat,
      default: 'pingpull',
      env: 'PINGPULL_REPLICATION_PUBLICATION',
    },
    heartbeatMs: {
      doc: 'Interval of heartbeat messages that keep the slot moving while the users table is idle (0: off)',
      format: 'nat',
      default: 10_000,
      env: 'PINGPULL_REPLICATION_HEARTBEAT_MS',
    },
    statusIntervalMs: {
      doc: 'Interval of standby status updates (flushed LSN) sent to Postgres',
      format: positive('milliseconds'),
      default: 1_000,
      env: 'PINGPULL_REPLICATION_STATUS_INTERVAL_MS',
    },
    batchSize: {
      doc: 'Largest number of change events sent to Kafka in one request',
      format: positive('events'),
      default: 500,
      env: 'PINGPULL_REPLICATION_BATCH_SIZE',
    },
    knownUsers: {
      doc: 'Users whose last published profile digest is remembered to skip updates that change no mapped column',
      format: 'nat',
      default: 100_000,
      env: 'PINGPULL_REPLICATION_KNOWN_USERS',
    },
  },
  kafka: {
    brokers: {
      doc: 'Comma-separated Kafka bootstrap brokers',
      format: brokersFormat,
      default: 'localhost:9092',
      env: 'PINGPULL_KAFKA_BROKERS',
    },
    clientId: {
      doc: 'Kafka client id',
      format: String,
      default: 'pingpull',
      env: 'PINGPULL_KAFKA_CLIENT_ID',
    },
    topic: {
      doc: 'Topic of profile change events',
      format: String,
      default: 'pingpull.profile-changes',
      env: 'PINGPULL_KAFKA_TOPIC',
    },
    dlqTopic: {
      doc: 'Dead letter topic',
      format: String,
      default: 'pingpull.profile-changes.dlq',
      env: 'PINGPULL_KAFKA_DLQ_TOPIC',
    },
    groupId: {
      doc: 'Consumer group of the pingers',
      format: String,
      default: 'pingpull-pinger',
      env: 'PINGPULL_KAFKA_GROUP_ID',
    },
    partitions: {
      doc: 'Partitions of the topics when pingpull creates them',
      format: positive('partitions'),
      default: 6,
      env: 'PINGPULL_KAFKA_PARTITIONS',
    },
  },
  livefyre: {
    network: {
      doc: 'The Livefyre network, e.g. example.fyre.co',
      format: networkFormat,
      default: '',
      env: 'PINGPULL_LIVEFYRE_NETWORK',
    },
    networkKey: {
      doc: 'The network key (secret; never logged)',
      format: String,
      default: '',
      env: 'PINGPULL_LIVEFYRE_NETWORK_KEY',
      sensitive: true,
    },
    baseUrl: {
      doc: 'Base URL of the Livefyre API ("" means https://{network name}.quill.fyre.co)',
      format: httpUrlOrEmptyFormat,
      default: '',
      env: 'PINGPULL_LIVEFYRE_BASE_URL',
    },
    timeoutMs: {
      doc: 'Timeout of one Livefyre HTTP request',
      format: positive('milliseconds'),
      default: 10_000,
      env: 'PINGPULL_LIVEFYRE_TIMEOUT_MS',
    },
  },
  pinger: {
    ratePerSecond: {
      doc: 'Ceiling of pings per second per pinger process',
      format: positive('pings per second'),
      default: 50,
      env: 'PINGPULL_PINGER_RATE_PER_SECOND',
    },
    concurrency: {
      doc: 'Ceiling of ping requests in flight per pinger process',
      format: positive('requests'),
      default: 10,
      env: 'PINGPULL_PINGER_CONCURRENCY',
    },
    coalesceMs: {
      doc: 'Events for one user within this window become one ping',
      format: 'nat',
      default: 500,
      env: 'PINGPULL_PINGER_COALESCE_MS',
    },
    maxAttempts: {
      doc: 'Attempts of a ping before its events go to the dead letter topic',
      format: positive('attempts'),
      default: 8,
      env: 'PINGPULL_PINGER_MAX_ATTEMPTS',
    },
    retryBaseMs: {
      doc: 'First retry delay; doubles each attempt, with jitter',
      format: positive('milliseconds'),
      default: 500,
      env: 'PINGPULL_PINGER_RETRY_BASE_MS',
    },
    retryMaxMs: {
      doc: 'Longest retry delay',
      format: positive('milliseconds'),
      default: 60_000,
      env: 'PINGPULL_PINGER_RETRY_MAX_MS',
    },
    forbiddenPauseMs: {
      doc: 'Pause after Livefyre answers 403 (wrong network key) before trying again',
      format: positive('milliseconds'),
      default: 60_000,
      env: 'PINGPULL_PINGER_FORBIDDEN_PAUSE_MS',
    },
  },
  pull: {
    host: {
      doc: 'Address the pull server listens on',
      format: String,
      default: '0.0.0.0',
      env: 'PINGPULL_PULL_HOST',
    },
    port: {
      doc: 'Port of the pull server',
      format: 'port',
      default: 8080,
      env: 'PINGPULL_PULL_PORT',
    },
    path: {
      doc: 'Path of the pull endpoint',
      format: pathFormat,
      default: '/livefyre/profiles',
      env: 'PINGPULL_PULL_PATH',
    },
    publicUrl: {
      doc: 'Public base URL of the pull server, used by `demo` and shown by `check` ("" when unknown)',
      format: httpUrlOrEmptyFormat,
      default: '',
      env: 'PINGPULL_PULL_PUBLIC_URL',
    },
  },
  metrics: {
    port: {
      doc: 'Port of the Prometheus /metrics endpoint (0: off)',
      format: 'port',
      default: 9464,
      env: 'PINGPULL_METRICS_PORT',
    },
  },
  log: {
    level: {
      doc: 'Log level',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'PINGPULL_LOG_LEVEL',
    },
  },
  simulator: {
    host: {
      doc: 'Address the Livefyre simulator listens on',
      format: String,
      default: '127.0.0.1',
      env: 'PINGPULL_SIMULATOR_HOST',
    },
    port: {
      doc: 'Port of the Livefyre simulator',
      format: 'port',
      default: 8090,
      env: 'PINGPULL_SIMULATOR_PORT',
    },
    pullDelayMs: {
      doc: 'How long the simulator waits after a ping before it pulls',
      format: 'nat',
      default: 0,
      env: 'PINGPULL_SIMULATOR_PULL_DELAY_MS',
    },
  },
};
