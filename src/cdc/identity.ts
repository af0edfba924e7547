import { quoteIdent, type Pool, type TableName } from '../db.js';
import { ReplicaIdentityError } from '../errors.js';

/**
 * Replica identity: which old-row columns PostgreSQL writes to WAL for an
 * UPDATE or DELETE. A delete (or an update that changes the user id) carries
 * the user id only when `source.idColumn` is part of it. PostgreSQL decodes
 * each change with the identity of the table the row lives in: for a
 * partitioned users table that is every leaf partition, not the root.
 */
export type ReplicaIdentity = 'd' | 'n' | 'f' | 'i';

export interface RelationIdentity {
  /** `schema.name`, for messages. */
  name: string;
  /** `"schema"."name"`, for statements. */
  qualified: string;
  identity: ReplicaIdentity;
  /** Primary key columns (DEFAULT) or identity index columns (USING INDEX). */
  columns: string[];
  /** The identity index (USING INDEX), or the primary key's index (DEFAULT). */
  index: string | null;
}

export interface TableIdentity {
  root: RelationIdentity;
  /** The tables rows live in: the leaf partitions, or the root itself when it is not partitioned. */
  leaves: RelationIdentity[];
  partitioned: boolean;
}

/** A unique index setup may make the replica identity, with the index of each leaf partition attached to it. */
export interface IdentityIndex {
  name: string;
  columns: string[];
  /** Leaf table (`schema.name`) → its index, quoted names; the root itself when not partitioned. */
  perRelation: { qualified: string; index: string }[];
}

export async function readTableIdentity(pool: Pick<Pool, 'query'>, oid: number): Promise<TableIdentity> {
  const result = await pool.query<{
    level: number;
    isleaf: boolean;
    relkind: string;
    schema: string;
    name: string;
    replident: ReplicaIdentity;
    index: string | null;
    columns: string[];
  }>(
    `SELECT t.level, t.isleaf, c.relkind, n.nspname AS schema, c.relname AS name, c.relreplident AS replident,
            (SELECT ic.relname::text FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
              WHERE i.indrelid = c.oid AND (CASE c.relreplident WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END)
              LIMIT 1) AS index,
            ARRAY(SELECT a.attname::text FROM pg_index i
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
                   WHERE i.indrelid = c.oid AND (CASE c.relreplident WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END)
                   ORDER BY a.attnum) AS columns
       FROM (SELECT relid, level, isleaf FROM pg_partition_tree($1::regclass)
             UNION ALL -- a table that is not partitioned has no tree: it is its own root and leaf
             SELECT $1::regclass, 0, true WHERE NOT EXISTS (SELECT 1 FROM pg_partition_tree($1::regclass))) t
       JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE t.level = 0 OR (t.isleaf AND c.relkind = 'r')
      ORDER BY t.level, n.nspname, c.relname`,
    [oid],
  );
  const relations = result.rows.map((row) => ({
    level: row.level,
    isleaf: row.isleaf,
    partitioned: row.relkind === 'p',
    relation: {
      name: `${row.schema}.${row.name}`,
      qualified: `${quoteIdent(row.schema)}.${quoteIdent(row.name)}`,
      identity: row.replident,
      columns: row.columns,
      index: row.index,
    },
  }));
  const root = relations.find((r) => r.level === 0);
  if (root === undefined) throw new Error(`relation ${oid} has no partition tree`);
  return {
    root: root.relation,
    leaves: root.partitioned ? relations.filter((r) => r.level > 0).map((r) => r.relation) : [root.relation],
    partitioned: root.partitioned,
  };
}

/** Whether changes of this table carry `idColumn` in their old row. */
export function coversId(relation: RelationIdentity, idColumn: string): boolean {
  if (relation.identity === 'f') return true;
  if (relation.identity === 'n') return false;
  return relation.columns.includes(idColumn);
}

/** A table PostgreSQL refuses UPDATE and DELETE on once published: no identity at all. */
export function hasNoIdentity(relation: RelationIdentity): boolean {
  return relation.identity === 'n' || (relation.identity === 'd' && relation.columns.length === 0);
}

export function describeIdentity(relation: RelationIdentity): string {
  switch (relation.identity) {
    case 'f':
      return 'FULL';
    case 'n':
      return 'NOTHING';
    case 'i':
      return `USING INDEX ${relation.index ?? '?'} (${relation.columns.join(', ')})`;
    case 'd':
      return relation.columns.length === 0
        ? 'DEFAULT, no primary key'
        : `DEFAULT: primary key (${relation.columns.join(', ')})`;
  }
}

/**
 * Every relation whose identity differs from the one wanted. The partitioned
 * root decodes nothing itself, but it is what people and \`check\` look at.
 */
function relationsToAlter(table: TableIdentity, wanted: 'f' | IdentityIndex): RelationIdentity[] {
  const relations = table.partitioned ? [table.root, ...table.leaves] : [table.root];
  return relations.filter((relation) =>
    wanted === 'f'
      ? relation.identity !== 'f'
      : relation.identity !== 'i' || relation.index !== indexFor(wanted, relation),
  );
}

/** The ALTER TABLE statements that give every relation of the table the wanted identity. */
export function identityStatements(table: TableIdentity, wanted: 'f' | IdentityIndex): string[] {
  return relationsToAlter(table, wanted).map((relation) =>
    wanted === 'f'
      ? `ALTER TABLE ${relation.qualified} REPLICA IDENTITY FULL`
      : `ALTER TABLE ${relation.qualified} REPLICA IDENTITY USING INDEX ${quoteIdent(indexFor(wanted, relation) ?? '')}`,
  );
}

function indexFor(wanted: IdentityIndex, relation: RelationIdentity): string | null {
  return wanted.perRelation.find((entry) => entry.qualified === relation.qualified)?.index ?? null;
}

/**
 * The unique index on the id column PostgreSQL accepts as a replica identity:
 * unique, immediate, not partial, no expressions, every column NOT NULL.
 * The narrowest wins (the id alone when there is such an index); null when none qualifies.
 */
export async function findIdentityIndex(
  pool: Pick<Pool, 'query'>,
  table: TableIdentity,
  oid: number,
  idColumn: string,
): Promise<IdentityIndex | null> {
  const candidates = await pool.query<{ oid: number; name: string; columns: string[] }>(
    `SELECT i.indexrelid::int AS oid, ic.relname::text AS name,
            ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, pos)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.pos) AS columns
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = $1 AND i.indisunique AND i.indimmediate AND i.indisvalid
        AND i.indpred IS NULL AND i.indexprs IS NULL
        AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attname = $2
                      AND a.attnum = ANY(i.indkey::int2[]))
        AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid
                          AND a.attnum = ANY(i.indkey::int2[]) AND NOT a.attnotnull)
      ORDER BY i.indnatts, ic.relname`,
    [oid, idColumn],
  );
  const chosen = candidates.rows[0];
  if (chosen === undefined) return null;
  if (!table.partitioned) {
    return {
      name: chosen.name,
      columns: chosen.columns,
      perRelation: [{ qualified: table.root.qualified, index: chosen.name }],
    };
  }
  const attached = await pool.query<{ schema: string; name: string; index: string }>(
    `SELECT n.nspname::text AS schema, c.relname::text AS name, ic.relname::text AS index
       FROM pg_partition_tree($1::regclass) t
       JOIN pg_index i ON i.indexrelid = t.relid
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace`,
    [chosen.oid],
  );
  const perRelation = attached.rows.map((row) => ({
    qualified: `${quoteIdent(row.schema)}.${quoteIdent(row.name)}`,
    index: row.index,
  }));
  return { name: chosen.name, columns: chosen.columns, perRelation };
}

/**
 * PostgreSQL refuses UPDATE and DELETE on a published table without a replica
 * identity; with one that leaves out the user id, deletes and id changes
 * arrive without it. Each leaf partition is decoded with its own identity.
 */
export function identityProblems(
  table: TableName,
  identity: TableIdentity,
  idColumn: string,
  index: IdentityIndex | null,
): string[] {
  const where = (names: string[]): string =>
    identity.partitioned ? `partition(s) ${names.join(', ')} of ${table.schema}.${table.name}` : names.join(', ');
  const keyless = identity.leaves.filter(hasNoIdentity);
  if (keyless.length > 0) {
    const first = keyless[0]?.identity === 'n' ? 'NOTHING' : 'DEFAULT';
    return [
      `${where(keyless.map((r) => r.name))} has no primary key (replica identity ${first}): once published, UPDATE and DELETE on it would fail; add a primary key or run setup with --replica-identity-full`,
    ];
  }
  const uncovered = identity.leaves.filter((relation) => !coversId(relation, idColumn));
  const first = uncovered[0];
  if (first === undefined) return [];
  const fix =
    index === null
      ? `run pingpull setup --replica-identity-full, or create a unique index on ${idColumn} (NOT NULL, not partial) and run pingpull setup --replica-identity-index`
      : `run pingpull setup --replica-identity-index (ALTER TABLE ${table.qualified} REPLICA IDENTITY USING INDEX ${quoteIdent(index.name)}) or pingpull setup --replica-identity-full`;
  return [
    `source.idColumn ${idColumn} is not in the replica identity of ${where(uncovered.map((r) => r.name))} ` +
      `(${describeIdentity(first)}): deletes and id changes would arrive without the user id; ${fix}`,
  ];
}

/** `--replica-identity-index` without an index PostgreSQL would take. */
export function noIdentityIndex(table: TableName, idColumn: string): ReplicaIdentityError {
  return new ReplicaIdentityError(
    `--replica-identity-index: no unique index on ${idColumn} (source.idColumn) of ${table.schema}.${table.name} ` +
      'can be a replica identity (unique, not partial, not deferrable, NOT NULL columns): ' +
      `create one (ALTER TABLE ${table.qualified} ALTER COLUMN ${quoteIdent(idColumn)} SET NOT NULL; ` +
      `CREATE UNIQUE INDEX CONCURRENTLY ON ${table.qualified} (${quoteIdent(idColumn)})) ` +
      'and run setup again, or run pingpull setup --replica-identity-full',
  );
}
