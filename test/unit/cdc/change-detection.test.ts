import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChangeDetector } from '../../../src/cdc/change-detection.js';
import type { DecodedRow, RowChange } from '../../../src/cdc/decoder.js';
import { buildProfileMapping } from '../../../src/mapping/index.js';

const columns = { display_name: 'nick', email: 'mail' };

function detector(knownUsers = 100) {
  const mapping = buildProfileMapping({ source: { table: 'public.users', idColumn: 'user_id', columns } });
  return new ChangeDetector({ mapping, knownUsers });
}

function row(id: string, values: DecodedRow['values']): DecodedRow {
  return { id, values };
}

function insert(after: DecodedRow): RowChange {
  return { op: 'insert', lsn: 1n, before: null, beforeIsFull: false, after };
}

function update(after: DecodedRow, before: DecodedRow | null = null, beforeIsFull = false): RowChange {
  return { op: 'update', lsn: 2n, before, beforeIsFull, after };
}

describe('ChangeDetector', () => {
  it('publishes an insert with every field changed', () => {
    const result = detector().detect(insert(row('1', { nick: 'Ada', mail: null })));
    expect(result.changes).toEqual([
      {
        op: 'c',
        key: '1',
        before: null,
        after: { user_id: '1', nick: 'Ada', mail: null },
        changedFields: ['display_name', 'email'],
      },
    ]);
  });

  it('with the old row, compares mapped values and skips an update that changed none', () => {
    const d = detector(0);
    const same = d.detect(update(row('1', { nick: 'A', mail: 'm' }), row('1', { nick: 'A', mail: 'm' }), true));
    expect(same).toEqual({ changes: [], skipped: true });
    const changed = d.detect(update(row('1', { nick: 'B', mail: 'm' }), row('1', { nick: 'A', mail: 'm' }), true));
    expect(changed.changes[0]).toMatchObject({
      op: 'u',
      changedFields: ['display_name'],
      before: { user_id: '1', nick: 'A', mail: 'm' },
    });
  });

  it('without the old row, publishes an unknown user, then skips an update that changed no watched value', () => {
    const d = detector();
    const first = d.detect(update(row('1', { nick: 'A', mail: 'm' })));
    expect(first.changes[0]).toMatchObject({ op: 'u', changedFields: null, before: null });
    expect(d.detect(update(row('1', { nick: 'A', mail: 'm' })))).toEqual({ changes: [], skipped: true });
  });

  it('without the old row, publishes every kind of real change, without naming the fields', () => {
    const d = detector();
    d.detect(insert(row('1', { nick: 'A', mail: 'm' })));
    const changes: DecodedRow['values'][] = [
      { nick: 'B', mail: 'm' }, // one column
      { nick: 'C', mail: 'n' }, // both
      { nick: 'C', mail: null }, // to null
      { nick: 'C', mail: 'null' }, // from null to the text "null"
      { nick: 'C', mail: '' }, // to the empty string
      { nick: '', mail: 'C' }, // values swapped between columns
      { nick: 'C', mail: '' },
    ];
    for (const values of changes) {
      const result = d.detect(update(row('1', values)));
      expect(result.skipped, JSON.stringify(values)).toBe(false);
      expect(result.changes).toEqual([
        { op: 'u', key: '1', before: null, after: { user_id: '1', ...values }, changedFields: null },
      ]);
    }
  });

  it('a value not sent (unchanged TOAST) is left out of the row and never makes a real change look like none', () => {
    const d = detector();
    d.detect(insert(row('1', { nick: 'A', mail: 'long' })));
    // The remembered digest covers the mail that was sent: an update without it cannot be compared, so it is published.
    expect(d.detect(update(row('1', { nick: 'A', mail: undefined }))).skipped).toBe(false);
    // Against that version (mail not sent either), the same values are no change.
    expect(d.detect(update(row('1', { nick: 'A', mail: undefined }))).skipped).toBe(true);
    const changed = d.detect(update(row('1', { nick: 'B', mail: undefined })));
    expect(changed.changes[0]?.after).toEqual({ user_id: '1', nick: 'B' });
    // The mail sent again (changed, or rewritten) is published.
    expect(d.detect(update(row('1', { nick: 'B', mail: 'long' }))).skipped).toBe(false);
    expect(d.detect(update(row('1', { nick: 'B', mail: 'long' }))).skipped).toBe(true);
  });

  it('never takes null for "not sent"', () => {
    const d = detector();
    d.detect(insert(row('1', { nick: 'A', mail: null })));
    expect(d.detect(update(row('1', { nick: 'A', mail: undefined }))).skipped).toBe(false);
    d.detect(insert(row('2', { nick: 'A', mail: undefined })));
    expect(d.detect(update(row('2', { nick: 'A', mail: null }))).skipped).toBe(false);
  });

  it('with knownUsers 0 remembers nothing and publishes every update', () => {
    const d = detector(0);
    d.detect(insert(row('1', { nick: 'A', mail: 'm' })));
    expect(d.detect(update(row('1', { nick: 'A', mail: 'm' }))).skipped).toBe(false);
  });

  it('turns an update of the id into a delete and a create', () => {
    const result = detector().detect(
      update(row('2', { nick: 'A', mail: null }), row('1', { nick: undefined, mail: undefined })),
    );
    expect(result.changes.map((c) => [c.op, c.key])).toEqual([
      ['d', '1'],
      ['c', '2'],
    ]);
    expect(result.changes[0]?.before).toEqual({ user_id: '1' });
  });

  it('publishes a delete with the id in before', () => {
    const result = detector().detect({
      op: 'delete',
      lsn: 3n,
      before: row('5', { nick: undefined, mail: undefined }),
      beforeIsFull: false,
      after: null,
    });
    expect(result.changes).toEqual([{ op: 'd', key: '5', before: { user_id: '5' }, after: null, changedFields: null }]);
  });

  it('forgets everything on reset, so replayed updates are published again', () => {
    const d = detector();
    d.detect(insert(row('1', { nick: 'A', mail: 'm' })));
    d.reset();
    expect(d.detect(update(row('1', { nick: 'A', mail: 'm' }))).skipped).toBe(false);
  });

  it('at capacity forgets the least recently seen user first, and publishes its next update', () => {
    const d = detector(3);
    for (const id of ['1', '2', '3']) d.detect(insert(row(id, { nick: id, mail: 'm' })));
    // 1 is seen again (skipped), so 2 is now the least recently seen
    expect(d.detect(update(row('1', { nick: '1', mail: 'm' }))).skipped).toBe(true);
    d.detect(insert(row('4', { nick: '4', mail: 'm' })));
    expect(d.detect(update(row('2', { nick: '2', mail: 'm' }))).skipped).toBe(false);
    // remembering 2 again pushed out 3
    expect(d.detect(update(row('3', { nick: '3', mail: 'm' }))).skipped).toBe(false);
    expect(d.detect(update(row('2', { nick: '2', mail: 'm' }))).skipped).toBe(true);
  });

  it('keeps working at capacity over many users', () => {
    const d = detector(1_000);
    for (let i = 0; i < 5_000; i++) d.detect(insert(row(String(i), { nick: `n${i}`, mail: null })));
    // the last 1,000 are remembered, the first ones were evicted
    expect(d.detect(update(row('4999', { nick: 'n4999', mail: null }))).skipped).toBe(true);
    expect(d.detect(update(row('0', { nick: 'n0', mail: null }))).skipped).toBe(false);
  });

  it('publishes after a delete and re-insert of the same values', () => {
    const d = detector();
    d.detect(insert(row('1', { nick: 'A', mail: 'm' })));
    d.detect({
      op: 'delete',
      lsn: 3n,
      before: row('1', { nick: undefined, mail: undefined }),
      beforeIsFull: false,
      after: null,
    });
    expect(d.detect(update(row('1', { nick: 'A', mail: 'm' }))).skipped).toBe(false);
  });
});

describe('ChangeDetector: columns the pull reads besides source.columns', () => {
  const mapping = buildProfileMapping({
    source: { table: 'public.users', idColumn: 'user_id', columns: { display_name: 'nick', image_url: 'pic' } },
    pull: { fields: { profile_url: { template: 'https://example.com/{login}' } }, imageVersionColumn: 'pic_at' },
  });

  it('a change to the image version column alone is a change of image_url; to a template column, of its field', () => {
    const d = new ChangeDetector({ mapping, knownUsers: 0 });
    const before = row('1', { nick: 'A', pic: 'p.png', login: 'a', pic_at: '1' });
    const newPic = d.detect(update(row('1', { nick: 'A', pic: 'p.png', login: 'a', pic_at: '2' }), before, true));
    expect(newPic.changes[0]).toMatchObject({ changedFields: ['image_url'] });
    expect(newPic.changes[0]?.after).toEqual({ user_id: '1', nick: 'A', pic: 'p.png', login: 'a', pic_at: '2' });
    const newLogin = d.detect(update(row('1', { nick: 'A', pic: 'p.png', login: 'b', pic_at: '1' }), before, true));
    expect(newLogin.changes[0]).toMatchObject({ changedFields: ['profile_url'] });
  });
});

describe('ChangeDetector: property', () => {
  type Values = { nick: string | null; mail: string | null };
  const value = fc.constantFrom('a', 'b', '', 'null', null);
  const step = fc.oneof(
    fc.record({
      kind: fc.constant('insert' as const),
      id: fc.constantFrom('1', '2', '3', '4'),
      nick: value,
      mail: value,
    }),
    fc.record({
      kind: fc.constant('update' as const),
      id: fc.constantFrom('1', '2', '3', '4'),
      nick: value,
      mail: value,
      // a column whose value is unchanged may arrive "not sent", as an unchanged TOASTed value does
      unsentNick: fc.boolean(),
      unsentMail: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('delete' as const), id: fc.constantFrom('1', '2', '3', '4') }),
    fc.record({ kind: fc.constant('reset' as const) }),
  );

  it('never skips an update that changed a watched value; skips a repeated version of a remembered row', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(step, { maxLength: 60 }), (knownUsers, steps) => {
        const d = detector(knownUsers);
        const rows = new Map<string, Values>();
        // What the stream sent for each row's last version, while nothing was forgotten since.
        const lastSent = new Map<string, DecodedRow['values']>();
        // with room for the four ids nothing is forgotten
        const forgetting = knownUsers < 4;
        for (const s of steps) {
          if (s.kind === 'reset') {
            d.reset();
            lastSent.clear();
          } else if (s.kind === 'delete') {
            if (!rows.has(s.id)) continue;
            d.detect({
              op: 'delete',
              lsn: 3n,
              before: row(s.id, { nick: undefined, mail: undefined }),
              beforeIsFull: false,
              after: null,
            });
            rows.delete(s.id);
            lastSent.delete(s.id);
          } else if (s.kind === 'insert') {
            if (rows.has(s.id)) continue;
            const values = { nick: s.nick, mail: s.mail };
            d.detect(insert(row(s.id, values)));
            rows.set(s.id, values);
            lastSent.set(s.id, values);
          } else {
            const current = rows.get(s.id);
            if (current === undefined) continue;
            const sent: DecodedRow['values'] = {
              nick: s.unsentNick && s.nick === current.nick ? undefined : s.nick,
              mail: s.unsentMail && s.mail === current.mail ? undefined : s.mail,
            };
            const result = d.detect(update(row(s.id, sent)));
            const changed = s.nick !== current.nick || s.mail !== current.mail;
            if (changed) expect(result.skipped).toBe(false);
            if (changed) expect(result.changes).toHaveLength(1);
            const previous = lastSent.get(s.id);
            if (!forgetting && previous !== undefined && JSON.stringify(previous) === JSON.stringify(sent)) {
              expect(result.skipped).toBe(true);
            }
            rows.set(s.id, { nick: s.nick, mail: s.mail });
            lastSent.set(s.id, sent);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
