import { columnEntries, pullFieldEntries, type Config, type PullFields } from '../config/index.js';
import { schema } from '../config/schema.js';
import { parseTableName, type TableName } from '../db.js';
import { ID_PLACEHOLDER, parseTemplate } from '../pull/template.js';

/**
 * The one profile mapping: built once from the configuration, it says which
 * columns leave the database (the publication's column lists), which changes
 * are profile changes, what resync reads and what the pull server answers.
 * Nothing else reads `source.columns`, `source.related` or the columns named
 * by `pull.fields` and `pull.imageVersionColumn`.
 */
export interface ProfileMapping {
  readonly table: TableName;
  readonly idColumn: string;
  /** Livefyre field → column of the users table (`source.columns`, members dotted: `name.first`). */
  readonly columns: Readonly<Record<string, string>>;
  /** Columns of the users table whose changes are profile changes, in a stable order, without the id. */
  readonly watched: readonly WatchedColumn[];
  /** Other tables whose columns feed the profile: a change there pings the user named in its idColumn. */
  readonly related: readonly RelatedTable[];
  /** Every Livefyre field the profile is built with, in mapping order. */
  readonly fields: readonly string[];
  /** What the pull server builds the answer from, besides `columns`. */
  readonly pull: PullMapping;
}

export interface WatchedColumn {
  readonly column: string;
  /** The Livefyre fields a change to it can change. */
  readonly fields: readonly string[];
  /** The keys naming it: `source.columns.email`, `pull.fields.profile_url`, `pull.imageVersionColumn`. */
  readonly keys: readonly string[];
}

export interface RelatedTable {
  readonly table: TableName;
  /** The column holding the user id (the users table's id). */
  readonly idColumn: string;
  /** The published columns besides the id column; a change to one of them pings. */
  readonly columns: readonly string[];
  /** `source.related[0]`, for messages. */
  readonly key: string;
}

export interface PullMapping {
  readonly fields: PullFields;
  readonly relativeUrlBase: string;
  /** "" when off. */
  readonly imageVersionColumn: string;
  /** The display name of rows without one: a template over columns. */
  readonly displayNameFallback: string;
  readonly emailNotificationsDefault: string;
  /** The custom query, "" when the users table is read. */
  readonly query: string;
}

export type MappingConfig = {
  readonly source: Pick<Config['source'], 'table' | 'idColumn' | 'columns'> &
    Partial<Pick<Config['source'], 'related'>>;
  readonly pull?: Partial<
    Pick<
      Config['pull'],
      | 'fields'
      | 'relativeUrlBase'
      | 'imageVersionColumn'
      | 'query'
      | 'displayNameFallback'
      | 'emailNotificationsDefault'
    >
  >;
};

export function buildProfileMapping(config: MappingConfig): ProfileMapping {
  const { source } = config;
  const pull: PullMapping = {
    fields: config.pull?.fields ?? {},
    relativeUrlBase: config.pull?.relativeUrlBase ?? '',
    imageVersionColumn: config.pull?.imageVersionColumn ?? '',
    displayNameFallback: config.pull?.displayNameFallback ?? schema.pull.displayNameFallback.default,
    emailNotificationsDefault: config.pull?.emailNotificationsDefault ?? schema.pull.emailNotificationsDefault.default,
    query: config.pull?.query?.trim() ?? '',
  };
  const columns = Object.fromEntries(columnEntries(source.columns)) as Record<string, string>;
  const related = (source.related ?? []).map((entry, index): RelatedTable => ({
    table: parseTableName(entry.table),
    idColumn: entry.idColumn,
    columns: [...new Set(entry.columns)].filter((column) => column !== entry.idColumn),
    key: `source.related[${index}]`,
  }));
  // With a custom query a template may name a related table's column: that table watches it.
  const watchedElsewhere = new Set(pull.query === '' ? [] : related.flatMap((table) => table.columns));

  const watched = new Map<string, { fields: string[]; keys: string[] }>();
  const watch = (column: string, field: string, key: string): void => {
    if (column === source.idColumn || column === ID_PLACEHOLDER || watchedElsewhere.has(column)) return;
    const entry = watched.get(column) ?? { fields: [], keys: [] };
    if (!entry.fields.includes(field)) entry.fields.push(field);
    entry.keys.push(key);
    watched.set(column, entry);
  };
  for (const [field, column] of Object.entries(columns)) watch(column, field, `source.columns.${field}`);
  const fields = Object.keys(columns);
  for (const [field, spec] of pullFieldEntries(pull.fields)) {
    if (!fields.includes(field)) fields.push(field);
    if (!('template' in spec)) continue;
    for (const name of parseTemplate(spec.template).names) watch(name, field, `pull.fields.${field}`);
  }
  for (const name of parseTemplate(pull.displayNameFallback).names)
    watch(name, 'display_name', 'pull.displayNameFallback');
  if (pull.imageVersionColumn !== '') watch(pull.imageVersionColumn, 'image_url', 'pull.imageVersionColumn');

  return {
    table: parseTableName(source.table),
    idColumn: source.idColumn,
    columns,
    watched: [...watched].map(([column, entry]) => ({ column, ...entry })),
    related,
    fields,
    pull,
  };
}

/** The users table's columns that leave the database: the id first, then the watched ones. */
export function publishedColumns(mapping: ProfileMapping): string[] {
  return [mapping.idColumn, ...mapping.watched.map((watched) => watched.column)];
}

/** A related table's columns that leave the database: its id column first. */
export function relatedPublishedColumns(related: RelatedTable): string[] {
  return [related.idColumn, ...related.columns];
}

/** The Livefyre fields a change to these columns of the users table can change. */
export function fieldsOfColumns(mapping: ProfileMapping, changed: ReadonlySet<string>): string[] {
  const fields = new Set<string>();
  for (const watched of mapping.watched) {
    if (changed.has(watched.column)) for (const field of watched.fields) fields.add(field);
  }
  return [...fields];
}
