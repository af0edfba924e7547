import pg from 'pg';

/**
 * A users table whose names are nothing like Livefyre's (integer ids in
 * `user_id`, `nick`, `mail`, `pic`, ...) in its own schema, with a column
 * that must never leave the database. Shared by the pull integration tests.
 */
export const SOURCE = {
  table: 'app.members',
  idColumn: 'user_id',
  columns: {
    display_name: 'nick',
    email: 'mail',
    image_url: 'pic',
    moderator: 'is_mod',
    tags: 'groups',
    'name.first': 'first_name',
    'email_notifications.replies': 'notify_replies',
  },
  updatedAtColumn: '',
};

export const ADA_JSON =
  '{"id":"1042","display_name":"Ada L.","email":"ada@example.com",' +
  '"image_url":"https://cdn.example.com/avatars/1042.jpg?v=7","moderator":false,"tags":["staff","beta"],' +
  '"name":{"first":"Ada"},"email_notifications":{"replies":"immediately","comments":"never","likes":"never",' +
  '"moderator_comments":"never","moderator_flags":"never"}}';

export async function createUsersTable(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`
      CREATE SCHEMA app;
      CREATE TABLE app.members (
        user_id bigint PRIMARY KEY,
        nick text,
        mail text,
        pic text,
        is_mod boolean,
        groups text[],
        first_name text,
        notify_replies text,
        password_hash text
      );
      INSERT INTO app.members VALUES
        (1042, 'Ada L.', 'ada@example.com', 'https://cdn.example.com/avatars/1042.jpg?v=7', false,
         '{staff,beta}', 'Ada', 'immediately', 'never-leaves'),
        (7, 'Bob', NULL, NULL, NULL, NULL, NULL, NULL, 'never-leaves'),
        (8, NULL, 'nameless@example.com', NULL, NULL, NULL, NULL, NULL, 'never-leaves'),
        (9, '', NULL, NULL, NULL, NULL, NULL, NULL, 'never-leaves'),
        (10, E' \\t\\n ', NULL, NULL, NULL, NULL, NULL, NULL, 'never-leaves');
    `);
  } finally {
    await client.end();
  }
}
