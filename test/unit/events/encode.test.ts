import { describe, expect, it } from 'vitest';
import { HEADER_CHANGED, HEADER_EVENT_ID, toChangeMessage, toSnapshotMessage } from '../../../src/events/envelope.js';

describe('toChangeMessage', () => {
  it('builds the Debezium envelope, the event id and the changed fields', () => {
    const message = toChangeMessage(
      { slot: 'pingpull', db: 'app', schema: 'public', table: 'users' },
      { xid: 7, commitLsn: 0x200n, commitTimeMs: 1_000, previousCommitLsn: 0x100n },
      {
        op: 'u',
        key: '42',
        before: null,
        after: { id: '42', nick: 'A' },
        changedFields: ['display_name'],
        lsn: 0x1f0n,
        index: 2,
        part: 0,
      },
      1_500,
    );
    expect(message.key).toBe('42');
    expect(message.headers).toEqual({ [HEADER_EVENT_ID]: '0/200:2', [HEADER_CHANGED]: 'display_name' });
    expect(message.value).toMatchObject({
      op: 'u',
      ts_ms: 1_500,
      after: { id: '42', nick: 'A' },
      source: {
        connector: 'pingpull',
        name: 'pingpull',
        ts_ms: 1_000,
        db: 'app',
        txId: 7,
        lsn: 0x1f0,
        sequence: '["256","496"]',
      },
    });
  });

  it('leaves the changed header out when unknown', () => {
    const message = toChangeMessage(
      { slot: 's', db: 'd', schema: 'public', table: 'users' },
      { xid: 1, commitLsn: 1n, commitTimeMs: 1, previousCommitLsn: 0n },
      { op: 'd', key: '1', before: { id: '1' }, after: null, changedFields: null, lsn: 1n, index: 0, part: 0 },
      1,
    );
    expect(Object.keys(message.headers)).toEqual([HEADER_EVENT_ID]);
  });
});

describe('toSnapshotMessage', () => {
  it('writes a read as Debezium does: op r, snapshot true, the read time, no transaction', () => {
    const message = toSnapshotMessage(
      { slot: 'pingpull', db: 'app', schema: 'public', table: 'users' },
      {
        key: '42',
        after: { id: '42', nick: 'A' },
        readTimeMs: 2_000,
        eventId: 'resync-x:1',
        changedFields: ['id', 'nick'],
      },
    );
    expect(message).toEqual({
      key: '42',
      value: {
        before: null,
        after: { id: '42', nick: 'A' },
        source: {
          version: '0.1.0',
          connector: 'pingpull',
          name: 'pingpull',
          ts_ms: 2_000,
          snapshot: 'true',
          db: 'app',
          sequence: '[null,null]',
          schema: 'public',
          table: 'users',
          txId: null,
          lsn: null,
          xmin: null,
        },
        op: 'r',
        ts_ms: 2_000,
      },
      headers: { [HEADER_EVENT_ID]: 'resync-x:1', [HEADER_CHANGED]: 'id,nick' },
    });
  });
});
