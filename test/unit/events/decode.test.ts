import { describe, expect, it } from 'vitest';
import { decodeChange } from '../../../src/events/envelope.js';

const event = {
  before: null,
  after: { id: 'u1', display_name: 'Ada' },
  source: { version: '0.1.0', connector: 'pingpull', name: 'pingpull', ts_ms: 1_700_000_000_000 },
  op: 'u',
  ts_ms: 1_700_000_000_100,
};
const buf = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('decodeChange', () => {
  it('reads the user id from the key and the commit time from source.ts_ms', () => {
    expect(decodeChange(buf('u1'), buf(event))).toEqual({ kind: 'ping', userId: 'u1', commitTsMs: 1_700_000_000_000 });
    expect(decodeChange(buf('a.b-c_D9'), buf({ ...event, op: 'd', after: null }))).toMatchObject({ kind: 'ping' });
  });

  it('skips a truncate, which has no key', () => {
    const truncate = Buffer.from(
      JSON.stringify({ before: null, after: null, source: { ts_ms: 1 }, op: 't', ts_ms: 2 }),
    );
    expect(decodeChange(null, truncate)).toEqual({ kind: 'skip' });
    expect(decodeChange(Buffer.from(''), truncate)).toEqual({ kind: 'skip' });
    // An update without a key is still poison: only a truncate may lack one.
    const update = Buffer.from(JSON.stringify({ before: null, after: {}, source: {}, op: 'u', ts_ms: 2 }));
    expect(decodeChange(null, update)).toMatchObject({ kind: 'poison', reason: 'invalid-key' });
  });

  it('skips tombstones', () => {
    expect(decodeChange(buf('u1'), null)).toEqual({ kind: 'skip' });
  });

  it.each([
    [null, 'invalid-key'],
    ['', 'invalid-key'],
    ['u 1', 'invalid-key'],
    ['ü', 'invalid-key'],
    ['u1/../x', 'invalid-key'],
  ])('key %j is poison (%s)', (key, reason) => {
    expect(decodeChange(key === null ? null : buf(key), buf(event))).toMatchObject({ kind: 'poison', reason });
  });

  it.each([
    ['{not json', 'invalid-json'],
    ['[]', 'invalid-envelope'],
    ['"text"', 'invalid-envelope'],
    [JSON.stringify({ ...event, op: 'x' }), 'invalid-envelope'],
    [JSON.stringify({ ...event, source: null }), 'invalid-envelope'],
    [JSON.stringify({ ...event, after: 'u1' }), 'invalid-envelope'],
  ])('value %s is poison (%s)', (value, reason) => {
    expect(decodeChange(buf('u1'), buf(value))).toMatchObject({ kind: 'poison', reason });
  });
});
