import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Config } from '../config/index.js';
import type { Pool } from '../db.js';
import { createTokenVerifier, importNetworkKey } from '../livefyre/token.js';
import { isValidUserId } from '../livefyre/profile.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { Clock } from '../time.js';
import { planProfile, profileFromRow } from './profile-mapping.js';
import { prepareProfileQuery } from './profile-query.js';
import { RedactingLogController } from './request-log.js';

export interface PullServerDeps {
  pool: Pool;
  source: Config['source'];
  pull: Config['pull'];
  livefyre: { network: string; networkKey: string };
  logger: Logger;
  metrics: Pick<Metrics, 'pullRequestsTotal' | 'pullDurationSeconds'>;
  clock: Clock;
}

/** Seconds a puller should wait after a 503 (database unavailable) before trying again. */
const RETRY_AFTER_SECONDS = 5;

const ERROR_SCHEMA = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

interface PullQuery {
  id?: unknown;
  lftoken?: unknown;
}

/**
 * The pull endpoint (PROTOCOL.md "The pull"): verifies Livefyre's token,
 * reads one user and answers with the profile JSON. Validates the table and
 * the mapping against the database before it returns; does not listen.
 *
 * Order of checks: the token first, then the id. Without a valid token every
 * request gets the same empty 403, so a caller without the network key learns
 * nothing (not even whether an id is well-formed or which check failed);
 * Livefyre's own requests pay only a cached HMAC for this order. A malformed
 * id is then answered 400 before the database is touched.
 */
export async function buildPullServer(deps: PullServerDeps): Promise<FastifyInstance> {
  const plan = planProfile(deps.source.columns);
  const query = await prepareProfileQuery(deps.pool, deps.source, plan);
  const verify = createTokenVerifier({
    network: deps.livefyre.network,
    key: importNetworkKey(deps.livefyre.networkKey),
    clock: deps.clock,
  });

  // typed as Fastify's logger interface so the instance has the plain FastifyInstance type callers expect
  const log: FastifyBaseLogger = deps.logger.child({ component: 'pull-server' });
  const app = Fastify({
    loggerInstance: log,
    logController: new RedactingLogController(),
    // trailing slash: `…/profiles/?id={id}` is a valid template; long ids reach the token check instead of a 414
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 8192 },
    // a URL Livefyre could never send (bad percent-encoding): answer 400, empty, like any bad input
    frameworkErrors: (_error, _request, reply) => {
      void (reply as FastifyReply).code(400).send();
    },
  });

  async function pull(id: unknown, token: unknown, reply: FastifyReply): Promise<unknown> {
    const verdict = await verify(typeof token === 'string' ? token : undefined);
    if (!verdict.ok) {
      reply.log.debug({ reason: verdict.reason }, 'pull token rejected');
      return reply.code(403).send();
    }
    if (typeof id !== 'string' || !isValidUserId(id)) {
      return reply.code(400).send({ error: 'invalid_id', message: 'user ids must match ^[a-zA-Z0-9_.-]+$' });
    }
    let row;
    try {
      row = await query.find(id);
    } catch (error) {
      reply.log.warn({ err: error }, 'profile query failed');
      return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send();
    }
    if (row === undefined) return reply.code(404).send({ error: 'not_found', message: 'no user with this id' });
    return reply.code(200).send(profileFromRow(plan, row));
  }

  const routeOptions = {
    schema: { response: { 200: plan.responseSchema, 400: ERROR_SCHEMA, 404: ERROR_SCHEMA } },
    onResponse: async (_request: unknown, reply: FastifyReply): Promise<void> => {
      deps.metrics.pullRequestsTotal.inc({ status: String(reply.statusCode) });
      deps.metrics.pullDurationSeconds.observe(reply.elapsedTime / 1000);
    },
  };

  app.get<{ Params: { id: string }; Querystring: PullQuery }>(`${deps.pull.path}/:id`, routeOptions, (request, reply) =>
    pull(request.params.id, request.query.lftoken, reply),
  );
  app.get<{ Querystring: PullQuery }>(deps.pull.path, routeOptions, (request, reply) =>
    pull(request.query.id, request.query.lftoken, reply),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await deps.pool.query('SELECT 1');
      return { status: 'ok' };
    } catch (error) {
      reply.log.warn({ err: error }, 'database not reachable');
      return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send({ status: 'unavailable' });
    }
  });

  return app;
}
