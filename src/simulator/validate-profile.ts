import { NOTIFICATION_VALUES } from '../livefyre/profile.js';

/**
 * What Livefyre checks in a pulled profile (fields in src/livefyre/profile.ts),
 * so the simulator refuses what Livefyre would refuse. `null` is not accepted
 * for any field: an absent value is left out.
 */
export type ProfileVerdict = { ok: true; profile: Record<string, unknown> } | { ok: false; errors: string[] };

const TAG = /^[A-Za-z0-9_]{1,63}$/;
const URL_FIELDS = ['image_url', 'profile_url', 'settings_url'] as const;
const STRING_FIELDS = ['email', 'location', 'bio'] as const;
const BOOLEAN_FIELDS = ['autofollow_conversations', 'moderator', 'gravatar_disabled'] as const;
const NAME_KEYS = new Set(['formatted', 'first', 'middle', 'last']);
const NOTIFICATION_KEYS = new Set(['comments', 'replies', 'likes', 'moderator_comments', 'moderator_flags']);
const DISPLAY_RULE_KEYS = new Set(['bio', 'location', 'gender', 'name', 'image', 'remote_profile_url']);

export function validateProfile(body: unknown, expectedId: string): ProfileVerdict {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, errors: ['the profile must be a JSON object'] };
  }
  const profile = body as Record<string, unknown>;
  const errors: string[] = [];
  const has = (field: string): boolean => Object.hasOwn(profile, field);

  if (typeof profile.id !== 'string') errors.push('id: required, must be a string');
  else if (profile.id !== expectedId) errors.push(`id: ${JSON.stringify(profile.id)} is not the pinged id ${JSON.stringify(expectedId)}`);
  if (typeof profile.display_name !== 'string' || profile.display_name.length === 0) {
    errors.push('display_name: required, must be a non-empty string');
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
  if (has('tags')) {
    const tags = profile.tags;
    if (!Array.isArray(tags)) errors.push('tags: must be an array of strings');
    else if (!tags.every((tag) => typeof tag === 'string' && TAG.test(tag))) {
      errors.push('tags: each tag must be 1-63 letters, digits or underscores');
    }
  }
  if (has('websites')) {
    const sites = profile.websites;
    if (!Array.isArray(sites)) errors.push('websites: must be an array of URLs');
    else {
      if (sites.length > 2) errors.push(`websites: at most 2, received ${sites.length}`);
      if (!sites.every(isQualifiedUrl)) errors.push('websites: each must be a fully qualified http(s) URL');
    }
  }
  if (has('name')) objectMembers(errors, 'name', profile.name, NAME_KEYS, (v) => typeof v === 'string', 'a string');
  if (has('email_notifications')) {
    objectMembers(
      errors,
      'email_notifications',
      profile.email_notifications,
      NOTIFICATION_KEYS,
      (v) => typeof v === 'string' && NOTIFICATION_VALUES.has(v),
      'one of immediately, often, never',
    );
  }
  if (has('display_rules')) {
    objectMembers(errors, 'display_rules', profile.display_rules, DISPLAY_RULE_KEYS, (v) => typeof v === 'boolean', 'a boolean');
  }
  return errors.length === 0 ? { ok: true, profile } : { ok: false, errors };
}

function objectMembers(
  errors: string[],
  field: string,
  value: unknown,
  keys: ReadonlySet<string>,
  valid: (member: unknown) => boolean,
  expected: string,
): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    errors.push(`${field}: must be an object`);
    return;
  }
  for (const [key, member] of Object.entries(value)) {
    if (!keys.has(key)) errors.push(`${field}.${key}: unknown member (known: ${[...keys].join(', ')})`);
    else if (!valid(member)) errors.push(`${field}.${key}: must be ${expected}`);
  }
}

function isQualifiedUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname.length > 0;
  } catch {
    return false;
  }
}
