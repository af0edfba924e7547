import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLsn } from '../../src/cdc/lsn.js';
import { setupDatabase } from '../../src/cdc/setup.js';
import { HEADER_EVENT_ID } from '../../src/events/envelope.js';
import { createLogger } from '../../src/log.js';
import { connectorEnv, createMembersDatabase, membersSource } from '../helpers/members-table.js';
import { createTopic, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { readTopic } from '../helpers/connector-kafka.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The durability proof: the connector is killed with SIGKILL while changes are
 * between the slot and Kafka, restarted, and every committed change must
 * still reach Kafka; the slot's confirmed flush must never pass a change
 * that was not in Kafka at the moment of the kill.
 */
const child = fileURLToPath(new URL('../helpers/connector-child.mjs', import.meta.url));
const builtConnector = fileURLToPath(new URL('../../dist/cdc/connector.js', import.meta.url));
const sourceConnector = fileURLToPath(new URL('../../src/cdc/connector.ts', import.meta.url));
const logger = createLogger('silent');
const KILLS = 5;
const MAX_ROWS = 40_000;

const source = membersSource({ display_name: 'nick', email: 'mail' });

describe('connector durability across kill -9', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let topic: string;
  const replication = {
    slot: uniqueName('slot'),
    publication: uniqueName('pub'),
    heartbeatMs: 300,
    statusIntervalMs: 50,
    batchSize: 50,
    knownUsers: 1_000,
  };
  const output: string[] = [];

  beforeAll(async () => {
    if (statSync(builtConnector).mtimeMs < statSync(sourceConnector).mtimeMs) {
      throw new Error('dist/ is older than src/: run `npm run build` (npm test does it) before this test');
    }
    ({ database, pool } = await createMembersDatabase(
      'user_id bigint PRIMARY KEY, nick text, mail text, password_hash text',
      6,
    ));
    await setupDatabase({ pool, source, replication, logger });
    topic = await createTopic(uniqueName('durable'), 3);
  });

  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  function startChild(): ChildProcess {
    const proc = spawn(process.execPath, [child], {
      env: {
        ...process.env,
        ...connectorEnv(database.url, topic, source, replication),
        PINGPULL_REPLICATION_HEARTBEAT_MS: String(replication.heartbeatMs),
        PINGPULL_REPLICATION_STATUS_INTERVAL_MS: String(replication.statusIntervalMs),
        PINGPULL_REPLICATION_BATCH_SIZE: String(replication.batchSize),
        PINGPULL_LOG_LEVEL: 'info',
        KAFKAJS_NO_PARTITIONER_WARNING: '1',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    return proc;
  }

  async function slotState(): Promise<{ active: boolean; confirmed: string }> {
    const { rows } = await pool.query<{ active: boolean; confirmed: string }>(
      'SELECT active, confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = $1',
      [replication.slot],
    );
    const row = rows[0];
    if (row === undefined) throw new Error('slot vanished');
    return row;
  }

  async function topicSize(): Promise<number> {
    const kafka = new Kafka({
      clientId: 'pingpull-tests',
      brokers: kafkaBrokers().split(','),
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    } finally {
      await admin.disconnect();
    }
  }

  it('loses no committed change and never confirms past an unpublished one', async () => {
    const committed = new Set<string>();
    let nextId = 1;
    let writing = true;
    // Four writers: single-row transactions and, every tenth, a 40-row one.
    const writer = async (): Promise<void> => {
      // Capped, so a slow machine does not turn the final catch-up into minutes.
      while (writing && nextId <= MAX_ROWS) {
        const first = nextId;
        const rows = first % 10 === 0 ? 40 : 1;
        nextId += rows;
        const ids = Array.from({ length: rows }, (_, i) => first + i);
        await pool.query('INSERT INTO members SELECT id, $2 || id, id || $3, $4 FROM unnest($1::bigint[]) AS id', [
          ids,
          'user ',
          '@example.com',
          'secret',
        ]);
        for (const id of ids) committed.add(String(id));
        // Workload pacing: a steady load (a few thousand rows a second), not a flood the final catch-up must drain.
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const writers = [writer(), writer(), writer(), writer()];

    const kills: { confirmed: string; inKafka: Set<string> }[] = [];
    try {
      for (let round = 0; round < KILLS; round += 1) {
        const proc = startChild();
        await waitFor(async () => (await slotState()).active, { what: 'the child to stream', timeoutMs: 30_000 });
        // Part of the workload: let it stream under load for a while, then kill it mid-flight.
        await new Promise((resolve) => setTimeout(resolve, 400 + round * 150));
        proc.kill('SIGKILL');
        await new Promise((resolve) => proc.once('exit', resolve));
        await waitFor(async () => !(await slotState()).active, { what: 'the slot to be released', timeoutMs: 30_000 });
        const { confirmed } = await slotState();
        // Everything Kafka acknowledged is readable now; nothing more can arrive from the dead process.
        const size = await topicSize();
        const snapshot = await readTopic(topic, (m) => m.length >= size, 30_000);
        kills.push({ confirmed, inKafka: new Set(snapshot.map((m) => m.key ?? '')) });
      }
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    expect(committed.size).toBeGreaterThan(100);

    // Restart once more and let it catch up: every committed row must arrive.
    const proc = startChild();
    const catchUpStarted = Date.now();
    const seen = new Set<string>();
    const messages = await readTopic(
      topic,
      (m) => {
        seen.add(m[m.length - 1]?.key ?? '');
        return seen.size >= committed.size;
      },
      120_000,
    );
    const catchUpMs = Date.now() - catchUpStarted;
    const keys = new Set(messages.map((m) => m.key ?? ''));
    const missing = [...committed].filter((id) => !keys.has(id));
    expect(
      missing.length,
      `${missing.length} of ${committed.size} missing, e.g. ${missing.slice(0, 5).join(',')}\n${output.join('').slice(-3000)}`,
    ).toBe(0);
    for (const message of messages) expect(message.raw).not.toContain('secret');

    // The commit LSN of every row is in its event id; at each kill, whatever
    // committed before the slot's confirmed flush must already have been in Kafka.
    const commitOf = new Map<string, bigint>();
    for (const message of messages) {
      const lsn = parseLsn((message.headers[HEADER_EVENT_ID] ?? '0/0').split(':')[0] ?? '0/0');
      const key = message.key ?? '';
      const known = commitOf.get(key);
      if (known === undefined || lsn < known) commitOf.set(key, lsn);
    }
    for (const kill of kills) {
      const confirmed = parseLsn(kill.confirmed);
      const passed = [...commitOf].filter(([key, lsn]) => lsn < confirmed && !kill.inKafka.has(key));
      expect(passed, `confirmed ${kill.confirmed} passed unpublished changes`).toEqual([]);
    }
    const duplicates = messages.length - keys.size;

    proc.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    expect(code).toBe(0);
    expect((await slotState()).active).toBe(false);
    console.info(
      `durability: ${committed.size} rows, caught up in ${catchUpMs} ms, ${KILLS} kills, ${messages.length} events (${duplicates} duplicates), confirmed flush at kills: ${kills.map((k) => k.confirmed).join(' ')}`,
    );
  }, 240_000);
});
