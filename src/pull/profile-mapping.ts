import { PROFILE_FIELDS, type FieldKind } from '../livefyre/profile.js';

/** One mapped Livefyre field: where it goes in the JSON and which column feeds it. */
export interface MappedField {
  /** `display_name` or a dotted member such as `name.first`. */
  readonly field: string;
  readonly column: string;
  readonly kind: FieldKind;
  /** The column alias in the profile query's result rows (`c0`, `c1`, ...): column names may clash with `id`. */
  readonly alias: string;
  readonly parent: string | undefined;
  readonly key: string;
}

export interface ProfilePlan {
  readonly fields: readonly MappedField[];
  /** JSON schema of the 200 response: Fastify compiles it into the serializer once. */
  readonly responseSchema: Record<string, unknown>;
}

export type Profile = Record<string, unknown>;

/** Decides, once at start-up, how rows become profiles (`source.columns`: field → column). */
export function planProfile(columns: Readonly<Record<string, string>>): ProfilePlan {
  const fields = Object.entries(columns).map(([field, column], index): MappedField => {
    const kind = PROFILE_FIELDS.get(field);
    // config validation rejects unknown fields; this guards direct callers
    if (kind === undefined) throw new TypeError(`unknown Livefyre profile field "${field}"`);
    const dot = field.indexOf('.');
    return {
      field,
      column,
      kind,
      alias: `c${index}`,
      parent: dot === -1 ? undefined : field.slice(0, dot),
      key: dot === -1 ? field : field.slice(dot + 1),
    };
  });
  return { fields, responseSchema: responseSchema(fields) };
}

/**
 * The profile of one row: `id` first, then the mapped fields in mapping
 * order. A NULL column leaves its field out (Livefyre rejects `null`), and an
 * object field appears only when one of its members has a value.
 */
export function profileFromRow(plan: ProfilePlan, row: Readonly<Record<string, unknown>>): Profile {
  const profile: Profile = { id: String(row.id) };
  for (const mapped of plan.fields) {
    const value = fieldValue(mapped.kind, row[mapped.alias]);
    if (value === undefined) continue;
    if (mapped.parent === undefined) {
      profile[mapped.key] = value;
    } else {
      const parent = (profile[mapped.parent] ??= {}) as Record<string, unknown>;
      parent[mapped.key] = value;
    }
  }
  return profile;
}

function fieldValue(kind: FieldKind, value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  switch (kind) {
    case 'boolean':
      return typeof value === 'boolean' ? value : undefined;
    case 'string[]':
      return Array.isArray(value) ? value.filter((item) => item !== null).map(String) : undefined;
    case 'string':
    case 'notification':
      return String(value);
  }
}

const KIND_SCHEMA: Record<FieldKind, Record<string, unknown>> = {
  string: { type: 'string' },
  notification: { type: 'string' },
  boolean: { type: 'boolean' },
  'string[]': { type: 'array', items: { type: 'string' } },
};

function responseSchema(fields: readonly MappedField[]): Record<string, unknown> {
  const properties: Record<string, Record<string, unknown>> = { id: { type: 'string' } };
  for (const mapped of fields) {
    if (mapped.parent === undefined) {
      properties[mapped.key] = KIND_SCHEMA[mapped.kind];
      continue;
    }
    const parent = (properties[mapped.parent] ??= { type: 'object', properties: {}, additionalProperties: false });
    (parent.properties as Record<string, unknown>)[mapped.key] = KIND_SCHEMA[mapped.kind];
  }
  return { type: 'object', properties, required: ['id'], additionalProperties: false };
}
