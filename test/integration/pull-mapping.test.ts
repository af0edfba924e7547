import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/db.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { buildPullServer, planProfile, type PullOptions } from '../../src/pull/index.js';
import { prepareProfileQuery } from '../../src/pull/profile-query.js';
import { systemClock } from '../../src/time.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { makeToken, NETWORK, NETWORK_KEY } from '../helpers/tokens.js';

/**
 * A legacy schema: the profile spans `legacy.accounts` and `legacy.prefs`,
 * avatars are stored as paths relative to a CDN, and the profile page is
 * built from the username.
 */
const SCHEMA = `
  CREATE SCHEMA legacy;
  CREATE TABLE legacy.accounts (
    account_id bigint PRIMARY KEY,
    login text NOT NULL,
    screen_name text,
    given_name text,
    family_name text,
    avatar_path text,
    avatar_changed_at timestamptz,
    staff boolean,
    secret text
  );
  CREATE TABLE legacy.prefs (
    account_id bigint PRIMARY KEY REFERENCES legacy.accounts,
    notify_replies text,
    hide_bio boolean,
    groups text[]
  );
  INSERT INTO legacy.accounts VALUES
    (1042, 'ada.l', 'Ada L.', 'Ada', 'Lovelace', '/avatars/1042.jpg', '2024-05-01T10:00:00Z', true, 'never-leaves'),
    (7, 'bob smith/x', 'Bob', NULL, NULL, 'https://img.example.net/b.png?size=100', NULL, NULL, 'never-leaves');
  INSERT INTO legacy.prefs VALUES (1042, 'often', true, '{staff,beta,"not a tag"}');
  CREATE TABLE legacy.handles (handle varchar(40) PRIMARY KEY, nick text);
`;

const SOURCE = {
  table: 'legacy.accounts',
  idColumn: 'account_id',
  columns: { display_name: 'screen_name', image_url: 'avatar_path', moderator: 'staff' },
};

const CUSTOM_QUERY = `
  SELECT a.screen_name AS display_name, a.avatar_path AS image_url, a.login,
         a.given_name AS "name.first", a.family_name AS "name.last",
         p.notify_replies AS "email_notifications.replies", p.hide_bio AS "display_rules.bio", p.groups AS tags
    FROM legacy.accounts a LEFT JOIN legacy.prefs p USING (account_id)
   WHERE a.account_id = $1`;

describe('pull server on a legacy schema: templates, constants, custom query, cache-busting', () => {
  let db: TestDatabase;
  let pool: Pool;
  let admin: pg.Client;
  let token: string;

  const build = (pull: Partial<PullOptions> = {}, source = SOURCE) =>
    buildPullServer({
      pool,
      source,
      pull: { path: '/livefyre/profiles', ...pull },
      livefyre: { network: NETWORK, networkKey: NETWORK_KEY },
      logger: createLogger('silent'),
      metrics: createMetrics({ defaultMetrics: false }),
      clock: systemClock,
    });

  const pullJson = async (pull: Partial<PullOptions>, id: string, source = SOURCE) => {
    const app = await build(pull, source);
    try {
      const response = await app.inject({ method: 'GET', url: `/livefyre/profiles/${id}?lftoken=${token}` });
      return {
        status: response.statusCode,
        body: response.body,
        json: response.body === '' ? undefined : (response.json() as Record<string, unknown>),
      };
    } finally {
      await app.close();
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(SCHEMA);
    pool = createPool({ url: db.url, max: 4, applicationName: 'pingpull-test' });
    token = await makeToken();
  });

  afterAll(async () => {
    await admin?.end();
    await pool?.end();
    await db?.drop();
  });

  const FIELDS = {
    profile_url: { template: 'https://example.com/people/{login}' },
    settings_url: { constant: 'https://example.com/settings' },
    name: { formatted: { template: '{given_name} {family_name}' } },
    autofollow_conversations: { constant: false },
    email_notifications: { likes: { constant: 'never' } },
  } as const;

  it('fills templates from columns (percent-encoded in URLs) and adds constants, with exact types', async () => {
    const ada = await pullJson({ fields: FIELDS, relativeUrlBase: 'https://cdn.example.com/' }, '1042');
    expect(ada.status).toBe(200);
    expect(ada.body).toBe(
      '{"id":"1042","display_name":"Ada L.","image_url":"https://cdn.example.com/avatars/1042.jpg","moderator":true,' +
        '"profile_url":"https://example.com/people/ada.l","settings_url":"https://example.com/settings",' +
        '"name":{"formatted":"Ada Lovelace"},"autofollow_conversations":false,"email_notifications":{"likes":"never",' +
        '"comments":"never","replies":"never","moderator_comments":"never","moderator_flags":"never"}}',
    );
    const bob = await pullJson({ fields: FIELDS, relativeUrlBase: 'https://cdn.example.com/' }, '7');
    expect(bob.json).toEqual({
      id: '7',
      display_name: 'Bob',
      image_url: 'https://img.example.net/b.png?size=100',
      profile_url: 'https://example.com/people/bob%20smith%2Fx',
      settings_url: 'https://example.com/settings',
      autofollow_conversations: false,
      email_notifications: {
        likes: 'never',
        comments: 'never',
        replies: 'never',
        moderator_comments: 'never',
        moderator_flags: 'never',
      },
    });
  });

  it('leaves a relative avatar out when no base URL is set, rather than sending a URL Livefyre refuses', async () => {
    const ada = await pullJson({}, '1042');
    expect(ada.json).toEqual({ id: '1042', display_name: 'Ada L.', moderator: true });
  });

  it('versions the avatar URL from the URL and the version column, and changes it only when that column changes', async () => {
    const options = { relativeUrlBase: 'https://cdn.example.com/', imageVersionColumn: 'avatar_changed_at' };
    const first = (await pullJson(options, '1042')).json?.image_url as string;
    expect(first).toMatch(/^https:\/\/cdn\.example\.com\/avatars\/1042\.jpg\?v=[0-9a-f]{8}$/);
    expect((await pullJson(options, '1042')).json?.image_url).toBe(first);
    const bob = (await pullJson(options, '7')).json?.image_url as string;
    expect(bob).toMatch(/^https:\/\/img\.example\.net\/b\.png\?size=100&v=[0-9a-f]{8}$/);

    await admin.query(`UPDATE legacy.accounts SET avatar_changed_at = '2024-06-01T00:00:00Z' WHERE account_id = 1042`);
    const second = (await pullJson(options, '1042')).json?.image_url as string;
    expect(second).toMatch(/\?v=[0-9a-f]{8}$/);
    expect(second).not.toBe(first);
    await admin.query(`UPDATE legacy.accounts SET avatar_changed_at = '2024-05-01T10:00:00Z' WHERE account_id = 1042`);
  });

  it('reads a profile spanning two tables through a custom query, dotted result columns becoming objects', async () => {
    const options = {
      query: CUSTOM_QUERY,
      fields: { profile_url: FIELDS.profile_url },
      relativeUrlBase: 'https://cdn.example.com',
    };
    const ada = await pullJson(options, '1042');
    expect(ada.status).toBe(200);
    expect(ada.body).toBe(
      '{"id":"1042","display_name":"Ada L.","image_url":"https://cdn.example.com/avatars/1042.jpg",' +
        '"name":{"first":"Ada","last":"Lovelace"},"email_notifications":{"replies":"often","comments":"never",' +
        '"likes":"never","moderator_comments":"never","moderator_flags":"never"},"display_rules":{"bio":true},' +
        '"tags":["staff","beta"],"profile_url":"https://example.com/people/ada.l"}',
    );
    const bob = await pullJson(options, '7');
    expect(bob.json).toEqual({
      id: '7',
      display_name: 'Bob',
      image_url: 'https://img.example.net/b.png?size=100',
      profile_url: 'https://example.com/people/bob%20smith%2Fx',
    });
    for (const id of ['999', '007', 'abc', '99999999999999999999'])
      expect((await pullJson(options, id)).status, id).toBe(404);
  });

  it('falls back to pull.displayNameFallback over table or query columns when the display name is blank', async () => {
    await admin.query(`INSERT INTO legacy.accounts (account_id, login, screen_name) VALUES (55, 'cat', E'\\n  ')`);
    try {
      const fallback = { displayNameFallback: '@{login}' };
      expect((await pullJson(fallback, '55')).json).toEqual({ id: '55', display_name: '@cat' });
      expect((await pullJson({}, '55')).json).toEqual({ id: '55', display_name: '55' });
      const query = 'SELECT screen_name AS display_name, login FROM legacy.accounts WHERE account_id = $1';
      expect((await pullJson({ ...fallback, query }, '55')).json).toEqual({ id: '55', display_name: '@cat' });
      await expect(build({ displayNameFallback: '{nope}' })).rejects.toThrow(/pull\.displayNameFallback.*nope/);
    } finally {
      await admin.query('DELETE FROM legacy.accounts WHERE account_id = 55');
    }
  });

  it('answers 404, not 500, when an id is no value of a custom query parameter of another type', async () => {
    const query = 'SELECT screen_name AS display_name FROM legacy.accounts WHERE account_id = $1::numeric';
    expect((await pullJson({ query }, '1042')).json).toEqual({ id: '1042', display_name: 'Ada L.' });
    expect((await pullJson({ query }, 'abc')).status).toBe(404);
  });

  it('uses the cache-busting column of a custom query', async () => {
    const query =
      'SELECT screen_name AS display_name, avatar_path AS image_url, avatar_changed_at FROM legacy.accounts WHERE account_id = $1';
    const ada = await pullJson(
      { query, imageVersionColumn: 'avatar_changed_at', relativeUrlBase: 'https://cdn.example.com/' },
      '1042',
    );
    expect(ada.json?.image_url).toMatch(/^https:\/\/cdn\.example\.com\/avatars\/1042\.jpg\?v=[0-9a-f]{8}$/);
  });

  const rejects = async (pull: Partial<PullOptions>, message: RegExp, source = SOURCE) => {
    const failure = build(pull, source);
    await expect(failure).rejects.toThrow(ConfigError);
    await expect(build(pull, source)).rejects.toThrow(message);
  };

  it("reads a profile with one query that can use the id column's index, whatever its type", async () => {
    for (const [source, id] of [
      [SOURCE, '1042'],
      [{ table: 'legacy.handles', idColumn: 'handle', columns: { display_name: 'nick' } }, 'ada'],
    ] as const) {
      const plan = planProfile(source.columns, { fields: source === SOURCE ? FIELDS : {} });
      const query = await prepareProfileQuery(pool, { table: source.table, idColumn: source.idColumn }, plan);
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SET LOCAL enable_seqscan = off');
        const plan = await client.query({ text: `EXPLAIN (FORMAT JSON) ${query.sql}`, values: [id] });
        const text = JSON.stringify(plan.rows[0]);
        expect(text, source.table).toMatch(/"Node Type":"Index (Only )?Scan"/);
        expect(text).toContain('_pkey');
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    }
  });

  it('refuses at start-up templates and version columns naming columns the table lacks, naming them', async () => {
    await rejects(
      { fields: { profile_url: { template: 'https://example.com/{username}' } } },
      /pull\.fields\.profile_url: column "username" does not exist in legacy\.accounts/,
    );
    await rejects(
      { imageVersionColumn: 'avatar_version' },
      /pull\.imageVersionColumn: column "avatar_version" does not exist/,
    );
    await rejects(
      { fields: { settings_url: { constant: '/settings' } } },
      /pull\.fields\.settings_url: constant "\/settings" is not a fully qualified/,
    );
  });

  it('refuses at start-up a custom query that does not fit', async () => {
    const base = 'SELECT screen_name AS display_name FROM legacy.accounts';
    await rejects({ query: base }, /pull\.query: must have exactly one parameter, \$1.*it has 0/);
    await rejects({ query: `${base} WHERE account_id = $1 AND login = $2` }, /it has 2/);
    await rejects({ query: `${base} WHERE nope = $1` }, /pull\.query: column "nope" does not exist/);
    await rejects({ query: `${base} WHERE account_id = $1; DROP TABLE legacy.prefs` }, /pull\.query: syntax error/);
    await rejects(
      { query: 'SELECT screen_name AS display_name, secret FROM legacy.accounts WHERE account_id = $1' },
      /pull\.query: result column "secret" is neither a Livefyre field/,
    );
    await rejects(
      { query: 'SELECT login FROM legacy.accounts WHERE account_id = $1', fields: { profile_url: FIELDS.profile_url } },
      /must have a result column "display_name"/,
    );
    await rejects(
      { query: 'SELECT screen_name AS display_name, login AS moderator FROM legacy.accounts WHERE account_id = $1' },
      /pull\.query\.moderator: needs a boolean column, result column "moderator" of pull\.query is text/,
    );
    await rejects(
      { query: `${base} WHERE account_id = $1`, fields: { profile_url: { template: 'https://example.com/{login}' } } },
      /pull\.fields\.profile_url: column "login" is not a result column of pull\.query/,
    );
    const tables = await admin.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'legacy'`);
    expect(tables.rows[0].n).toBe(3);
  });

  it('makes `pingpull pull-server` exit 2 naming the unknown column', async () => {
    const result = await runCli(['pull-server'], {
      PINGPULL_DATABASE_URL: db.url,
      PINGPULL_LIVEFYRE_NETWORK: NETWORK,
      PINGPULL_LIVEFYRE_NETWORK_KEY: NETWORK_KEY,
      PINGPULL_SOURCE_TABLE: SOURCE.table,
      PINGPULL_SOURCE_ID_COLUMN: SOURCE.idColumn,
      PINGPULL_SOURCE_COLUMNS: JSON.stringify(SOURCE.columns),
      PINGPULL_PULL_FIELDS: JSON.stringify({ profile_url: { template: 'https://example.com/{nickname}' } }),
      PINGPULL_PULL_HOST: '127.0.0.1',
      PINGPULL_PULL_PORT: '0',
      PINGPULL_METRICS_PORT: '0',
      PINGPULL_LOG_LEVEL: 'silent',
    });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('pull.fields.profile_url: column "nickname" does not exist');
  });
});
