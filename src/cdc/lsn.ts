/**
 * LSNs as bigints: WAL positions are 64-bit, and comparing the strings
 * Postgres prints (`16/B374D848`, sometimes zero-padded) is wrong.
 */
export type Lsn = bigint;

export function parseLsn(text: string): Lsn {
  const slash = text.indexOf('/');
  if (slash === -1) throw new TypeError(`expected an LSN such as 0/16B3748, received ${JSON.stringify(text)}`);
  const high = BigInt(`0x${text.slice(0, slash) || '0'}`);
  const low = BigInt(`0x${text.slice(slash + 1) || '0'}`);
  return (high << 32n) | low;
}

/** The way Postgres prints it: `16/B374D848`. */
export function formatLsn(lsn: Lsn): string {
  const high = lsn >> 32n;
  const low = lsn & 0xffffffffn;
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}
