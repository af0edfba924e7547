import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemToken, importNetworkKey } from '../../src/livefyre/token.js';
import { systemClock } from '../../src/time.js';
import { freePort, runCli, spawnCli, type RunningCli } from '../helpers/cli.js';
import { createTestDatabase, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

// The whole pipeline as a user runs it: `pingpull livefyre-sim`, `setup`,
// `run`, `register-pull-url`, then profile edits in a legacy-shaped table
// whose column names differ from Livefyre's.

const NETWORK = 'e2e.fyre.co';
const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';

interface StoredProfile {
  id: string;
  profile: Record<string, unknown>;
}

describe('pingpull end to end', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let env: Record<string, string>;
  let simulator: RunningCli;
  let pipeline: RunningCli;
  let simUrl: string;
  let pullUrl: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`
      CREATE TABLE members (
        member_id bigint PRIMARY KEY,
        nick text NOT NULL,
        mail text,
        pic text,
        password_hash text NOT NULL
      )`);
    await client.query(`
      INSERT INTO members
      SELECT n, 'member ' || n, 'member' || n || '@example.com',
             'https://cdn.example.com/a/' || n || '.png?v=1', 'hash-' || n
      FROM generate_series(1, 20) AS n`);

    const simPort = await freePort();
    const pullPort = await freePort();
    simUrl = `http://127.0.0.1:${simPort}`;
    pullUrl = `http://127.0.0.1:${pullPort}/livefyre/profiles`;
    env = {
      PINGPULL_DATABASE_URL: db.url,
      PINGPULL_KAFKA_BROKERS: kafkaBrokers(),
      PINGPULL_SOURCE_TABLE: 'public.members',
      PINGPULL_SOURCE_ID_COLUMN: 'member_id',
      PINGPULL_SOURCE_COLUMNS: JSON.stringify({ display_name: 'nick', email: 'mail', image_url: 'pic' }),
      PINGPULL_REPLICATION_SLOT: uniqueName('slot'),
      PINGPULL_REPLICATION_PUBLICATION: uniqueName('pub'),
      PINGPULL_KAFKA_TOPIC: uniqueName('changes'),
      PINGPULL_KAFKA_DLQ_TOPIC: uniqueName('dlq'),
      PINGPULL_KAFKA_GROUP_ID: uniqueName('group'),
      PINGPULL_LIVEFYRE_NETWORK: NETWORK,
      PINGPULL_LIVEFYRE_NETWORK_KEY: NETWORK_KEY,
      PINGPULL_LIVEFYRE_BASE_URL: simUrl,
      PINGPULL_SIMULATOR_PORT: String(simPort),
      PINGPULL_PULL_HOST: '127.0.0.1',
      PINGPULL_PULL_PORT: String(pullPort),
      PINGPULL_METRICS_PORT: '0',
      PINGPULL_PINGER_COALESCE_MS: '100',
      PINGPULL_LOG_LEVEL: 'info',
    };

    simulator = spawnCli(['livefyre-sim'], env);
    await waitFor(async () => (await fetch(`${simUrl}/healthz`)).ok, { what: 'the simulator' });

    const setup = await runCli(['setup'], env);
    expect(setup.code, setup.stderr).toBe(0);
    // Each human line once, on stdout: not again as a log line at the info level.
    expect(setup.stdout).toMatch(/created logical replication slot/);
    expect(setup.stderr).toBe('');

    pipeline = spawnCli(['run'], env);
    await waitFor(async () => (await fetch(`${pullUrl.replace('/livefyre/profiles', '')}/readyz`)).ok, {
      what: 'the pull server',
    });

    const registered = await runCli(['register-pull-url', `${pullUrl}/{id}`], env);
    expect(registered.code, registered.stderr).toBe(0);
    expect(registered.stdout).toContain('204');
  });

  afterAll(async () => {
    const code = await pipeline?.stop();
    await simulator?.stop();
    await client?.end();
    if (env !== undefined) {
      const teardown = await runCli(['teardown'], env);
      expect(teardown.code, teardown.stderr).toBe(0);
      expect(teardown.stdout).toMatch(/dropped replication slot/);
      expect(teardown.stderr).toBe('');
    }
    await db?.drop();
    expect(code, pipeline?.output()).toBe(0);
  });

  const invalidProfiles = async (): Promise<unknown[]> =>
    (await (await fetch(`${simUrl}/sim/invalid-profiles`)).json()) as unknown[];

  it('turns display-name updates into pings whose pulls return the new profile exactly', async () => {
    const ids = [3, 7, 11];
    await client.query(`UPDATE members SET nick = 'renamed ' || member_id WHERE member_id = ANY($1)`, [ids]);

    for (const id of ids) {
      const stored = await waitFor(
        async () => {
          const response = await fetch(`${simUrl}/sim/profiles/${id}`);
          if (!response.ok) return undefined;
          const record = (await response.json()) as StoredProfile;
          return record.profile.display_name === `renamed ${id}` ? record : undefined;
        },
        { what: `the simulator to pull member ${id}`, timeoutMs: 30_000 },
      );
      expect(stored.profile).toEqual({
        id: String(id),
        display_name: `renamed ${id}`,
        email: `member${id}@example.com`,
        image_url: `https://cdn.example.com/a/${id}.png?v=1`,
      });
    }

    const pings = (await (await fetch(`${simUrl}/sim/pings`)).json()) as Array<{ id: string; status: number }>;
    for (const id of ids) expect(pings.some((ping) => ping.id === String(id) && ping.status === 200)).toBe(true);
    expect(await invalidProfiles()).toEqual([]);
    // Members that were not edited are not pinged.
    expect(pings.some((ping) => ping.id === '4')).toBe(false);
  }, 60_000);

  it('confirms the pulls it caused: status shows no ping left awaiting its pull', async () => {
    const pulls = await waitFor(
      async () => {
        const status = await runCli(['status', '--json'], env);
        const report = JSON.parse(status.stdout) as {
          pulls: { healthy: boolean; awaiting: number | null; oldestAgeSeconds: number | null };
        };
        return report.pulls.awaiting === 0 ? report.pulls : undefined;
      },
      { what: 'every ping confirmed by its pull', timeoutMs: 30_000 },
    );
    expect(pulls).toMatchObject({ healthy: true, awaiting: 0, oldestAgeSeconds: 0 });
    // the figure comes from the pinger owning the pulls topic, not from an empty group
    const kafka = new Kafka({ clientId: 'e2e-admin', brokers: kafkaBrokers().split(','), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [offsets] = await admin.fetchOffsets({
        groupId: `${env.PINGPULL_KAFKA_GROUP_ID}-pulls`,
        topics: [`${env.PINGPULL_KAFKA_TOPIC}.pulls`],
      });
      expect(offsets?.partitions.some((p) => p.metadata?.startsWith('pingpull-pulls:'))).toBe(true);
    } finally {
      await admin.disconnect();
    }
  }, 60_000);

  it('serves a blank display name as the id, which Livefyre accepts', async () => {
    await client.query(`UPDATE members SET nick = '  ' WHERE member_id = 13`);
    const stored = await waitFor(
      async () => {
        const response = await fetch(`${simUrl}/sim/profiles/13`);
        return response.ok ? ((await response.json()) as StoredProfile) : undefined;
      },
      { what: 'the simulator to pull member 13', timeoutMs: 30_000 },
    );
    expect(stored.profile).toMatchObject({ id: '13', display_name: '13' });
    expect(await invalidProfiles()).toEqual([]);
  }, 60_000);

  it('never publishes the values of unmapped columns', async () => {
    await client.query(`UPDATE members SET password_hash = 'leaked-secret-hash' WHERE member_id = 5`);
    await client.query(`UPDATE members SET nick = 'marker' WHERE member_id = 6`);

    const kafka = new Kafka({ clientId: 'e2e-reader', brokers: kafkaBrokers().split(','), logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: uniqueName('reader') });
    const values: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: env.PINGPULL_KAFKA_TOPIC!, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value?.toString() ?? '');
      },
    });
    try {
      // The marker update committed after the unmapped one: once it is in Kafka, so is anything before it.
      await waitFor(async () => values.some((v) => v.includes('"marker"')), {
        what: 'the marker event',
        timeoutMs: 30_000,
      });
    } finally {
      await consumer.disconnect();
    }
    expect(values.join('\n')).not.toContain('leaked-secret-hash');
    expect(values.join('\n')).not.toContain('password_hash');
    for (const value of values) {
      const event = JSON.parse(value) as { after: Record<string, unknown> | null };
      if (event.after) expect(Object.keys(event.after).sort()).toEqual(['mail', 'member_id', 'nick', 'pic']);
    }
  }, 60_000);

  it('serves both pull URL forms and refuses requests without a valid token', async () => {
    const noToken = await fetch(`${pullUrl}/3`);
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).toBe('');
    const badToken = await fetch(`${pullUrl}/3?lftoken=abc.def.ghi`);
    expect(badToken.status).toBe(403);
    expect(await badToken.text()).toBe('');

    const { token } = await createSystemToken({
      network: NETWORK,
      key: importNetworkKey(NETWORK_KEY),
      clock: systemClock,
    });
    const pathForm = await fetch(`${pullUrl}/3?lftoken=${token}`);
    expect(pathForm.status).toBe(200);
    expect(((await pathForm.json()) as { id: string }).id).toBe('3');
    const queryForm = await fetch(`${pullUrl}?id=3&lftoken=${token}`);
    expect(queryForm.status).toBe(200);
    const unknown = await fetch(`${pullUrl}/999999?lftoken=${token}`);
    expect(unknown.status).toBe(404);
  });

  // Delivered means validated: a profile the simulator refused would be one Livefyre refuses.
  it('served no profile Livefyre would refuse during the whole run', async () => {
    expect(await invalidProfiles()).toEqual([]);
    const pulls = (await (await fetch(`${simUrl}/sim/pulls`)).json()) as Array<{ outcome: string }>;
    expect(pulls.length).toBeGreaterThan(0);
    expect(pulls.filter((pull) => pull.outcome === 'invalid_profile')).toEqual([]);
  });
});
