import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OffsetTracker, type OffsetRef } from '../../../src/pinger/offsets.js';

describe('offset tracker', () => {
  it('commits per partition only up to the first event not done', () => {
    const tracker = new OffsetTracker();
    const a = ['10', '11', '12'].map((o) => tracker.track('t', 0, o) as OffsetRef);
    const b = tracker.track('t', 1, '5') as OffsetRef;
    expect(tracker.committable()).toEqual([]);
    tracker.done([a[1] as OffsetRef, a[2] as OffsetRef]);
    expect(tracker.committable()).toEqual([]);
    tracker.done([a[0] as OffsetRef, b]);
    expect(tracker.committable()).toEqual([
      { topic: 't', partition: 0, offset: '13' },
      { topic: 't', partition: 1, offset: '6' },
    ]);
  });

  it('does not offer the same offsets again once committed', () => {
    const tracker = new OffsetTracker();
    const ref = tracker.track('t', 0, '0') as OffsetRef;
    tracker.done([ref]);
    const offsets = tracker.committable();
    tracker.committed(offsets);
    expect(tracker.committable()).toEqual([]);
    tracker.done([tracker.track('t', 0, '1') as OffsetRef]);
    expect(tracker.committable()).toEqual([{ topic: 't', partition: 0, offset: '2' }]);
  });

  it('ignores re-fetched offsets and, after a rebalance, refs of the old epoch', () => {
    const tracker = new OffsetTracker();
    const old = tracker.track('t', 0, '0') as OffsetRef;
    expect(tracker.track('t', 0, '0')).toBeUndefined();
    tracker.reset();
    const again = tracker.track('t', 0, '0') as OffsetRef;
    tracker.done([old]);
    expect(tracker.committable()).toEqual([]);
    tracker.done([again]);
    expect(tracker.committable()).toEqual([{ topic: 't', partition: 0, offset: '1' }]);
  });

  it('offsets beyond 2^53 stay exact', () => {
    const tracker = new OffsetTracker();
    tracker.done([tracker.track('t', 0, '9007199254740993') as OffsetRef]);
    expect(tracker.committable()).toEqual([{ topic: 't', partition: 0, offset: '9007199254740994' }]);
  });

  it('never commits past an event that is not done, whatever the order of completion', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 3000 }), fc.integer(), (doneFlags, seed) => {
        const tracker = new OffsetTracker();
        const refs = doneFlags.map((_, i) => tracker.track('t', 0, String(i)) as OffsetRef);
        const finished = refs.filter((_, i) => doneFlags[i]);
        // finish in a shuffled order, checking after each step
        let committedUpTo = 0;
        const order = finished.map((ref, i) => ({ ref, key: (i * 7919 + seed) % 10007 })).sort((x, y) => x.key - y.key);
        for (const { ref } of order) {
          tracker.done([ref]);
          for (const commit of tracker.committable()) {
            const upTo = Number(commit.offset);
            expect(refs.slice(0, upTo).every((r) => r.done)).toBe(true);
            tracker.committed([commit]);
            committedUpTo = upTo;
          }
        }
        const firstPending = doneFlags.indexOf(false);
        const expected = firstPending === -1 ? doneFlags.length : firstPending;
        expect(committedUpTo).toBe(expected);
        expect(tracker.pending).toBe(doneFlags.filter((d) => !d).length);
      }),
      { numRuns: 50 },
    );
  });
});
