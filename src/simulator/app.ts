import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { RedactingLogController } from '../pull/request-log.js';
import { sleep, systemClock, systemRandom, systemTimers, type Clock, type Random, type Timers } from '../time.js';
import { FaultInjector, parseFaultSpec } from './faults.js';
import { createPuller, type Puller } from './puller.js';
import { PullLoss, parsePullLossSpec } from './pull-loss.js';
import { PullQueue } from './pull-queue.js';
import { SimulatorState } from './records.js';
import { templateProblem } from './template.js';
import { simTokenProblem } from './token.js';

export interface SimulatorOptions {
  /** The network it plays, e.g. `example.fyre.co`. */
  network: string;
  networkKey: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Wait between a ping and its pull (Livefyre documents 1-10 minutes; tests want it small). */
  pullDelayMs?: number;
  /** Pulls in flight at once (default 8). */
  pullConcurrency?: number;
  /** Timeout of one pull request (default 10 s). */
  pullTimeoutMs?: number;
  /** Newest pings and pulls kept for inspection (default 100 000 each). */
  recordLimit?: number;
  logger: Logger;
  clock?: Clock;
  timers?: Timers;
  /** Source of the fault injector's draws; pass a seeded one for reproducible runs. */
  random?: Random;
}

export interface SimulatorCore {
  app: FastifyInstance;
  state: SimulatorState;
  faults: FaultInjector;
  pullLoss: PullLoss;
  queue: PullQueue;
  /** Stops pulling; the caller closes `app`. */
  stop(): Promise<void>;
}

type Form = Record<string, string | undefined>;

/** Livefyre's user id pattern, the simulator's own copy. */
const USER_ID = /^[a-zA-Z0-9_.-]+$/;

/** Livefyre's answers use this envelope. */
const livefyreError = (code: number, msg: string): Record<string, unknown> => ({ status: 'error', code, msg });

/**
 * Builds the simulator's Fastify app (not listening) and its pull machinery.
 *
 * Livefyre's API, as the simulator serves it:
 *   POST /api/v3_0/user/:id/refresh   lftoken in a form body or the query; 200 queued, 403 token, 400 id
 *   POST /?actor_token=&pull_profile_url=   204 registered, 403 token, 400 template
 * Inspection and control (not Livefyre's):
 *   GET /healthz, GET /sim/pings[?id=], GET /sim/pulls[?id=], GET /sim/profiles, GET /sim/profiles/:id,
 *   GET /sim/invalid-profiles (200 answers Livefyre would refuse, with the reasons), GET /sim/pull-url,
 *   GET /sim/queue, GET|POST|DELETE /sim/faults (failing pings, shape in faults.ts),
 *   GET|POST|DELETE /sim/pull-faults (losing pulls, shape in pull-loss.ts), POST /sim/reset
 */
export function buildSimulatorApp(options: SimulatorOptions): SimulatorCore {
  const clock = options.clock ?? systemClock;
  const timers = options.timers ?? systemTimers;
  const logger = options.logger.child({ component: 'livefyre-sim' });
  const tokenOptions = { network: options.network, networkKey: options.networkKey };
  const tokenProblem = (token: string | undefined) => simTokenProblem(tokenOptions, token, clock.now() / 1000);
  const state = new SimulatorState(options.recordLimit ?? 100_000);
  const faults = new FaultInjector(options.random ?? systemRandom);
  const pullLoss = new PullLoss();
  const puller: Puller = createPuller({
    ...tokenOptions,
    clock,
    timeoutMs: options.pullTimeoutMs ?? 10_000,
    logger,
    state,
  });
  const queue = new PullQueue({
    delayMs: options.pullDelayMs ?? 0,
    concurrency: options.pullConcurrency ?? 8,
    clock,
    timers,
    pull: async (id) => {
      if (!pullLoss.take(id)) return puller.pull(id);
      const at = clock.now();
      state.pulls.push({ id, startedAt: at, finishedAt: at, outcome: 'lost', errors: ['lost on request'] });
      logger.info({ id }, 'pull lost on request');
    },
  });
  const stopping = new AbortController();

  const log: FastifyBaseLogger = logger;
  const app = Fastify({ loggerInstance: log, logController: new RedactingLogController() });

  // Livefyre's API takes form-encoded bodies; Fastify only parses JSON and text by default.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  const param = (body: unknown, query: unknown, name: string): string | undefined => {
    const fromBody = (body as Form | null | undefined)?.[name];
    const value = typeof fromBody === 'string' ? fromBody : (query as Form)[name];
    return typeof value === 'string' ? value : undefined;
  };

  app.post<{ Params: { id: string } }>('/api/v3_0/user/:id/refresh', async (request, reply) => {
    const id = request.params.id;
    const receivedAt = clock.now();
    const fault = faults.next();
    if (fault !== undefined) {
      if (fault.delayMs > 0) await sleep(fault.delayMs, stopping.signal, timers);
      state.pings.push({ id, receivedAt, status: fault.status, injected: true, coalesced: false });
      if (fault.retryAfterSeconds !== undefined) void reply.header('retry-after', String(fault.retryAfterSeconds));
      return reply.code(fault.status).send(livefyreError(fault.status, 'injected fault'));
    }
    // token before id, as on the pull endpoint: without the key a caller learns nothing
    const problem = tokenProblem(param(request.body, request.query, 'lftoken'));
    if (problem !== undefined) {
      request.log.debug({ reason: problem }, 'ping token rejected');
      state.pings.push({ id, receivedAt, status: 403, injected: false, coalesced: false });
      return reply.code(403).send(livefyreError(403, 'invalid or missing lftoken'));
    }
    if (!USER_ID.test(id)) {
      state.pings.push({ id, receivedAt, status: 400, injected: false, coalesced: false });
      return reply.code(400).send(livefyreError(400, 'user id must match ^[a-zA-Z0-9_.-]+$'));
    }
    const coalesced = !queue.enqueue(id);
    state.pings.push({ id, receivedAt, status: 200, injected: false, coalesced });
    return reply.code(200).send({ status: 'ok', code: 200, data: {} });
  });

  app.post('/', async (request, reply) => {
    if (tokenProblem(param(request.body, request.query, 'actor_token')) !== undefined) {
      return reply.code(403).send(livefyreError(403, 'invalid or missing actor_token'));
    }
    const template = param(request.body, request.query, 'pull_profile_url');
    const problem = template === undefined ? 'pull_profile_url is required' : templateProblem(template);
    if (problem !== undefined || template === undefined) return reply.code(400).send(livefyreError(400, problem ?? ''));
    state.registration = { template, registeredAt: clock.now() };
    logger.info({ template }, 'pull URL registered');
    return reply.code(204).send();
  });

  registerInspection(app, state, { faults, pullLoss }, queue);
  registerPullLoss(app, pullLoss);

  return {
    app,
    state,
    faults,
    pullLoss,
    queue,
    async stop() {
      stopping.abort();
      await queue.close();
      await puller.close();
    },
  };
}

/** Read-only views under /sim/ plus fault control; not part of Livefyre's API. */
function registerInspection(
  app: FastifyInstance,
  state: SimulatorState,
  { faults, pullLoss }: { faults: FaultInjector; pullLoss: PullLoss },
  queue: PullQueue,
): void {
  const byId = <T extends { id: string }>(list: T[], id: unknown): T[] =>
    typeof id === 'string' ? list.filter((entry) => entry.id === id) : list;

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get<{ Querystring: { id?: string } }>('/sim/pings', async (request) =>
    byId(state.pings.list(), request.query.id),
  );
  app.get<{ Querystring: { id?: string } }>('/sim/pulls', async (request) =>
    byId(state.pulls.list(), request.query.id),
  );
  app.get('/sim/profiles', async () => [...state.profiles.values()]);
  app.get<{ Params: { id: string } }>('/sim/profiles/:id', async (request, reply) => {
    const stored = state.profiles.get(request.params.id);
    return stored ?? reply.code(404).send({ error: 'not_found', message: 'no profile pulled for this id' });
  });
  app.get('/sim/pull-url', async () => state.registration);
  app.get('/sim/queue', async () => ({ size: queue.size() }));
  app.get('/sim/faults', async () => ({ active: faults.current() ?? null }));
  app.post('/sim/faults', async (request, reply) => {
    try {
      faults.set(parseFaultSpec(request.body));
    } catch (error) {
      if (error instanceof UsageError) return reply.code(400).send({ error: 'invalid_fault', message: error.message });
      throw error;
    }
    return { active: faults.current() ?? null };
  });
  app.delete('/sim/faults', async (_request, reply) => {
    faults.clear();
    return reply.code(204).send();
  });
  app.get('/sim/invalid-profiles', async () => state.invalidProfiles.list());
  app.post('/sim/reset', async (_request, reply) => {
    state.pings.clear();
    state.pulls.clear();
    state.invalidProfiles.clear();
    state.profiles.clear();
    faults.clear();
    pullLoss.clear();
    return reply.code(204).send();
  });
}

/** Control of lost pulls; not part of Livefyre's API. */
function registerPullLoss(app: FastifyInstance, pullLoss: PullLoss): void {
  app.get('/sim/pull-faults', async () => ({ active: pullLoss.current() }));
  app.post('/sim/pull-faults', async (request, reply) => {
    try {
      pullLoss.add(parsePullLossSpec(request.body));
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      return reply.code(400).send({ error: 'invalid_pull_fault', message: error.message });
    }
    return { active: pullLoss.current() };
  });
  app.delete('/sim/pull-faults', async (_request, reply) => {
    pullLoss.clear();
    return reply.code(204).send();
  });
}
