import { describe, expect, it } from 'vitest';
import { PgoutputDecoder, toRowValue, type DecodedMessage } from '../../../src/cdc/decoder.js';
import { buildProfileMapping } from '../../../src/mapping/index.js';
import { begin, commit, insert, relation, remove, update } from '../../helpers/pgoutput-messages.js';

const options = {
  mapping: buildProfileMapping({
    source: {
      table: 'public.users',
      idColumn: 'user_id',
      columns: { display_name: 'nick', email: 'mail', image_url: 'pic' },
    },
  }),
};
const columns = ['user_id', 'password_hash', 'pic', 'nick', 'mail'];

function rowOf(decoded: DecodedMessage) {
  if (decoded.kind !== 'row') throw new Error(`expected a row, got ${decoded.kind}`);
  return decoded.change;
}

describe('PgoutputDecoder', () => {
  it('maps an insert by column name to the id and mapped columns only', () => {
    const decoder = new PgoutputDecoder(options);
    const rel = relation({ columns });
    decoder.decode(rel, '0/10');
    const change = rowOf(
      decoder.decode(
        insert(rel, { user_id: '9007199254740993', password_hash: 'secret', pic: null, nick: 'Ada', mail: 'a@x' }),
        '0/20',
      ),
    );
    expect(change.op).toBe('insert');
    expect(change.lsn).toBe(0x20n);
    expect(change.after).toEqual({ id: '9007199254740993', values: { nick: 'Ada', mail: 'a@x', pic: null } });
    expect(JSON.stringify(change.after)).not.toContain('secret');
  });

  it('turns a numeric id into its decimal string', () => {
    const decoder = new PgoutputDecoder(options);
    const rel = relation({ columns });
    const change = rowOf(decoder.decode(insert(rel, { user_id: 42, nick: 'B', mail: null, pic: null }), '0/20'));
    expect(change.after?.id).toBe('42');
  });

  it('keeps an unchanged TOAST value as undefined, never null', () => {
    const decoder = new PgoutputDecoder(options);
    const rel = relation({ columns });
    const change = rowOf(decoder.decode(update(rel, { user_id: '1', nick: 'N', mail: undefined, pic: null }), '0/30'));
    expect(change.after?.values.mail).toBeUndefined();
    expect('mail' in (change.after?.values ?? {})).toBe(true);
    expect(change.after?.values.pic).toBeNull();
    expect(change.before).toBeNull();
  });

  it('reads the old row under REPLICA IDENTITY FULL and the key under DEFAULT', () => {
    const decoder = new PgoutputDecoder(options);
    const rel = relation({ columns, replicaIdentity: 'full' });
    const full = rowOf(
      decoder.decode(
        update(
          rel,
          { user_id: '1', nick: 'New', mail: 'm', pic: null },
          { old: { user_id: '1', nick: 'Old', mail: 'm', pic: null } },
        ),
        '0/30',
      ),
    );
    expect(full.beforeIsFull).toBe(true);
    expect(full.before?.values.nick).toBe('Old');
    const keyed = rowOf(
      decoder.decode(
        update(rel, { user_id: '2', nick: 'x', mail: null, pic: null }, { key: { user_id: '1' } }),
        '0/40',
      ),
    );
    expect(keyed.beforeIsFull).toBe(false);
    expect(keyed.before?.id).toBe('1');
  });

  it('decodes a delete with the key only', () => {
    const decoder = new PgoutputDecoder(options);
    const rel = relation({ columns });
    const change = rowOf(decoder.decode(remove(rel, { key: { user_id: '7' } }), '0/50'));
    expect(change.op).toBe('delete');
    expect(change.before?.id).toBe('7');
    expect(change.after).toBeNull();
  });

  it('flags a delete whose key does not carry the user id', () => {
    const decoder = new PgoutputDecoder(options);
    const rel = relation({ columns: ['internal_id', 'user_id', 'nick', 'mail', 'pic'] });
    const change = rowOf(decoder.decode(remove(rel, { key: { internal_id: 3 } }), '0/50'));
    expect(change.missingId).toBe(true);
  });

  it('turns a NULL user id into a skipped row, never an error, and an id set to NULL into a delete', () => {
    const decoder = new PgoutputDecoder(options);
    const rel = relation({ columns: ['user_id', 'nick', 'mail', 'pic'], replicaIdentity: 'full' });
    const row = { user_id: null, nick: 'n', mail: null, pic: null };
    expect(decoder.decode(insert(rel, row), '0/10')).toEqual({ kind: 'null-id', op: 'insert', lsn: 16n });
    expect(decoder.decode(update(rel, row, { old: row }), '0/20')).toMatchObject({ kind: 'null-id', op: 'update' });
    expect(decoder.decode(remove(rel, { old: row }), '0/30')).toMatchObject({ kind: 'null-id', op: 'delete' });
    const gone = rowOf(decoder.decode(update(rel, row, { old: { ...row, user_id: '4' } }), '0/40'));
    expect(gone).toMatchObject({ op: 'delete', before: { id: '4' }, after: null });
  });

  it('ignores other tables', () => {
    const decoder = new PgoutputDecoder(options);
    const other = relation({ oid: 1, name: 'orders', columns: ['id'] });
    expect(decoder.decode(insert(other, { id: 1 }), '0/10').kind).toBe('ignored');
  });

  it('refuses a relation without the id column', () => {
    const decoder = new PgoutputDecoder(options);
    expect(() => decoder.decode(relation({ columns: ['id', 'nick'] }), '0/10')).toThrow(/user_id/);
  });

  it('decodes begin and commit positions, times and an unsigned xid', () => {
    const decoder = new PgoutputDecoder(options);
    expect(decoder.decode(begin(-2, '00000001/000000A0', 1_700_000_000_123_456n), '1/90')).toEqual({
      kind: 'begin',
      xid: 4294967294,
      commitLsn: 0x1_0000_00a0n,
      commitTimeMs: 1_700_000_000_123,
    });
    expect(decoder.decode(commit('0/A0', '0/C8'), '0/A0')).toMatchObject({
      kind: 'commit',
      commitLsn: 0xa0n,
      commitEndLsn: 0xc8n,
    });
  });

  it('passes heartbeat messages through with their LSN', () => {
    const decoder = new PgoutputDecoder(options);
    const decoded = decoder.decode(
      {
        tag: 'message',
        flags: 0,
        transactional: false,
        messageLsn: '0/F0',
        prefix: 'pingpull-heartbeat',
        content: new Uint8Array(),
      },
      '0/F0',
    );
    expect(decoded).toEqual({ kind: 'message', lsn: 0xf0n, prefix: 'pingpull-heartbeat', transactional: false });
  });

  it('normalises values to JSON-safe scalars', () => {
    expect(toRowValue(new Date('2024-01-02T03:04:05.678Z'))).toBe('2024-01-02T03:04:05.678Z');
    expect(toRowValue(['a', 'b'])).toBe('["a","b"]');
    expect(toRowValue(Number.NaN)).toBe('NaN');
    expect(toRowValue(10n)).toBe('10');
    expect(toRowValue(undefined)).toBeUndefined();
  });
});
