import { describe, expect, it } from 'vitest';
import { formatLsn, parseLsn } from '../../../src/cdc/lsn.js';

describe('LSNs', () => {
  it('parse padded and unpadded forms and print like Postgres', () => {
    expect(parseLsn('0/16B3748')).toBe(0x16b3748n);
    expect(parseLsn('00000016/0000A0B0')).toBe((0x16n << 32n) | 0xa0b0n);
    expect(formatLsn(parseLsn('00000016/0000A0B0'))).toBe('16/A0B0');
    expect(() => parseLsn('nonsense')).toThrow(TypeError);
  });
});
