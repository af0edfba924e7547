import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDatabaseReport, setupDatabase } from '../../src/cdc/setup.js';
import { teardownDatabase } from '../../src/cdc/teardown.js';
import { runCli } from '../helpers/cli.js';
import { createMembersDatabase, membersSource, startInProcessConnector } from '../helpers/members-table.js';
import { DatabaseSetupError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { createTestDatabase, createTopic, databaseUrl, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger('silent');
const source = membersSource({ display_name: 'nick', email: 'mail', image_url: 'pic' });

describe('setup, check and teardown of the publication and slot', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  const replication = {
    slot: uniqueName('slot'),
    publication: uniqueName('pub'),
    heartbeatMs: 0,
    statusIntervalMs: 1_000,
    batchSize: 100,
    knownUsers: 100,
  };
  const options = () => ({ pool, source, replication, logger });

  beforeAll(async () => {
    ({ database, pool } = await createMembersDatabase(
      'user_id bigint PRIMARY KEY, nick text, mail text, pic text, password_hash text',
      2,
    ));
  });

  afterAll(async () => {
    await pool.end();
    await database.drop();
  });

  async function publishedColumns(): Promise<string[] | null> {
    const { rows } = await pool.query<{ attnames: string[] }>(
      'SELECT attnames::text[] AS attnames FROM pg_publication_tables WHERE pubname = $1',
      [replication.publication],
    );
    return rows[0]?.attnames ?? null;
  }

  it('reports what is missing before setup', async () => {
    const problems = (await checkDatabaseReport(options())).problems;
    expect(problems).toEqual([
      `publication ${replication.publication} does not exist: run pingpull setup`,
      `replication slot ${replication.slot} does not exist: run pingpull setup`,
    ]);
  });

  it('creates the publication with a column list and the slot, idempotently', async () => {
    const first = await setupDatabase(options());
    expect(first.join('\n')).toMatch(/created publication/);
    expect(first.join('\n')).toMatch(/created logical replication slot/);
    expect(await publishedColumns()).toEqual(['user_id', 'nick', 'mail', 'pic']);
    const { rows } = await pool.query('SELECT plugin, slot_type FROM pg_replication_slots WHERE slot_name = $1', [
      replication.slot,
    ]);
    expect(rows).toEqual([{ plugin: 'pgoutput', slot_type: 'logical' }]);
    const { rows: identity } = await pool.query<{ relreplident: string }>(
      "SELECT relreplident FROM pg_class WHERE relname = 'members'",
    );
    expect(identity[0]?.relreplident).toBe('d');

    const second = await setupDatabase(options());
    expect(second.join('\n')).not.toMatch(/created/);
    expect((await checkDatabaseReport(options())).problems).toEqual([]);
    // The customer's updates still work with the table in the publication.
    await pool.query("INSERT INTO members VALUES (1, 'a', 'b', 'c', 'x')");
    await pool.query("UPDATE members SET password_hash = 'y'");
  });

  it('sets a drifted column list back', async () => {
    await pool.query(`ALTER PUBLICATION ${replication.publication} SET TABLE members (user_id, nick)`);
    expect((await checkDatabaseReport(options())).problems.join('\n')).toMatch(/expected \(user_id, nick, mail, pic\)/);
    const actions = await setupDatabase(options());
    expect(actions.join('\n')).toMatch(/changed publication/);
    expect(await publishedColumns()).toEqual(['user_id', 'nick', 'mail', 'pic']);
  });

  it('reports a missing mapped column by name, and setup refuses', async () => {
    const broken = { ...source, columns: { ...source.columns, email: 'email_address' } };
    const problems = (await checkDatabaseReport({ ...options(), source: broken })).problems;
    expect(problems).toContain('column email_address does not exist in public.members (source.columns.email)');
    await expect(setupDatabase({ ...options(), source: broken })).rejects.toThrow(DatabaseSetupError);
    await expect(setupDatabase({ ...options(), source: broken })).rejects.toThrow(/email_address/);
  });

  it('checks source.updatedAtColumn: it must exist and be a timestamp', async () => {
    const report = (updatedAtColumn: string) =>
      checkDatabaseReport({ ...options(), source: { ...source, updatedAtColumn } }).then((r) => r.problems);
    expect(await report('nick')).toContain(
      'column nick (source.updatedAtColumn) is text, expected timestamp or timestamptz: resync --since would not compare it as a time; point it at a timestamp column or set it to ""',
    );
    expect((await report('changed_at')).join('\n')).toContain(
      'column changed_at does not exist in public.members (source.updatedAtColumn)',
    );
    await pool.query('ALTER TABLE members ADD COLUMN changed_at timestamptz');
    expect((await report('changed_at')).join('\n')).not.toContain('updatedAtColumn');
  });

  it('reports a missing table', async () => {
    const problems = (await checkDatabaseReport({ ...options(), source: { ...source, table: 'nowhere' } })).problems;
    expect(problems).toContain('table public.nowhere does not exist (source.table)');
  });

  it('with --replica-identity-full sets FULL without breaking updates', async () => {
    const actions = await setupDatabase({ ...options(), replicaIdentityFull: true });
    expect(actions.join('\n')).toMatch(/REPLICA IDENTITY FULL/);
    // The column list is gone (PostgreSQL requires it): said loudly, naming the columns now decoded.
    expect(actions.find((line) => line.startsWith('warning:'))).toMatch(/carries ALL columns: password_hash/);
    const { rows } = await pool.query<{ relreplident: string }>(
      "SELECT relreplident FROM pg_class WHERE relname = 'members'",
    );
    expect(rows[0]?.relreplident).toBe('f');
    await pool.query("UPDATE members SET password_hash = 'z'");
    expect((await checkDatabaseReport(options())).problems).toEqual([]);
  });

  it('refuses a table without a primary key', async () => {
    await pool.query('CREATE TABLE keyless (user_id text, nick text, mail text, pic text)');
    const problems = setupDatabase({
      ...options(),
      source: { ...source, table: 'keyless' },
      replication: { ...replication, slot: uniqueName('slot'), publication: uniqueName('pub') },
    });
    await expect(problems).rejects.toThrow(/no primary key/);
  });

  it('teardown removes slot and publication, idempotently', async () => {
    const done = await teardownDatabase(options());
    expect(done).toEqual({
      lines: [`dropped replication slot ${replication.slot}`, `dropped publication ${replication.publication}`],
      complete: true,
    });
    const { rows } = await pool.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [replication.slot]);
    expect(rows).toHaveLength(0);
    expect(await publishedColumns()).toBeNull();
    const again = await teardownDatabase(options());
    expect(again).toEqual({
      lines: [
        `replication slot ${replication.slot} already absent`,
        `publication ${replication.publication} already absent`,
      ],
      complete: true,
    });
  });
});

describe('a least-privilege role (LOGIN REPLICATION, CONNECT, SELECT) on a table it does not own', () => {
  let database: TestDatabase;
  let owner: pg.Pool;
  let cdc: pg.Pool;
  const role = uniqueName('cdc');
  const replication = {
    slot: uniqueName('slot'),
    publication: uniqueName('pub'),
    heartbeatMs: 300,
    statusIntervalMs: 200,
    batchSize: 100,
    knownUsers: 100,
  };
  const options = () => ({ pool: cdc, source, replication, logger });
  const roleUrl = (): string => {
    const url = new URL(database.url);
    url.username = role;
    url.password = 'cdc';
    return url.toString();
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    owner = new pg.Pool({ connectionString: database.url, max: 2 });
    await owner.query(
      'CREATE TABLE members (user_id bigint PRIMARY KEY, nick text, mail text, pic text, password_hash text)',
    );
    await owner.query(`CREATE ROLE "${role}" LOGIN PASSWORD 'cdc'`);
    await owner.query(`GRANT CONNECT ON DATABASE "${database.name}" TO "${role}"`);
    cdc = new pg.Pool({ connectionString: roleUrl(), max: 2 });
  });

  afterAll(async () => {
    await cdc?.end();
    await owner?.query(`DROP OWNED BY "${role}"`).catch(() => undefined);
    await owner?.end();
    await database?.drop();
    const admin = new pg.Client({ connectionString: databaseUrl() });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS "${role}"`).catch(() => undefined);
    await admin.end();
  });

  it('names the missing REPLICATION attribute and SELECT privilege, one actionable line each', async () => {
    const problems = (await checkDatabaseReport(options())).problems;
    expect(problems).toContain(
      `role ${role} lacks the REPLICATION attribute: run ALTER ROLE "${role}" REPLICATION as a superuser`,
    );
    expect(problems).toContain(
      `role ${role} cannot read public.members: have its owner run GRANT SELECT ON "public"."members" TO "${role}" (resync and pulls read it)`,
    );
    await owner.query(`ALTER ROLE "${role}" REPLICATION`);
    await owner.query(`GRANT SELECT ON members TO "${role}"`);
    expect((await checkDatabaseReport(options())).problems.join('\n')).not.toMatch(/REPLICATION attribute|cannot read/);
  });

  it('check warns before setup that the role cannot create the publication, with the statement for the owner', async () => {
    const problems = (await checkDatabaseReport(options())).problems;
    expect(problems.join('\n')).toContain(
      `publication ${replication.publication} does not exist and role ${role} cannot create it ` +
        `(it does not own public.members and it lacks CREATE on database ${database.name}): have the table owner run ` +
        `\`CREATE PUBLICATION "${replication.publication}" FOR TABLE "public"."members"`,
    );
  });

  it('setup tells a non-owner the exact statement the table owner must run, then finishes the job', async () => {
    const refused = await setupDatabase(options()).then(
      () => null,
      (error: unknown) => error as Error,
    );
    const statement = `CREATE PUBLICATION "${replication.publication}" FOR TABLE "public"."members" ("user_id", "nick", "mail", "pic") WITH (publish = 'insert, update, delete, truncate')`;
    expect(refused?.message).toContain(`have the table owner run \`${statement};\``);
    await owner.query(statement);
    const done = await setupDatabase(options());
    expect(done.join('\n')).toMatch(/created logical replication slot/);
    expect((await checkDatabaseReport(options())).problems).toEqual([]);
  });

  it('check exits 0 while a connector streams: an active slot is information', async () => {
    const topic = await createTopic(uniqueName('check'), 1);
    const connector = startInProcessConnector({ databaseUrl: roleUrl(), source, replication, topic, logger });
    try {
      await waitFor(
        async () => (await checkDatabaseReport(options())).notes.some((n) => n.includes('is streaming to process')),
        { what: 'the slot to be active', timeoutMs: 30_000 },
      );
      const result = await runCli(['check'], {
        PINGPULL_DATABASE_URL: roleUrl(),
        PINGPULL_SOURCE_TABLE: source.table,
        PINGPULL_SOURCE_ID_COLUMN: source.idColumn,
        PINGPULL_SOURCE_COLUMNS: JSON.stringify(source.columns),
        PINGPULL_REPLICATION_SLOT: replication.slot,
        PINGPULL_REPLICATION_PUBLICATION: replication.publication,
        PINGPULL_LOG_LEVEL: 'silent',
      });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain('ok: database ready');
      // The pid is the walsender's: the line says so, and which client holds the slot.
      expect(result.stdout).toMatch(
        /info: replication slot \S+ is streaming to process \d+ \(the walsender: [^)]*\), held by application_name "pingpull-connector" from /,
      );
    } finally {
      await connector.stop();
    }
  }, 90_000);

  it('teardown drops what the role may, names the statement the owner runs, exits 1 until all is gone', async () => {
    const env = {
      PINGPULL_DATABASE_URL: roleUrl(),
      PINGPULL_REPLICATION_SLOT: replication.slot,
      PINGPULL_REPLICATION_PUBLICATION: replication.publication,
      PINGPULL_LOG_LEVEL: 'silent',
    };
    const cannot =
      `cannot drop publication ${replication.publication}: only its owner may; have role ${new URL(database.url).username} ` +
      `(its owner) or a superuser run \`DROP PUBLICATION IF EXISTS "${replication.publication}";\``;
    const first = await runCli(['teardown'], env);
    expect(first.code).toBe(1);
    expect(first.stdout).toBe(`dropped replication slot ${replication.slot}\n${cannot}\n`);
    const again = await runCli(['teardown'], env);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe(`replication slot ${replication.slot} already absent\n${cannot}\n`);
    await owner.query(`DROP PUBLICATION IF EXISTS "${replication.publication}"`);
    const done = await runCli(['teardown'], env);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`publication ${replication.publication} already absent`);
  }, 60_000);
});
