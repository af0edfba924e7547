import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorHandle } from '../../src/cdc/connector.js';
import { parseLsn } from '../../src/cdc/lsn.js';
import { setupDatabase } from '../../src/cdc/setup.js';
import { teardownDatabase } from '../../src/cdc/teardown.js';
import { HEADER_CHANGED, HEADER_EVENT_ID } from '../../src/events/envelope.js';
import { createLogger } from '../../src/log.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import { createMembersDatabase, membersSource, startInProcessConnector } from '../helpers/members-table.js';
import { createTopic, uniqueName, type TestDatabase } from '../helpers/services.js';
import { readTopic, type ReadMessage } from '../helpers/connector-kafka.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger(process.env.PINGPULL_TEST_LOG ?? 'silent');
const source = membersSource({ display_name: 'nick', email: 'mail', image_url: 'pic' });

interface Harness {
  replication: Parameters<typeof setupDatabase>[0]['replication'];
  start(): ConnectorHandle;
  database: TestDatabase;
  pool: pg.Pool;
  topic: string;
  slot: string;
  connector: ConnectorHandle;
  metrics: Metrics;
  close(): Promise<void>;
}

async function startHarness(replicaIdentityFull: boolean, heartbeatMs = 500, statusIntervalMs = 200): Promise<Harness> {
  const { database, pool } = await createMembersDatabase(
    'user_id bigint PRIMARY KEY, nick text, mail text, pic text, password_hash text',
    3,
  );
  const replication = {
    slot: uniqueName('slot'),
    publication: uniqueName('pub'),
    heartbeatMs,
    statusIntervalMs,
    batchSize: 100,
    knownUsers: 1_000,
  };
  await setupDatabase({ pool, source, replication, replicaIdentityFull, logger });
  const topic = await createTopic(uniqueName('changes'), 3);
  const metrics = createMetrics({ defaultMetrics: false });
  const start = (): ConnectorHandle =>
    startInProcessConnector({ databaseUrl: database.url, source, replication, topic, logger, metrics });
  const connector = start();
  await waitFor(
    async () => {
      const { rows } = await pool.query<{ active: boolean }>(
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [replication.slot],
      );
      return rows[0]?.active === true;
    },
    { what: 'the connector to read the slot', timeoutMs: 30_000 },
  );
  return {
    replication,
    start,
    database,
    pool,
    topic,
    slot: replication.slot,
    connector,
    metrics,
    close: async () => {
      await connector.stop();
      await connector.done.catch(() => undefined);
      await pool.end();
      await database.drop();
    },
  };
}

/** Event ids are `<commit LSN>:<position>`: commit order, then order in the transaction. */
function compareEventIds(a = '', b = ''): number {
  const [lsnA = '0/0', indexA = '0'] = a.split(':');
  const [lsnB = '0/0', indexB = '0'] = b.split(':');
  const byLsn = parseLsn(lsnA) - parseLsn(lsnB);
  return byLsn === 0n ? Number(indexA) - Number(indexB) : byLsn < 0n ? -1 : 1;
}

function byOp(messages: ReadMessage[]) {
  return messages.map((m) => [m.key, (m.value as { op: string } | null)?.op]);
}

describe('connector with the default replica identity', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(false);
  });
  afterAll(async () => h?.close());

  it('publishes inserts, updates and deletes keyed by user id, without unmapped columns', async () => {
    await h.pool.query(
      `INSERT INTO members VALUES (9007199254740993, 'Ada', 'ada@example.com', 'https://img/1', 'secret-hash-1')`,
    );
    await h.pool.query(`UPDATE members SET nick = 'Ada L.' WHERE user_id = 9007199254740993`);
    await h.pool.query(`UPDATE members SET password_hash = 'secret-hash-2' WHERE user_id = 9007199254740993`);
    await h.pool.query(
      `BEGIN; INSERT INTO members VALUES (2, 'Bob', NULL, NULL, 'secret-hash-3'); DELETE FROM members WHERE user_id = 9007199254740993; COMMIT`,
    );
    await h.pool.query(`UPDATE members SET user_id = 3 WHERE user_id = 2`);

    const messages = await readTopic(h.topic, (m) => m.length >= 6);
    const ordered = [...messages].sort((a, b) =>
      compareEventIds(a.headers[HEADER_EVENT_ID], b.headers[HEADER_EVENT_ID]),
    );
    expect(byOp(ordered)).toEqual([
      ['9007199254740993', 'c'],
      ['9007199254740993', 'u'],
      ['2', 'c'],
      ['9007199254740993', 'd'],
      ['2', 'd'],
      ['3', 'c'],
    ]);
    for (const message of messages) {
      expect(message.raw).not.toContain('secret-hash');
      expect(message.raw).not.toContain('password_hash');
    }
    const [created, updated] = ordered;
    expect(created?.value).toMatchObject({
      op: 'c',
      before: null,
      after: { user_id: '9007199254740993', nick: 'Ada', mail: 'ada@example.com', pic: 'https://img/1' },
      source: { connector: 'pingpull', name: h.slot, db: h.database.name, schema: 'public', table: 'members' },
    });
    expect(created?.headers[HEADER_CHANGED]).toBe('display_name,email,image_url');
    expect(updated?.value).toMatchObject({ op: 'u', after: { user_id: '9007199254740993', nick: 'Ada L.' } });
    // Without the old row the connector compares a digest of the whole profile: it cannot name the changed fields.
    expect(updated?.headers[HEADER_CHANGED]).toBeUndefined();
    expect(ordered[3]?.value).toMatchObject({ op: 'd', before: { user_id: '9007199254740993' }, after: null });
    // The update of password_hash alone was remembered as no profile change.
    expect((await h.metrics.skippedUpdatesTotal.get()).values[0]?.value).toBe(1);
    const events = await h.metrics.eventsTotal.get();
    expect(events.values.reduce((sum, v) => sum + v.value, 0)).toBe(6);
  });

  it('advances the slot past an idle stretch through heartbeats', async () => {
    const before = await h.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await h.pool.query('CREATE TABLE busy (n int)');
    await h.pool.query('INSERT INTO busy SELECT generate_series(1, 1000)');
    await waitFor(
      async () => {
        const { rows } = await h.pool.query<{ ahead: boolean }>(
          'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ahead FROM pg_replication_slots WHERE slot_name = $1',
          [h.slot, before.rows[0]?.lsn],
        );
        return rows[0]?.ahead === true;
      },
      { what: 'the slot to follow the WAL of other tables', timeoutMs: 15_000 },
    );
  });
});

describe('connector without heartbeats', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(false, 0);
  });
  afterAll(async () => h?.close());

  it('follows the server WAL end from keepalives while the users table is idle', async () => {
    await h.pool.query('CREATE TABLE busy (n int)');
    await h.pool.query('INSERT INTO busy SELECT generate_series(1, 1000)');
    const { rows } = await h.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await waitFor(
      async () => {
        const { rows: slot } = await h.pool.query<{ ahead: boolean }>(
          'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ahead FROM pg_replication_slots WHERE slot_name = $1',
          [h.slot, rows[0]?.lsn],
        );
        return slot[0]?.ahead === true;
      },
      { what: 'the slot to follow the server WAL end', timeoutMs: 20_000 },
    );
  });
});

describe('connector with REPLICA IDENTITY FULL', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(true);
  });
  afterAll(async () => h?.close());

  it('publishes no event for an update of an unmapped column only', async () => {
    await h.pool.query(`INSERT INTO members VALUES (10, 'Cy', 'cy@example.com', NULL, 'secret-hash-1')`);
    await h.pool.query(`UPDATE members SET password_hash = 'secret-hash-2' WHERE user_id = 10`);
    await h.pool.query(`UPDATE members SET mail = 'cy@new.example.com' WHERE user_id = 10`);
    const messages = await readTopic(h.topic, (m) => m.length >= 2);
    await waitFor(async () => (await h.metrics.skippedUpdatesTotal.get()).values[0]?.value === 1, {
      what: 'a skipped update',
      timeoutMs: 10_000,
    });
    expect(byOp(messages)).toEqual([
      ['10', 'c'],
      ['10', 'u'],
    ]);
    const update = messages[1];
    expect(update?.headers[HEADER_CHANGED]).toBe('email');
    expect(update?.value).toMatchObject({
      before: { user_id: '10', nick: 'Cy', mail: 'cy@example.com', pic: null },
      after: { user_id: '10', nick: 'Cy', mail: 'cy@new.example.com', pic: null },
    });
    for (const message of messages) expect(message.raw).not.toContain('secret-hash');
  });
});

describe('a second connector on the same slot', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(false);
  });
  afterAll(async () => h?.close());

  it('waits as a standby and takes over when the active one stops', async () => {
    // The first connector must hold the slot before the second starts, or
    // under load the second may win it and the roles swap.
    await waitFor(async () => h.connector.positions() !== null, {
      what: 'the first connector to stream',
      timeoutMs: 30_000,
    });
    const standby = h.start();
    try {
      await h.pool.query(`INSERT INTO members VALUES (20, 'First', NULL, NULL, 'x')`);
      const [first] = await readTopic(h.topic, (m) => m.length >= 1);
      await h.connector.stop();
      await h.connector.done;
      // A graceful stop confirms what Kafka acknowledged: the slot is past that commit.
      const commitLsn = (first?.headers[HEADER_EVENT_ID] ?? '').split(':')[0] ?? '';
      const { rows: confirmed } = await h.pool.query<{ past: boolean; confirmed: string; active_pid: number | null }>(
        'SELECT confirmed_flush_lsn > $2::pg_lsn AS past, confirmed_flush_lsn::text AS confirmed, active_pid FROM pg_replication_slots WHERE slot_name = $1',
        [h.slot, commitLsn],
      );
      expect(
        confirmed[0]?.past,
        `confirmed ${confirmed[0]?.confirmed} (slot held by ${confirmed[0]?.active_pid}), commit ${commitLsn}`,
      ).toBe(true);
      await h.pool.query(`INSERT INTO members VALUES (21, 'Second', NULL, NULL, 'x')`);
      const messages = await readTopic(h.topic, (m) => m.some((x) => x.key === '21'), 20_000);
      expect(messages.map((m) => m.key)).toContain('21');
      const { rows } = await h.pool.query<{ active: boolean }>(
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [h.slot],
      );
      expect(rows[0]?.active).toBe(true);
    } finally {
      await standby.stop();
      await standby.done;
    }
  });
});

/**
 * The walsender reading `slot`, when this process may pause it: its pid from
 * pg_stat_replication, checked against /proc (the process title names the
 * client port) so a Postgres in another pid namespace (Docker) or run by
 * another user is never signalled. Null when that cannot be made sure.
 */
async function localWalsender(pool: pg.Pool, slot: string): Promise<number | null> {
  const { rows } = await pool.query<{ pid: number; client_port: number | null }>(
    'SELECT r.pid, r.client_port FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = $1',
    [slot],
  );
  const row = rows[0];
  if (row === undefined || row.client_port === null) return null;
  try {
    const title = readFileSync(`/proc/${row.pid}/cmdline`, 'utf8');
    if (!title.includes('walsender') || !title.includes(`(${row.client_port})`)) return null;
    process.kill(row.pid, 0);
    return row.pid;
  } catch {
    return null;
  }
}

describe('a graceful stop while the walsender is slow', () => {
  let h: Harness;
  beforeAll(async () => {
    // No heartbeats and no periodic status updates: only the stop's confirmation can move the slot.
    h = await startHarness(false, 0, 600_000);
  });
  afterAll(async () => h?.close());

  it('returns only once Postgres has applied the last confirmation', async (ctx) => {
    await h.pool.query(`INSERT INTO members VALUES (30, 'Slow', NULL, NULL, 'x')`);
    const [first] = await readTopic(h.topic, (m) => m.length >= 1);
    const commitLsn = (first?.headers[HEADER_EVENT_ID] ?? '').split(':')[0] ?? '';
    const walsender = await localWalsender(h.pool, h.slot);
    if (walsender === null) ctx.skip('the walsender cannot be paused from here (another host, pid namespace or user)');
    const pid = walsender as number;
    // A walsender that does not get the CPU (a loaded machine), simulated:
    // the connector's stop must not return before it has read the update.
    let paused = true;
    const resumeWalsender = (): void => {
      // Once only: after it, the walsender may exit and its pid be reused.
      if (paused) process.kill(pid, 'SIGCONT');
      paused = false;
    };
    process.kill(pid, 'SIGSTOP');
    const resume = setTimeout(resumeWalsender, 500);
    try {
      await h.connector.stop();
      await h.connector.done;
      const { rows } = await h.pool.query<{ past: boolean; confirmed: string; active_pid: number | null }>(
        'SELECT confirmed_flush_lsn > $2::pg_lsn AS past, confirmed_flush_lsn::text AS confirmed, active_pid FROM pg_replication_slots WHERE slot_name = $1',
        [h.slot, commitLsn],
      );
      expect(
        rows[0]?.past,
        `confirmed ${rows[0]?.confirmed} (slot held by ${rows[0]?.active_pid}), commit ${commitLsn}`,
      ).toBe(true);
    } finally {
      clearTimeout(resume);
      resumeWalsender();
    }
  });
});

describe('teardown of a slot in use', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(false);
  });
  afterAll(async () => h?.close());

  it('refuses without force, and with force ends the connector, which stops for good', async () => {
    const options = { pool: h.pool, source, replication: h.replication, logger };
    await expect(teardownDatabase(options)).rejects.toThrow(/in use by process .*--force/);
    const done = await teardownDatabase({ ...options, force: true });
    expect(done.lines.join('\n')).toMatch(/terminated process/);
    expect(done.lines.join('\n')).toMatch(/dropped replication slot/);
    await expect(h.connector.done).rejects.toThrow(/does not exist: run pingpull setup/);
  });
});
