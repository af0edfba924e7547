import { describe, expect, it } from 'vitest';
import { ChangeDetector } from '../../../src/cdc/change-detection.js';
import { PgoutputDecoder, type DecodedMessage } from '../../../src/cdc/decoder.js';
import { SchemaChangeError } from '../../../src/errors.js';
import { buildProfileMapping } from '../../../src/mapping/index.js';
import { insert, relation, remove, update } from '../../helpers/pgoutput-messages.js';

// A related table's rows are read like the users table's, keyed by the user id in their idColumn.

const mapping = buildProfileMapping({
  source: {
    table: 'public.users',
    idColumn: 'id',
    columns: { display_name: 'nick' },
    related: [{ table: 'public.bios', idColumn: 'user_id', columns: ['bio'] }],
  },
});
// bios keyed by its own bio_id: one user may have several rows
const bios = relation({ oid: 16_500, name: 'bios', columns: ['bio_id', 'user_id', 'bio', 'secret'] });

function pipeline() {
  const decoder = new PgoutputDecoder({ mapping });
  const detector = new ChangeDetector({ mapping, knownUsers: 100 });
  decoder.decode(bios, '0/1');
  return (message: Parameters<PgoutputDecoder['decode']>[0]) => {
    const decoded: DecodedMessage = decoder.decode(message, '0/2');
    return decoded.kind === 'row' ? detector.detect(decoded.change) : undefined;
  };
}

describe('related tables in the stream', () => {
  it('an insert is a change event keyed by the user id, carrying only the listed columns', () => {
    const detect = pipeline();
    const result = detect(insert(bios, { bio_id: 7, user_id: 'u1', bio: 'hi', secret: 's' }));
    expect(result?.changes).toEqual([
      {
        op: 'c',
        key: 'u1',
        before: null,
        after: { user_id: 'u1', bio: 'hi' },
        changedFields: null,
        table: { schema: 'public', name: 'bios' },
      },
    ]);
  });

  it('an update of an unlisted column is skipped once the row is known; a listed one is published', () => {
    const detect = pipeline();
    detect(insert(bios, { bio_id: 7, user_id: 'u1', bio: 'hi' }));
    expect(detect(update(bios, { bio_id: 7, user_id: 'u1', bio: 'hi' }))).toEqual({ changes: [], skipped: true });
    expect(detect(update(bios, { bio_id: 7, user_id: 'u1', bio: 'new' }))?.changes[0]).toMatchObject({
      op: 'u',
      key: 'u1',
    });
  });

  it('tells apart two rows of one user by their replica identity', () => {
    const detect = pipeline();
    detect(insert(bios, { bio_id: 1, user_id: 'u1', bio: 'same' }));
    // a second row with the value the first one has is still a change
    expect(detect(update(bios, { bio_id: 2, user_id: 'u1', bio: 'same' }))?.changes).toHaveLength(1);
  });

  it('a row whose replica identity changed is published, and what its old key remembered is forgotten', () => {
    const detect = pipeline();
    detect(insert(bios, { bio_id: 7, user_id: 'u1', bio: 'hi' }));
    detect(insert(bios, { bio_id: 8, user_id: 'u1', bio: 'hi' }));
    const renamed = detect(
      update(bios, { bio_id: 9, user_id: 'u1', bio: 'hi' }, { key: { bio_id: 8, user_id: 'u1' } }),
    );
    expect(renamed?.changes).toHaveLength(1);
    // row 7 takes the key 8 the other row had, with the same bio: still a change of u1's rows
    const taken = detect(update(bios, { bio_id: 8, user_id: 'u1', bio: 'hi' }, { key: { bio_id: 7, user_id: 'u1' } }));
    expect(taken?.changes).toHaveLength(1);
  });

  it('a delete pings the user the row named; a row without a user id pings nobody', () => {
    const detect = pipeline();
    expect(detect(remove(bios, { key: { bio_id: 7, user_id: 'u1' } }))?.changes[0]).toMatchObject({
      op: 'd',
      key: 'u1',
    });
    expect(detect(insert(bios, { bio_id: 8, user_id: null, bio: 'orphan' }))).toBeUndefined();
  });

  it('moving a row to another user pings both', () => {
    const detect = pipeline();
    const result = detect(
      update(bios, { bio_id: 7, user_id: 'u2', bio: 'hi' }, { key: { bio_id: 7, user_id: 'u1', bio: 'hi' } }),
    );
    expect(result?.changes.map((change) => [change.op, change.key])).toEqual([
      ['d', 'u1'],
      ['c', 'u2'],
    ]);
  });

  it('a listed column gone from the stream stops the connector naming the entry', () => {
    const decoder = new PgoutputDecoder({ mapping });
    const renamed = relation({ oid: 16_501, name: 'bios', columns: ['bio_id', 'user_id', 'biography'] });
    expect(() => decoder.decode(renamed, '0/1')).toThrow(SchemaChangeError);
    expect(() => decoder.decode(renamed, '0/1')).toThrow(/bio \(source\.related\[0\]\.columns\)/);
  });
});
