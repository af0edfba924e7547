/**
 * The change detector's memory (change-detection.ts): up to `capacity` slots
 * (53-bit numbers, row-digest.ts), each with the 53-bit digest of its row's
 * last version, least recently seen forgotten first, in constant time.
 *
 * Everything lives in typed arrays allocated once (about 34 bytes per slot,
 * outside the JavaScript heap): remembering a user allocates nothing. A
 * general LRU map would keep a Map entry and two boxed numbers per user on
 * the heap (a slot or a digest does not fit a small integer) and make fresh
 * ones for every new user; under a bulk update of more users than it holds,
 * all of that outlives young-generation collections, and V8 lets its old
 * generation grow to a multiple of what is live before collecting it (the
 * connector-memory bench measures the peak).
 *
 * Lookup: open addressing with linear probing over a table at most half
 * full (the low bits of a slot are well mixed: it is a hash); a removal
 * shifts the entries after it back, so no tombstones pile up. Recency: a
 * doubly linked list through `newer`/`older`.
 */
export class DigestMemory {
  private readonly slots: Float64Array;
  private readonly digests: Float64Array;
  /** Per entry: the entry seen just after / before it (NONE at the ends); `newer` also chains free entries. */
  private readonly newer: Int32Array;
  private readonly older: Int32Array;
  /** Hash table of entry + 1 (0: empty). */
  private readonly table: Int32Array;
  private readonly mask: number;
  private oldest = NONE;
  private newest = NONE;
  /** Entries never used yet start here; freed ones are chained from `free`. */
  private unused = 0;
  private free = NONE;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer`);
    this.slots = new Float64Array(capacity);
    this.digests = new Float64Array(capacity);
    this.newer = new Int32Array(capacity);
    this.older = new Int32Array(capacity);
    let size = 2;
    while (size < capacity * 2) size *= 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The slot's digest (and the slot becomes the most recently seen), or undefined. */
  get(slot: number): number | undefined {
    const position = this.find(slot);
    if (position < 0) return undefined;
    const entry = (this.table[position] as number) - 1;
    this.touch(entry);
    return this.digests[entry];
  }

  /** Remembers the slot's digest as the most recently seen; forgets the least recently seen when full. */
  set(slot: number, digest: number): void {
    let position = this.find(slot);
    if (position >= 0) {
      const entry = (this.table[position] as number) - 1;
      this.digests[entry] = digest;
      this.touch(entry);
      return;
    }
    if (this.count === this.capacity) {
      this.delete(this.slots[this.oldest] as number);
      // The removal may have shifted entries: look again.
      position = this.find(slot);
    }
    let entry: number;
    if (this.free !== NONE) {
      entry = this.free;
      this.free = this.newer[entry] as number;
    } else {
      entry = this.unused++;
    }
    this.slots[entry] = slot;
    this.digests[entry] = digest;
    this.link(entry);
    // find() returned where the probe met an empty place: ~position.
    this.table[~position] = entry + 1;
    this.count += 1;
  }

  delete(slot: number): boolean {
    let position = this.find(slot);
    if (position < 0) return false;
    const entry = (this.table[position] as number) - 1;
    this.unlink(entry);
    this.newer[entry] = this.free;
    this.free = entry;
    this.count -= 1;
    // Backward shift: an entry after the hole whose home is not between the
    // hole and itself would be lost to its probe: it moves into the hole.
    const { table, mask } = this;
    table[position] = 0;
    for (let next = (position + 1) & mask; table[next] !== 0; next = (next + 1) & mask) {
      const home = homeOf(this.slots[(table[next] as number) - 1] as number, mask);
      const inPlace = position <= next ? position < home && home <= next : position < home || home <= next;
      if (!inPlace) {
        table[position] = table[next] as number;
        table[next] = 0;
        position = next;
      }
    }
    return true;
  }

  clear(): void {
    this.table.fill(0);
    this.oldest = NONE;
    this.newest = NONE;
    this.unused = 0;
    this.free = NONE;
    this.count = 0;
  }

  /** The slot's place in the table, or ~(the empty place where it would go). */
  private find(slot: number): number {
    const { table, mask } = this;
    for (let position = homeOf(slot, mask); ; position = (position + 1) & mask) {
      const held = table[position] as number;
      if (held === 0) return ~position;
      if (this.slots[held - 1] === slot) return position;
    }
  }

  private touch(entry: number): void {
    if (entry === this.newest) return;
    this.unlink(entry);
    this.link(entry);
  }

  /** Appends as the most recently seen. */
  private link(entry: number): void {
    this.older[entry] = this.newest;
    this.newer[entry] = NONE;
    if (this.newest === NONE) this.oldest = entry;
    else this.newer[this.newest] = entry;
    this.newest = entry;
  }

  private unlink(entry: number): void {
    const before = this.older[entry] as number;
    const after = this.newer[entry] as number;
    if (before === NONE) this.oldest = after;
    else this.newer[before] = after;
    if (after === NONE) this.newest = before;
    else this.older[after] = before;
  }
}

const NONE = -1;

/** A slot's first place in the table: its low bits (ToUint32 keeps the low 32 bits of an integer below 2^53). */
function homeOf(slot: number, mask: number): number {
  return (slot >>> 0) & mask;
}
