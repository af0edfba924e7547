import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planProfile, profileFromRow } from '../../../src/pull/profile-mapping.js';
import { validateProfile } from '../../../src/simulator/validate-profile.js';

/**
 * Whatever the database holds, the pull server's profile passes the
 * simulator's validation: two independent readings of Livefyre's schema
 * (the mapping's and the simulator's) checked against each other.
 */
describe('every profile the mapping builds is one Livefyre accepts', () => {
  const plan = planProfile(
    {
      display_name: 'nick',
      email: 'mail',
      image_url: 'pic',
      tags: 'groups',
      websites: 'sites',
      'name.first': 'first',
      'email_notifications.replies': 'notify',
      bio: 'bio',
    },
    { displayNameFallback: '{first} {id}', relativeUrlBase: 'https://example.com/' },
  );
  const text = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'grapheme', maxLength: 200 }),
    fc.constantFrom(
      '',
      ' ',
      '\n',
      '&amp;',
      '&amp;amp;lt;',
      'a &foo; b',
      'x'.repeat(151),
      ' \u2028 ',
      'ada@example.com',
    ),
    fc.emailAddress(),
  );
  const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });
  const row = fc.record({
    id: fc.oneof(fc.stringMatching(/^[a-zA-Z0-9_.-]{1,40}$/), fc.integer({ min: 0 })),
    c0: nullable(text),
    c1: nullable(text),
    c2: nullable(text),
    c3: nullable(fc.array(nullable(text), { maxLength: 5 })),
    c4: nullable(fc.array(nullable(text), { maxLength: 5 })),
    c5: nullable(text),
    c6: nullable(fc.oneof(text, fc.constantFrom('never', 'Often', 'IMMEDIATELY'))),
    c7: nullable(text),
    t0: nullable(text),
  });

  it('passes the simulator for arbitrary rows', () => {
    fc.assert(
      fc.property(row, (values) => {
        const profile = profileFromRow(plan, values);
        const verdict = validateProfile(JSON.parse(JSON.stringify(profile)), String(values.id));
        expect(verdict, JSON.stringify(profile)).toMatchObject({ ok: true });
      }),
      { numRuns: 2000 },
    );
  });
});
