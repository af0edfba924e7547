import { describe, expect, it } from 'vitest';
import type { Pool } from '../../../src/db.js';
import { planProfile } from '../../../src/pull/profile-mapping.js';
import { prepareProfileQuery } from '../../../src/pull/profile-query.js';

interface Column {
  attname: string;
  typname: string;
  typcategory: string;
  basetype: string;
  elemcategory: string | null;
  readable: boolean;
}

const column = (attname: string, typname: string, typcategory = 'S', readable = true): Column => ({
  attname,
  typname,
  typcategory,
  basetype: typname,
  elemcategory: typcategory === 'A' ? 'S' : null,
  readable,
});

/** A pool that answers the catalogue query with `columns` and records every other query. */
function fakePool(columns: Column[]) {
  const queries: Array<{ name?: string; text: string; values?: unknown[] }> = [];
  const pool = {
    query: async (config: string | { name?: string; text: string; values?: unknown[] }) => {
      if (typeof config === 'object' && config.name !== undefined) {
        queries.push(config);
        return { rows: [{ id: String(config.values?.[0]), c0: 'Ada' }] };
      }
      return { rows: columns };
    },
  };
  return { pool: pool as unknown as Pool, queries };
}

const plan = planProfile({ display_name: 'nick', tags: 'groups', moderator: 'is_mod' });
const source = { table: 'app.members', idColumn: 'user_id' };

describe('profile query', () => {
  it('selects only the id and the mapped columns, as one named statement', async () => {
    const { pool, queries } = fakePool([
      column('user_id', 'int8', 'N'),
      column('nick', 'text'),
      column('groups', '_text', 'A'),
      column('is_mod', 'bool', 'B'),
      column('password_hash', 'text'),
    ]);
    const query = await prepareProfileQuery(pool, source, plan);
    await query.read(pool, '1042');
    await query.read(pool, '1043');
    expect(queries).toHaveLength(2);
    const [first, second] = queries;
    expect(first?.text).toBe(
      'SELECT "user_id"::text AS id, "nick"::text AS c0, "groups"::text[] AS c1, "is_mod" AS c2 ' +
        'FROM "app"."members" WHERE "user_id" = $1::int8 LIMIT 1',
    );
    expect(first?.text).not.toContain('password_hash');
    expect(first?.values).toEqual(['1042']);
    expect(first?.name).toMatch(/^pingpull_pull_[0-9a-f]{16}$/);
    expect(second?.name).toBe(first?.name);
  });

  it('answers "no user" without a query for ids an integer column cannot hold', async () => {
    const { pool, queries } = fakePool([
      column('user_id', 'int4', 'N'),
      column('nick', 'text'),
      column('groups', '_text', 'A'),
      column('is_mod', 'bool', 'B'),
    ]);
    const query = await prepareProfileQuery(pool, source, plan);
    for (const id of ['abc', '007', '-0', '2147483648', '1.5', '']) expect(query.accepts(id), id).toBe(false);
    expect(queries).toHaveLength(0);
    expect(query.accepts('-2147483648')).toBe(true);
  });

  it('compares text ids directly and other types through their text form', async () => {
    const cols = [column('nick', 'text'), column('groups', '_text', 'A'), column('is_mod', 'bool', 'B')];
    const text = fakePool([column('user_id', 'varchar'), ...cols]);
    await (await prepareProfileQuery(text.pool, source, plan)).read(text.pool, 'u1');
    expect(text.queries[0]?.text).toMatch(/WHERE "user_id" = \$1::text /);
    const other = fakePool([column('user_id', 'citext', 'U'), ...cols]);
    await (await prepareProfileQuery(other.pool, source, plan)).read(other.pool, 'u1');
    expect(other.queries[0]?.text).toMatch(/WHERE "user_id"::text = \$1::text /);
  });

  it('reads many ids with one named statement of an id array cast like the single id, keyed by id', async () => {
    const cols = [column('nick', 'text'), column('groups', '_text', 'A'), column('is_mod', 'bool', 'B')];
    const conditions: Record<string, RegExp> = {
      int8: /WHERE "user_id" = ANY\(\$1::int8\[\]\)$/,
      uuid: /WHERE "user_id" = ANY\(\$1::uuid\[\]\)$/,
      varchar: /WHERE "user_id" = ANY\(\$1::text\[\]\)$/,
      citext: /WHERE "user_id"::text = ANY\(\$1::text\[\]\)$/,
    };
    for (const [type, condition] of Object.entries(conditions)) {
      const { pool, queries } = fakePool([column('user_id', type, type === 'int8' ? 'N' : 'S'), ...cols]);
      const query = await prepareProfileQuery(pool, source, plan);
      const db = {
        query: async (config: { name?: string; text: string; values?: unknown[] }) => {
          queries.push(config);
          // a second row of an id (a column that is not unique) does not replace the first
          return {
            rows: [
              { id: 'x', c0: 'X' },
              { id: 'y', c0: 'Y' },
              { id: 'x', c0: 'again' },
            ],
          };
        },
      };
      const rows = await query.readMany?.(db as unknown as Pool, ['x', 'y', 'z']);
      await query.read(pool, 'x');
      const [many, single] = queries;
      expect(many?.text, type).toMatch(condition);
      expect(many?.text.startsWith(single?.text.replace(/WHERE .*/, '') ?? '?'), type).toBe(true);
      expect(many?.values).toEqual([['x', 'y', 'z']]);
      expect(many?.name).toMatch(/^pingpull_pull_[0-9a-f]{16}$/);
      expect(many?.name).not.toBe(single?.name);
      expect([...(rows ?? new Map()).entries()].map(([id, row]) => [id, row.c0])).toEqual([
        ['x', 'X'],
        ['y', 'Y'],
      ]);
    }
  });

  it('reports every missing or ill-typed column at once', async () => {
    const { pool } = fakePool([
      column('user_id', 'int8', 'N'),
      column('groups', 'text'),
      column('is_mod', 'int4', 'N'),
    ]);
    const failure = prepareProfileQuery(pool, source, plan);
    await expect(failure).rejects.toThrow(/source\.columns\.display_name: column "nick" does not exist/);
    await expect(prepareProfileQuery(pool, source, plan)).rejects.toThrow(
      /source\.columns\.tags: needs a text array column/,
    );
    await expect(prepareProfileQuery(pool, source, plan)).rejects.toThrow(
      /source\.columns\.moderator: needs a boolean column/,
    );
  });

  it('refuses columns the database user cannot read', async () => {
    const { pool } = fakePool([
      column('user_id', 'int8', 'N'),
      column('nick', 'text', 'S', false),
      column('groups', '_text', 'A'),
      column('is_mod', 'bool', 'B'),
    ]);
    await expect(prepareProfileQuery(pool, source, plan)).rejects.toThrow(/lacks SELECT .*nick/);
  });
});
