import pg from 'pg';
import { startConnector, type ConnectorHandle } from '../../src/cdc/connector.js';
import type { Config } from '../../src/config/index.js';
import { createKafka, plaintextConnection } from '../../src/events/kafka.js';
import type { Logger } from '../../src/log.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import { systemClock } from '../../src/time.js';
import { createTestDatabase, kafkaBrokers, type TestDatabase } from './services.js';

// The connector tests stream a legacy-style `members` table keyed by `user_id`.

type Source = Config['source'];
type Replication = Config['replication'];

/** `public.members` keyed by `user_id`, mapping profile fields to `columns`. */
export function membersSource<C extends Source['columns']>(columns: C): Source & { columns: C } {
  return { table: 'public.members', idColumn: 'user_id', columns, related: [], updatedAtColumn: '' };
}

export interface MembersDatabase {
  database: TestDatabase;
  pool: pg.Pool;
}

/** A fresh test database holding `CREATE TABLE members (<columns>)`, with a pool of `max` connections. */
export async function createMembersDatabase(columns: string, max: number): Promise<MembersDatabase> {
  const database = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: database.url, max });
  await pool.query(`CREATE TABLE members (${columns})`);
  return { database, pool };
}

/** An in-process connector on the test broker, with the system clock and (unless given) its own metrics. */
export function startInProcessConnector(options: {
  databaseUrl: string;
  source: Source;
  replication: Replication;
  topic: string;
  logger: Logger;
  metrics?: Metrics;
}): ConnectorHandle {
  const { logger } = options;
  return startConnector({
    databaseUrl: options.databaseUrl,
    source: options.source,
    replication: options.replication,
    kafka: createKafka({ connection: plaintextConnection(kafkaBrokers()), clientId: 'pingpull-test', logger }),
    topic: options.topic,
    logger,
    metrics: options.metrics ?? createMetrics({ defaultMetrics: false }),
    clock: systemClock,
  });
}

/** The environment a `pingpull connector` child needs to stream `source` through `replication` to `topic`. */
export function connectorEnv(
  databaseUrl: string,
  topic: string,
  source: Source,
  replication: Replication,
): Record<string, string> {
  return {
    PINGPULL_DATABASE_URL: databaseUrl,
    PINGPULL_KAFKA_BROKERS: kafkaBrokers(),
    PINGPULL_KAFKA_TOPIC: topic,
    PINGPULL_SOURCE_TABLE: source.table,
    PINGPULL_SOURCE_ID_COLUMN: source.idColumn,
    PINGPULL_SOURCE_COLUMNS: JSON.stringify(source.columns),
    PINGPULL_REPLICATION_SLOT: replication.slot,
    PINGPULL_REPLICATION_PUBLICATION: replication.publication,
  };
}
