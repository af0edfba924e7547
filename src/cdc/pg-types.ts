import pg from 'pg';

/**
 * Column types whose text form is kept as Postgres prints it, in the stream
 * (pgoutput) and in resync alike: node-pg would turn timestamps into a JS
 * Date (microseconds lost, time zone rewritten), intervals and json into
 * objects. int8 and numeric already stay strings; bool, int2 and int4 are
 * parsed (exact). Unknown types (citext, enums, domains) arrive as text.
 */
export const TEXT_KEPT_TYPE_OIDS: ReadonlySet<number> = new Set([
  114, // json
  3802, // jsonb
  1082, // date
  1083, // time
  1114, // timestamp
  1184, // timestamptz
  1186, // interval
  1266, // timetz
  1115, // timestamp[]
  1182, // date[]
  1185, // timestamptz[]
]);

const keepText = (value: string): string => value;

/** A node-pg `types` object for queries that must read values the way the stream does. */
export const streamLikeTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    TEXT_KEPT_TYPE_OIDS.has(oid)
      ? keepText
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

/** Replaces the value parser of text-kept columns of a parsed Relation message (in place). */
export function keepTextColumns(columns: { typeOid: number; parser: (raw: string) => unknown }[]): void {
  for (const column of columns) {
    if (TEXT_KEPT_TYPE_OIDS.has(column.typeOid)) column.parser = keepText;
  }
}
