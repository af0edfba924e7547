import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DigestMemory } from '../../../src/cdc/digest-memory.js';

/** The behaviour expected: a Map kept in recency order (least recently seen first). */
class ModelMemory {
  private readonly entries = new Map<number, number>();
  constructor(private readonly capacity: number) {}
  get(slot: number): number | undefined {
    const digest = this.entries.get(slot);
    if (digest !== undefined) {
      this.entries.delete(slot);
      this.entries.set(slot, digest);
    }
    return digest;
  }
  set(slot: number, digest: number): void {
    this.entries.delete(slot);
    if (this.entries.size === this.capacity) this.entries.delete(this.entries.keys().next().value as number);
    this.entries.set(slot, digest);
  }
  delete(slot: number): boolean {
    return this.entries.delete(slot);
  }
  get size(): number {
    return this.entries.size;
  }
}

const HIGH = 2 ** 32;
// Few distinct low bits: slots share their first place in the table, so probes run long and removals shift entries.
const slotArb = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 21 - 1 }), fc.integer({ min: 0, max: 7 }))
  .map(([high, low]) => high * HIGH + low * 3);
const opArb = fc.oneof(
  fc.record({ op: fc.constant('get' as const), slot: slotArb }),
  fc.record({ op: fc.constant('set' as const), slot: slotArb, digest: fc.integer({ min: 0, max: 2 ** 53 - 1 }) }),
  fc.record({ op: fc.constant('delete' as const), slot: slotArb }),
  fc.record({ op: fc.constant('clear' as const) }),
);

describe('DigestMemory', () => {
  it('remembers, forgets the least recently seen when full, and finds every slot after removals (against a model)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.array(opArb, { maxLength: 300 }), (capacity, ops) => {
        const memory = new DigestMemory(capacity);
        const model = new ModelMemory(capacity);
        const seen = new Set<number>();
        for (const step of ops) {
          if (step.op === 'get') expect(memory.get(step.slot)).toBe(model.get(step.slot));
          else if (step.op === 'set') {
            memory.set(step.slot, step.digest);
            model.set(step.slot, step.digest);
          } else if (step.op === 'delete') expect(memory.delete(step.slot)).toBe(model.delete(step.slot));
          else {
            memory.clear();
            for (const slot of seen) model.delete(slot);
          }
          if (step.op !== 'clear') seen.add(step.slot);
          expect(memory.size).toBe(model.size);
        }
        // Every slot ever used: present exactly when the model has it (get() also reorders both alike).
        for (const slot of seen) expect(memory.get(slot)).toBe(model.get(slot));
      }),
      { numRuns: 500 },
    );
  });

  it('holds full 53-bit slots and digests exactly', () => {
    const memory = new DigestMemory(2);
    const slot = 2 ** 53 - 1;
    memory.set(slot, 2 ** 53 - 2);
    memory.set(slot - 1, 0);
    expect(memory.get(slot)).toBe(2 ** 53 - 2);
    expect(memory.get(slot - 1)).toBe(0);
    memory.set(1, 1); // evicts slot: slot - 1 was seen last
    expect(memory.get(slot)).toBeUndefined();
    expect(memory.size).toBe(2);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new DigestMemory(0)).toThrow(RangeError);
    expect(() => new DigestMemory(1.5)).toThrow(RangeError);
  });
});
