import type { Config } from '../config/index.js';
import { requireKeys } from '../config/index.js';
import { createPool, type Pool } from '../db.js';
import type { Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { startMetricsServer } from '../metrics/server.js';
import { buildPullServer } from '../pull/index.js';
import { systemClock } from '../time.js';

/** A started role: `stop` is graceful; `done` settles when the role ends on its own (a fatal error). */
export interface RoleHandle {
  readonly name: string;
  stop(): Promise<void>;
  done: Promise<void>;
}

/** What the roles of one process share: one pool, one metrics registry. */
export interface RoleResources {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  pool(): Pool;
  close(): Promise<void>;
}

export function createResources(config: Config, logger: Logger): RoleResources {
  let pool: Pool | undefined;
  return {
    config,
    logger,
    metrics: createMetrics(),
    pool() {
      requireKeys(config, ['database.url'], 'to reach the user database');
      pool ??= createPool({ url: config.database.url, max: config.database.poolSize, applicationName: 'pingpull' });
      pool.on('error', (error) => logger.warn({ err: error }, 'idle database connection failed'));
      return pool;
    },
    async close() {
      await pool?.end();
    },
  };
}

export async function startPullServerRole(resources: RoleResources): Promise<RoleHandle> {
  const { config, logger, metrics } = resources;
  requireKeys(config, ['database.url', 'livefyre.network', 'livefyre.networkKey'], 'to verify pulls and read profiles');
  const app = await buildPullServer({
    pool: resources.pool(),
    source: config.source,
    pull: config.pull,
    livefyre: { network: config.livefyre.network, networkKey: config.livefyre.networkKey },
    logger,
    metrics,
    clock: systemClock,
  });
  const address = await app.listen({ host: config.pull.host, port: config.pull.port });
  logger.info({ address, path: config.pull.path }, 'pull server listening');
  return { name: 'pull-server', stop: () => app.close(), done: new Promise(() => undefined) };
}

export async function startMetricsRole(resources: RoleResources): Promise<RoleHandle | undefined> {
  const { config, logger, metrics } = resources;
  if (config.metrics.port === 0) return undefined;
  const server = await startMetricsServer({ registry: metrics.registry, host: config.pull.host, port: config.metrics.port });
  logger.info({ port: server.port }, 'metrics at /metrics');
  return { name: 'metrics', stop: () => server.close(), done: new Promise(() => undefined) };
}

/**
 * Runs roles until a signal or until one of them fails, then stops them all
 * (in reverse start order) within `graceMs`.
 */
export async function runRoles(
  resources: RoleResources,
  starters: ReadonlyArray<(resources: RoleResources) => Promise<RoleHandle | undefined>>,
  signal: AbortSignal,
  graceMs = 30_000,
): Promise<number> {
  const roles: RoleHandle[] = [];
  let failure: unknown;
  try {
    for (const start of starters) {
      const role = await start(resources);
      if (role !== undefined) roles.push(role);
      if (signal.aborted) break;
    }
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([
      aborted,
      ...roles.map((role) =>
        role.done.then(
          () => {
            failure = new Error(`${role.name} stopped unexpectedly`);
          },
          (error: unknown) => {
            failure = error;
          },
        ),
      ),
    ]);
  } catch (error) {
    failure = error;
  }
  resources.logger.info({ reason: failure === undefined ? 'signal' : 'failure' }, 'stopping');
  const stopping = Promise.allSettled(roles.reverse().map((role) => role.stop()));
  const timedOut = await Promise.race([
    stopping.then(() => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
  ]);
  if (timedOut) resources.logger.error({ graceMs }, 'roles did not stop in time');
  await resources.close();
  if (failure !== undefined) throw failure;
  return timedOut ? 1 : 0;
}
