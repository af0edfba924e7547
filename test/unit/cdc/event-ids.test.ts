import { describe, expect, it } from 'vitest';
import { ChangeDetector } from '../../../src/cdc/change-detection.js';
import { LsnCheckpoint } from '../../../src/cdc/checkpoint.js';
import type { DecodedMessage, RowChange } from '../../../src/cdc/decoder.js';
import { TransactionHandler } from '../../../src/cdc/transactions.js';
import { HEADER_EVENT_ID, type ChangeMessage } from '../../../src/events/envelope.js';
import { createLogger } from '../../../src/log.js';
import { buildProfileMapping } from '../../../src/mapping/index.js';
import { createMetrics } from '../../../src/metrics/registry.js';

const row = (id: string, nick: string) => ({ id, values: { nick } });

function update(lsn: bigint, before: string | null, id: string, nick: string): DecodedMessage {
  const change: RowChange = {
    op: 'update',
    lsn,
    before: before === null ? null : row(before, ''),
    beforeIsFull: false,
    after: row(id, nick),
  };
  return { kind: 'row', change };
}

/** One transaction: an insert, an update that changes nothing mapped, an id change, a real update. */
const TRANSACTION: DecodedMessage[] = [
  { kind: 'begin', xid: 9, commitLsn: 0x500n, commitTimeMs: 1 },
  {
    kind: 'row',
    change: { op: 'insert', lsn: 0x410n, before: null, beforeIsFull: false, after: row('1', 'a') },
  },
  update(0x420n, null, '1', 'a'),
  update(0x430n, '2', '3', 'c'),
  update(0x440n, null, '1', 'b'),
  { kind: 'commit', commitLsn: 0x500n, commitEndLsn: 0x510n, commitTimeMs: 1 },
];

/** The event ids a handler publishes for `messages`, with or without memory of the users. */
async function eventIds(messages: readonly DecodedMessage[], knownUsers: number): Promise<Map<string, string>> {
  const sent: ChangeMessage[] = [];
  const handler = new TransactionHandler(
    {
      origin: { slot: 's', db: 'd', schema: 'public', table: 'users' },
      idColumn: 'id',
      checkpoint: new LsnCheckpoint(0x100n),
      publisher: {
        enqueue: async (message) => void sent.push(message),
        flush: () => undefined,
        lastSeq: 0,
      },
      detector: new ChangeDetector({
        mapping: buildProfileMapping({ source: { table: 'users', idColumn: 'id', columns: { display_name: 'nick' } } }),
        knownUsers,
      }),
      metrics: createMetrics({ defaultMetrics: false }),
      clock: { now: () => 0 },
      logger: createLogger('silent'),
    },
    0x100n,
  );
  for (const message of messages) await handler.handle(message);
  return new Map(
    sent.map((message) => [
      `${message.value?.op}:${message.key}:${message.value?.after?.nick ?? ''}`,
      message.headers[HEADER_EVENT_ID] ?? '',
    ]),
  );
}

describe('event ids', () => {
  it('come from the change position in the WAL, not from what the in-memory filter let through', async () => {
    const remembering = await eventIds(TRANSACTION, 1_000);
    const forgetful = await eventIds(TRANSACTION, 0);
    // With memory the no-op update is filtered; without memory it is published: the others keep their ids.
    expect([...remembering.keys()]).toEqual(['c:1:a', 'd:2:', 'c:3:c', 'u:1:b']);
    expect(forgetful.get('u:1:a')).toBe('0/500:1');
    for (const [event, id] of remembering) expect(forgetful.get(event), event).toBe(id);
    expect(Object.fromEntries(remembering)).toEqual({
      'c:1:a': '0/500:0',
      'd:2:': '0/500:2',
      'c:3:c': '0/500:2.1',
      'u:1:b': '0/500:3',
    });
  });
});
