import type { Config } from '../config/index.js';
import type { RecentProblems } from '../console/problems.js';
import type { Logger } from '../log.js';
import { untilAborted } from '../time.js';
import { createResources, type AppResources } from './resources.js';
import { startMetricsRole, type RoleHandle, type RoleStarter } from './roles.js';

/** One pingpull process: the metrics endpoint, then `roles`, sharing one set of resources. */
export function runProcess(
  config: Config,
  logger: Logger,
  roles: readonly RoleStarter[],
  signal: AbortSignal,
  problems?: RecentProblems,
): Promise<number> {
  return runRoles(createResources(config, logger, problems, signal), [startMetricsRole, ...roles], signal);
}

/** How long roles get to stop once asked: within 10 s of a SIGTERM the process is gone. */
const STOP_GRACE_MS = 8_000;

/**
 * Runs roles until a signal or until one of them fails, then stops them all
 * (in reverse start order) within STOP_GRACE_MS.
 */
async function runRoles(
  resources: AppResources,
  starters: readonly RoleStarter[],
  signal: AbortSignal,
): Promise<number> {
  const roles: RoleHandle[] = [];
  let failure: unknown;
  try {
    for (const start of starters) {
      const role = await start(resources);
      if (role !== undefined) roles.push(role);
      if (signal.aborted) break;
    }
    // A signal during start-up has already fired: untilAborted resolves at once then.
    const aborted = untilAborted(signal);
    const stoppedOnItsOwn = roles.map((role) =>
      role.done.then(
        () => new Error(`${role.name} stopped unexpectedly`),
        (error: unknown) => error,
      ),
    );
    failure = await Promise.race([aborted.then(() => undefined), ...stoppedOnItsOwn]);
  } catch (error) {
    failure = error;
  }
  resources.logger.info({ reason: failure === undefined ? 'signal' : 'failure' }, 'stopping');
  const stopping = Promise.allSettled(roles.reverse().map((role) => role.stop()));
  const timedOut = await Promise.race([
    stopping.then(() => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(true), STOP_GRACE_MS).unref()),
  ]);
  if (timedOut) resources.logger.error({ graceMs: STOP_GRACE_MS }, 'roles did not stop in time');
  await resources.close();
  if (failure !== undefined) throw failure;
  return timedOut ? 1 : 0;
}
