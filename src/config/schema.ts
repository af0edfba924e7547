import { NOTIFICATION_VALUES, PROFILE_FIELDS } from '../livefyre/profile.js';

// PostgreSQL identifiers may hold any character but NUL, up to 63 bytes.
// eslint-disable-next-line no-control-regex -- NUL is the one character to refuse
const IDENTIFIER = /^[^\u0000]{1,63}$/;

export type PullFieldSpec = { readonly template: string } | { readonly constant: string | boolean | readonly string[] };
/** `pull.fields`: field → spec, or object field → member → spec. */
export type PullFields = Readonly<Record<string, PullFieldSpec | Readonly<Record<string, PullFieldSpec>>>>;

/** `source.columns`: field → column, or object field → member → column (as written in a file). */
export type SourceColumns = Readonly<Record<string, string | Readonly<Record<string, string>>>>;

/** One entry of `source.related`: a table whose columns feed the profile, and which column holds the user id. */
export interface RelatedTableConfig {
  readonly table: string;
  readonly idColumn: string;
  readonly columns: readonly string[];
}

/**
 * `source.columns` flattened: members of the object fields come as
 * `name.first`, whether written nested or dotted.
 */
export function columnEntries(columns: SourceColumns): Array<[string, unknown]> {
  const entries: Array<[string, unknown]> = [];
  for (const [field, column] of Object.entries(columns)) {
    if (column !== null && typeof column === 'object' && !Array.isArray(column)) {
      for (const [member, memberColumn] of Object.entries(column)) entries.push([`${field}.${member}`, memberColumn]);
    } else entries.push([field, column]);
  }
  return entries;
}

export function validateColumns(value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('must be a JSON object of Livefyre profile field → column name');
  }
  const entries = columnEntries(value as SourceColumns);
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

export function validateRelated(value: unknown): void {
  if (!Array.isArray(value)) {
    throw new Error('must be a JSON array of {"table": "schema.table", "idColumn": "...", "columns": ["..."]}');
  }
  const seen = new Set<string>();
  value.forEach((entry: unknown, index) => {
    const at = `entry ${index}`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new Error(`${at} must be an object {"table", "idColumn", "columns"}`);
    }
    const { table, idColumn, columns, ...rest } = entry as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new Error(`${at} has unknown key(s) ${unknown.join(', ')}`);
    tableFormat(table);
    if (seen.has(String(table))) throw new Error(`${at} lists ${String(table)} a second time`);
    seen.add(String(table));
    if (typeof idColumn !== 'string' || !IDENTIFIER.test(idColumn)) {
      throw new Error(`${at} ("${String(table)}"): idColumn must be a column name`);
    }
    if (
      !Array.isArray(columns) ||
      columns.length === 0 ||
      !columns.every((c) => typeof c === 'string' && IDENTIFIER.test(c))
    ) {
      throw new Error(`${at} ("${String(table)}"): columns must be a non-empty array of column names`);
    }
  });
}

const TEMPLATE_PLACEHOLDER = /\{([^{}]*)\}/g;

/**
 * `pull.fields`: Livefyre field → `{ "template": "…{column}…" }` or
 * `{ "constant": value }`. Members of the object fields are written nested,
 * `{"name": {"formatted": {"template": "{first} {last}"}}}` (convict cannot
 * hold dotted keys inside a value), or dotted when built in code. Checked
 * here without a database (shape, field names, constant types, template
 * syntax); column names are checked when the pull server starts.
 */
export function pullFieldEntries(fields: PullFields): Array<[string, PullFieldSpec]> {
  const entries: Array<[string, PullFieldSpec]> = [];
  for (const [field, spec] of Object.entries(fields)) {
    const isGroup =
      spec !== null &&
      typeof spec === 'object' &&
      !Array.isArray(spec) &&
      !('template' in spec) &&
      !('constant' in spec);
    if (!isGroup) entries.push([field, spec as PullFieldSpec]);
    else
      for (const [member, memberSpec] of Object.entries(spec))
        entries.push([`${field}.${member}`, memberSpec as PullFieldSpec]);
  }
  return entries;
}

export function validatePullFields(value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('must be a JSON object of Livefyre profile field → {"template": "..."} or {"constant": value}');
  }
  for (const [field, spec] of pullFieldEntries(value as PullFields)) {
    if (field === 'id') throw new Error('must not set "id": the id comes from source.idColumn');
    const kind = PROFILE_FIELDS.get(field);
    if (kind === undefined) {
      throw new Error(`sets unknown Livefyre field "${field}" (known: ${[...PROFILE_FIELDS.keys()].join(', ')})`);
    }
    const keys = spec !== null && typeof spec === 'object' && !Array.isArray(spec) ? Object.keys(spec) : [];
    if (keys.length !== 1 || (keys[0] !== 'template' && keys[0] !== 'constant')) {
      throw new Error(
        `sets "${field}" to ${JSON.stringify(spec)}, expected {"template": "..."} or {"constant": value}`,
      );
    }
    const { template, constant } = spec as { template?: unknown; constant?: unknown };
    if (keys[0] === 'template') {
      if (kind !== 'string' || typeof template !== 'string') {
        throw new Error(`"${field}": a template gives a string, so it only fits string fields and must be a string`);
      }
      const names = [...template.matchAll(TEMPLATE_PLACEHOLDER)].map((match) => match[1] ?? '');
      if (/[{}]/.test(template.replace(TEMPLATE_PLACEHOLDER, '')) || names.some((name) => !IDENTIFIER.test(name))) {
        throw new Error(
          `"${field}": template ${JSON.stringify(template)} must use {column} placeholders with balanced braces`,
        );
      }
      continue;
    }
    const fits =
      kind === 'boolean'
        ? typeof constant === 'boolean'
        : kind === 'string[]'
          ? Array.isArray(constant) && constant.every((item) => typeof item === 'string')
          : kind === 'notification'
            ? typeof constant === 'string' && NOTIFICATION_VALUES.has(constant)
            : typeof constant === 'string' && constant.length > 0;
    if (!fits) {
      const expected = {
        boolean: 'a boolean',
        'string[]': 'an array of strings',
        notification: 'one of immediately, often, never',
        string: 'a non-empty string',
      }[kind];
      throw new Error(`"${field}": constant ${JSON.stringify(constant)} is not ${expected}`);
    }
  }
}

/** `pull.displayNameFallback`: text with `{column}` placeholders, not blank (it stands in for a missing name). */
function displayNameTemplateFormat(value: unknown): void {
  const template = typeof value === 'string' ? value : '';
  const names = [...template.matchAll(TEMPLATE_PLACEHOLDER)].map((match) => match[1] ?? '');
  const unbalanced = /[{}]/.test(template.replace(TEMPLATE_PLACEHOLDER, ''));
  if (template.trim() === '' || unbalanced || names.some((name) => !IDENTIFIER.test(name))) {
    throw new Error(`expected a non-blank template with {column} placeholders, received ${JSON.stringify(value)}`);
  }
}

function tableFormat(value: unknown): void {
  // eslint-disable-next-line no-control-regex -- NUL is the one character an identifier cannot hold
  if (typeof value !== 'string' || !/^([^.\u0000]{1,63}\.)?[^.\u0000]{1,63}$/.test(value)) {
    throw new Error(`expected "table" or "schema.table", received ${JSON.stringify(value)}`);
  }
}

function identifierFormat(value: unknown): void {
  if (typeof value !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(value)) {
    throw new Error(
      `expected a lowercase Postgres name ([a-z_][a-z0-9_]*, at most 63), received ${JSON.stringify(value)}`,
    );
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
  if (typeof value !== 'string' || !/^\/[A-Za-z0-9_\-./]*[A-Za-z0-9_-]$/.test(value)) {
    throw new Error(`expected an absolute URL path without a trailing slash, received ${JSON.stringify(value)}`);
  }
}

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
      format: 'whole-number',
      default: 10,
      env: 'PINGPULL_DATABASE_POOL_SIZE',
    },
    statementTimeoutMs: {
      doc:
        'Longest a query of the connector, resync, status or check may run (statement_timeout); ' +
        'the client gives up 5 s later on a server that does not answer. The replication stream is not a query',
      format: 'nat',
      default: 30_000,
      env: 'PINGPULL_DATABASE_STATEMENT_TIMEOUT_MS',
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
      doc:
        'JSON object, Livefyre profile field → column; members of name, email_notifications, display_rules nested ' +
        '({"name": {"first": "given_name"}}) or dotted ("name.first"). Given anywhere, it replaces this default whole. ' +
        'Only these columns, the id and the columns pull.fields templates and pull.imageVersionColumn name leave the database',
      format: 'profile-columns',
      default: { display_name: 'display_name', email: 'email', image_url: 'avatar_url' } as SourceColumns,
      env: 'PINGPULL_SOURCE_COLUMNS',
    },
    related: {
      doc:
        'JSON array of {"table": "public.account_bios", "idColumn": "account_id", "columns": ["bio"]}: other tables ' +
        'whose columns feed the profile (usually through pull.query); they are published with these columns and a ' +
        'change to a row pings the user in its idColumn',
      format: 'related-tables',
      default: [] as readonly RelatedTableConfig[],
      env: 'PINGPULL_SOURCE_RELATED',
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
      format: 'whole-number',
      default: 10_000,
      env: 'PINGPULL_REPLICATION_HEARTBEAT_MS',
    },
    statusIntervalMs: {
      doc: 'Interval of standby status updates (flushed LSN) sent to Postgres',
      format: 'positive-number',
      default: 1_000,
      env: 'PINGPULL_REPLICATION_STATUS_INTERVAL_MS',
    },
    batchSize: {
      doc: 'Largest number of change events sent to Kafka in one request',
      format: 'positive-number',
      default: 500,
      env: 'PINGPULL_REPLICATION_BATCH_SIZE',
    },
    knownUsers: {
      doc: 'Users whose last seen profile is remembered (one digest each) to skip updates that change no mapped column',
      format: 'whole-number',
      default: 100_000,
      env: 'PINGPULL_REPLICATION_KNOWN_USERS',
    },
  },
  resync: {
    batchSize: {
      doc: '`pingpull resync`: users read (one short read-only query, keyset on source.idColumn) and published per batch',
      format: 'positive-number',
      default: 1_000,
      env: 'PINGPULL_RESYNC_BATCH_SIZE',
    },
    progressEvery: {
      doc: '`pingpull resync` without a terminal: one progress line every this many batches',
      format: 'positive-number',
      default: 10,
      env: 'PINGPULL_RESYNC_PROGRESS_EVERY',
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
    pullsTopic: {
      doc:
        'Compacted topic of the pull confirmation loop, keyed by user id: pings awaiting their pull and pulls served ' +
        '("" means kafka.topic + ".pulls")',
      format: String,
      default: '',
      env: 'PINGPULL_KAFKA_PULLS_TOPIC',
    },
    groupId: {
      doc: 'Consumer group of the pingers',
      format: String,
      default: 'pingpull-pinger',
      env: 'PINGPULL_KAFKA_GROUP_ID',
    },
    partitions: {
      doc: 'Partitions of the topics when pingpull creates them',
      format: 'positive-number',
      default: 6,
      env: 'PINGPULL_KAFKA_PARTITIONS',
    },
    ssl: {
      doc: 'Connect to the brokers over TLS (hostname verified); managed clusters (MSK, Confluent Cloud, Aiven) need it',
      format: Boolean,
      default: false,
      env: 'PINGPULL_KAFKA_SSL',
    },
    sslCaFile: {
      doc: 'PEM file of the CA certificates the brokers\' certificates are checked against ("" means the system trust store)',
      format: String,
      default: '',
      env: 'PINGPULL_KAFKA_SSL_CA_FILE',
    },
    sslCertFile: {
      doc: 'PEM client certificate for mutual TLS (with kafka.sslKeyFile)',
      format: String,
      default: '',
      env: 'PINGPULL_KAFKA_SSL_CERT_FILE',
    },
    sslKeyFile: {
      doc: 'PEM private key of kafka.sslCertFile',
      format: String,
      default: '',
      env: 'PINGPULL_KAFKA_SSL_KEY_FILE',
    },
    saslMechanism: {
      doc: 'SASL authentication: plain, scram-sha-256 or scram-sha-512 ("" means none)',
      format: ['', 'plain', 'scram-sha-256', 'scram-sha-512'],
      default: '' as '' | 'plain' | 'scram-sha-256' | 'scram-sha-512',
      env: 'PINGPULL_KAFKA_SASL_MECHANISM',
    },
    saslUsername: {
      doc: 'SASL user name (with kafka.saslMechanism)',
      format: String,
      default: '',
      env: 'PINGPULL_KAFKA_SASL_USERNAME',
    },
    saslPassword: {
      doc: 'SASL password (secret; never logged)',
      format: String,
      default: '',
      env: 'PINGPULL_KAFKA_SASL_PASSWORD',
      sensitive: true,
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
      format: 'positive-number',
      default: 10_000,
      env: 'PINGPULL_LIVEFYRE_TIMEOUT_MS',
    },
  },
  pinger: {
    ratePerSecond: {
      doc: 'Ceiling of pings per second per pinger process',
      format: 'positive-number',
      default: 50,
      env: 'PINGPULL_PINGER_RATE_PER_SECOND',
    },
    concurrency: {
      doc: 'Ceiling of ping requests in flight per pinger process',
      format: 'positive-number',
      default: 10,
      env: 'PINGPULL_PINGER_CONCURRENCY',
    },
    coalesceMs: {
      doc: 'Events for one user within this window become one ping',
      format: 'whole-number',
      default: 500,
      env: 'PINGPULL_PINGER_COALESCE_MS',
    },
    maxAttempts: {
      doc: 'Attempts of a ping before its events go to the dead letter topic; with the default delays 34 attempts span more than an hour (see Riding out a Livefyre outage)',
      format: 'positive-number',
      default: 34,
      env: 'PINGPULL_PINGER_MAX_ATTEMPTS',
    },
    retryBaseMs: {
      doc: 'First retry delay; doubles each attempt, with jitter',
      format: 'positive-number',
      default: 500,
      env: 'PINGPULL_PINGER_RETRY_BASE_MS',
    },
    retryMaxMs: {
      doc: 'Longest retry delay (also of dead letter writes)',
      format: 'positive-number',
      default: 300_000,
      env: 'PINGPULL_PINGER_RETRY_MAX_MS',
    },
    forbiddenPauseMs: {
      doc: 'Pause after Livefyre answers 403 (wrong network key) before trying again',
      format: 'positive-number',
      default: 60_000,
      env: 'PINGPULL_PINGER_FORBIDDEN_PAUSE_MS',
    },
    pullConfirmMs: {
      doc:
        'A ping not followed by a 200 pull of that user within this window is sent again (after the backoff of a ' +
        'failed ping, at most pinger.pullConfirmAttempts times; then a not_pulled dead letter); 0 turns the pull ' +
        'confirmation loop off',
      format: 'nat',
      default: 900_000,
      env: 'PINGPULL_PINGER_PULL_CONFIRM_MS',
    },
    pullConfirmAttempts: {
      doc:
        'Re-pings of a change whose ping no pull followed within pinger.pullConfirmMs, before it goes to the dead ' +
        'letter topic as not_pulled: with 4 and the default window, about 75 minutes after the first ping; 0 ' +
        'dead-letters it at the first ' +
        'missed window. A re-ping Livefyre fails is retried as a ping (pinger.maxAttempts) and does not count',
      format: 'whole-number',
      default: 4,
      env: 'PINGPULL_PINGER_PULL_CONFIRM_ATTEMPTS',
    },
    commitIntervalMs: {
      doc: 'How often offsets of pinged or dead-lettered events are committed (events after the last commit are pinged again after a crash)',
      format: 'positive-number',
      default: 1_000,
      env: 'PINGPULL_PINGER_COMMIT_INTERVAL_MS',
    },
    maxPendingEvents: {
      doc: 'Events held at most (coalescing, waiting for a permit, retrying, in flight) before the pinger stops fetching from Kafka',
      format: 'positive-number',
      default: 10_000,
      env: 'PINGPULL_PINGER_MAX_PENDING_EVENTS',
    },
    stopGraceMs: {
      doc: 'On stop, how long pings in flight and dead letters on their way may finish before they are abandoned (and pinged again after a restart)',
      format: 'whole-number',
      default: 5_000,
      env: 'PINGPULL_PINGER_STOP_GRACE_MS',
    },
    heartbeatIntervalMs: {
      doc: 'How often the pinger heartbeats to its consumer group while it holds back fetching (keep well below sessionTimeoutMs)',
      format: 'positive-number',
      default: 1_000,
      env: 'PINGPULL_PINGER_HEARTBEAT_INTERVAL_MS',
    },
    sessionTimeoutMs: {
      doc: 'Consumer group session timeout: a pinger silent this long is evicted and its partitions go to the others (the broker bounds it: group.min/max.session.timeout.ms)',
      format: 'positive-number',
      default: 30_000,
      env: 'PINGPULL_PINGER_SESSION_TIMEOUT_MS',
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
      format: 'tcp-port',
      default: 8080,
      env: 'PINGPULL_PULL_PORT',
    },
    path: {
      doc: 'Path of the pull endpoint',
      format: pathFormat,
      default: '/livefyre/profiles',
      env: 'PINGPULL_PULL_PATH',
    },
    fields: {
      doc:
        'JSON object, Livefyre profile field → {"template": "https://example.com/people/{username}"} or {"constant": value}; ' +
        'members of name, email_notifications, display_rules nested ({"name": {"formatted": {"template": "{first} {last}"}}}). ' +
        'Placeholders are columns of source.table (or of pull.query); {id} is the user id. ' +
        'Placeholder columns are watched: a change to one pings',
      format: 'pull-fields',
      default: {} as PullFields,
      env: 'PINGPULL_PULL_FIELDS',
    },
    query: {
      doc:
        'Custom SQL for profiles spanning several tables ("" means read source.columns from source.table): one SELECT ' +
        'with exactly one parameter, $1 (the user id), whose result columns are named after Livefyre fields ("name.first")',
      format: String,
      default: '',
      env: 'PINGPULL_PULL_QUERY',
    },
    relativeUrlBase: {
      doc: 'Base URL that relative URLs from the database (image_url, profile_url, settings_url, websites) are resolved against ("" leaves them out)',
      format: httpUrlOrEmptyFormat,
      default: '',
      env: 'PINGPULL_PULL_RELATIVE_URL_BASE',
    },
    displayNameFallback: {
      doc:
        'Template over columns ({id} is the user id) giving the display name of users whose display name is NULL, ' +
        'empty or blank, as Livefyre requires one; display names are trimmed, HTML entities decoded and cut to ' +
        "Livefyre's 150 characters; its columns are watched, like those of pull.fields templates",
      format: displayNameTemplateFormat,
      default: '{id}',
      env: 'PINGPULL_PULL_DISPLAY_NAME_FALLBACK',
    },
    emailNotificationsDefault: {
      doc:
        'Value (immediately, often, never) of the email_notifications members a row leaves out: Livefyre refuses ' +
        'the object unless all five are there; never is its own default (no notifications)',
      format: ['immediately', 'often', 'never'],
      default: 'never',
      env: 'PINGPULL_PULL_EMAIL_NOTIFICATIONS_DEFAULT',
    },
    imageVersionColumn: {
      doc:
        'Column that changes when the avatar changes (e.g. avatar_updated_at); appends ?v=<hash of URL and value> ' +
        'to image_url ("" off); watched, so a change to it alone pings',
      format: String,
      default: '',
      env: 'PINGPULL_PULL_IMAGE_VERSION_COLUMN',
    },
    maxInFlight: {
      doc: 'Pulls waiting for or using a database connection; beyond it pulls get 503 with Retry-After instead of queueing',
      format: 'positive-number',
      default: 64,
      env: 'PINGPULL_PULL_MAX_IN_FLIGHT',
    },
    requestTimeoutMs: {
      doc: 'Deadline of the database part of one pull (waiting for a connection and the query); past it: 503 with Retry-After',
      format: 'positive-number',
      default: 5_000,
      env: 'PINGPULL_PULL_REQUEST_TIMEOUT_MS',
    },
    poolSize: {
      doc: "Connections of the pull server's own database pool (pulls never wait behind resync or lag queries)",
      format: 'positive-number',
      default: 10,
      env: 'PINGPULL_PULL_POOL_SIZE',
    },
    statementTimeoutMs: {
      doc: "statement_timeout of the pull server's own pool: Postgres ends a pull query running (or waiting for a lock) longer",
      format: 'positive-number',
      default: 2_000,
      env: 'PINGPULL_PULL_STATEMENT_TIMEOUT_MS',
    },
  },
  metrics: {
    host: {
      doc: 'Address /metrics listens on; keep it off the internet-facing interface of the pull server where you can',
      format: String,
      default: '0.0.0.0',
      env: 'PINGPULL_METRICS_HOST',
    },
    port: {
      doc: 'Port of the Prometheus /metrics endpoint (0: off)',
      format: 'tcp-port',
      default: 9464,
      env: 'PINGPULL_METRICS_PORT',
    },
    lagIntervalMs: {
      doc: 'How often the connector reads the slot lag and the pinger the consumer lag (also the resolution of pingpull_source_lag_seconds)',
      format: 'positive-number',
      default: 5_000,
      env: 'PINGPULL_METRICS_LAG_INTERVAL_MS',
    },
  },
  status: {
    maxReplicationLagBytes: {
      doc: '`status` calls the connector unhealthy above this slot lag (WAL end minus confirmed flush LSN)',
      format: 'whole-number',
      default: 104_857_600,
      env: 'PINGPULL_STATUS_MAX_REPLICATION_LAG_BYTES',
    },
    maxRetainedBytes: {
      doc: '`status` calls the connector unhealthy above this retained WAL (WAL end minus restart LSN)',
      format: 'whole-number',
      default: 1_073_741_824,
      env: 'PINGPULL_STATUS_MAX_RETAINED_BYTES',
    },
    maxSourceLagSeconds: {
      doc: '`status` calls the connector unhealthy when the oldest change not yet in Kafka is older than this',
      format: 'whole-number',
      default: 60,
      env: 'PINGPULL_STATUS_MAX_SOURCE_LAG_SECONDS',
    },
    maxConsumerLagMessages: {
      doc: '`status` calls Kafka unhealthy above this consumer lag of the pinger group (all partitions together)',
      format: 'whole-number',
      default: 1_000,
      env: 'PINGPULL_STATUS_MAX_CONSUMER_LAG_MESSAGES',
    },
    maxDeadLetters: {
      doc: '`status` calls the dead letters unhealthy when the dead letter topic holds more messages than this',
      format: 'whole-number',
      default: 0,
      env: 'PINGPULL_STATUS_MAX_DEAD_LETTERS',
    },
    sampleMs: {
      doc: 'How long `status` watches the slot to tell a caught-up connector from a stuck one',
      format: 'whole-number',
      default: 1_000,
      env: 'PINGPULL_STATUS_SAMPLE_MS',
    },
    timeoutMs: {
      doc: 'Time `status` gives each stage (database, Kafka, Livefyre) to answer',
      format: 'positive-number',
      default: 5_000,
      env: 'PINGPULL_STATUS_TIMEOUT_MS',
    },
    pingerMetricsUrls: {
      doc: "Comma-separated /metrics URLs of the pingers, read by `status` to learn whether Livefyre refuses the pinger's key (empty: http://127.0.0.1:<metrics.port>/metrics)",
      format: String,
      default: '',
      env: 'PINGPULL_STATUS_PINGER_METRICS_URLS',
    },
    pullServerMetricsUrls: {
      doc: 'Comma-separated /metrics URLs of the pull servers, read by `status` to learn whether pulls fail (the pull server answers 503 because its profile query fails) (empty: http://127.0.0.1:<metrics.port>/metrics)',
      format: String,
      default: '',
      env: 'PINGPULL_STATUS_PULL_SERVER_METRICS_URLS',
    },
    page: {
      doc:
        'Also serve the status page (GET /status, /status.json: lag and health figures only) on the internet-facing ' +
        'pull server; the operator console on the metrics listener replaces it',
      format: 'switch',
      default: false,
      env: 'PINGPULL_STATUS_PAGE',
    },
  },
  console: {
    sampleMs: {
      doc: 'How often the operator console (GET / on the metrics listener) samples its charts; it keeps one hour',
      format: 'positive-number',
      default: 5_000,
      env: 'PINGPULL_CONSOLE_SAMPLE_MS',
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
      format: 'tcp-port',
      default: 8090,
      env: 'PINGPULL_SIMULATOR_PORT',
    },
    pullDelayMs: {
      doc: 'How long the simulator waits after a ping before it pulls',
      format: 'whole-number',
      default: 0,
      env: 'PINGPULL_SIMULATOR_PULL_DELAY_MS',
    },
  },
};

/** The loaded configuration, read off the schema: a key's type is its default's. */
type ConfigOf<Node> = {
  readonly [Key in keyof Node]: Node[Key] extends { default: infer Value } ? Value : ConfigOf<Node[Key]>;
};

export type Config = ConfigOf<typeof schema>;

/** What the schema cannot say about one key alone: each rule names the keys it relates. */
export interface CrossKeyRule {
  keys: readonly string[];
  problem: (config: Config) => string | undefined;
}

export const CROSS_KEY_RULES: readonly CrossKeyRule[] = [
  {
    keys: ['kafka.ssl', 'kafka.sslCaFile', 'kafka.sslCertFile', 'kafka.sslKeyFile'],
    problem: ({ kafka }) => {
      const files = (['sslCaFile', 'sslCertFile', 'sslKeyFile'] as const).filter((key) => kafka[key] !== '');
      return !kafka.ssl && files.length > 0
        ? `kafka.ssl: expected true when ${files.map((key) => `kafka.${key}`).join(', ')} is set`
        : undefined;
    },
  },
  {
    keys: ['kafka.sslCertFile', 'kafka.sslKeyFile'],
    problem: ({ kafka }) =>
      (kafka.sslCertFile === '') !== (kafka.sslKeyFile === '')
        ? `${kafka.sslCertFile === '' ? 'kafka.sslCertFile' : 'kafka.sslKeyFile'}: expected a file, ` +
          'mutual TLS needs both kafka.sslCertFile and kafka.sslKeyFile'
        : undefined,
  },
  {
    keys: ['kafka.saslMechanism', 'kafka.saslUsername', 'kafka.saslPassword'],
    problem: ({ kafka }) => {
      const empty = (['saslUsername', 'saslPassword'] as const).filter((key) => kafka[key] === '');
      if (kafka.saslMechanism !== '' && empty.length > 0) {
        return `${empty.map((key) => `kafka.${key}`).join(', ')}: must be set with kafka.saslMechanism ${kafka.saslMechanism}`;
      }
      if (kafka.saslMechanism === '' && empty.length < 2) {
        return 'kafka.saslMechanism: expected plain, scram-sha-256 or scram-sha-512 when a SASL user or password is set';
      }
      return undefined;
    },
  },
  {
    keys: ['pinger.heartbeatIntervalMs', 'pinger.sessionTimeoutMs'],
    problem: ({ pinger }) =>
      pinger.heartbeatIntervalMs * 3 > pinger.sessionTimeoutMs
        ? 'pinger.heartbeatIntervalMs: expected at most a third of pinger.sessionTimeoutMs ' +
          `(${pinger.sessionTimeoutMs}), received ${pinger.heartbeatIntervalMs}; ` +
          'a pinger holding back fetches would be evicted from its group'
        : undefined,
  },
];
