import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/errors.js';
import { planProfile, profileFromRow } from '../../../src/pull/profile-mapping.js';

describe('profile mapping', () => {
  const plan = planProfile({
    display_name: 'nick',
    email: 'mail',
    'name.first': 'first',
    'name.last': 'last',
    moderator: 'is_mod',
    tags: 'groups',
    'email_notifications.replies': 'notify',
  });

  it('aliases every mapped column, so a column named like a field cannot clash', () => {
    expect(plan.reads.map((r) => r.alias)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
  });

  it('builds id first, then fields in mapping order, nested objects for dotted fields', () => {
    const profile = profileFromRow(plan, {
      id: '1042',
      c0: 'Ada L.',
      c1: 'ada@example.com',
      c2: 'Ada',
      c3: 'Lovelace',
      c4: false,
      c5: ['staff', 'beta'],
      c6: 'never',
    });
    expect(JSON.stringify(profile)).toBe(
      '{"id":"1042","display_name":"Ada L.","email":"ada@example.com","name":{"first":"Ada","last":"Lovelace"},' +
        '"moderator":false,"tags":["staff","beta"],"email_notifications":{"replies":"never","comments":"never",' +
        '"likes":"never","moderator_comments":"never","moderator_flags":"never"}}',
    );
  });

  it('leaves out NULL columns, and objects whose members are all NULL', () => {
    const profile = profileFromRow(plan, {
      id: '7',
      c0: 'Bob',
      c1: null,
      c2: null,
      c3: null,
      c4: null,
      c5: null,
      c6: null,
    });
    expect(profile).toEqual({ id: '7', display_name: 'Bob' });
  });

  it('turns integer ids into strings and drops NULL array elements', () => {
    expect(profileFromRow(plan, { id: 12, c0: 'x', c5: ['a', null, 'b'] })).toEqual({
      id: '12',
      display_name: 'x',
      tags: ['a', 'b'],
    });
  });

  it('describes the 200 response as a closed object schema', () => {
    expect(plan.responseSchema).toMatchObject({
      type: 'object',
      required: ['id', 'display_name'],
      additionalProperties: false,
      properties: {
        id: { type: 'string' },
        name: { type: 'object', properties: { first: { type: 'string' }, last: { type: 'string' } } },
        moderator: { type: 'boolean' },
        tags: { type: 'array', items: { type: 'string' } },
      },
    });
  });

  it('refuses fields Livefyre does not know', () => {
    expect(() => planProfile({ display_name: 'nick', karma: 'karma' })).toThrow(/karma/);
  });
});

describe('templates and constants (pull.fields)', () => {
  const plan = planProfile(
    { display_name: 'nick', image_url: 'pic' },
    {
      fields: {
        profile_url: { template: 'https://example.com/people/{username}' },
        'name.formatted': { template: '{first} {last}' },
        settings_url: { constant: 'https://example.com/settings' },
        autofollow_conversations: { constant: false },
        tags: { constant: ['members'] },
        'email_notifications.likes': { constant: 'never' },
        websites: { constant: ['https://example.com/u'] },
      },
      relativeUrlBase: 'https://cdn.example.com/',
      imageVersionColumn: 'pic_updated_at',
    },
  );

  it('reads each placeholder column once, aliased, and the version column', () => {
    expect(plan.reads.map((r) => [r.column, r.alias, r.key])).toEqual([
      ['nick', 'c0', 'source.columns.display_name'],
      ['pic', 'c1', 'source.columns.image_url'],
      ['username', 't0', 'pull.fields.profile_url'],
      ['first', 't1', 'pull.fields.name.formatted'],
      ['last', 't2', 'pull.fields.name.formatted'],
      ['pic_updated_at', 'v', 'pull.imageVersionColumn'],
    ]);
  });

  it('fills templates (the id from {id}), adds constants, resolves and versions the avatar URL', () => {
    const profile = profileFromRow(plan, {
      id: '1042',
      c0: 'Ada L.',
      c1: '/avatars/1042.jpg',
      t0: 'ada',
      t1: 'Ada',
      t2: 'Lovelace',
      v: '2024-05-01 10:00:00+00',
    });
    expect(profile).toEqual({
      id: '1042',
      display_name: 'Ada L.',
      image_url: expect.stringMatching(/^https:\/\/cdn\.example\.com\/avatars\/1042\.jpg\?v=[0-9a-f]{8}$/),
      profile_url: 'https://example.com/people/ada',
      name: { formatted: 'Ada Lovelace' },
      settings_url: 'https://example.com/settings',
      autofollow_conversations: false,
      tags: ['members'],
      email_notifications: {
        likes: 'never',
        comments: 'never',
        replies: 'never',
        moderator_comments: 'never',
        moderator_flags: 'never',
      },
      websites: ['https://example.com/u'],
    });
  });

  it('leaves a template field out when one of its columns is NULL', () => {
    const profile = profileFromRow(plan, { id: '7', c0: 'Bob', c1: null, t0: null, t1: 'Bob', t2: null, v: null });
    expect(profile).not.toHaveProperty('profile_url');
    expect(profile).not.toHaveProperty('name');
    expect(profile).not.toHaveProperty('image_url');
  });

  it('describes template and constant fields in the response schema', () => {
    expect(plan.responseSchema).toMatchObject({
      properties: {
        profile_url: { type: 'string' },
        autofollow_conversations: { type: 'boolean' },
        tags: { type: 'array' },
        name: { properties: { formatted: { type: 'string' } } },
      },
    });
  });

  it('refuses a field set twice, and URL constants that are not fully qualified', () => {
    expect(() => planProfile({ display_name: 'nick' }, { fields: { display_name: { constant: 'x' } } })).toThrow(
      /pull\.fields\.display_name: "display_name" is already mapped by source\.columns/,
    );
    expect(() =>
      planProfile({ display_name: 'nick' }, { fields: { settings_url: { constant: '/settings' } } }),
    ).toThrow(ConfigError);
    expect(
      profileFromRow(
        planProfile(
          { display_name: 'nick' },
          { fields: { settings_url: { constant: '/settings' } }, relativeUrlBase: 'https://example.com' },
        ),
        { id: '1', c0: 'x' },
      ).settings_url,
    ).toBe('https://example.com/settings');
  });
});

describe('pull.fields in the configuration', () => {
  const problems = (fields: unknown): string => {
    try {
      loadConfig({ env: { PINGPULL_PULL_FIELDS: JSON.stringify(fields) } });
    } catch (error) {
      if (error instanceof ConfigError) return error.problems.join('\n');
      throw error;
    }
    return '';
  };

  it('accepts templates for string fields and constants of the field type', () => {
    const config = loadConfig({
      env: {
        PINGPULL_PULL_FIELDS: JSON.stringify({
          profile_url: { template: 'https://example.com/people/{username}' },
          settings_url: { constant: 'https://example.com/settings' },
          gravatar_disabled: { constant: true },
          display_rules: { bio: { constant: false } },
        }),
        PINGPULL_PULL_QUERY: 'SELECT nick AS display_name FROM users WHERE id = $1',
      },
    });
    expect(config.pull.fields.profile_url).toEqual({ template: 'https://example.com/people/{username}' });
    expect(config.pull.query).toContain('$1');
    expect(config.pull.fields.display_rules).toEqual({ bio: { constant: false } });
    expect(loadConfig({ env: {} }).pull).toMatchObject({
      fields: {},
      query: '',
      maxInFlight: 64,
      requestTimeoutMs: 5000,
    });
  });

  it.each([
    [{ karma: { constant: 'x' } }, /unknown Livefyre field "karma"/],
    [{ id: { constant: 'x' } }, /must not set "id"/],
    [{ profile_url: 'https://example.com' }, /expected \{"template"/],
    [{ profile_url: { template: 'x', constant: 'y' } }, /expected \{"template"/],
    [{ moderator: { template: '{is_mod}' } }, /only fits string fields/],
    [{ profile_url: { template: 'https://example.com/{user' } }, /balanced braces/],
    [{ moderator: { constant: 'yes' } }, /not a boolean/],
    [{ tags: { constant: 'staff' } }, /not an array of strings/],
    [{ email_notifications: { likes: { constant: 'daily' } } }, /one of immediately, often, never/],
    [{ name: { nickname: { constant: 'x' } } }, /unknown Livefyre field "name.nickname"/],
  ])('rejects %j naming pull.fields', (fields, message) => {
    const text = problems(fields);
    expect(text).toMatch(/^pull\.fields/);
    expect(text).toMatch(message);
  });
});

describe('profiles Livefyre accepts', () => {
  it('falls back to the id when the display name is NULL, empty or blank', () => {
    const plan = planProfile({ display_name: 'nick' });
    for (const nick of [null, undefined, '', '   ', '\n\t ']) {
      expect(profileFromRow(plan, { id: 42, c0: nick })).toEqual({ id: '42', display_name: '42' });
    }
  });

  it('falls back to pull.displayNameFallback, a template over columns, and to the id when that is empty too', () => {
    const plan = planProfile({ display_name: 'nick' }, { displayNameFallback: 'Member {first} ({id})' });
    expect(plan.reads.map((read) => [read.column, read.alias, read.key])).toEqual([
      ['nick', 'c0', 'source.columns.display_name'],
      ['first', 't0', 'pull.displayNameFallback'],
    ]);
    expect(profileFromRow(plan, { id: '7', c0: ' ', t0: 'Ada' }).display_name).toBe('Member Ada (7)');
    expect(profileFromRow(plan, { id: '7', c0: null, t0: null }).display_name).toBe('7');
    expect(profileFromRow(plan, { id: '7', c0: 'Bob', t0: 'Ada' }).display_name).toBe('Bob');
    const blank = planProfile({ display_name: 'nick' }, { displayNameFallback: '{first}' });
    expect(profileFromRow(blank, { id: '8', c0: null, t0: '  ' }).display_name).toBe('8');
  });

  it('shares a column between pull.fields templates and the fallback', () => {
    const plan = planProfile(
      { display_name: 'nick' },
      { fields: { profile_url: { template: 'https://example.com/{handle}' } }, displayNameFallback: '@{handle}' },
    );
    expect(plan.reads.filter((read) => read.column === 'handle')).toHaveLength(1);
    expect(profileFromRow(plan, { id: '1', c0: '', t0: 'ada' })).toEqual({
      id: '1',
      display_name: '@ada',
      profile_url: 'https://example.com/ada',
    });
  });

  it('completes email_notifications with pull.emailNotificationsDefault, only when one member is there', () => {
    const plan = planProfile(
      { display_name: 'nick', 'email_notifications.replies': 'notify' },
      { emailNotificationsDefault: 'often' },
    );
    expect(profileFromRow(plan, { id: '1', c0: 'A', c1: 'immediately' }).email_notifications).toEqual({
      replies: 'immediately',
      comments: 'often',
      likes: 'often',
      moderator_comments: 'often',
      moderator_flags: 'often',
    });
    expect(profileFromRow(plan, { id: '1', c0: 'A', c1: null })).not.toHaveProperty('email_notifications');
    const schema = plan.responseSchema as { properties: { email_notifications: { properties: object } } };
    expect(Object.keys(schema.properties.email_notifications.properties).sort()).toEqual([
      'comments',
      'likes',
      'moderator_comments',
      'moderator_flags',
      'replies',
    ]);
  });

  it('lists display_name in the response schema even when only the fallback gives it', () => {
    const plan = planProfile({ email: 'mail' });
    expect(profileFromRow(plan, { id: 'u1', c0: 'a@example.com' })).toEqual({
      id: 'u1',
      email: 'a@example.com',
      display_name: 'u1',
    });
    expect((plan.responseSchema as { properties: object }).properties).toHaveProperty('display_name');
  });

  it('checks pull.displayNameFallback and pull.emailNotificationsDefault when loading the config', () => {
    expect(loadConfig({ env: {} }).pull).toMatchObject({
      displayNameFallback: '{id}',
      emailNotificationsDefault: 'never',
    });
    const env = {
      PINGPULL_PULL_DISPLAY_NAME_FALLBACK: 'User {id}',
      PINGPULL_PULL_EMAIL_NOTIFICATIONS_DEFAULT: 'often',
    };
    expect(loadConfig({ env }).pull).toMatchObject({
      displayNameFallback: 'User {id}',
      emailNotificationsDefault: 'often',
    });
    expect(() => loadConfig({ env: { PINGPULL_PULL_DISPLAY_NAME_FALLBACK: '  ' } })).toThrow(
      /pull\.displayNameFallback/,
    );
    expect(() => loadConfig({ env: { PINGPULL_PULL_DISPLAY_NAME_FALLBACK: '{first' } })).toThrow(
      /pull\.displayNameFallback/,
    );
    expect(() => loadConfig({ env: { PINGPULL_PULL_EMAIL_NOTIFICATIONS_DEFAULT: 'daily' } })).toThrow(
      /pull\.emailNotificationsDefault/,
    );
  });
});
