import type { Admin, Consumer, IHeaders, Producer } from 'kafkajs';
import { describe, expect, it, type TestContext } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { createKafka, plaintextConnection, type Kafka } from '../../src/events/kafka.js';
import { createLivefyreClient, type LivefyreClient } from '../../src/livefyre/client.js';
import { createLogger } from '../../src/log.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import type { PingerHandle } from '../../src/pinger/index.js';
import { startSimulator, type PingRecord, type Simulator } from '../../src/simulator/index.js';
import { startTestPinger } from '../helpers/pinger-rig.js';
import { createTopic, kafkaBrokers, uniqueName } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { testPingerSettings } from '../helpers/pinger-settings.js';

const NETWORK = 'pingtest.fyre.co';
const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';
const WRONG_KEY = 'not-the-network-key';

const basePinger = testPingerSettings({ coalesceMs: 100, maxAttempts: 8, retryMaxMs: 1_000, stopGraceMs: 2_000 });

const logger = createLogger('silent');

function changeEvent(id: string, commitTsMs = Date.now()): object {
  return {
    before: null,
    after: { id, display_name: `User ${id}` },
    source: {
      version: '0.1.0',
      connector: 'pingpull',
      name: 'pingpull',
      ts_ms: commitTsMs,
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
    ts_ms: commitTsMs + 1,
  };
}

const okPings = (sim: Simulator): PingRecord[] => sim.pings().filter((p) => p.status === 200);

interface Outgoing {
  key: string | null;
  value: object | string | null;
  headers?: IHeaders;
}

/** One isolated pipeline: own topics and group, own simulator, own pinger. */
class Rig {
  readonly kafka: Kafka;
  readonly metrics: Metrics = createMetrics({ defaultMetrics: false });
  sim!: Simulator;
  topic = '';
  dlqTopic = '';
  groupId = '';
  pinger: PingerHandle | undefined;
  client: LivefyreClient | undefined;
  private producer!: Producer;
  private admin!: Admin;

  constructor() {
    this.kafka = createKafka({
      connection: plaintextConnection(kafkaBrokers()),
      clientId: 'pingpull-pinger-test',
      logger,
    });
  }

  async setUp(partitions = 3): Promise<void> {
    this.topic = await createTopic(uniqueName('pinger_changes'), partitions);
    this.dlqTopic = await createTopic(uniqueName('pinger_dlq'), 1);
    this.groupId = uniqueName('pinger_group');
    this.sim = await startSimulator({ network: NETWORK, networkKey: NETWORK_KEY, logger });
    this.producer = this.kafka.producer();
    await this.producer.connect();
    this.admin = this.kafka.admin();
    await this.admin.connect();
  }

  start(pinger: Partial<Config['pinger']> = {}, options: { key?: string } = {}): PingerHandle {
    const settings = { ...basePinger, ...pinger };
    this.client = createLivefyreClient(
      { network: NETWORK, networkKey: options.key ?? NETWORK_KEY, baseUrl: this.sim.url, timeoutMs: 2_000 },
      { connections: settings.concurrency },
    );
    this.pinger = startTestPinger({
      kafka: this.kafka,
      config: {
        kafka: {
          ...plaintextConnection(kafkaBrokers()),
          clientId: 'pingpull-pinger-test',
          topic: this.topic,
          dlqTopic: this.dlqTopic,
          pullsTopic: '',
          groupId: this.groupId,
          partitions: 3,
        },
        pinger: settings,
      },
      client: this.client,
      metrics: this.metrics,
    });
    return this.pinger;
  }

  async stopPinger(): Promise<void> {
    await this.pinger?.stop();
    await this.client?.close();
    this.pinger = undefined;
    this.client = undefined;
  }

  async produce(messages: readonly Outgoing[]): Promise<void> {
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: messages.map((m) => ({
        key: m.key,
        value: m.value === null ? null : typeof m.value === 'string' ? m.value : JSON.stringify(m.value),
        headers: m.headers ?? {},
      })),
    });
  }

  /** Sum over partitions of the group's committed offsets (a partition with none counts 0). */
  async committedTotal(): Promise<number> {
    const [topic] = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] });
    return (topic?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  }

  async groupState(): Promise<{ state: string; members: number }> {
    const { groups } = await this.admin.describeGroups([this.groupId]);
    return { state: groups[0]?.state ?? '', members: groups[0]?.members.length ?? 0 };
  }

  async endTotal(topic = this.topic): Promise<number> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high), 0);
  }

  async waitAllCommitted(): Promise<void> {
    const end = await this.endTotal();
    await waitFor(async () => (await this.committedTotal()) === end, { what: `committed offsets to reach ${end}` });
  }

  /** Reads the dead letter topic from the start until `count` messages came. */
  async deadLetters(
    count: number,
  ): Promise<Array<{ key: string | null; value: string | null; headers: Record<string, string> }>> {
    const consumer: Consumer = this.kafka.consumer({ groupId: uniqueName('pinger_dlq_reader'), maxWaitTimeInMs: 100 });
    const seen: Array<{ key: string | null; value: string | null; headers: Record<string, string> }> = [];
    await consumer.connect();
    await consumer.subscribe({ topic: this.dlqTopic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
        seen.push({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers });
      },
    });
    try {
      await waitFor(() => seen.length >= count, { what: `${count} dead letters` });
    } finally {
      await consumer.disconnect();
    }
    return seen;
  }

  async pingCount(result: string): Promise<number> {
    return (await this.metrics.pingsTotal.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  }

  async tearDown(): Promise<void> {
    await this.stopPinger();
    await this.producer?.disconnect();
    await this.admin?.disconnect();
    await this.sim?.close();
  }
}

/** A rig for this test only, torn down when the test ends. */
async function newRig(context: TestContext, partitions = 3): Promise<Rig> {
  const rig = new Rig();
  context.onTestFinished(() => rig.tearDown());
  await rig.setUp(partitions);
  return rig;
}

// Each test has its own topics, group and simulator, so they run side by side;
// the timing measurements below run alone.
describe.concurrent('pinger against Kafka and the Livefyre simulator', () => {
  it('pings each user once and commits the offsets', async (context) => {
    const rig = await newRig(context);
    const handle = rig.start();
    const users = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    // one event first, so the latency below is measured after the group join
    await rig.produce([{ key: 'warm-up', value: changeEvent('warm-up') }]);
    await waitFor(() => okPings(rig.sim).length === 1, { what: 'the first ping' });
    const producedAt = Date.now();
    await rig.produce(users.map((id) => ({ key: id, value: changeEvent(id, producedAt) })));
    await waitFor(() => new Set(okPings(rig.sim).map((p) => p.id)).size === users.length + 1, {
      what: 'a ping per user',
    });
    await rig.waitAllCommitted();
    expect(okPings(rig.sim)).toHaveLength(users.length + 1);
    expect(await rig.pingCount('ok')).toBe(users.length + 1);
    const latencies = okPings(rig.sim)
      .filter((p) => p.id !== 'warm-up')
      .map((p) => p.receivedAt - producedAt)
      .sort((a, b) => a - b);
    console.info(
      `produce → ping (coalesceMs 100): median ${latencies[latencies.length >> 1]} ms, max ${latencies[latencies.length - 1]} ms`,
    );
    const histogram = (await rig.metrics.endToEndSeconds.get()).values.find((v) => v.metricName?.endsWith('_count'));
    expect(histogram?.value).toBe(users.length + 1);
    expect(handle.state()).toMatchObject({ status: 'running', forbidden: false, pendingEvents: 0 });
    await rig.stopPinger();
    expect(handle.state().status).toBe('stopped');
    await handle.done;
  });

  it('coalesces a burst of 50 updates to one user into a handful of pings', async (context) => {
    const rig = await newRig(context);
    rig.start({ coalesceMs: 300 });
    // 50 updates over about a second, in separate requests
    const burstStart = Date.now();
    for (let i = 0; i < 50; i += 1) {
      await rig.produce([{ key: 'busy', value: changeEvent('busy') }]);
      // Workload pacing: the burst is spread over about a second.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const burstMs = Date.now() - burstStart;
    await rig.produce([{ key: 'other', value: changeEvent('other') }]);
    // and 50 in one request
    await rig.produce(Array.from({ length: 50 }, () => ({ key: 'instant', value: changeEvent('instant') })));
    await rig.waitAllCommitted();
    const instant = okPings(rig.sim).filter((p) => p.id === 'instant');
    console.info(`coalescing: 50 updates to one user in one request gave ${instant.length} ping(s)`);
    expect(instant.length).toBeLessThanOrEqual(2);
    const busy = okPings(rig.sim).filter((p) => p.id === 'busy');
    console.info(`coalescing: 50 updates to one user over ${burstMs} ms gave ${busy.length} pings`);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    // at most one ping per window the burst spans (a busy machine stretches the burst), plus the one in flight
    expect(busy.length).toBeLessThanOrEqual(Math.ceil(burstMs / 300) + 2);
    expect(busy.length).toBeLessThan(15);
    // the last ping came after the last update was produced: nothing left stale
    expect(rig.pinger?.state().pendingEvents).toBe(0);
  });

  it('rides out 503s and 429s with Retry-After: everyone pinged, nothing dead-lettered', async (context) => {
    const rig = await newRig(context);
    rig.start({ maxAttempts: 12, coalesceMs: 20 });
    rig.sim.setFaults({ status: 503, rate: 0.3 });
    const users = Array.from({ length: 40 }, (_, i) => `flaky-${i}`);
    await rig.produce(users.slice(0, 20).map((id) => ({ key: id, value: changeEvent(id) })));
    await waitFor(() => rig.sim.pings().filter((p) => p.status === 503).length >= 3, { what: 'some 503s' });
    rig.sim.setFaults({ status: 429, rate: 0.3, retryAfterSeconds: 1 });
    await rig.produce(users.slice(20).map((id) => ({ key: id, value: changeEvent(id) })));
    await waitFor(() => new Set(okPings(rig.sim).map((p) => p.id)).size === users.length, {
      what: 'every user pinged OK',
    });
    await rig.waitAllCommitted();
    rig.sim.clearFaults();

    const pings = rig.sim.pings();
    const tooMany = pings.filter((p) => p.status === 429);
    expect(tooMany.length).toBeGreaterThan(0);
    // Retry-After: 1 was honoured, by the simulator's own clock
    for (const refused of tooMany) {
      const next = pings.find((p) => p.id === refused.id && p.receivedAt > refused.receivedAt);
      if (next !== undefined) expect(next.receivedAt - refused.receivedAt).toBeGreaterThanOrEqual(990);
    }
    expect(await rig.pingCount('retry')).toBe(pings.filter((p) => p.status !== 200).length);
    expect(await rig.pingCount('dead_letter')).toBe(0);
    expect(await rig.endTotal(rig.dlqTopic)).toBe(0);
  });

  it('dead-letters the events of a ping that keeps failing, after maxAttempts, with reason headers', async (context) => {
    const rig = await newRig(context);
    rig.start({ maxAttempts: 3, retryBaseMs: 20, retryMaxMs: 100 });
    rig.sim.setFaults({ status: 500 });
    const value = changeEvent('doomed-1');
    await rig.produce([
      { key: 'doomed-1', value, headers: { 'pingpull-changed': 'display_name' } },
      { key: 'doomed-2', value: changeEvent('doomed-2') },
    ]);
    const letters = await rig.deadLetters(2);
    await rig.waitAllCommitted();
    expect(rig.sim.pings().filter((p) => p.id === 'doomed-1')).toHaveLength(3);
    const letter = letters.find((l) => l.key === 'doomed-1');
    expect(letter?.value).toBe(JSON.stringify(value));
    expect(letter?.headers).toMatchObject({
      'pingpull-changed': 'display_name',
      'pingpull-dlq-reason': 'max-attempts',
      'pingpull-dlq-attempts': '3',
    });
    expect(letter?.headers['pingpull-dlq-source']).toMatch(new RegExp(`^${rig.topic}/\\d+/\\d+$`));
    expect(Date.parse(letter?.headers['pingpull-dlq-failed-at'] ?? '')).not.toBeNaN();
    expect(letter?.headers['pingpull-dlq-error']).toMatch(/500/);
    expect(await rig.pingCount('dead_letter')).toBe(2);
    const deadLetters = (await rig.metrics.deadLettersTotal.get()).values;
    expect(deadLetters).toEqual([expect.objectContaining({ labels: { reason: 'max-attempts' }, value: 2 })]);
  });

  it('sends poison messages straight to the dead letter topic and goes on', async (context) => {
    const rig = await newRig(context, 1);
    rig.start();
    await rig.produce([
      { key: 'u1', value: '{not json' },
      { key: 'bad key!', value: changeEvent('x') },
      { key: 'u2', value: { hello: 'world' } },
      { key: 'u3', value: null },
      { key: 'u4', value: changeEvent('u4') },
    ]);
    const letters = await rig.deadLetters(3);
    await rig.waitAllCommitted();
    expect(letters.map((l) => [l.key, l.headers['pingpull-dlq-reason'], l.headers['pingpull-dlq-attempts']])).toEqual([
      ['u1', 'invalid-json', '0'],
      ['bad key!', 'invalid-key', '0'],
      ['u2', 'invalid-envelope', '0'],
    ]);
    expect(letters[0]?.value).toBe('{not json');
    expect(okPings(rig.sim).map((p) => p.id)).toEqual(['u4']);
  });

  it('on 403 pauses without burning retries or committing, and loses nothing once the key is fixed', async (context) => {
    const rig = await newRig(context);
    const handle = rig.start({ forbiddenPauseMs: 500, concurrency: 2 }, { key: WRONG_KEY });
    const users = Array.from({ length: 10 }, (_, i) => `locked-${i}`);
    await rig.produce(users.map((id) => ({ key: id, value: changeEvent(id) })));
    await waitFor(() => handle.state().forbidden, { what: 'the forbidden state' });
    expect(handle.state().status).toBe('forbidden');
    const since = Date.now();
    const refusedPings = () => rig.sim.pings().filter((p) => p.status === 403);
    const refusedBefore = refusedPings().length;
    await waitFor(() => refusedPings().length >= refusedBefore + 3, { what: 'three probes, one per pause' });
    const refused = refusedPings();
    // the pings already under way, then one probe per pause
    const elapsedPauses = Math.ceil((Date.now() - since) / 500) + 1;
    expect(refused.length).toBeLessThanOrEqual(2 + elapsedPauses);
    expect(await rig.pingCount('forbidden')).toBe(refused.length);
    expect(await rig.pingCount('retry')).toBe(0);
    expect(await rig.pingCount('dead_letter')).toBe(0);
    expect(await rig.committedTotal()).toBe(0);
    expect(await rig.endTotal(rig.dlqTopic)).toBe(0);
    await rig.stopPinger();

    rig.start({ forbiddenPauseMs: 500 });
    await waitFor(() => new Set(okPings(rig.sim).map((p) => p.id)).size === users.length, {
      what: 'every user pinged OK',
    });
    await rig.waitAllCommitted();
  });

  it('stops gracefully: commits what was pinged, and the rest comes again after a restart', async (context) => {
    const rig = await newRig(context);
    rig.start({ coalesceMs: 20 });
    await rig.produce(Array.from({ length: 10 }, (_, i) => ({ key: `first-${i}`, value: changeEvent(`first-${i}`) })));
    await rig.waitAllCommitted();
    const committedBefore = await rig.committedTotal();

    rig.sim.setFaults({ status: 503 });
    await rig.produce(Array.from({ length: 5 }, (_, i) => ({ key: `later-${i}`, value: changeEvent(`later-${i}`) })));
    await waitFor(() => rig.sim.pings().filter((p) => p.status === 503).length >= 5, { what: 'failing pings' });
    await rig.stopPinger();
    expect(await rig.committedTotal()).toBe(committedBefore);

    rig.sim.clearFaults();
    rig.start({ coalesceMs: 20 });
    await waitFor(() => okPings(rig.sim).filter((p) => p.id.startsWith('later-')).length === 5, {
      what: 'the rest pinged',
    });
    await rig.waitAllCommitted();
  });

  it('two pingers in one group share the partitions through rebalances without losing events', async (context) => {
    const rig = await newRig(context, 4);
    const first = rig.start();
    const firstClient = rig.client;
    const batch = (name: string) =>
      Array.from({ length: 20 }, (_, i) => ({ key: `${name}-${i}`, value: changeEvent(`${name}-${i}`) }));
    await rig.produce(batch('a'));
    const second = rig.start();
    await rig.produce(batch('b'));
    await waitFor(() => first.state().groupJoins > 1 || second.state().groupJoins > 0, {
      what: 'both members pinging',
    });
    await rig.produce(batch('c'));
    await waitFor(() => new Set(okPings(rig.sim).map((p) => p.id)).size === 60, { what: 'a, b and c pinged' });
    await rig.waitAllCommitted();
    await first.stop();
    await firstClient?.close();
    await rig.produce(batch('d'));
    await waitFor(() => new Set(okPings(rig.sim).map((p) => p.id)).size === 80, {
      what: 'd pinged after the first member left',
    });
    await rig.waitAllCommitted();
  });

  it('heartbeats while it holds back fetching, so the group does not evict it', async (context) => {
    const rig = await newRig(context, 1);
    const handle = rig.start(
      { forbiddenPauseMs: 60_000, maxPendingEvents: 3, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 },
      { key: WRONG_KEY },
    );
    await rig.produce(Array.from({ length: 10 }, (_, i) => ({ key: `held-${i}`, value: changeEvent(`held-${i}`) })));
    await waitFor(() => handle.state().forbidden, { what: 'the forbidden state' });
    // The wait is the test: longer than the 6 s session timeout, which evicts a member that stops heartbeating.
    await new Promise((resolve) => setTimeout(resolve, 9_000));
    expect(handle.state()).toMatchObject({ groupJoins: 1, pendingEvents: 3, status: 'forbidden' });
    expect(await rig.groupState()).toEqual({ state: 'Stable', members: 1 });
    expect(await rig.committedTotal()).toBe(0);
  }, 30_000);
});

describe('pinger rate and throughput, measured by the simulator', () => {
  it('keeps to ratePerSecond, measured by the simulator', async (context) => {
    const rig = await newRig(context);
    rig.start({ ratePerSecond: 40, concurrency: 8, coalesceMs: 0 });
    const users = Array.from({ length: 120 }, (_, i) => `rated-${i}`);
    await rig.produce(users.map((id) => ({ key: id, value: changeEvent(id) })));
    await waitFor(() => okPings(rig.sim).length === users.length, { what: 'every user pinged' });
    const times = okPings(rig.sim)
      .map((p) => p.receivedAt)
      .sort((a, b) => a - b);
    // any 1 s window holds at most the rate plus the bucket (4), plus one for timer granularity
    for (let i = 0; i < times.length; i += 1) {
      const inWindow = times.filter((t) => t >= (times[i] as number) && t < (times[i] as number) + 1_000).length;
      expect(inWindow).toBeLessThanOrEqual(40 + 4 + 1);
    }
    const spanS = ((times[times.length - 1] as number) - (times[0] as number)) / 1000;
    console.info(
      `rate limit 40/s: ${users.length} pings over ${spanS.toFixed(2)} s = ${(users.length / spanS).toFixed(1)}/s`,
    );
    expect(users.length / spanS).toBeLessThanOrEqual(42);
  });

  it('measures throughput against the simulator', async (context) => {
    const rig = await newRig(context, 6);
    rig.start({ ratePerSecond: 100_000, concurrency: 32, coalesceMs: 0 });
    const users = Array.from({ length: 3_000 }, (_, i) => `fast-${i}`);
    for (let i = 0; i < users.length; i += 500) {
      await rig.produce(users.slice(i, i + 500).map((id) => ({ key: id, value: changeEvent(id) })));
    }
    await waitFor(() => okPings(rig.sim).length === users.length, { what: 'every user pinged', timeoutMs: 60_000 });
    const times = okPings(rig.sim).map((p) => p.receivedAt);
    const spanS = (Math.max(...times) - Math.min(...times)) / 1000;
    console.info(
      `throughput: ${users.length} pings in ${spanS.toFixed(2)} s = ${(users.length / spanS).toFixed(0)} pings/s`,
    );
    await rig.waitAllCommitted();
  }, 120_000);
});
