import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConnectorHandle } from '../../src/cdc/connector.js';
import { HEADER_EVENT_ID } from '../../src/events/envelope.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { readTopic, type ReadMessage } from '../helpers/connector-kafka.js';
import { prepareDatabase, startTestConnector } from '../helpers/fault-harness.js';
import { createTestDatabase, createTopic, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';

/**
 * The same changes read twice: by a connector that remembers the users
 * (and so filters an update of an unmapped column) and by a fresh one with
 * no memory (as after a crash or on a standby). Every change both publish
 * carries the same event id, so a consumer that drops duplicates by id
 * drops only true duplicates.
 */
describe('event ids', () => {
  let db: TestDatabase;
  const connectors: ConnectorHandle[] = [];

  afterAll(async () => {
    for (const connector of connectors) await connector.stop();
    await db?.drop();
  });

  it('are the same every time a change is read again', async () => {
    db = await createTestDatabase();
    const replication = await prepareDatabase(db.url);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const again = uniqueName('slot_again');
    try {
      // A second slot at the same place: it reads the very same changes.
      await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [again]);
      await client.query('BEGIN');
      await client.query(`INSERT INTO members VALUES (1, 'one', 'one@example.com', 'h'), (2, 'two', 'two@x', 'h')`);
      await client.query(`UPDATE members SET password_hash = 'h2' WHERE user_id = 1`);
      await client.query(`UPDATE members SET user_id = 5 WHERE user_id = 2`);
      await client.query(`UPDATE members SET nick = 'uno' WHERE user_id = 1`);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    const { logger } = capturingLogger();
    const read = async (slot: string, knownUsers: number): Promise<Map<string, string>> => {
      const topic = await createTopic(uniqueName('ids'), 1);
      const connector = startTestConnector({
        databaseUrl: db.url,
        brokers: kafkaBrokers(),
        topic,
        logger,
        ...replication,
        knownUsers,
        slot,
      });
      connectors.push(connector);
      const messages = await readTopic(topic, (m) => m.some((e) => e.value?.after?.['nick' as never] === 'uno'));
      return new Map(messages.map((m: ReadMessage) => [describeEvent(m), m.headers[HEADER_EVENT_ID] ?? '']));
    };
    const remembering = await read(replication.slot, 1_000);
    const fresh = await read(again, 0);

    // Without memory the update of the password hash is published too; the others keep their ids.
    expect([...remembering.keys()]).toEqual(['c:1:one', 'c:2:two', 'd:2:', 'c:5:two', 'u:1:uno']);
    expect([...fresh.keys()]).toEqual(['c:1:one', 'c:2:two', 'u:1:one', 'd:2:', 'c:5:two', 'u:1:uno']);
    for (const [event, id] of remembering) expect(fresh.get(event), event).toBe(id);
    expect(new Set(fresh.values()).size).toBe(fresh.size);
  });
});

function describeEvent(message: ReadMessage): string {
  const after = message.value?.after as Record<string, unknown> | null | undefined;
  return `${String(message.value?.op)}:${message.key}:${String(after?.nick ?? '')}`;
}
