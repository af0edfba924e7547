import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResources, type AppResources } from '../../src/app/resources.js';
import { pipelineRoles, type RoleHandle } from '../../src/app/roles.js';
import { checkDatabaseReport, setupDatabase } from '../../src/cdc/setup.js';
import { teardownDatabase } from '../../src/cdc/teardown.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { ConfigError, SchemaChangeError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { assertMappingFits, buildProfileMapping, surveyMapping } from '../../src/mapping/index.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createTestDatabase, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

// The one profile mapping end to end: what a file configures is exactly what
// is published, what pings and what the pull answers.

const NETWORK = 'mapping.fyre.co';
const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';
const silent = createLogger('silent');

const ACCOUNTS = `CREATE TABLE accounts (
  account_id text PRIMARY KEY, screen_name text, given_name text, login text, email text,
  avatar_url text, avatar_path text, avatar_changed_at timestamptz, password_hash text)`;

interface Pipeline {
  config: Config;
  resources: AppResources;
  simulator: Simulator;
  roles: RoleHandle[];
  sql(text: string): Promise<void>;
  pingsOf(id: string): number;
  pulled(id: string): Record<string, unknown> | undefined;
  stop(): Promise<void>;
}

/** The configuration as an operator writes it: a file (so its mapping keys go through the file route). */
async function pipeline(db: TestDatabase, fileContent: Record<string, unknown>): Promise<Pipeline> {
  const simulator = await startSimulator({ network: NETWORK, networkKey: NETWORK_KEY, port: 0, logger: silent });
  const file = join(mkdtempSync(join(tmpdir(), 'pingpull-mapping-')), 'pingpull.json');
  writeFileSync(file, JSON.stringify(fileContent));
  const topic = uniqueName('changes');
  const config = loadConfig({
    file,
    env: {},
    overrides: {
      'database.url': db.url,
      'replication.slot': uniqueName('slot'),
      'replication.publication': uniqueName('pub'),
      'kafka.brokers': kafkaBrokers(),
      'kafka.topic': topic,
      'kafka.dlqTopic': `${topic}.dlq`,
      'kafka.groupId': uniqueName('group'),
      'livefyre.network': NETWORK,
      'livefyre.networkKey': NETWORK_KEY,
      'livefyre.baseUrl': simulator.url,
      'pinger.coalesceMs': 0,
      'pull.host': '127.0.0.1',
      'pull.port': 0,
      'metrics.port': 0,
      'status.page': false,
      'log.level': 'silent',
    },
  });
  const resources = createResources(config, silent);
  const roles: RoleHandle[] = [];
  const sql = async (text: string): Promise<void> => {
    await resources.pool().query(text);
  };
  return {
    config,
    resources,
    simulator,
    roles,
    sql,
    pingsOf: (id) => simulator.pings().filter((ping) => ping.id === id && ping.status === 200).length,
    pulled: (id) => simulator.profile(id)?.profile,
    async stop() {
      for (const role of roles.reverse()) await role.stop();
      await teardownDatabase({
        pool: resources.pool(),
        source: config.source,
        replication: config.replication,
        force: true,
        logger: silent,
      });
      await resources.close();
      await simulator.close();
    },
  };
}

async function startRoles(p: Pipeline): Promise<void> {
  for (const start of pipelineRoles()) {
    const role = await start(p.resources);
    if (role !== undefined) p.roles.push(role);
  }
  const pullServer = p.roles.find((role) => role.name === 'pull-server')?.address;
  await p.resources.livefyre().registerPullUrl(`${pullServer}${p.config.pull.path}/{id}`);
}

async function publishedColumns(p: Pipeline): Promise<Record<string, string[]>> {
  const result = await p.resources
    .pool()
    .query<{ tablename: string; attnames: string[] }>(
      'SELECT tablename, attnames::text[] AS attnames FROM pg_publication_tables WHERE pubname = $1',
      [p.config.replication.publication],
    );
  return Object.fromEntries(result.rows.map((row) => [row.tablename, row.attnames]));
}

/** Runs `change` and waits until it pinged `id` and the simulator pulled a profile passing `check`. */
async function pingsAndPulls(
  p: Pipeline,
  id: string,
  change: string,
  check: (profile: Record<string, unknown>) => boolean,
  what: string,
): Promise<Record<string, unknown>> {
  const pingsBefore = p.pingsOf(id);
  await p.sql(change);
  await waitFor(() => p.pingsOf(id) > pingsBefore, { timeoutMs: 30_000, what: `a ping after ${what}` });
  await waitFor(
    () => {
      const profile = p.pulled(id);
      return profile !== undefined && check(profile);
    },
    { timeoutMs: 30_000, what: `the pull after ${what}` },
  );
  return p.pulled(id) as Record<string, unknown>;
}

describe('a mapping from a config file, on the users table alone', () => {
  let db: TestDatabase;
  let p: Pipeline;

  beforeAll(async () => {
    db = await createTestDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(ACCOUNTS);
    await client.query(`INSERT INTO accounts VALUES
      ('a1', 'Ada', 'Ada', 'ada', 'ada@example.com', 'https://old.example.com/a.png', 'https://cdn.example.com/a.png',
       '2024-01-01T00:00:00Z', 'secret')`);
    await client.end();
    p = await pipeline(db, {
      source: {
        table: 'public.accounts',
        idColumn: 'account_id',
        // no email: the table has email and avatar_url, which the default mapping would publish
        columns: { display_name: 'screen_name', image_url: 'avatar_path', 'name.first': 'given_name' },
      },
      pull: {
        fields: { profile_url: { template: 'https://example.com/people/{login}' } },
        imageVersionColumn: 'avatar_changed_at',
      },
    });
  }, 60_000);

  afterAll(async () => {
    await p?.stop();
    await db?.drop();
  });

  it('publishes exactly the watched columns, says so, and check and setup keep the list right', async () => {
    const options = {
      pool: p.resources.pool(),
      source: p.config.source,
      mapping: p.resources.mapping,
      replication: p.config.replication,
      logger: silent,
    };
    const done = await setupDatabase(options);
    const watched = ['account_id', 'screen_name', 'given_name', 'login', 'avatar_path', 'avatar_changed_at'];
    expect(done.join('\n')).toContain(
      'columns that leave the database: public.accounts ' +
        '(account_id, screen_name, avatar_path, given_name, login, avatar_changed_at)',
    );
    expect((await publishedColumns(p)).accounts).toEqual(watched);

    // someone widens the publication: check says so, setup narrows it again
    await p.sql(
      `ALTER PUBLICATION ${p.config.replication.publication} SET TABLE accounts (${[...watched, 'email'].join(', ')})`,
    );
    expect((await checkDatabaseReport(options)).problems.join('\n')).toMatch(
      /publication carries columns \(.*email.*\), expected .*: run pingpull setup/,
    );
    expect((await setupDatabase(options)).join('\n')).toMatch(/changed publication .* FOR TABLE public\.accounts/);
    expect((await publishedColumns(p)).accounts).toEqual(watched);
    expect((await setupDatabase(options)).join('\n')).toMatch(/publication .* exists FOR TABLE/);
    expect((await checkDatabaseReport(options)).problems).toEqual([]);
  });

  it('serves no email, and the dotted field from the file', async () => {
    await startRoles(p);
    const profile = await pingsAndPulls(
      p,
      'a1',
      `UPDATE accounts SET screen_name = 'Ada L' WHERE account_id = 'a1'`,
      (pulled) => pulled.display_name === 'Ada L',
      'a display name change',
    );
    expect(profile).not.toHaveProperty('email');
    expect(profile.name).toEqual({ first: 'Ada' });
    expect(profile.profile_url).toBe('https://example.com/people/ada');
  }, 90_000);

  it('pings when only the image version column changes, and the pulled image_url changes', async () => {
    const before = p.pulled('a1')?.image_url;
    expect(before).toMatch(/^https:\/\/cdn\.example\.com\/a\.png\?v=/);
    const profile = await pingsAndPulls(
      p,
      'a1',
      `UPDATE accounts SET avatar_changed_at = '2024-06-01T00:00:00Z' WHERE account_id = 'a1'`,
      (pulled) => pulled.image_url !== before,
      'a new avatar behind the same URL',
    );
    expect(profile.image_url).toMatch(/^https:\/\/cdn\.example\.com\/a\.png\?v=/);
  }, 60_000);

  it('pings when only a column of a pull.fields template changes', async () => {
    const profile = await pingsAndPulls(
      p,
      'a1',
      `UPDATE accounts SET login = 'ada.l' WHERE account_id = 'a1'`,
      (pulled) => pulled.profile_url === 'https://example.com/people/ada.l',
      'a template column change',
    );
    expect(profile.display_name).toBe('Ada L');
  }, 60_000);

  it('does not ping for a column nothing reads', async () => {
    const pings = p.pingsOf('a1');
    await p.sql(`UPDATE accounts SET password_hash = 'other', email = 'new@example.com' WHERE account_id = 'a1'`);
    // a watched change after it: once it pinged, the unwatched one would have pinged first
    await pingsAndPulls(
      p,
      'a1',
      `UPDATE accounts SET given_name = 'Augusta' WHERE account_id = 'a1'`,
      (pulled) => (pulled.name as { first?: string } | undefined)?.first === 'Augusta',
      'a watched change',
    );
    expect(p.pingsOf('a1')).toBe(pings + 1);
  }, 60_000);
});

describe('a profile spread over two tables (source.related and pull.query)', () => {
  let db: TestDatabase;
  let p: Pipeline;

  beforeAll(async () => {
    db = await createTestDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(ACCOUNTS);
    await client.query('CREATE TABLE account_bios (account_id text PRIMARY KEY, bio text, private_note text)');
    await client.query(`INSERT INTO accounts (account_id, screen_name) VALUES ('b1', 'Bea'), ('b2', 'Bo')`);
    await client.query(`INSERT INTO account_bios VALUES ('b1', 'first bio', 'x')`);
    await client.end();
    p = await pipeline(db, {
      source: {
        table: 'public.accounts',
        idColumn: 'account_id',
        columns: { display_name: 'screen_name' },
        related: [{ table: 'public.account_bios', idColumn: 'account_id', columns: ['bio'] }],
      },
      pull: {
        query:
          'SELECT a.screen_name AS display_name, b.bio FROM accounts a ' +
          'LEFT JOIN account_bios b USING (account_id) WHERE a.account_id = $1',
      },
    });
    await setupDatabase({
      pool: p.resources.pool(),
      source: p.config.source,
      mapping: p.resources.mapping,
      replication: p.config.replication,
      logger: silent,
    });
    await startRoles(p);
  }, 90_000);

  afterAll(async () => {
    await p?.stop();
    await db?.drop();
  });

  it('publishes the related table with its column list only', async () => {
    expect(await publishedColumns(p)).toEqual({
      accounts: ['account_id', 'screen_name'],
      account_bios: ['account_id', 'bio'],
    });
  });

  it('pings on an update of a related row, and the pull shows the new value', async () => {
    await pingsAndPulls(
      p,
      'b1',
      `UPDATE account_bios SET bio = 'second bio' WHERE account_id = 'b1'`,
      (pulled) => pulled.bio === 'second bio',
      'a related update',
    );
  }, 60_000);

  it('pings on an insert and on a delete of a related row', async () => {
    await pingsAndPulls(
      p,
      'b2',
      `INSERT INTO account_bios VALUES ('b2', 'hello', 'y')`,
      (pulled) => pulled.bio === 'hello',
      'a related insert',
    );
    await pingsAndPulls(
      p,
      'b1',
      `DELETE FROM account_bios WHERE account_id = 'b1'`,
      (pulled) => !('bio' in pulled),
      'a related delete',
    );
  }, 60_000);
});

describe('the mapping checked against the database at start-up', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 1 });
    await pool.query('CREATE TABLE users (id bigint PRIMARY KEY, nick text)');
    await pool.query('CREATE TABLE bios (bio_id serial PRIMARY KEY, user_id bigint, bio text)');
    await pool.query('CREATE TABLE notes (user_ref uuid PRIMARY KEY, note text)');
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const mappingWith = (related: Config['source']['related'], columns: Config['source']['columns'] = {}) =>
    buildProfileMapping({
      source: { table: 'users', idColumn: 'id', columns: { display_name: 'nick', ...columns }, related },
      pull: { imageVersionColumn: 'avatar_at' },
    });

  it('names every problem with its key: columns, tables, id types, replica identity', async () => {
    const mapping = mappingWith(
      [
        { table: 'bios', idColumn: 'user_id', columns: ['bio', 'mood'] },
        { table: 'notes', idColumn: 'user_ref', columns: ['note'] },
        { table: 'nowhere', idColumn: 'id', columns: ['x'] },
      ],
      { email: 'mail' },
    );
    const { problems } = await surveyMapping(pool, mapping);
    expect(problems).toEqual([
      'column mail does not exist in public.users (source.columns.email)',
      'column avatar_at does not exist in public.users (pull.imageVersionColumn)',
      expect.stringMatching(/^source\.related\[0\]: the replica identity of public\.bios does not include user_id/),
      'column mood does not exist in public.bios (source.related[0].columns)',
      'source.related[1].idColumn: public.notes.user_ref is uuid, which cannot hold the user ids of public.users.id (int8)',
      'table public.nowhere does not exist (source.related[2].table)',
    ]);
    // a users column gone is a schema change (exit 1, as in the stream); the rest is configuration (exit 2)
    await expect(assertMappingFits(pool, mapping)).rejects.toThrow(SchemaChangeError);
    const relatedOnly = buildProfileMapping({
      source: {
        table: 'users',
        idColumn: 'id',
        columns: { display_name: 'nick' },
        related: [{ table: 'notes', idColumn: 'user_ref', columns: ['note'] }],
      },
    });
    await expect(assertMappingFits(pool, relatedOnly)).rejects.toThrow(ConfigError);
  });

  it('accepts a related table whose replica identity keeps the user id', async () => {
    await pool.query('ALTER TABLE bios REPLICA IDENTITY FULL');
    await pool.query('ALTER TABLE users ADD COLUMN avatar_at timestamptz');
    const mapping = mappingWith([{ table: 'bios', idColumn: 'user_id', columns: ['bio'] }]);
    await expect(assertMappingFits(pool, mapping)).resolves.toBeUndefined();
  });
});
