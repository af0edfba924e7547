import { ReplayLedgerFullError, UsageError } from '../errors.js';
import type { DeadLetterScan, StoredDeadLetter } from '../events/dead-letters.js';
import { USER_ID_PATTERN, isValidUserId } from '../livefyre/profile.js';
import {
  isReplayed,
  ledgerMetadata,
  markReplayed,
  MAX_METADATA_CHARS,
  readLedger,
  type ReplayLedger,
} from './replay-ledger.js';

/** The consumer group whose commits record what `dead-letters replay` sent back. */
export const replayGroupId = (groupId: string): string => `${groupId}-replay`;

export interface ReplayPlan {
  /** The dead letters to send back, in dead letter topic order. */
  letters: StoredDeadLetter[];
  /**
   * Dead letters a replay already sent back (those below the replay group's
   * offset, whatever their id, and matching ones above it).
   */
  alreadyReplayed: number;
  /** Dead letters left alone by `--ids`. */
  notSelected: number;
  /** The replay group's commits once `letters` are back on the change topic. */
  marks: Array<{ partition: number; offset: string; metadata: string }>;
}

/** Reads `--ids a,b,c`; a UsageError names every malformed id. */
export function parseIds(text: string | undefined): Set<string> | undefined {
  if (text === undefined) return undefined;
  const ids = text
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id.length > 0);
  const invalid = ids.filter((id) => !isValidUserId(id));
  if (ids.length === 0 || invalid.length > 0) {
    throw new UsageError(
      `--ids expects comma-separated user ids matching ${USER_ID_PATTERN.source}` +
        (invalid.length > 0
          ? `; not valid: ${invalid.map((id) => JSON.stringify(id)).join(', ')}`
          : `, received ${JSON.stringify(text)}`),
    );
  }
  return new Set(ids);
}

/** Ledgers of a scan of the replay group, per partition. */
function ledgersOf(scan: Pick<DeadLetterScan, 'ranges'>): Map<number, ReplayLedger> {
  return new Map(scan.ranges.map((range) => [range.partition, readLedger(range.start, range.metadata)]));
}

/**
 * Which dead letters of a replay-group scan to send back: those whose key is
 * in `ids` (all without it) that no replay sent back yet.
 */
export function planReplay(
  scan: Pick<DeadLetterScan, 'letters' | 'ranges'>,
  ids: ReadonlySet<string> | undefined,
): ReplayPlan {
  const ledgers = ledgersOf(scan);
  const plan: ReplayPlan = { letters: [], alreadyReplayed: 0, notSelected: 0, marks: [] };
  for (const range of scan.ranges) plan.alreadyReplayed += Number(BigInt(range.start) - BigInt(range.logStart));
  const chosen = new Map<number, string[]>();
  for (const letter of scan.letters) {
    if (ids !== undefined && !ids.has(letter.key?.toString('utf8') ?? '')) {
      plan.notSelected += 1;
      continue;
    }
    const ledger = ledgers.get(letter.partition);
    if (ledger !== undefined && isReplayed(ledger, letter.offset)) {
      plan.alreadyReplayed += 1;
      continue;
    }
    plan.letters.push(letter);
    chosen.set(letter.partition, [...(chosen.get(letter.partition) ?? []), letter.offset]);
  }
  for (const [partition, offsets] of chosen) {
    const ledger = markReplayed(ledgers.get(partition) ?? readLedger(offsets[0] as string, null), offsets);
    const metadata = ledgerMetadata(ledger);
    if (metadata.length > MAX_METADATA_CHARS) {
      throw new ReplayLedgerFullError(partition, metadata.length, MAX_METADATA_CHARS);
    }
    plan.marks.push({ partition, offset: ledger.next.toString(), metadata });
  }
  return plan;
}
