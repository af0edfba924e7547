/**
 * The profile JSON of Ping for Pull (README, "What Ping for Pull is"), as the
 * fields a mapping can target. Dotted names address the members of the object fields.
 */
export const USER_ID_PATTERN = /^[a-zA-Z0-9_.-]+$/;

export type FieldKind = 'string' | 'boolean' | 'string[]' | 'notification';

export const NOTIFICATION_KEYS = ['comments', 'replies', 'likes', 'moderator_comments', 'moderator_flags'] as const;
const DISPLAY_RULE_KEYS = ['bio', 'location', 'gender', 'name', 'image', 'remote_profile_url'] as const;
const NAME_KEYS = ['formatted', 'first', 'middle', 'last'] as const;

export const PROFILE_FIELDS: ReadonlyMap<string, FieldKind> = new Map<string, FieldKind>([
  ['display_name', 'string'],
  ['email', 'string'],
  ['image_url', 'string'],
  ['profile_url', 'string'],
  ['settings_url', 'string'],
  ...NAME_KEYS.map((k): [string, FieldKind] => [`name.${k}`, 'string']),
  ['tags', 'string[]'],
  ['autofollow_conversations', 'boolean'],
  ...NOTIFICATION_KEYS.map((k): [string, FieldKind] => [`email_notifications.${k}`, 'notification']),
  ['location', 'string'],
  ['bio', 'string'],
  ['websites', 'string[]'],
  ...DISPLAY_RULE_KEYS.map((k): [string, FieldKind] => [`display_rules.${k}`, 'boolean']),
  ['moderator', 'boolean'],
  ['gravatar_disabled', 'boolean'],
]);

export const NOTIFICATION_VALUES: ReadonlySet<string> = new Set(['immediately', 'often', 'never']);

/*
 * Limits from Livefyre's user schema (import-tools, lfvalidator/jsonschema/user_schema.json),
 * which its Ping for Pull reference shares: lengths count Unicode code points.
 */
/** `display_name`: 1-150 characters, no line break, no HTML entity such as `&amp;`. */
export const DISPLAY_NAME_MAX = 150;
export const DISPLAY_NAME_FORBIDDEN_ENTITY = /&\w+;/;
/**
 * `email`: the schema's pattern, except that top-level domains may be longer
 * than its dated 2-4 letters (`.online`, `.photography`).
 */
export const EMAIL_PATTERN = /^[\p{L}\p{N}_.%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/u;

export function isValidUserId(id: string): boolean {
  return id.length > 0 && USER_ID_PATTERN.test(id);
}
