/**
 * What `pingpull dead-letters replay` has sent back, per partition of the
 * dead letter topic, kept as the committed offset of the replay consumer
 * group plus its commit metadata: every offset below `next` is replayed (or
 * gone from the topic), and `done` lists replayed offsets at or above it
 * (a replay limited with `--ids` leaves holes that a later replay may fill).
 */
export interface ReplayLedger {
  next: bigint;
  done: ReadonlySet<bigint>;
}

const PREFIX = 'pingpull-replayed:';

/** Kafka's default `offset.metadata.max.bytes` is 4096. */
export const MAX_METADATA_CHARS = 4_000;

/** `start` is where a scan began: the committed offset, or the log start without one. */
export function readLedger(start: string, metadata: string | null): ReplayLedger {
  const next = BigInt(start);
  const done = new Set<bigint>();
  if (metadata !== null && metadata.startsWith(PREFIX)) {
    for (const part of metadata.slice(PREFIX.length).split(',')) {
      const match = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (match === null) continue;
      const from = BigInt(match[1] as string);
      const to = match[2] === undefined ? from : BigInt(match[2]);
      for (let offset = from; offset <= to; offset += 1n) if (offset >= next) done.add(offset);
    }
  }
  return { next, done };
}

export function isReplayed(ledger: ReplayLedger, offset: string): boolean {
  const value = BigInt(offset);
  return value < ledger.next || ledger.done.has(value);
}

/** The ledger after replaying `offsets`: `next` moves over every replayed offset right after it. */
export function markReplayed(ledger: ReplayLedger, offsets: Iterable<string>): ReplayLedger {
  const done = new Set(ledger.done);
  for (const offset of offsets) {
    const value = BigInt(offset);
    if (value >= ledger.next) done.add(value);
  }
  let next = ledger.next;
  while (done.delete(next)) next += 1n;
  return { next, done };
}

/** The commit metadata for a ledger: replayed offsets above `next`, as ranges (`pingpull-replayed:7-9,12`). */
export function ledgerMetadata(ledger: ReplayLedger): string {
  const sorted = [...ledger.done].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] as bigint) === (sorted[j] as bigint) + 1n) j += 1;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return `${PREFIX}${parts.join(',')}`;
}
