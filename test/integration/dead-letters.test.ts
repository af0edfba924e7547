import type { IHeaders } from 'kafkajs';
import { describe, expect, it, type TestContext } from 'vitest';
import { plaintextConnection } from '../../src/events/kafka.js';
import { runCli } from '../helpers/cli.js';
import { okUserIds, pingerRig } from '../helpers/pinger-rig.js';
import { createTopic, kafkaBrokers, uniqueName } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { testPingerSettings } from '../helpers/pinger-settings.js';

// Permanent failure → dead letter topic → Livefyre healthy again →
// `pingpull dead-letters replay` → every user pinged, each dead letter sent
// back once however often replay runs.

const NETWORK = 'dlqtest.fyre.co';
const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';

const pingerSettings = testPingerSettings({
  concurrency: 8,
  coalesceMs: 20,
  maxAttempts: 2,
  retryBaseMs: 20,
  retryMaxMs: 50,
  stopGraceMs: 2_000,
});

function changeEvent(id: string): string {
  const now = Date.now();
  return JSON.stringify({
    before: null,
    after: { id, display_name: `User ${id}` },
    source: {
      version: '0.1.0',
      connector: 'pingpull',
      name: 'pingpull',
      ts_ms: now,
      snapshot: 'false',
      db: 'app',
      sequence: '[null,"1"]',
      schema: 'public',
      table: 'users',
      txId: 1,
      lsn: 1,
      xmin: null,
    },
    op: 'u',
    ts_ms: now,
  });
}

interface Listed {
  topic: string;
  total: number;
  replayed: number;
  letters: Array<{
    key: string;
    reason: string;
    attempts: number;
    failedAt: string;
    source: { topic: string; partition: number; offset: string };
    dlq: { partition: number; offset: string };
    replayed: boolean;
  }>;
}

async function rig(context: TestContext) {
  const topic = await createTopic(uniqueName('dlq_changes'), 3);
  const dlqTopic = await createTopic(uniqueName('dlq_letters'), 2);
  const groupId = uniqueName('dlq_group');
  const { kafka, sim, producer, admin, start } = await pingerRig(context, {
    clientId: 'pingpull-dlq-test',
    network: NETWORK,
    networkKey: NETWORK_KEY,
    connections: 8,
  });
  start({
    kafka: {
      ...plaintextConnection(kafkaBrokers()),
      clientId: 'pingpull-dlq-test',
      topic,
      dlqTopic,
      pullsTopic: '',
      groupId,
      partitions: 3,
    },
    pinger: pingerSettings,
  });
  const env = {
    PINGPULL_KAFKA_BROKERS: kafkaBrokers(),
    PINGPULL_KAFKA_TOPIC: topic,
    PINGPULL_KAFKA_DLQ_TOPIC: dlqTopic,
    PINGPULL_KAFKA_GROUP_ID: groupId,
    PINGPULL_LOG_LEVEL: 'warn',
  };
  const endTotal = async (name: string): Promise<number> =>
    (await admin.fetchTopicOffsets(name)).reduce((sum, p) => sum + Number(p.high), 0);
  const okUsers = (): Set<string> => okUserIds(sim);
  const cli = async (args: string[]) => {
    const result = await runCli(args, env, 90_000);
    return { ...result, context: `${args.join(' ')} → ${result.code}\n${result.stdout}\n${result.stderr}` };
  };
  return { topic, dlqTopic, pullsTopic: '', groupId, kafka, sim, producer, env, endTotal, okUsers, cli };
}

describe('pingpull dead-letters', () => {
  it('lists dead letters and replays each of them once, after Livefyre recovers', async (context) => {
    const r = await rig(context);
    r.sim.setFaults({ status: 500 });
    const users = Array.from({ length: 12 }, (_, i) => `lost-${i}`);
    const headers: IHeaders = { 'pingpull-changed': 'display_name' };
    await r.producer.send({
      topic: r.topic,
      acks: -1,
      messages: users.map((id) => ({ key: id, value: changeEvent(id), headers })),
    });
    await waitFor(async () => (await r.endTotal(r.dlqTopic)) === users.length, {
      what: 'every user dead-lettered',
      timeoutMs: 60_000,
    });
    expect(r.okUsers().size).toBe(0);

    const listed = await r.cli(['dead-letters', 'list', '--json']);
    expect(listed.code, listed.context).toBe(0);
    const report = JSON.parse(listed.stdout) as Listed;
    expect(report).toMatchObject({ topic: r.dlqTopic, total: users.length, replayed: 0 });
    expect(report.letters.map((l) => l.key).sort()).toEqual([...users].sort());
    for (const letter of report.letters) {
      expect(letter).toMatchObject({
        reason: 'max-attempts',
        attempts: 2,
        replayed: false,
        source: { topic: r.topic },
      });
      expect(Date.parse(letter.failedAt)).not.toBeNaN();
    }

    const limited = await r.cli(['dead-letters', 'list', '--limit', '3']);
    expect(limited.code, limited.context).toBe(0);
    const lines = limited.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/max-attempts {2}attempts=2 {2}from=\S+\/\d+\/\d+ {2}dlq=\d+\/\d+ {2}not-replayed/);
    expect(lines[3]).toContain(
      `${users.length} dead letters in ${r.dlqTopic}, 0 replayed (${users.length - 3} more not shown`,
    );

    r.sim.clearFaults();
    const changesBefore = await r.endTotal(r.topic);
    const dry = await r.cli(['dead-letters', 'replay', '--dry-run']);
    expect(dry.code, dry.context).toBe(0);
    expect(dry.stdout).toContain(`would replay ${users.length} dead letter(s)`);
    expect(await r.endTotal(r.topic)).toBe(changesBefore);

    const some = await r.cli(['dead-letters', 'replay', '--ids', 'lost-3,lost-7']);
    expect(some.code, some.context).toBe(0);
    expect(some.stdout).toContain(
      `replayed 2 dead letter(s) to ${r.topic} (0 already replayed, ${users.length - 2} not in --ids)`,
    );
    await waitFor(async () => r.okUsers().has('lost-3') && r.okUsers().has('lost-7'), {
      what: 'lost-3 and lost-7 pinged',
    });

    const rest = await r.cli(['dead-letters', 'replay']);
    expect(rest.code, rest.context).toBe(0);
    expect(rest.stdout).toContain(`replayed ${users.length - 2} dead letter(s) to ${r.topic} (2 already replayed)`);
    await waitFor(async () => r.okUsers().size === users.length, { what: 'every user pinged', timeoutMs: 60_000 });

    const again = await r.cli(['dead-letters', 'replay']);
    expect(again.code, again.context).toBe(0);
    expect(again.stdout).toContain(`replayed 0 dead letter(s) to ${r.topic} (${users.length} already replayed)`);
    expect(await r.endTotal(r.topic)).toBe(changesBefore + users.length);
    // each user was pinged once: nothing replayed twice
    expect(r.sim.pings().filter((p) => p.status === 200)).toHaveLength(users.length);

    const after = JSON.parse((await r.cli(['dead-letters', 'list', '--json'])).stdout) as Listed;
    expect(after).toMatchObject({ total: users.length, replayed: users.length });

    // what went back carries the original headers, not the dead letter ones
    const seen: Array<Record<string, string>> = [];
    const reader = r.kafka.consumer({ groupId: uniqueName('dlq_check'), maxWaitTimeInMs: 100 });
    await reader.connect();
    await reader.subscribe({ topic: r.topic, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        seen.push(Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])));
      },
    });
    try {
      await waitFor(async () => seen.length === changesBefore + users.length, { what: 'the change topic read back' });
    } finally {
      await reader.disconnect();
    }
    for (const replayed of seen.slice(0)) {
      expect(replayed).toEqual({ 'pingpull-changed': 'display_name' });
    }
  }, 240_000);

  it('refuses malformed ids and lists an empty or missing topic', async () => {
    const env = {
      PINGPULL_KAFKA_BROKERS: kafkaBrokers(),
      PINGPULL_KAFKA_DLQ_TOPIC: uniqueName('dlq_missing'),
      PINGPULL_KAFKA_GROUP_ID: uniqueName('dlq_group'),
      PINGPULL_LOG_LEVEL: 'warn',
    };
    const bad = await runCli(['dead-letters', 'replay', '--ids', 'ok,not ok'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"not ok"');
    const badLimit = await runCli(['dead-letters', 'list', '--limit', 'zero'], env);
    expect(badLimit.code).toBe(2);
    const empty = await runCli(['dead-letters', 'list'], env, 60_000);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toContain('0 dead letters');
    const nothing = await runCli(['dead-letters', 'replay'], env, 60_000);
    expect(nothing.code, nothing.stderr).toBe(0);
    expect(nothing.stdout).toContain('replayed 0 dead letter(s)');
  }, 120_000);
});
