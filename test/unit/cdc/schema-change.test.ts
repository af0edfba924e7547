import { describe, expect, it } from 'vitest';
import { PgoutputDecoder } from '../../../src/cdc/decoder.js';
import { keepTextColumns, streamLikeTypes, TEXT_KEPT_TYPE_OIDS } from '../../../src/cdc/pg-types.js';
import { SchemaChangeError } from '../../../src/errors.js';
import { buildProfileMapping } from '../../../src/mapping/index.js';
import { insert, relation } from '../../helpers/pgoutput-messages.js';

const options = {
  mapping: buildProfileMapping({
    source: { table: 'public.users', idColumn: 'user_id', columns: { display_name: 'nick', email: 'mail' } },
  }),
};

describe('schema changes in the stream (Relation messages)', () => {
  it('follows an added column and a new column order: rows are read by name', () => {
    const decoder = new PgoutputDecoder(options);
    decoder.decode(relation({ columns: ['user_id', 'nick', 'mail'] }), '0/10');
    decoder.decode(relation({ columns: ['user_id', 'mail', 'nick', 'added'] }), '0/20');
    const decoded = decoder.decode(
      insert(relation({ columns: ['user_id', 'mail', 'nick', 'added'] }), {
        user_id: '1',
        nick: 'A',
        mail: 'a@x',
        added: 'z',
      }),
      '0/30',
    );
    expect(decoded.kind).toBe('row');
    if (decoded.kind === 'row') expect(decoded.change.after?.values).toEqual({ nick: 'A', mail: 'a@x' });
  });

  it('stops with one clear error naming a mapped column that disappeared', () => {
    const decoder = new PgoutputDecoder(options);
    decoder.decode(relation({ columns: ['user_id', 'nick', 'mail'] }), '0/10');
    let error: unknown;
    try {
      decoder.decode(relation({ columns: ['user_id', 'nickname', 'mail'] }), '0/20');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SchemaChangeError);
    const failure = error as SchemaChangeError;
    expect(failure.retriable).toBe(false);
    expect(failure.message).toContain('nick (source.columns.display_name)');
    expect(failure.message).toContain('dropped or renamed');
    expect(failure.message).toContain('pingpull setup');
  });

  it('reads a column renamed and renamed back by its position in the current table', () => {
    const decoder = new PgoutputDecoder(options);
    // The slot replays the stretch where mail was called email_address; the table has mail again.
    decoder.useCurrentColumns(['user_id', 'nick', 'mail']);
    const then = relation({ columns: ['user_id', 'nick', 'email_address'] });
    decoder.decode(then, '0/10');
    const decoded = decoder.decode(insert(then, { user_id: '1', nick: 'A', email_address: 'a@x' }), '0/20');
    expect(decoded.kind === 'row' ? decoded.change.after?.values : decoded).toEqual({ nick: 'A', mail: 'a@x' });
  });

  it('still stops when the current table lacks the column too', () => {
    const decoder = new PgoutputDecoder(options);
    decoder.useCurrentColumns(['user_id', 'nick', 'email_address']);
    expect(() => decoder.decode(relation({ columns: ['user_id', 'nick', 'email_address'] }), '0/10')).toThrow(
      SchemaChangeError,
    );
  });

  it('names a vanished id column too', () => {
    const decoder = new PgoutputDecoder(options);
    expect(() => decoder.decode(relation({ columns: ['uid', 'nick', 'mail'] }), '0/10')).toThrow(
      /user_id \(source.idColumn\)/,
    );
  });

  it('ignores other tables whatever their columns', () => {
    const decoder = new PgoutputDecoder(options);
    expect(decoder.decode(relation({ name: 'orders', oid: 7, columns: ['order_id'] }), '0/10').kind).toBe('ignored');
  });
});

describe('text-kept types', () => {
  it('keeps timestamps, json and intervals as Postgres prints them', () => {
    const columns = [
      { typeOid: 1114, parser: (raw: string): unknown => new Date(raw) },
      { typeOid: 1184, parser: (raw: string): unknown => new Date(raw) },
      { typeOid: 3802, parser: (raw: string): unknown => JSON.parse(raw) },
      { typeOid: 23, parser: (raw: string): unknown => Number(raw) },
    ];
    keepTextColumns(columns);
    expect(columns[0]?.parser('2024-02-29 23:59:59.123456')).toBe('2024-02-29 23:59:59.123456');
    expect(columns[1]?.parser('2024-02-29 23:59:59.123456+00')).toBe('2024-02-29 23:59:59.123456+00');
    expect(columns[2]?.parser('{"a": 1}')).toBe('{"a": 1}');
    expect(columns[3]?.parser('42')).toBe(42);
  });

  it('gives resync queries the same parsers', () => {
    for (const oid of TEXT_KEPT_TYPE_OIDS)
      expect((streamLikeTypes.getTypeParser(oid, 'text') as (v: string) => unknown)('x')).toBe('x');
    expect((streamLikeTypes.getTypeParser(23, 'text') as (v: string) => unknown)('7')).toBe(7);
    expect((streamLikeTypes.getTypeParser(20, 'text') as (v: string) => unknown)('9007199254740993')).toBe(
      '9007199254740993',
    );
  });
});
