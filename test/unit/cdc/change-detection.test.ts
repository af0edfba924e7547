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

  it('without the old row, publishes an unknown user and remembers what it published', () => {
    const d = detector();
    const first = d.detect(update(row('1', { nick: 'A', mail: 'm' })));
    expect(first.changes[0]).toMatchObject({ op: 'u', changedFields: null, before: null });
    expect(d.detect(update(row('1', { nick: 'A', mail: 'm' })))).toEqual({ changes: [], skipped: true });
    const changed = d.detect(update(row('1', { nick: 'A', mail: 'new' })));
    expect(changed.changes[0]?.changedFields).toEqual(['email']);
  });

  it('treats an unchanged TOAST value as unchanged and leaves it out of the row', () => {
    const d = detector();
    d.detect(insert(row('1', { nick: 'A', mail: 'long' })));
    expect(d.detect(update(row('1', { nick: 'A', mail: undefined }))).skipped).toBe(true);
    const changed = d.detect(update(row('1', { nick: 'B', mail: undefined })));
    expect(changed.changes[0]?.after).toEqual({ user_id: '1', nick: 'B' });
    expect(changed.changes[0]?.changedFields).toEqual(['display_name']);
  });

  it('never takes null for "not sent"', () => {
    const d = detector();
    d.detect(insert(row('1', { nick: 'A', mail: 'x' })));
    expect(d.detect(update(row('1', { nick: 'A', mail: null }))).changes[0]?.changedFields).toEqual(['email']);
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

  it('publishes users that fell out of the bounded memory', () => {
    const d = detector(1);
    d.detect(insert(row('1', { nick: 'A', mail: 'm' })));
    d.detect(insert(row('2', { nick: 'B', mail: 'm' })));
    expect(d.detect(update(row('1', { nick: 'A', mail: 'm' }))).skipped).toBe(false);
    expect(d.detect(update(row('2', { nick: 'B', mail: 'm' }))).skipped).toBe(false);
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
