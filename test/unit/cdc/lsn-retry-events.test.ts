import { describe, expect, it } from 'vitest';
import { toChangeMessage } from '../../../src/cdc/events.js';
import { formatLsn, parseLsn } from '../../../src/cdc/lsn.js';
import { HEADER_CHANGED, HEADER_EVENT_ID } from '../../../src/events/envelope.js';

describe('LSNs', () => {
  it('parse padded and unpadded forms and print like Postgres', () => {
    expect(parseLsn('0/16B3748')).toBe(0x16b3748n);
    expect(parseLsn('00000016/0000A0B0')).toBe((0x16n << 32n) | 0xa0b0n);
    expect(formatLsn(parseLsn('00000016/0000A0B0'))).toBe('16/A0B0');
    expect(() => parseLsn('nonsense')).toThrow(TypeError);
  });
});

describe('toChangeMessage', () => {
  it('builds the Debezium envelope, the event id and the changed fields', () => {
    const message = toChangeMessage(
      { slot: 'pingpull', db: 'app', schema: 'public', table: 'users' },
      { xid: 7, commitLsn: 0x200n, commitTimeMs: 1_000, previousCommitLsn: 0x100n },
      { op: 'u', key: '42', before: null, after: { id: '42', nick: 'A' }, changedFields: ['display_name'], lsn: 0x1f0n, index: 2 },
      1_500,
    );
    expect(message.key).toBe('42');
    expect(message.headers).toEqual({ [HEADER_EVENT_ID]: '0/200:2', [HEADER_CHANGED]: 'display_name' });
    expect(message.value).toMatchObject({
      op: 'u',
      ts_ms: 1_500,
      after: { id: '42', nick: 'A' },
      source: { connector: 'pingpull', name: 'pingpull', ts_ms: 1_000, db: 'app', txId: 7, lsn: 0x1f0, sequence: '["256","496"]' },
    });
  });

  it('leaves the changed header out when unknown', () => {
    const message = toChangeMessage(
      { slot: 's', db: 'd', schema: 'public', table: 'users' },
      { xid: 1, commitLsn: 1n, commitTimeMs: 1, previousCommitLsn: 0n },
      { op: 'd', key: '1', before: { id: '1' }, after: null, changedFields: null, lsn: 1n, index: 0 },
      1,
    );
    expect(Object.keys(message.headers)).toEqual([HEADER_EVENT_ID]);
  });
});
