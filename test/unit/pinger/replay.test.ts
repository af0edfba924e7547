import { describe, expect, it } from 'vitest';
import type { StoredDeadLetter } from '../../../src/events/dead-letters.js';
import { UsageError } from '../../../src/errors.js';
import { isReplayed, ledgerMetadata, markReplayed, readLedger } from '../../../src/pinger/replay-ledger.js';
import { parseIds, planReplay, replayGroupId } from '../../../src/pinger/replay.js';

function letter(partition: number, offset: number, key: string): StoredDeadLetter {
  return {
    partition,
    offset: String(offset),
    key: Buffer.from(key),
    value: Buffer.from('{}'),
    headers: {},
    reason: 'max-attempts',
    attempts: 3,
    failedAt: '2026-01-01T00:00:00.000Z',
    error: null,
    source: { topic: 'changes', partition: 0, offset: String(offset) },
  };
}

describe('replay ledger', () => {
  it('starts empty at the scan start and reads back what it wrote', () => {
    const empty = readLedger('4', null);
    expect(isReplayed(empty, '3')).toBe(true);
    expect(isReplayed(empty, '4')).toBe(false);
    const marked = markReplayed(empty, ['4', '5', '7', '9', '10', '11']);
    expect(marked.next).toBe(6n);
    expect(ledgerMetadata(marked)).toBe('pingpull-replayed:7,9-11');
    const read = readLedger(marked.next.toString(), ledgerMetadata(marked));
    for (const offset of ['4', '5', '7', '9', '10', '11']) expect(isReplayed(read, offset)).toBe(true);
    for (const offset of ['6', '8', '12']) expect(isReplayed(read, offset)).toBe(false);
  });

  it('moves the committed offset over holes once they are filled', () => {
    const ledger = markReplayed(readLedger('6', 'pingpull-replayed:7,9-11'), ['6', '8']);
    expect(ledger.next).toBe(12n);
    expect(ledgerMetadata(ledger)).toBe('pingpull-replayed:');
  });

  it('ignores metadata it did not write and offsets below the start', () => {
    expect(readLedger('5', 'something else').done.size).toBe(0);
    expect([...readLedger('5', 'pingpull-replayed:1-3,6').done]).toEqual([6n]);
  });
});

describe('planReplay', () => {
  const ranges = [
    { partition: 0, logStart: '0', start: '0', end: '4', metadata: null },
    { partition: 1, logStart: '0', start: '2', end: '3', metadata: 'pingpull-replayed:' },
  ];
  const letters = [letter(0, 0, 'a'), letter(0, 1, 'b'), letter(0, 2, 'a'), letter(0, 3, 'c'), letter(1, 2, 'b')];

  it('replays everything not yet replayed and commits past it', () => {
    const plan = planReplay({ letters, ranges }, undefined);
    expect(plan.letters.map((l) => `${l.partition}/${l.offset}`)).toEqual(['0/0', '0/1', '0/2', '0/3', '1/2']);
    expect(plan.marks).toEqual([
      { partition: 0, offset: '4', metadata: 'pingpull-replayed:' },
      { partition: 1, offset: '3', metadata: 'pingpull-replayed:' },
    ]);
  });

  it('with ids, replays only theirs and records the holes it leaves', () => {
    const plan = planReplay({ letters, ranges }, new Set(['b']));
    expect(plan.letters.map((l) => `${l.partition}/${l.offset}`)).toEqual(['0/1', '1/2']);
    expect(plan.notSelected).toBe(3);
    expect(plan.alreadyReplayed).toBe(2);
    expect(plan.marks).toEqual([
      { partition: 0, offset: '0', metadata: 'pingpull-replayed:1' },
      { partition: 1, offset: '3', metadata: 'pingpull-replayed:' },
    ]);
    // the next replay, from those commits, skips what was sent
    const next = planReplay(
      {
        letters: letters.filter((l) => l.partition === 0),
        ranges: [{ partition: 0, logStart: '0', start: '0', end: '4', metadata: 'pingpull-replayed:1' }],
      },
      undefined,
    );
    expect(next.letters.map((l) => l.offset)).toEqual(['0', '2', '3']);
    expect(next.alreadyReplayed).toBe(1);
    expect(next.marks).toEqual([{ partition: 0, offset: '4', metadata: 'pingpull-replayed:' }]);
  });
});

describe('parseIds', () => {
  it('reads comma-separated ids and refuses malformed ones by name', () => {
    expect(parseIds(undefined)).toBeUndefined();
    expect([...(parseIds('a, b,,c') ?? [])]).toEqual(['a', 'b', 'c']);
    expect(() => parseIds('ok,bad id')).toThrow(UsageError);
    expect(() => parseIds('ok,bad id')).toThrow(/"bad id"/);
    expect(() => parseIds(' , ')).toThrow(UsageError);
  });

  it("names the replay group after the pingers' group", () => {
    expect(replayGroupId('pingpull-pinger')).toBe('pingpull-pinger-replay');
  });
});
