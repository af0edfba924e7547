import { describe, expect, it } from 'vitest';
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
    expect(plan.fields.map((f) => f.alias)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
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
        '"moderator":false,"tags":["staff","beta"],"email_notifications":{"replies":"never"}}',
    );
  });

  it('leaves out NULL columns, and objects whose members are all NULL', () => {
    const profile = profileFromRow(plan, { id: '7', c0: 'Bob', c1: null, c2: null, c3: null, c4: null, c5: null, c6: null });
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
      required: ['id'],
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
