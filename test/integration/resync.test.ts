import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupDatabase } from '../../src/cdc/setup.js';
import { HEADER_EVENT_ID } from '../../src/events/envelope.js';
import { createLogger } from '../../src/log.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { createMembersDatabase, membersSource, startInProcessConnector } from '../helpers/members-table.js';
import { createTopic, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { readTopic } from '../helpers/connector-kafka.js';
import { waitFor } from '../helpers/wait.js';

/** `pingpull resync` end to end, through the CLI, against the shared services. */
describe('pingpull resync', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  const USERS = 2_500;

  beforeAll(async () => {
    ({ database, pool } = await createMembersDatabase(
      'user_id bigint PRIMARY KEY, nick varchar(80), mail text, seen_at timestamp(6), updated_at timestamptz NOT NULL, password_hash text',
      2,
    ));
    await pool.query(
      `INSERT INTO members
         SELECT id, 'user ' || id, CASE WHEN id % 10 = 0 THEN NULL ELSE id || '@example.com' END,
                '2024-02-29 23:59:59.123456'::timestamp + id * interval '1 microsecond',
                CASE WHEN id > $1 - 100 THEN '2030-01-01T00:00:00Z'::timestamptz ELSE '2020-01-01T00:00:00Z'::timestamptz END,
                'secret'
           FROM generate_series(1, $1) AS id`,
      [USERS],
    );
    // Ids past 2^53: exact as strings.
    await pool.query(
      `INSERT INTO members VALUES (9007199254740993, 'big', 'big@example.com', NULL, now() - interval '10 years', 'secret')`,
    );
  });

  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  const env = (topic: string, extra: Record<string, string> = {}): Record<string, string> => ({
    PINGPULL_DATABASE_URL: database.url,
    PINGPULL_KAFKA_BROKERS: kafkaBrokers(),
    PINGPULL_KAFKA_TOPIC: topic,
    PINGPULL_SOURCE_TABLE: 'public.members',
    PINGPULL_SOURCE_ID_COLUMN: 'user_id',
    PINGPULL_SOURCE_COLUMNS: JSON.stringify({ display_name: 'nick', email: 'mail', location: 'seen_at' }),
    PINGPULL_RESYNC_BATCH_SIZE: '300',
    PINGPULL_LOG_LEVEL: 'warn',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
    ...extra,
  });

  it('--all publishes every user once as op "r", in keyset batches, with plain progress lines', async () => {
    const topic = await createTopic(uniqueName('resync_all'), 3);
    const result = await runCli(['resync', '--all'], env(topic), 120_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`published ${USERS + 1} user(s) in 9 batch(es); last id: 9007199254740993`);
    // Not a terminal: a progress line every resync.progressEvery (10) batches, none here but the total.
    expect(result.stderr).toContain(`resync: ${USERS + 1} user(s) to publish`);

    const messages = await readTopic(topic, (m) => m.length >= USERS + 1, 60_000);
    expect(messages).toHaveLength(USERS + 1);
    expect(new Set(messages.map((m) => m.key)).size).toBe(USERS + 1);
    const byKey = new Map(messages.map((m) => [m.key, m]));
    const big = byKey.get('9007199254740993');
    expect(big?.value).toMatchObject({
      op: 'r',
      before: null,
      after: { user_id: '9007199254740993', nick: 'big', mail: 'big@example.com', seen_at: null },
    });
    const ten = byKey.get('10')?.value as { after: Record<string, unknown>; source: Record<string, unknown> };
    // NULL stays null; a timestamp keeps its microseconds as Postgres prints it.
    expect(ten.after).toEqual({ user_id: '10', nick: 'user 10', mail: null, seen_at: '2024-02-29 23:59:59.123466' });
    expect(ten.source).toMatchObject({
      connector: 'pingpull',
      snapshot: 'true',
      schema: 'public',
      table: 'members',
      db: database.name,
    });
    expect(byKey.get('10')?.headers[HEADER_EVENT_ID]).toMatch(/^resync-[0-9a-f]+:\d+$/);
    for (const message of messages) expect(message.raw).not.toContain('secret');
  }, 180_000);

  it('--since uses source.updatedAtColumn, and exits 2 when it is not configured', async () => {
    const topic = await createTopic(uniqueName('resync_since'), 3);
    const refused = await runCli(['resync', '--since', '2025-01-01T00:00:00Z'], env(topic));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('source.updatedAtColumn');

    const bad = await runCli(
      ['resync', '--since', 'yesterday'],
      env(topic, { PINGPULL_SOURCE_UPDATED_AT_COLUMN: 'updated_at' }),
    );
    expect(bad.code).toBe(2);

    const result = await runCli(
      ['resync', '--since', '2025-01-01T00:00:00Z'],
      env(topic, { PINGPULL_SOURCE_UPDATED_AT_COLUMN: 'updated_at' }),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('published 100 user(s)');
    const messages = await readTopic(topic, (m) => m.length >= 100, 30_000);
    expect(messages.map((m) => Number(m.key)).every((id) => id > USERS - 100)).toBe(true);
  }, 120_000);

  it('--ids publishes those users and names the ones that do not exist', async () => {
    const topic = await createTopic(uniqueName('resync_ids'), 3);
    const result = await runCli(['resync', '--ids', '5,9007199254740993,42,777777'], env(topic));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('published 3 user(s)');
    expect(result.stdout).toContain('not found (no such user): 777777');
    const messages = await readTopic(topic, (m) => m.length >= 3, 30_000);
    expect(messages.map((m) => m.key).sort()).toEqual(['42', '5', '9007199254740993']);
  }, 120_000);

  it('--ids with an id the column cannot hold publishes nothing and names it', async () => {
    const topic = await createTopic(uniqueName('resync_badids'), 1);
    const refused = await runCli(['resync', '--ids', '1,2,abc', '--batch-size', '1'], env(topic));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--ids: "abc" cannot be ids of "public"."members": user_id is bigint');
    // The next run's users are all the topic holds: the refused run published none of 1 and 2.
    expect((await runCli(['resync', '--ids', '3'], env(topic))).code).toBe(0);
    const messages = await readTopic(topic, (m) => m.length >= 1, 30_000);
    expect(messages.map((m) => m.key)).toEqual(['3']);
  }, 120_000);

  it('resumes with --after, and prints the last published id when interrupted', async () => {
    const topic = await createTopic(uniqueName('resync_resume'), 3);
    const resumed = await runCli(['resync', '--all', '--after', '2000'], env(topic));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`published ${USERS - 2000 + 1} user(s)`);
    // Progress counts from the resume point: what is left, not the whole table.
    expect(resumed.stderr).toContain(`resync: ${USERS - 2000 + 1} user(s) to publish`);

    // Interrupt a slow run (batches of one) once it has published something.
    const interruptTopic = await createTopic(uniqueName('resync_int'), 3);
    // The hint repeats --config: run as it reads, it finds the same settings.
    const configFile = join(mkdtempSync(join(tmpdir(), 'pingpull-resync-')), 'pingpull.json');
    writeFileSync(configFile, JSON.stringify({ resync: { progressEvery: 1 } }));
    const running = spawnCli(
      ['resync', '--all', '--batch-size', '1', '--config', configFile],
      env(interruptTopic, { PINGPULL_RESYNC_PROGRESS_EVERY: '1' }),
    );
    await waitFor(async () => /users published, last id \d+/.test(running.output()), {
      what: 'progress',
      timeoutMs: 60_000,
    });
    const code = await running.stop();
    expect(code).toBe(130);
    const last = /last published id: (\d+)/.exec(running.output())?.[1];
    expect(last, running.output()).toBeDefined();
    expect(running.output()).toContain(`resume with: pingpull resync --all --config ${configFile} --after ${last}`);
    // Everything up to the printed id is in Kafka.
    const messages = await readTopic(interruptTopic, (m) => m.length >= Number(last), 30_000);
    const keys = new Set(messages.map((m) => Number(m.key)));
    for (let id = 1; id <= Number(last); id++) expect(keys.has(id)).toBe(true);
  }, 180_000);

  it('runs next to a streaming connector on the same topic: both complete, updates keep flowing', async () => {
    const topic = await createTopic(uniqueName('resync_live'), 3);
    const logger = createLogger('silent');
    const source = membersSource({ display_name: 'nick', email: 'mail', location: 'seen_at' });
    const replication = {
      slot: uniqueName('slot'),
      publication: uniqueName('pub'),
      heartbeatMs: 300,
      statusIntervalMs: 200,
      batchSize: 100,
      knownUsers: 1_000,
    };
    await setupDatabase({ pool, source, replication, logger });
    const connector = startInProcessConnector({ databaseUrl: database.url, source, replication, topic, logger });
    let failed: unknown = null;
    connector.done.catch((error: unknown) => (failed = error));
    let writing = true;
    let updates = 0;
    const writer = (async () => {
      while (writing) {
        // A new value every time: an update to the same value would (rightly) be skipped.
        await pool.query(`UPDATE members SET nick = 'live ' || $2::int WHERE user_id = $1`, [
          1 + (updates % USERS),
          updates,
        ]);
        updates += 1;
        // Workload pacing: live updates alongside the resync, not a flood.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    try {
      const result = await runCli(['resync', '--all'], env(topic, { PINGPULL_RESYNC_BATCH_SIZE: '100' }), 120_000);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`published ${USERS + 1} user(s)`);
    } finally {
      writing = false;
      await writer;
    }
    const messages = await readTopic(
      topic,
      (m) =>
        m.filter((x) => (x.value as { op?: string } | null)?.op === 'r').length >= USERS + 1 &&
        m.filter((x) => (x.value as { op?: string } | null)?.op === 'u').length >= updates,
      60_000,
    );
    const ops = messages.map((m) => (m.value as { op: string }).op);
    expect(ops.filter((op) => op === 'r')).toHaveLength(USERS + 1);
    expect(updates).toBeGreaterThan(0);
    expect(ops.filter((op) => op === 'u').length).toBeGreaterThanOrEqual(updates);
    await connector.stop();
    expect(failed).toBeNull();
  }, 180_000);
});
