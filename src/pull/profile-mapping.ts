import { pullFieldEntries, type PullFields } from '../config/index.js';
import { ConfigError } from '../errors.js';
import { NOTIFICATION_KEYS, PROFILE_FIELDS, type FieldKind } from '../livefyre/profile.js';
import { displayName, fieldShaper, URL_FIELDS, versionedImageUrl, type FieldShaper } from './field-values.js';
import { ID_PLACEHOLDER, parseTemplate, renderTemplate, type Template } from './template.js';

/** Where a field's value comes from: a column of the row, a template over columns, or a constant. */
export type FieldSource =
  | { readonly type: 'column'; readonly column: string; readonly alias: string }
  | {
      readonly type: 'template';
      readonly template: Template;
      readonly aliases: readonly string[];
      readonly encode: boolean;
    }
  | { readonly type: 'constant'; readonly value: unknown };

/** One Livefyre field of the profile: where it goes in the JSON and where its value comes from. */
export interface MappedField {
  /** `display_name` or a dotted member such as `name.first`. */
  readonly field: string;
  readonly kind: FieldKind;
  readonly parent: string | undefined;
  readonly key: string;
  readonly source: FieldSource;
  readonly shape: FieldShaper;
}

/** A column the profile query must read: its name in the table (or custom query) and its alias in result rows. */
export interface ReadColumn {
  readonly column: string;
  readonly alias: string;
  /** The field it feeds, or why it is read (`pull.fields.profile_url`, `pull.imageVersionColumn`). */
  readonly key: string;
  readonly kind: FieldKind | 'text';
}

export interface ProfilePlan {
  readonly fields: readonly MappedField[];
  /** Every column the query reads, aliased (`c0`, `t0`, `v`) because column names may clash with `id`. */
  readonly reads: readonly ReadColumn[];
  readonly imageVersionAlias: string | undefined;
  /** `pull.displayNameFallback`, for rows whose display name is NULL, empty or blank. */
  readonly displayNameFallback: { readonly template: Template; readonly aliases: readonly string[] };
  /** `pull.emailNotificationsDefault`: fills the members of `email_notifications` a row leaves out. */
  readonly emailNotificationsDefault: string;
  /** JSON schema of the 200 response: Fastify compiles it into the serializer once. */
  readonly responseSchema: Record<string, unknown>;
}

export type Profile = Record<string, unknown>;

export interface PlanOptions {
  /** `pull.fields`: templates and constants. */
  readonly fields?: PullFields;
  readonly relativeUrlBase?: string;
  /** `pull.imageVersionColumn` ("" or absent: no cache-busting). */
  readonly imageVersionColumn?: string;
  /** `pull.displayNameFallback` (default `{id}`). */
  readonly displayNameFallback?: string;
  /** `pull.emailNotificationsDefault` (default `never`, Livefyre's own default). */
  readonly emailNotificationsDefault?: string;
  /** Names the origin of `columns` in messages: `source.columns`, or `pull.query` for its result columns. */
  readonly columnsKey?: string;
}

const VERSION_ALIAS = 'v';
const DEFAULT_DISPLAY_NAME_FALLBACK = `{${ID_PLACEHOLDER}}`;
const DEFAULT_NOTIFICATION = 'never';

/**
 * Decides, once at start-up, how rows become profiles: `columns` (field →
 * column) first, then the templates and constants of `pull.fields`.
 */
export function planProfile(columns: Readonly<Record<string, string>>, options: PlanOptions = {}): ProfilePlan {
  const columnsKey = options.columnsKey ?? 'source.columns';
  const shaperOptions = { relativeUrlBase: options.relativeUrlBase };
  const reads: ReadColumn[] = [];
  const fields: MappedField[] = [];
  const problems: string[] = [];

  const describe = (field: string, source: FieldSource): MappedField => {
    const kind = PROFILE_FIELDS.get(field);
    // config validation rejects unknown fields; this guards direct callers
    if (kind === undefined) throw new TypeError(`unknown Livefyre profile field "${field}"`);
    const dot = field.indexOf('.');
    return {
      field,
      kind,
      parent: dot === -1 ? undefined : field.slice(0, dot),
      key: dot === -1 ? field : field.slice(dot + 1),
      source,
      shape: fieldShaper(field, kind, shaperOptions),
    };
  };

  for (const [field, column] of Object.entries(columns)) {
    const alias = `c${reads.length}`;
    const mapped = describe(field, { type: 'column', column, alias });
    reads.push({ column, alias, key: `${columnsKey}.${field}`, kind: mapped.kind });
    fields.push(mapped);
  }

  const placeholderAliases = new Map<string, string>();
  const templateAliases = (template: Template, key: string): string[] =>
    template.names.map((name) => {
      if (name === ID_PLACEHOLDER) return 'id';
      let alias = placeholderAliases.get(name);
      if (alias === undefined) {
        alias = `t${placeholderAliases.size}`;
        placeholderAliases.set(name, alias);
        reads.push({ column: name, alias, key, kind: 'text' });
      }
      return alias;
    });
  for (const [field, spec] of pullFieldEntries(options.fields ?? {})) {
    const key = `pull.fields.${field}`;
    if (Object.hasOwn(columns, field)) {
      problems.push(`${key}: "${field}" is already mapped by ${columnsKey}; set it in one place only`);
      continue;
    }
    if ('template' in spec) {
      if (PROFILE_FIELDS.get(field) !== 'string') {
        problems.push(`${key}: a template gives a string, so it only fits string fields`);
        continue;
      }
      const template = parseTemplate(spec.template);
      const aliases = templateAliases(template, key);
      fields.push(describe(field, { type: 'template', template, aliases, encode: URL_FIELDS.has(field) }));
      continue;
    }
    const probe = describe(field, { type: 'constant', value: undefined });
    const value = probe.shape(spec.constant);
    if (value === undefined) {
      problems.push(
        URL_FIELDS.has(field)
          ? `${key}: constant ${JSON.stringify(spec.constant)} is not a fully qualified http(s) URL (pull.relativeUrlBase resolves relative ones)`
          : `${key}: constant ${JSON.stringify(spec.constant)} is not a valid value for "${field}"`,
      );
      continue;
    }
    fields.push({ ...probe, source: { type: 'constant', value } });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const fallbackTemplate = parseTemplate(options.displayNameFallback ?? DEFAULT_DISPLAY_NAME_FALLBACK);
  const displayNameFallback = {
    template: fallbackTemplate,
    aliases: templateAliases(fallbackTemplate, 'pull.displayNameFallback'),
  };

  let imageVersionAlias: string | undefined;
  if (options.imageVersionColumn !== undefined && options.imageVersionColumn !== '') {
    imageVersionAlias = VERSION_ALIAS;
    reads.push({
      column: options.imageVersionColumn,
      alias: VERSION_ALIAS,
      key: 'pull.imageVersionColumn',
      kind: 'text',
    });
  }
  return {
    fields,
    reads,
    imageVersionAlias,
    displayNameFallback,
    emailNotificationsDefault: options.emailNotificationsDefault ?? DEFAULT_NOTIFICATION,
    responseSchema: responseSchema(fields),
  };
}

/**
 * The profile of one row: `id` first, then the fields in plan order. A field
 * with no acceptable value is left out (Livefyre rejects `null`), and an
 * object field appears only when one of its members has a value. Two fields
 * are always complete, or Livefyre refuses the whole profile: `display_name`
 * (the fallback template, then the id, when the row has none) and
 * `email_notifications` (every member, the default filling the gaps).
 */
export function profileFromRow(plan: ProfilePlan, row: Readonly<Record<string, unknown>>): Profile {
  const profile: Profile = { id: String(row.id) };
  for (const mapped of plan.fields) {
    let value = fieldValue(mapped, row);
    if (value === undefined) continue;
    if (plan.imageVersionAlias !== undefined && mapped.field === 'image_url') {
      value = versionedImageUrl(value as string, row[plan.imageVersionAlias]);
    }
    if (mapped.parent === undefined) {
      profile[mapped.key] = value;
    } else {
      const parent = (profile[mapped.parent] ??= {}) as Record<string, unknown>;
      parent[mapped.key] = value;
    }
  }
  profile.display_name ??= fallbackDisplayName(plan, row);
  const notifications = profile.email_notifications as Record<string, unknown> | undefined;
  if (notifications !== undefined) {
    for (const key of NOTIFICATION_KEYS) notifications[key] ??= plan.emailNotificationsDefault;
  }
  return profile;
}

function fallbackDisplayName(plan: ProfilePlan, row: Readonly<Record<string, unknown>>): string {
  const { template, aliases } = plan.displayNameFallback;
  const rendered = renderTemplate(
    template,
    aliases.map((alias) => row[alias]),
    false,
  );
  return displayName(rendered) ?? displayName(row.id) ?? String(row.id);
}

function fieldValue(mapped: MappedField, row: Readonly<Record<string, unknown>>): unknown {
  const source = mapped.source;
  switch (source.type) {
    case 'constant':
      return source.value;
    case 'column':
      return mapped.shape(row[source.alias]);
    case 'template': {
      const rendered = renderTemplate(
        source.template,
        source.aliases.map((alias) => row[alias]),
        source.encode,
      );
      return mapped.shape(rendered);
    }
  }
}

const KIND_SCHEMA: Record<FieldKind, Record<string, unknown>> = {
  string: { type: 'string' },
  notification: { type: 'string' },
  boolean: { type: 'boolean' },
  'string[]': { type: 'array', items: { type: 'string' } },
};

/** Every member of an object field that may appear: those mapped, and those the default fills in. */
function responseSchema(fields: readonly MappedField[]): Record<string, unknown> {
  const properties: Record<string, Record<string, unknown>> = {
    id: { type: 'string' },
    display_name: { type: 'string' },
  };
  for (const mapped of fields) {
    if (mapped.parent === undefined) {
      properties[mapped.key] = KIND_SCHEMA[mapped.kind];
      continue;
    }
    const parent = (properties[mapped.parent] ??= { type: 'object', properties: {}, additionalProperties: false });
    (parent.properties as Record<string, unknown>)[mapped.key] = KIND_SCHEMA[mapped.kind];
  }
  const notifications = properties.email_notifications?.properties as Record<string, unknown> | undefined;
  if (notifications !== undefined) for (const key of NOTIFICATION_KEYS) notifications[key] = KIND_SCHEMA.notification;
  return { type: 'object', properties, required: ['id', 'display_name'], additionalProperties: false };
}
