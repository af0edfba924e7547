/**
 * The profile JSON of Ping for Pull (README, "What Ping for Pull is"), as the
 * fields a mapping can target. Dotted names address the members of the object fields.
 */
export const USER_ID_PATTERN = /^[a-zA-Z0-9_.-]+$/;

export type FieldKind = 'string' | 'boolean' | 'string[]' | 'notification';

const NOTIFICATION_KEYS = ['comments', 'replies', 'likes', 'moderator_comments', 'moderator_flags'] as const;
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

export function isValidUserId(id: string): boolean {
  return id.length > 0 && USER_ID_PATTERN.test(id);
}
