import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Config } from '../config/index.js';
import type { Pool } from '../db.js';
import { createTokenVerifier, importNetworkKey } from '../livefyre/token.js';
import { isValidUserId } from '../livefyre/profile.js';
import type { Logger } from '../log.js';
import { buildProfileMapping, type ProfileMapping } from '../mapping/index.js';
import type { Metrics } from '../metrics/registry.js';
import { schema } from '../config/schema.js';
import { systemTimers, type Clock, type Timers } from '../time.js';
import { createBatchingGate, createDatabaseGate, type GateOutcome } from './admission.js';
import { prepareCustomQuery } from './custom-query.js';
import { PullHealth, pullFailureCause } from './health.js';
import { planProfile, profileFromRow } from './profile-mapping.js';
import { prepareProfileQuery, type ProfileQuery, type ProfileRow } from './profile-query.js';
import { RedactingLogController } from './request-log.js';

/** The `pull.*` settings the server uses; those left out take the schema's defaults. */
export type PullOptions = Pick<Config['pull'], 'path'> & Partial<Config['pull']>;

export interface PullServerDeps {
  /** Pulls' connections: best their own (`createPullPool`), with a statement timeout. */
  pool: Pool;
  source: Pick<Config['source'], 'table' | 'idColumn' | 'columns'>;
  pull: PullOptions;
  /** What the answer is built from (built from `source` and `pull` when absent). */
  mapping?: ProfileMapping;
  livefyre: { network: string; networkKey: string };
  logger: Logger;
  metrics: Pick<Metrics, 'pullRequestsTotal' | 'pullDurationSeconds' | 'pullFailingSinceSeconds'>;
  clock: Clock;
  timers?: Timers;
  /**
   * Told of every pull answered with the user's final answer (200, or 404
   * for an id that is no user): the pull confirmation loop's evidence.
   */
  onServed?: (userId: string) => void;
  /** More routes on the same server (the status page). */
  routes?: ReadonlyArray<(app: FastifyInstance) => void>;
}

/** Seconds a puller should wait after a 503 because the database is unavailable. */
const RETRY_AFTER_SECONDS = 5;
/** Seconds a puller should wait after a 503 because the server sheds load (busy, or the pull timed out). */
const OVERLOAD_RETRY_AFTER_SECONDS = 1;
/** Node's own limit on receiving a request (headers and body): a pull is one short GET. */
const RECEIVE_TIMEOUT_MS = 10_000;

/** Ids the readiness probe looks up (no such user is expected): the first the id column's type accepts. */
const PROBE_IDS = ['0', '00000000-0000-0000-0000-000000000000', 'pingpull-readiness-probe'];

const ERROR_SCHEMA = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

interface PullQuery {
  id?: unknown;
  lftoken?: unknown;
}

/**
 * The pull endpoint (README, "How it works"): verifies Livefyre's token,
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
  const query = await prepareQuery(deps);
  const plan = query.plan;
  const gate = createGate(deps, query);
  const health = new PullHealth(deps.metrics.pullFailingSinceSeconds, deps.clock);
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
    requestTimeout: RECEIVE_TIMEOUT_MS,
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
    if (!query.accepts(id)) return served(id, notFound(reply));
    let outcome;
    try {
      outcome = await gate.run(id);
    } catch (error) {
      health.failed(pullFailureCause(error));
      reply.log.warn({ err: error }, 'profile query failed');
      return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send();
    }
    if (outcome.status !== 'done') {
      // shedding is counted by pingpull_pull_requests_total{status="503"};
      // a line per shed pull would add to the overload
      if (outcome.status === 'busy') reply.log.debug({ inFlight: gate.inFlight }, 'pull shed');
      else {
        health.failed('database');
        reply.log.warn({ inFlight: gate.inFlight }, 'pull timed out');
      }
      return reply.code(503).header('retry-after', String(OVERLOAD_RETRY_AFTER_SECONDS)).send();
    }
    health.succeeded();
    if (outcome.value === undefined) return served(id, notFound(reply));
    return served(id, reply.code(200).send(profileFromRow(plan, outcome.value)));
  }

  // A 404 counts too: pinging again cannot change the answer for a deleted user.
  function served(id: string, reply: FastifyReply): FastifyReply {
    deps.onServed?.(id);
    return reply;
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
  // Ready means a pull can be answered: the probe runs the pulls' own statement (mapping, table, columns)
  // on their pool, so a renamed mapped column turns readiness red, not only the pulls.
  const probeId = PROBE_IDS.find((id) => query.accepts(id));
  app.get('/readyz', async (_request, reply) => {
    try {
      if (probeId === undefined) await deps.pool.query('SELECT 1');
      else {
        const client = await deps.pool.connect();
        try {
          await query.read(client, probeId);
        } finally {
          client.release();
        }
        health.succeeded();
      }
      return { status: 'ok' };
    } catch (error) {
      health.failed(pullFailureCause(error));
      reply.log.warn({ err: error }, 'the profile query fails: pulls are answered 503');
      return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send({ status: 'unavailable' });
    }
  });
  for (const register of deps.routes ?? []) register(app);

  return app;
}

function notFound(reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ error: 'not_found', message: 'no user with this id' });
}

/** Most ids one profile query reads (README, "The pull server under load"). */
const MAX_PULL_BATCH = 100;

/** One pull's database work, through the admission gate: shared with other pulls' when the query reads many ids. */
interface PullGate {
  run(id: string): Promise<GateOutcome<ProfileRow | undefined>>;
  readonly inFlight: number;
}

function createGate(deps: PullServerDeps, query: ProfileQuery): PullGate {
  const admission = {
    pool: deps.pool,
    maxInFlight: deps.pull.maxInFlight ?? schema.pull.maxInFlight.default,
    timeoutMs: deps.pull.requestTimeoutMs ?? schema.pull.requestTimeoutMs.default,
    timers: deps.timers ?? systemTimers,
  };
  const { readMany } = query;
  if (readMany === undefined) {
    const gate = createDatabaseGate(admission);
    return {
      run: (id) => gate.run((client) => query.read(client, id)),
      get inFlight() {
        return gate.inFlight;
      },
    };
  }
  return createBatchingGate({
    ...admission,
    read: (client, ids) => readMany(client, ids),
    maxBatch: MAX_PULL_BATCH,
    // one query per pooled connection: a batch never holds its pulls in the pool's queue, where none could join it
    maxBatches: Math.max(1, deps.pool.options.max ?? schema.pull.poolSize.default),
  });
}

/** The table's mapped columns, or the custom query; either way validated against the database now. */
function prepareQuery(deps: PullServerDeps): Promise<ProfileQuery> {
  const mapping = deps.mapping ?? buildProfileMapping({ source: deps.source, pull: deps.pull });
  const { query, ...options } = mapping.pull;
  if (query !== '') return prepareCustomQuery(deps.pool, query, options);
  return prepareProfileQuery(deps.pool, deps.source, planProfile(mapping.columns, options));
}
