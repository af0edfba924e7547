import type { DecodedRow, RowValue } from './decoder.js';

/**
 * Fixed-size, non-cryptographic digests of remembered rows (see
 * change-detection.ts). One pass over the row feeds two independent 32-bit
 * lanes, each step a bijection of the lane's state (multiply by an odd
 * constant, xor-shift down), finished by an avalanche; nothing is allocated.
 *
 * The row is fed as an unambiguous sequence: each value is a type tag, then
 * for strings and numbers its length and characters, so two different rows
 * (a different value, null against "null", a value "not sent" against any
 * value) are two different sequences and can only meet by a hash collision.
 */

const TAG_NOT_SENT = 1;
const TAG_NULL = 2;
const TAG_FALSE = 3;
const TAG_TRUE = 4;
const TAG_NUMBER = 5;
const TAG_STRING = 6;

let lane1 = 0;
let lane2 = 0;

function start(): void {
  lane1 = 0x6a09e667 | 0;
  lane2 = 0x3c6ef372 | 0;
}

function feed(code: number): void {
  lane1 = Math.imul(lane1 ^ code, 0x9e3779b1);
  lane1 ^= lane1 >>> 15;
  lane2 = Math.imul(lane2 ^ code, 0x85ebca6b);
  lane2 ^= lane2 >>> 13;
}

function feedText(text: string): void {
  const length = text.length;
  feed(length & 0xffff);
  feed(length >>> 16);
  // feed() inlined, on locals: this loop is most of a digest's time
  let a = lane1;
  let b = lane2;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    a = Math.imul(a ^ code, 0x9e3779b1);
    a ^= a >>> 15;
    b = Math.imul(b ^ code, 0x85ebca6b);
    b ^= b >>> 13;
  }
  lane1 = a;
  lane2 = b;
}

function feedValue(value: RowValue | undefined): void {
  if (value === undefined) feed(TAG_NOT_SENT);
  else if (value === null) feed(TAG_NULL);
  else if (typeof value === 'boolean') feed(value ? TAG_TRUE : TAG_FALSE);
  else if (typeof value === 'number') {
    feed(TAG_NUMBER);
    feedText(String(value));
  } else {
    feed(TAG_STRING);
    feedText(value);
  }
}

function avalanche(h: number, seed: number): number {
  h ^= seed;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

function feedKey(space: string, key: string): void {
  start();
  feedText(space);
  feedText(key);
}

/**
 * Where a row is remembered: 53 bits of its key (and of the space keeping
 * one table's rows apart from another's), so no key string is retained. Two
 * rows sharing a slot (about 1 in 10^6 at 100,000 remembered rows) only push
 * each other out, since each digest covers its own key.
 */
export function slotOf(space: string, key: string): number {
  feedKey(space, key);
  return fold(lane1, lane2);
}

function fold(lane1: number, lane2: number): number {
  const high = avalanche(lane1, lane2);
  const low = avalanche(lane2, high);
  return high * 0x200000 + (low >>> 11);
}

/**
 * 53 bits (an exact JavaScript number) over the key and every watched
 * column's value in `columns` order, "not sent" included as such.
 */
export function digestOf(space: string, key: string, row: DecodedRow, columns: readonly string[]): number {
  feedKey(space, key);
  for (const column of columns) feedValue(row.values[column]);
  // a different finish than the slot's, so a key's slot is not its digest
  return fold(avalanche(lane1, 0x2545f491), lane2);
}
