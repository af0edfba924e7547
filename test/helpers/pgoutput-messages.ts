import type { Pgoutput } from 'pg-logical-replication';

/** pgoutput messages as pg-logical-replication parses them. */
export function relation(options: {
  oid?: number;
  schema?: string;
  name?: string;
  columns: string[];
  replicaIdentity?: Pgoutput.MessageRelation['replicaIdentity'];
}): Pgoutput.MessageRelation {
  return {
    tag: 'relation',
    relationOid: options.oid ?? 16_400,
    schema: options.schema ?? 'public',
    name: options.name ?? 'users',
    replicaIdentity: options.replicaIdentity ?? 'default',
    columns: options.columns.map((name, index) => ({
      name,
      flags: index === 0 ? 1 : 0,
      typeOid: 25,
      typeMod: -1,
      typeSchema: null,
      typeName: null,
      parser: (raw: unknown) => raw,
    })),
    keyColumns: options.columns.slice(0, 1),
  };
}

export function begin(
  xid: number,
  commitLsn: string,
  commitTimeMicros = 1_700_000_000_000_000n,
): Pgoutput.MessageBegin {
  return { tag: 'begin', commitLsn, commitTime: commitTimeMicros, xid };
}

export function commit(
  commitLsn: string,
  commitEndLsn: string,
  commitTimeMicros = 1_700_000_000_000_000n,
): Pgoutput.MessageCommit {
  return { tag: 'commit', flags: 0, commitLsn, commitEndLsn, commitTime: commitTimeMicros };
}

export function insert(rel: Pgoutput.MessageRelation, row: Record<string, unknown>): Pgoutput.MessageInsert {
  return { tag: 'insert', relation: rel, new: row };
}

export function update(
  rel: Pgoutput.MessageRelation,
  row: Record<string, unknown>,
  old: { old?: Record<string, unknown>; key?: Record<string, unknown> } = {},
): Pgoutput.MessageUpdate {
  return { tag: 'update', relation: rel, new: row, old: old.old ?? null, key: old.key ?? null };
}

export function remove(
  rel: Pgoutput.MessageRelation,
  old: { old?: Record<string, unknown>; key?: Record<string, unknown> },
): Pgoutput.MessageDelete {
  return { tag: 'delete', relation: rel, old: old.old ?? null, key: old.key ?? null };
}
