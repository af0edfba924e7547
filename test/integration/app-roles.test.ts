import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResources, type AppResources } from '../../src/app/resources.js';
import { pipelineRoles, type RoleHandle } from '../../src/app/roles.js';
import { setupDatabase } from '../../src/cdc/setup.js';
import { teardownDatabase } from '../../src/cdc/teardown.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { RecentProblems } from '../../src/console/problems.js';
import { createLogger } from '../../src/log.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createTestDatabase, kafkaBrokers, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

// The three roles as src/app puts them together in one process: the status
// page learns of the pinger's 403s through the accessor the pinger role hands out,
// and the operator console through the roles' liveness and the logger's problems.

const NETWORK = 'app.fyre.co';
const NETWORK_KEY = 'hnoVNQcTknTarpqj51WXQ6fXyAo=';
const WRONG_KEY = 'bm90IHRoZSBuZXR3b3JrIGtleSBhdCBhbGw=';

describe('the pipeline roles of one process', () => {
  let db: TestDatabase;
  let simulator: Simulator;
  let config: Config;
  let resources: AppResources;
  const roles: RoleHandle[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('CREATE TABLE users (id text PRIMARY KEY, display_name text NOT NULL)');
    await client.query(`INSERT INTO users VALUES ('u1', 'one'), ('u2', 'two')`);
    await client.end();
    const silent = createLogger('silent');
    simulator = await startSimulator({ network: NETWORK, networkKey: NETWORK_KEY, port: 0, logger: silent });
    const topic = uniqueName('changes');
    config = loadConfig({
      env: {},
      overrides: {
        'database.url': db.url,
        'source.table': 'public.users',
        'source.columns': { display_name: 'display_name' },
        'replication.slot': uniqueName('slot'),
        'replication.publication': uniqueName('pub'),
        'kafka.brokers': kafkaBrokers(),
        'kafka.topic': topic,
        'kafka.dlqTopic': `${topic}.dlq`,
        'kafka.groupId': uniqueName('group'),
        'livefyre.network': NETWORK,
        'livefyre.networkKey': WRONG_KEY,
        'livefyre.baseUrl': simulator.url,
        'pinger.coalesceMs': 0,
        'pinger.forbiddenPauseMs': 500,
        'pull.host': '127.0.0.1',
        'pull.port': 0,
        'metrics.port': 0,
        'status.page': true,
        'log.level': 'silent',
      },
    });
    const problems = new RecentProblems();
    resources = createResources(config, createLogger('silent', undefined, problems.stream()), problems);
    const { source, replication } = config;
    await setupDatabase({ pool: resources.pool(), source, replication, logger: silent });
  });

  afterAll(async () => {
    for (const role of roles.reverse()) await role.stop();
    await teardownDatabase({
      pool: resources.pool(),
      source: config.source,
      replication: config.replication,
      force: true,
      logger: resources.logger,
    });
    await resources.close();
    await simulator?.close();
    await db?.drop();
  });

  it("shows the pinger's refused key on the pull server's status page", async () => {
    for (const start of pipelineRoles()) {
      const role = await start(resources);
      if (role !== undefined) roles.push(role);
    }
    expect(roles.map((role) => role.name)).toEqual(['pull-server', 'connector', 'pinger']);
    const page = `${roles[0]?.address}/status.json`;
    const forbidden = async () => {
      const body = (await (await fetch(page)).json()) as { stages: { livefyre: { forbidden: boolean | null } } };
      return body.stages.livefyre.forbidden;
    };
    expect(await forbidden()).toBe(false);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`UPDATE users SET display_name = 'one again' WHERE id = 'u1'`);
    await client.end();
    await waitFor(() => simulator.pings().some((ping) => ping.status === 403), {
      timeoutMs: 60_000,
      what: 'a refused ping',
    });
    await waitFor(async () => (await forbidden()) === true, { timeoutMs: 10_000, what: 'the page to say so' });

    const view = await resources.console.view();
    expect(view.alive.find((alive) => alive.role === 'pinger')?.state).toBe('paused (403)');
    expect(view.problems.some((problem) => problem.context.status === 403)).toBe(true);
    expect(JSON.stringify(view)).not.toContain(WRONG_KEY);
  }, 120_000);
});
