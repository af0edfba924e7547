import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorHandle } from '../../src/cdc/connector.js';
import { checkDatabaseReport, setupDatabase } from '../../src/cdc/setup.js';
import { ReplicaIdentityError, SchemaChangeError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { counterTotal, createMetrics } from '../../src/metrics/registry.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { runCli } from '../helpers/cli.js';
import { readTopic, type ReadMessage } from '../helpers/connector-kafka.js';
import {
  connectorEnv,
  createMembersDatabase,
  membersSource,
  startInProcessConnector,
} from '../helpers/members-table.js';
import { createTestDatabase, createTopic, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Table shapes of legacy users tables, on the shared PostgreSQL and Kafka:
 * partitions, a user id that is not the primary key, NULL ids, a mapped
 * column renamed and renamed back, TRUNCATE.
 */
const logger = createLogger(process.env.PINGPULL_TEST_LOG ?? 'silent');
const source = membersSource({ display_name: 'nick', email: 'mail' });

function replicationFor(): {
  slot: string;
  publication: string;
  heartbeatMs: number;
  statusIntervalMs: number;
  batchSize: number;
  knownUsers: number;
} {
  return {
    slot: uniqueName('slot'),
    publication: uniqueName('pub'),
    heartbeatMs: 300,
    statusIntervalMs: 100,
    batchSize: 50,
    knownUsers: 1_000,
  };
}

/** The events of `topic` as `op key nick`, once `count` arrived. */
async function eventsOf(topic: string, count: number): Promise<string[]> {
  const messages = await readTopic(topic, (m) => m.length >= count, 60_000);
  return messages.map(eventLine);
}

function eventLine(message: ReadMessage): string {
  const value = message.value as { op: string; before: { nick?: string } | null; after: { nick?: string } | null };
  return `${value.op} ${message.key ?? 'null'} ${value.after?.nick ?? value.before?.nick ?? '-'}`;
}

async function stopped(connector: ConnectorHandle): Promise<unknown> {
  return connector.done.then(
    () => null,
    (error: unknown) => error,
  );
}

describe('a partitioned users table', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  const replication = replicationFor();

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    await pool.query(
      `CREATE TABLE members (user_id bigint NOT NULL, region text NOT NULL, nick text, mail text,
                             PRIMARY KEY (user_id, region)) PARTITION BY LIST (region)`,
    );
    await pool.query(`CREATE TABLE members_eu PARTITION OF members FOR VALUES IN ('eu')`);
    await pool.query(`CREATE TABLE members_us PARTITION OF members FOR VALUES IN ('us')`);
  });

  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  it('is set up with a column list published via the root, and check explains it', async () => {
    const done = await setupDatabase({ pool, source, replication, logger });
    expect(done.join('\n')).toMatch(/created publication/);
    const { rows } = await pool.query<{ pubviaroot: boolean }>(
      'SELECT pubviaroot FROM pg_publication WHERE pubname = $1',
      [replication.publication],
    );
    expect(rows).toEqual([{ pubviaroot: true }]);
    const report = await checkDatabaseReport({ pool, source, replication, logger });
    expect(report.problems).toEqual([]);
    expect(report.notes.join('\n')).toContain('public.members is partitioned (2 partitions)');
  });

  it('streams every partition under the root, a row moved across partitions as delete + insert, and resyncs', async () => {
    const topic = await createTopic(uniqueName('partitioned'), 1);
    const connector = startInProcessConnector({ databaseUrl: database.url, source, replication, topic, logger });
    try {
      await pool.query(`INSERT INTO members VALUES (1, 'eu', 'ann', 'a@x'), (2, 'us', 'bob', 'b@x')`);
      await pool.query(`UPDATE members SET region = 'us', nick = 'ann moved' WHERE user_id = 1`);
      await pool.query(`DELETE FROM members WHERE user_id = 2`);
      expect(await eventsOf(topic, 5)).toEqual(['c 1 ann', 'c 2 bob', 'd 1 -', 'c 1 ann moved', 'd 2 -']);
      const messages = await readTopic(topic, (m) => m.length >= 5, 60_000);
      for (const message of messages) expect(message.value).toMatchObject({ source: { table: 'members' } });
    } finally {
      await connector.stop();
    }

    const resyncTopic = await createTopic(uniqueName('partitioned_resync'), 1);
    const result = await runCli(['resync', '--all'], {
      ...connectorEnv(database.url, resyncTopic, source, replication),
      PINGPULL_LOG_LEVEL: 'warn',
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
    });
    expect(result.code, result.stderr).toBe(0);
    expect(await eventsOf(resyncTopic, 1)).toEqual(['r 1 ann moved']);
  }, 90_000);
});

describe('a user id that is not the primary key', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  const replication = replicationFor();
  const env = (): Record<string, string> => ({
    ...connectorEnv(database.url, 'unused', source, replication),
    PINGPULL_LOG_LEVEL: 'info',
  });

  beforeAll(async () => {
    ({ database, pool } = await createMembersDatabase(
      'pk bigserial PRIMARY KEY, user_id text NOT NULL UNIQUE, nick text, mail text',
      2,
    ));
  });

  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  it('check and setup refuse, naming source.idColumn, the identity and both fixes in one line (exit 2)', async () => {
    const problems = (await checkDatabaseReport({ pool, source, replication, logger })).problems;
    const line =
      'source.idColumn user_id is not in the replica identity of public.members (DEFAULT: primary key (pk)): ' +
      'deletes and id changes would arrive without the user id; run pingpull setup --replica-identity-index ' +
      '(ALTER TABLE "public"."members" REPLICA IDENTITY USING INDEX "members_user_id_key") or pingpull setup --replica-identity-full';
    expect(problems).toContain(line);

    const result = await runCli(['setup'], env());
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`pingpull: ${line} [ERR_REPLICA_IDENTITY]\n`);
    expect(result.stdout).toBe('');
  });

  it('--replica-identity-index uses the unique index, and deletes and id changes carry the right id', async () => {
    const result = await runCli(['setup', '--replica-identity-index'], env());
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      'ran ALTER TABLE "public"."members" REPLICA IDENTITY USING INDEX "members_user_id_key"',
    );
    expect((await checkDatabaseReport({ pool, source, replication, logger })).problems).toEqual([]);

    const topic = await createTopic(uniqueName('surrogate'), 1);
    const connector = startInProcessConnector({ databaseUrl: database.url, source, replication, topic, logger });
    try {
      await pool.query(`INSERT INTO members (user_id, nick, mail) VALUES ('a', 'ann', 'a@x')`);
      await pool.query(`UPDATE members SET user_id = 'b' WHERE user_id = 'a'`);
      await pool.query(`DELETE FROM members WHERE user_id = 'b'`);
      expect(await eventsOf(topic, 4)).toEqual(['c a ann', 'd a -', 'c b ann', 'd b -']);
    } finally {
      await connector.stop();
    }
  }, 90_000);

  it('on a partitioned table, every partition gets the identity and its deletes carry the id', async () => {
    await pool.query(
      `CREATE TABLE parted (pk bigserial, region text NOT NULL, user_id text NOT NULL, nick text, mail text,
                            PRIMARY KEY (pk, region), UNIQUE (user_id, region)) PARTITION BY LIST (region)`,
    );
    await pool.query(`CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu')`);
    await pool.query(`CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us')`);
    const parted = { ...source, table: 'public.parted' };
    const own = replicationFor();
    const problems = (await checkDatabaseReport({ pool, source: parted, replication: own, logger })).problems;
    expect(problems.join('\n')).toContain(
      'source.idColumn user_id is not in the replica identity of partition(s) public.parted_eu, public.parted_us of public.parted',
    );
    await setupDatabase({ pool, source: parted, replication: own, replicaIdentityIndex: true, logger });
    const { rows } = await pool.query<{ relname: string; relreplident: string }>(
      "SELECT relname, relreplident FROM pg_class WHERE relname IN ('parted', 'parted_eu', 'parted_us') ORDER BY 1",
    );
    expect(rows.map((r) => `${r.relname}:${r.relreplident}`)).toEqual(['parted:i', 'parted_eu:i', 'parted_us:i']);
    expect((await checkDatabaseReport({ pool, source: parted, replication: own, logger })).problems).toEqual([]);

    const topic = await createTopic(uniqueName('parted'), 1);
    const connector = startInProcessConnector({
      databaseUrl: database.url,
      source: parted,
      replication: own,
      topic,
      logger,
    });
    try {
      await pool.query(`INSERT INTO parted (region, user_id, nick) VALUES ('eu', 'e1', 'eve')`);
      await pool.query(`DELETE FROM parted WHERE user_id = 'e1'`);
      expect(await eventsOf(topic, 2)).toEqual(['c e1 eve', 'd e1 -']);
    } finally {
      await connector.stop();
    }
  }, 90_000);

  it('--replica-identity-index refuses clearly when no unique index on the id qualifies', async () => {
    await pool.query('CREATE TABLE accounts (pk bigserial PRIMARY KEY, user_id text, nick text, mail text)');
    const accounts = { ...source, table: 'public.accounts' };
    const refused = setupDatabase({
      pool,
      source: accounts,
      replication: replicationFor(),
      replicaIdentityIndex: true,
      logger,
    });
    await expect(refused).rejects.toThrow(ReplicaIdentityError);
    await expect(refused).rejects.toThrow(
      /no unique index on user_id \(source\.idColumn\) of public\.accounts .* or run pingpull setup --replica-identity-full/,
    );
  });
});

describe('NULL user ids', () => {
  it('are skipped with one warning and a counter; the stream goes on', async () => {
    const { database, pool } = await createMembersDatabase(
      'pk bigserial PRIMARY KEY, user_id text UNIQUE, nick text, mail text',
      2,
    );
    const replication = replicationFor();
    const topic = await createTopic(uniqueName('null_ids'), 1);
    const metrics = createMetrics({ defaultMetrics: false });
    const { logger: capturing, lines } = capturingLogger();
    let connector: ConnectorHandle | undefined;
    try {
      await setupDatabase({ pool, source, replication, replicaIdentityFull: true, logger });
      connector = startInProcessConnector({
        databaseUrl: database.url,
        source,
        replication,
        topic,
        logger: capturing,
        metrics,
      });
      await pool.query(`INSERT INTO members (user_id, nick) VALUES (NULL, 'nobody')`);
      await pool.query(`INSERT INTO members (user_id, nick) VALUES ('u1', 'ann')`);
      await pool.query(`DELETE FROM members WHERE user_id = 'u1'`);
      expect(await eventsOf(topic, 2)).toEqual(['c u1 ann', 'd u1 ann']);
      expect(await counterTotal(metrics.nullIdRowsTotal)).toBe(1);
      const warnings = lines.filter((line) => line.msg.includes('is NULL'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toContain('user_id (source.idColumn)');
    } finally {
      await connector?.stop();
      await pool.end();
      await database.drop();
    }
  }, 90_000);
});

describe('a mapped column renamed and renamed back; TRUNCATE', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  const replication = replicationFor();

  beforeAll(async () => {
    ({ database, pool } = await createMembersDatabase('user_id bigint PRIMARY KEY, nick text, mail text', 2));
    await setupDatabase({ pool, source, replication, logger });
  });

  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  it('restoring the column lets the connector go on, and check agrees with it', async () => {
    const topic = await createTopic(uniqueName('renamed'), 1);
    const first = startInProcessConnector({ databaseUrl: database.url, source, replication, topic, logger });
    await pool.query('ALTER TABLE members RENAME COLUMN mail TO email_address');
    await pool.query(`INSERT INTO members (user_id, nick, email_address) VALUES (1, 'ann', 'a@x')`);
    expect(await stopped(first)).toBeInstanceOf(SchemaChangeError);
    expect((await checkDatabaseReport({ pool, source, replication, logger })).problems.join('\n')).toContain(
      'column mail does not exist in public.members (source.columns.email)',
    );

    await pool.query('ALTER TABLE members RENAME COLUMN email_address TO mail');
    expect((await checkDatabaseReport({ pool, source, replication, logger })).problems).toEqual([]);
    const metrics = createMetrics({ defaultMetrics: false });
    const { logger: capturing, lines } = capturingLogger();
    const second = startInProcessConnector({
      databaseUrl: database.url,
      source,
      replication,
      topic,
      logger: capturing,
      metrics,
    });
    try {
      const [event] = await readTopic(topic, (m) => m.length >= 1, 60_000);
      expect(event?.value).toMatchObject({ op: 'c', after: { user_id: '1', nick: 'ann', mail: 'a@x' } });

      await pool.query('TRUNCATE members');
      await waitFor(async () => (await counterTotal(metrics.truncatesTotal)) === 1, {
        what: 'the TRUNCATE to be counted',
        timeoutMs: 30_000,
      });
      const warnings = lines.filter((line) => line.msg.includes('was truncated'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toContain('public.members was truncated');
      expect(warnings[0]?.msg).toContain('Livefyre keeps every profile');
    } finally {
      await second.stop();
    }
  }, 120_000);
});
