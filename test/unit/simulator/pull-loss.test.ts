import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { parsePullLossSpec, PullLoss } from '../../../src/simulator/pull-loss.js';

describe('lost pulls', () => {
  it('loses the next N pulls of anyone, then none', () => {
    const loss = new PullLoss();
    loss.add(parsePullLossSpec({ count: 2 }));
    expect(['a', 'b', 'c'].map((id) => loss.take(id))).toEqual([true, true, false]);
    expect(loss.current()).toEqual([]);
  });

  it("loses a given user's next pull only, before any unnamed loss", () => {
    const loss = new PullLoss();
    loss.add(parsePullLossSpec({}));
    loss.add(parsePullLossSpec({ id: 'u2' }));
    expect(loss.current()).toEqual([
      { id: null, remaining: 1 },
      { id: 'u2', remaining: 1 },
    ]);
    expect(loss.take('u2')).toBe(true);
    expect(loss.current()).toEqual([{ id: null, remaining: 1 }]);
    expect(loss.take('u2')).toBe(true);
    expect(loss.take('u2')).toBe(false);
  });

  it('clears', () => {
    const loss = new PullLoss();
    loss.add({ id: 'u1', count: 3 });
    loss.clear();
    expect(loss.take('u1')).toBe(false);
  });

  it('refuses bad specs with every reason', () => {
    for (const bad of [null, [], 'x', { count: 0 }, { count: 1.5 }, { id: '' }, { id: 3 }, { lose: 1 }]) {
      expect(() => parsePullLossSpec(bad), JSON.stringify(bad)).toThrow(UsageError);
    }
    expect(() => parsePullLossSpec({ count: -1, id: 7, x: 1 })).toThrow(/count.*id|unknown key "x"/);
  });
});
