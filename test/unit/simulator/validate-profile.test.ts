import { describe, expect, it } from 'vitest';
import { validateProfile } from '../../../src/simulator/validate-profile.js';

const EXAMPLE_PROFILE = {
  id: 'u1042',
  display_name: 'Ada L.',
  email: 'ada@example.com',
  image_url: 'https://cdn.example.com/avatars/u1042.jpg?v=7',
  profile_url: 'https://example.com/people/u1042',
  settings_url: 'https://example.com/settings',
  autofollow_conversations: true,
  email_notifications: {
    comments: 'never',
    replies: 'immediately',
    likes: 'often',
    moderator_comments: 'never',
    moderator_flags: 'never',
  },
};

const errorsOf = (body: unknown, id = 'u1042'): string[] => {
  const verdict = validateProfile(body, id);
  return verdict.ok ? [] : verdict.errors;
};

describe('profile validation (as Livefyre)', () => {
  it('accepts a full example profile and a minimal one', () => {
    expect(validateProfile(EXAMPLE_PROFILE, 'u1042')).toEqual({ ok: true, profile: EXAMPLE_PROFILE });
    expect(errorsOf({ id: 'u1042', display_name: 'A' })).toEqual([]);
  });

  it('requires the pinged id and a display name', () => {
    expect(errorsOf({ id: 'u1', display_name: 'A' })).toEqual([expect.stringMatching(/not the pinged id/)]);
    expect(errorsOf({ id: 1042, display_name: 'A' }, '1042')).toEqual([expect.stringMatching(/^id:/)]);
    expect(errorsOf({ id: 'u1042' })).toEqual([expect.stringMatching(/^display_name:/)]);
    expect(errorsOf({ id: 'u1042', display_name: '' })).toEqual([expect.stringMatching(/^display_name:/)]);
  });

  it('refuses non-objects', () => {
    expect(errorsOf(null)).toHaveLength(1);
    expect(errorsOf([EXAMPLE_PROFILE])).toHaveLength(1);
    expect(errorsOf('u1042')).toHaveLength(1);
  });

  it('checks field types, with null never accepted', () => {
    const base = { id: 'u1042', display_name: 'A' };
    expect(errorsOf({ ...base, email: null })).toEqual([expect.stringMatching(/^email:/)]);
    expect(errorsOf({ ...base, moderator: 'true' })).toEqual([expect.stringMatching(/^moderator:/)]);
    expect(errorsOf({ ...base, bio: 3 })).toEqual([expect.stringMatching(/^bio:/)]);
    expect(errorsOf({ ...base, name: { first: 'A', nick: 'x' } })).toEqual([expect.stringMatching(/^name\.nick:/)]);
    expect(errorsOf({ ...base, display_rules: { bio: 'yes' } })).toEqual([
      expect.stringMatching(/^display_rules\.bio:/),
    ]);
  });

  it('requires fully qualified URLs', () => {
    const base = { id: 'u1042', display_name: 'A' };
    expect(errorsOf({ ...base, image_url: '/avatars/1.jpg' })).toEqual([expect.stringMatching(/^image_url:/)]);
    expect(errorsOf({ ...base, profile_url: 'javascript:alert(1)' })).toEqual([expect.stringMatching(/^profile_url:/)]);
    expect(errorsOf({ ...base, websites: ['example.com'] })).toEqual([expect.stringMatching(/^websites:/)]);
  });

  it('allows at most 2 websites', () => {
    const base = { id: 'u1042', display_name: 'A' };
    expect(errorsOf({ ...base, websites: ['https://a.example', 'https://b.example'] })).toEqual([]);
    expect(errorsOf({ ...base, websites: ['https://a.example', 'https://b.example', 'https://c.example'] })).toEqual([
      expect.stringMatching(/at most 2/),
    ]);
  });

  it('checks the tag pattern', () => {
    const base = { id: 'u1042', display_name: 'A' };
    expect(errorsOf({ ...base, tags: ['staff', 'beta_2'] })).toEqual([]);
    expect(errorsOf({ ...base, tags: ['no-dashes'] })).toHaveLength(1);
    expect(errorsOf({ ...base, tags: ['x'.repeat(64)] })).toHaveLength(1);
    expect(errorsOf({ ...base, tags: [''] })).toHaveLength(1);
    expect(errorsOf({ ...base, tags: 'staff' })).toHaveLength(1);
  });

  it('checks email notification keys and values, and requires all five', () => {
    const base = { id: 'u1042', display_name: 'A' };
    const all = EXAMPLE_PROFILE.email_notifications;
    expect(errorsOf({ ...base, email_notifications: { ...all, replies: 'daily' } })).toEqual([
      expect.stringMatching(/^email_notifications\.replies:/),
    ]);
    expect(errorsOf({ ...base, email_notifications: { ...all, digest: 'never' } })).toEqual([
      expect.stringMatching(/^email_notifications\.digest: unknown/),
    ]);
    expect(errorsOf({ ...base, email_notifications: { replies: 'never' } })).toEqual([
      'email_notifications.comments: required (all of comments, replies, likes, moderator_comments, moderator_flags)',
      expect.stringMatching(/^email_notifications\.likes: required/),
      expect.stringMatching(/^email_notifications\.moderator_comments: required/),
      expect.stringMatching(/^email_notifications\.moderator_flags: required/),
    ]);
  });

  it('refuses unknown top-level fields (nothing beyond the documented profile)', () => {
    const base = { id: 'u1042', display_name: 'A' };
    expect(errorsOf({ ...base, created: '2024-01-01T00:00:00Z', password_hash: 'x' })).toEqual([
      'created: unknown field',
      'password_hash: unknown field',
    ]);
  });

  it("holds display names to Livefyre's schema: 150 code points, no line break, no HTML entity, not blank", () => {
    const base = { id: 'u1042' };
    expect(errorsOf({ ...base, display_name: 'a'.repeat(150) })).toEqual([]);
    expect(errorsOf({ ...base, display_name: '\u{1F600}'.repeat(150) })).toEqual([]);
    expect(errorsOf({ ...base, display_name: 'a'.repeat(151) })).toEqual(['display_name: longer than 150 characters']);
    expect(errorsOf({ ...base, display_name: 'Ada\nLovelace' })).toEqual(['display_name: contains a line break']);
    expect(errorsOf({ ...base, display_name: 'Tom &amp; Jerry' })).toEqual([expect.stringMatching(/HTML entity/)]);
    expect(errorsOf({ ...base, display_name: 'Tom & Jerry &#39;' })).toEqual([]);
    expect(errorsOf({ ...base, display_name: '   ' })).toEqual(['display_name: blank']);
    expect(errorsOf({ ...base, display_name: null })).toEqual([expect.stringMatching(/^display_name: required/)]);
  });

  it('limits ids to 255 characters', () => {
    const id = 'a'.repeat(256);
    expect(errorsOf({ id, display_name: 'A' }, id)).toEqual(['id: longer than 255 characters']);
  });

  it('requires an email shaped like an address', () => {
    const base = { id: 'u1042', display_name: 'A' };
    for (const email of ['ada@example.com', 'a.b+c@mail.example.online', 'jürgen@example.de']) {
      expect(errorsOf({ ...base, email }), email).toEqual([]);
    }
    for (const email of ['ada', 'ada@example', ' ada@example.com', 'a b@example.com', '', 42]) {
      expect(errorsOf({ ...base, email }), String(email)).toEqual([expect.stringMatching(/^email:/)]);
    }
  });

  it('refuses repeated tags and URLs with white space', () => {
    const base = { id: 'u1042', display_name: 'A' };
    expect(errorsOf({ ...base, tags: ['staff', 'staff'] })).toEqual(['tags: must not repeat a tag']);
    expect(errorsOf({ ...base, image_url: ' https://cdn.example.com/a.png' })).toEqual([
      expect.stringMatching(/^image_url:/),
    ]);
  });
});
