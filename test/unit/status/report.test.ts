import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import type { Pool } from '../../../src/db.js';
import type { GroupMark, KafkaLagReader, TopicLag } from '../../../src/events/consumer-lag.js';
import type { LivefyreProbe } from '../../../src/livefyre/client.js';
import { SourceLagEstimator } from '../../../src/metrics/source-lag.js';
import { collectStatus, type StatusDeps } from '../../../src/status/report.js';
import { formatBytes, formatStatus } from '../../../src/status/format.js';
import { systemTimers } from '../../../src/time.js';

const config = loadConfig({
  env: {
    PINGPULL_DATABASE_URL: 'postgres://u:p@db/app',
    PINGPULL_LIVEFYRE_NETWORK: 'unit.fyre.co',
    PINGPULL_LIVEFYRE_NETWORK_KEY: 'secret-key',
    PINGPULL_REPLICATION_SLOT: 'unit_slot',
    PINGPULL_KAFKA_TOPIC: 'changes',
    PINGPULL_KAFKA_DLQ_TOPIC: 'changes.dlq',
    PINGPULL_KAFKA_GROUP_ID: 'pingers',
  },
});

interface SlotRow {
  lag: string;
  retained: string;
  wal_status: string | null;
  safe_wal_size: string | null;
  active: boolean;
  wal_end: string;
  confirmed: string | null;
}

const healthySlot: SlotRow = {
  lag: '0',
  retained: '4096',
  wal_status: 'reserved',
  safe_wal_size: null,
  active: true,
  wal_end: '1000',
  confirmed: '1000',
};

function fakePool(rows: () => SlotRow[] | Promise<SlotRow[]>): Pool {
  return { query: async () => ({ rows: await rows() }) } as unknown as Pool;
}

function fakeKafka(
  lag: Partial<TopicLag> = {},
  deadLetters = 0,
  fail?: Error,
  awaited: { awaiting: number; oldestFirstPingedAtMs: number | null } = { awaiting: 0, oldestFirstPingedAtMs: null },
  marks: GroupMark[] = [],
): KafkaLagReader {
  return {
    consumerLag: async (topic) => {
      if (fail) throw fail;
      return {
        topic,
        exists: true,
        partitions: [{ partition: 0, endOffset: 5, committedOffset: 5, lag: 0 }],
        total: 0,
        members: 1,
        ...lag,
      };
    },
    topicSize: async (topic) => {
      if (fail) throw fail;
      return {
        topic,
        exists: true,
        messages: deadLetters,
        partitions: [{ partition: 0, low: '0', high: String(deadLetters) }],
      };
    },
    groupMarks: async () => {
      if (fail) throw fail;
      return marks;
    },
    awaitedPulls: async (topic) => {
      if (fail) throw fail;
      return { topic, exists: true, ...awaited };
    },
    close: async () => undefined,
  };
}

const reachable: LivefyreProbe = { reachable: true, httpStatus: 404, error: null };

function deps(overrides: Partial<StatusDeps> = {}): StatusDeps {
  let now = 1_780_000_000_000;
  return {
    config,
    pool: fakePool(() => [healthySlot]),
    kafka: fakeKafka(),
    estimator: new SourceLagEstimator(),
    sampleMs: 0,
    probeLivefyre: async () => reachable,
    clock: { now: () => (now += 1_000) },
    timers: systemTimers,
    ...overrides,
  };
}

describe('collectStatus', () => {
  it('fails Kafka when no pinger is in the group while events wait, and names the group', async () => {
    const waiting = await collectStatus(deps({ kafka: fakeKafka({ total: 12, members: 0 }) }));
    expect(waiting.kafka.healthy).toBe(false);
    expect(waiting.kafka.members).toBe(0);
    expect(waiting.kafka.problems.join('\n')).toContain(
      'no pinger is in consumer group pingers while 12 event(s) wait',
    );
    // Nothing waiting: no pinger needed right now.
    expect((await collectStatus(deps({ kafka: fakeKafka({ total: 0, members: 0 }) }))).kafka.healthy).toBe(true);
  });

  it('counts only dead letters no replay has sent back', async () => {
    // 7 letters; the replay group committed past 5 of them and recorded offset 6 as replayed too.
    const partlyReplayed = fakeKafka({}, 7, undefined, undefined, [
      { partition: 0, offset: '5', metadata: 'pingpull-replayed:6' },
    ]);
    const report = await collectStatus(deps({ kafka: partlyReplayed }));
    expect(report.deadLetters).toMatchObject({ healthy: false, messages: 7, awaitingReplay: 1 });
    const allReplayed = fakeKafka({}, 7, undefined, undefined, [{ partition: 0, offset: '7', metadata: null }]);
    const replayed = await collectStatus(deps({ kafka: allReplayed }));
    expect(replayed.deadLetters).toMatchObject({ healthy: true, messages: 7, awaitingReplay: 0 });
  });

  it('is healthy with every figure when every stage answers within its thresholds', async () => {
    const report = await collectStatus(deps());
    expect(report.healthy).toBe(true);
    expect(report.connector).toMatchObject({
      healthy: true,
      slot: 'unit_slot',
      exists: true,
      active: true,
      walStatus: 'reserved',
      replicationLagBytes: 0,
      retainedBytes: 4096,
      safeWalSizeBytes: null,
      sourceLagSeconds: 0,
    });
    expect(report.kafka).toMatchObject({
      healthy: true,
      reachable: true,
      topic: 'changes',
      groupId: 'pingers',
      consumerLagMessages: 0,
    });
    expect(report.deadLetters).toMatchObject({ healthy: true, topic: 'changes.dlq', messages: 0 });
    expect(report.livefyre).toMatchObject({
      healthy: true,
      reachable: true,
      httpStatus: 404,
      forbidden: null,
      baseUrl: 'https://unit.quill.fyre.co',
    });
    expect(JSON.stringify(report)).not.toContain('secret-key');
  });

  it('shows the TRUNCATEs a connector in this process streamed, and null where none runs', async () => {
    const alone = await collectStatus(deps({ pool: fakePool(() => [healthySlot]), kafka: fakeKafka() }));
    expect(alone.connector.truncates).toBeNull();
    expect(formatStatus(alone)).not.toContain('TRUNCATE');
    const report = await collectStatus(
      deps({ pool: fakePool(() => [healthySlot]), kafka: fakeKafka(), connectorTruncates: async () => 2 }),
    );
    expect(report.connector.truncates).toBe(2);
    expect(formatStatus(report)).toContain('2 TRUNCATE(s) streamed');
  });

  it('shows the change events Kafka refused, when a connector runs in the process', async () => {
    expect((await collectStatus(deps())).deadLetters.refusedEvents).toBeNull();
    const report = await collectStatus(deps({ connectorRefusedEvents: async () => 2 }));
    expect(report.deadLetters).toMatchObject({ healthy: false, refusedEvents: 2 });
    expect(report.deadLetters.problems[0]).toContain('Kafka refused 2 change event(s)');
    expect(formatStatus(report)).toContain('2 event(s) refused by Kafka');
  });

  it('shows the pings awaiting their pull, and fails once the oldest waited longer than pinger.pullConfirmMs', async () => {
    const clock = { now: () => 1_780_000_000_000 };
    const young = { awaiting: 3, oldestFirstPingedAtMs: clock.now() - 60_000 };
    const fine = await collectStatus(deps({ clock, kafka: fakeKafka({}, 0, undefined, young) }));
    expect(fine.pulls).toMatchObject({ healthy: true, topic: 'changes.pulls', awaiting: 3, oldestAgeSeconds: 60 });
    expect(formatStatus(fine)).toMatch(/^pulls +ok +3 ping\(s\) awaiting their pull, oldest 60 s$/m);

    const old = { awaiting: 1, oldestFirstPingedAtMs: clock.now() - 901_000 };
    const late = await collectStatus(deps({ clock, kafka: fakeKafka({}, 0, undefined, old) }));
    expect(late.healthy).toBe(false);
    expect(late.pulls.problems[0]).toContain('a ping has waited 901 s for its pull');
    expect(late.pulls.problems[0]).toContain('register-pull-url');
  });

  it('reads nothing of the pulls when the pull confirmation loop is off', async () => {
    const off = { ...config, pinger: { ...config.pinger, pullConfirmMs: 0 } };
    const report = await collectStatus(deps({ config: off, kafka: fakeKafka({}, 0, undefined) }));
    expect(report.pulls).toMatchObject({ healthy: true, confirmMs: 0, awaiting: null });
    expect(formatStatus(report)).toContain('pull confirmation off');
  });

  it('names each crossed threshold and turns unhealthy', async () => {
    const slot: SlotRow = {
      ...healthySlot,
      lag: String(200 * 1024 * 1024),
      retained: String(2 * 1024 ** 3),
      wal_status: 'unreserved',
      active: false,
    };
    const report = await collectStatus(
      deps({ pool: fakePool(() => [slot]), kafka: fakeKafka({ total: 5_000 }, 3), pingerForbidden: () => true }),
    );
    expect(report.healthy).toBe(false);
    expect(report.connector.problems).toEqual([
      'no connector is streaming from the replication slot',
      'the slot is about to lose WAL it needs (wal_status unreserved)',
      'replication lag above 104857600 bytes',
      'retained WAL above 1073741824 bytes',
    ]);
    expect(report.kafka.problems).toEqual(['consumer lag above 1000 messages']);
    expect(report.deadLetters.problems[0]).toContain('holds 3 message(s) not replayed yet');
    expect(report.livefyre.healthy).toBe(false);
    expect(report.livefyre.problems).toEqual([expect.stringMatching(/^livefyre\.networkKey is refused: .*403/)]);
  });

  it('measures source lag across two looks at the slot', async () => {
    let call = 0;
    // The WAL end moves on, the slot stays where it was: stuck.
    const pool = fakePool(() => [{ ...healthySlot, wal_end: String(1000 + 500 * ++call), confirmed: '1000' }]);
    const report = await collectStatus(deps({ pool, sampleMs: 1 }));
    expect(report.connector.sourceLagSeconds).toBeGreaterThan(0);
  });

  it('reports a missing slot, an unreachable broker and an unreachable Livefyre as separate unhealthy stages', async () => {
    const report = await collectStatus(
      deps({
        pool: fakePool(() => []),
        kafka: fakeKafka({}, 0, new Error('Connection error: connect ECONNREFUSED 127.0.0.1:1')),
        probeLivefyre: async () => ({
          reachable: false,
          httpStatus: null,
          error: 'getaddrinfo ENOTFOUND unit.quill.fyre.co',
        }),
      }),
    );
    expect(report.database).toMatchObject({ healthy: true, reachable: true });
    expect(report.connector).toMatchObject({
      healthy: false,
      exists: false,
      problems: ['the replication slot does not exist: run pingpull setup'],
    });
    expect(report.kafka).toMatchObject({
      healthy: false,
      reachable: false,
      error: 'Connection error: connect ECONNREFUSED 127.0.0.1:1',
      consumerLagMessages: null,
    });
    expect(report.deadLetters).toMatchObject({ healthy: false, messages: null });
    expect(report.livefyre).toMatchObject({ healthy: false, reachable: false });
  });

  it('gives up on a stage that does not answer within status.timeoutMs', async () => {
    const slow = loadConfig({ env: { PINGPULL_STATUS_TIMEOUT_MS: '20', PINGPULL_DATABASE_URL: 'postgres://db/app' } });
    const report = await collectStatus(
      deps({ config: slow, pool: fakePool(() => new Promise<SlotRow[]>(() => undefined)) }),
    );
    expect(report.database).toMatchObject({ healthy: false, reachable: false, error: 'no answer within 20 ms' });
    expect(report.connector).toMatchObject({ healthy: false, error: 'the database did not answer' });
    expect(report.livefyre.problems).toEqual(['livefyre.network and livefyre.networkKey must be set to ping']);
  });
});

describe('formatStatus', () => {
  it('prints one line per stage, then what is wrong under the failing ones', async () => {
    const report = await collectStatus(
      deps({
        kafka: fakeKafka({
          total: 2_000,
          partitions: [{ partition: 0, endOffset: 2_000, committedOffset: null, lag: 2_000 }],
        }),
      }),
    );
    const lines = formatStatus(report).split('\n');
    expect(lines[0]).toMatch(/^pingpull UNHEALTHY at \d{4}-/);
    expect(lines[1]).toBe('database      ok    reachable');
    expect(lines[2]).toBe(
      'connector     ok    slot unit_slot active, wal reserved, lag 0 B, retained 4.0 KiB, safe unlimited, source lag 0 s',
    );
    expect(lines[3]).toBe('kafka         FAIL  topic changes, group pingers: lag 2000 (p0=2000), 1 member(s)');
    expect(lines[4]).toBe('                    - consumer lag above 1000 messages');
    expect(lines[5]).toBe('dead letters  ok    topic changes.dlq: 0 awaiting replay, 0 held');
    expect(lines[6]).toBe('pulls         ok    0 ping(s) awaiting their pull, oldest 0 s');
    expect(lines[7]).toBe(
      'livefyre      ok    https://unit.quill.fyre.co: reachable (HTTP 404), key: checked only by pings',
    );
  });

  it('formats byte counts', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
    expect(formatBytes(null)).toBe('?');
  });
});
