/**
 * What Livefyre checks in a pulled profile, so the simulator refuses what
 * Livefyre would refuse. The rules are the simulator's own copy (it imports
 * nothing of pingpull's profile code, so a mistake there cannot hide here),
 * taken from Livefyre's "Build the Ping for Pull Response" reference and the
 * user schema of its import tools (Livefyre/import-tools,
 * lfvalidator/jsonschema/user_schema.json):
 * - `id` and `display_name` required; `id` 1-255 characters;
 * - `display_name` 1-150 characters, no line breaks and no HTML entity such
 *   as `&amp;` (the schema's pattern `^((?!&\w+;).)*$`), and not blank (the
 *   simulator's own assumption: a name of spaces shows as no name);
 * - `email` shaped like an address (the schema's pattern, with top-level
 *   domains of any length rather than its dated 2-4 letters);
 * - URLs fully qualified http(s); `websites` at most 2;
 * - `tags` unique, each 1-63 letters, digits or underscores;
 * - `email_notifications` with all five keys, each `immediately`, `often`
 *   or `never`; `name` and `display_rules` only with their documented members;
 * - no other top-level keys, and `null` for none of them (absent values are
 *   left out).
 * Lengths count Unicode code points, as the schema's JSON Schema validator does.
 */
export type ProfileVerdict = { ok: true; profile: Record<string, unknown> } | { ok: false; errors: string[] };

const MAX_ID = 255;
const MAX_DISPLAY_NAME = 150;
const MAX_WEBSITES = 2;
const TAG = /^[A-Za-z0-9_]{1,63}$/;
const HTML_ENTITY = /&\w+;/;
const LINE_BREAK = /[\n\r\u2028\u2029]/;
const EMAIL = /^[\p{L}\p{N}_.%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/u;
const URL_FIELDS = ['image_url', 'profile_url', 'settings_url'] as const;
const STRING_FIELDS = ['location', 'bio'] as const;
const BOOLEAN_FIELDS = ['autofollow_conversations', 'moderator', 'gravatar_disabled'] as const;
const NAME_KEYS = ['formatted', 'first', 'middle', 'last'] as const;
const NOTIFICATION_KEYS = ['comments', 'replies', 'likes', 'moderator_comments', 'moderator_flags'] as const;
const NOTIFICATION_VALUES = new Set(['immediately', 'often', 'never']);
const DISPLAY_RULE_KEYS = ['bio', 'location', 'gender', 'name', 'image', 'remote_profile_url'] as const;
const TOP_LEVEL_KEYS = new Set<string>([
  'id',
  'display_name',
  'email',
  'name',
  'tags',
  'email_notifications',
  'websites',
  'display_rules',
  ...URL_FIELDS,
  ...STRING_FIELDS,
  ...BOOLEAN_FIELDS,
]);

const codePoints = (text: string): number => [...text].length;

export function validateProfile(body: unknown, expectedId: string): ProfileVerdict {
  if (!isObject(body)) return { ok: false, errors: ['the profile must be a JSON object'] };
  const profile = body;
  const errors: string[] = [];
  const has = (field: string): boolean => Object.hasOwn(profile, field);

  for (const key of Object.keys(profile)) if (!TOP_LEVEL_KEYS.has(key)) errors.push(`${key}: unknown field`);
  if (typeof profile.id !== 'string') errors.push('id: required, must be a string');
  else if (profile.id !== expectedId)
    errors.push(`id: ${JSON.stringify(profile.id)} is not the pinged id ${JSON.stringify(expectedId)}`);
  else if (codePoints(profile.id) > MAX_ID) errors.push(`id: longer than ${MAX_ID} characters`);
  errors.push(...displayNameErrors(profile.display_name));
  if (has('email') && !(typeof profile.email === 'string' && EMAIL.test(profile.email))) {
    errors.push('email: must be an email address (name@domain.tld)');
  }
  for (const field of STRING_FIELDS) {
    if (has(field) && typeof profile[field] !== 'string') errors.push(`${field}: must be a string`);
  }
  for (const field of URL_FIELDS) {
    if (has(field) && !isQualifiedUrl(profile[field])) errors.push(`${field}: must be a fully qualified http(s) URL`);
  }
  for (const field of BOOLEAN_FIELDS) {
    if (has(field) && typeof profile[field] !== 'boolean') errors.push(`${field}: must be a boolean`);
  }
  if (has('tags')) errors.push(...tagErrors(profile.tags));
  if (has('websites')) errors.push(...websiteErrors(profile.websites));
  if (has('name')) {
    errors.push(...members('name', profile.name, NAME_KEYS, false, (v) => typeof v === 'string', 'a string'));
  }
  if (has('email_notifications')) {
    const valid = (v: unknown): boolean => typeof v === 'string' && NOTIFICATION_VALUES.has(v);
    const expected = 'one of immediately, often, never';
    const notifications = profile.email_notifications;
    errors.push(...members('email_notifications', notifications, NOTIFICATION_KEYS, true, valid, expected));
  }
  if (has('display_rules')) {
    const valid = (v: unknown): boolean => typeof v === 'boolean';
    errors.push(...members('display_rules', profile.display_rules, DISPLAY_RULE_KEYS, false, valid, 'a boolean'));
  }
  return errors.length === 0 ? { ok: true, profile } : { ok: false, errors };
}

function displayNameErrors(value: unknown): string[] {
  if (typeof value !== 'string' || value.length === 0) return ['display_name: required, must be a non-empty string'];
  const errors: string[] = [];
  if (codePoints(value) > MAX_DISPLAY_NAME) errors.push(`display_name: longer than ${MAX_DISPLAY_NAME} characters`);
  if (value.trim().length === 0) errors.push('display_name: blank');
  if (LINE_BREAK.test(value)) errors.push('display_name: contains a line break');
  if (HTML_ENTITY.test(value)) errors.push('display_name: contains an HTML entity such as &amp;');
  return errors;
}

function tagErrors(tags: unknown): string[] {
  if (!Array.isArray(tags)) return ['tags: must be an array of strings'];
  const errors: string[] = [];
  if (!tags.every((tag) => typeof tag === 'string' && TAG.test(tag))) {
    errors.push('tags: each tag must be 1-63 letters, digits or underscores');
  }
  if (new Set(tags).size !== tags.length) errors.push('tags: must not repeat a tag');
  return errors;
}

function websiteErrors(sites: unknown): string[] {
  if (!Array.isArray(sites)) return ['websites: must be an array of URLs'];
  const errors: string[] = [];
  if (sites.length > MAX_WEBSITES) errors.push(`websites: at most ${MAX_WEBSITES}, received ${sites.length}`);
  if (!sites.every(isQualifiedUrl)) errors.push('websites: each must be a fully qualified http(s) URL');
  return errors;
}

function members(
  field: string,
  value: unknown,
  keys: readonly string[],
  allRequired: boolean,
  valid: (member: unknown) => boolean,
  expected: string,
): string[] {
  if (!isObject(value)) return [`${field}: must be an object`];
  const errors: string[] = [];
  for (const [key, member] of Object.entries(value)) {
    if (!keys.includes(key)) errors.push(`${field}.${key}: unknown member (known: ${keys.join(', ')})`);
    else if (!valid(member)) errors.push(`${field}.${key}: must be ${expected}`);
  }
  if (allRequired) {
    for (const key of keys) {
      if (!Object.hasOwn(value, key)) errors.push(`${field}.${key}: required (all of ${keys.join(', ')})`);
    }
  }
  return errors;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isQualifiedUrl(value: unknown): boolean {
  if (typeof value !== 'string' || /\s/.test(value)) return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname.length > 0;
  } catch {
    return false;
  }
}
