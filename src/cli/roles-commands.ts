import { action, baseCommand } from './context.js';
import { createResources, runRoles, startMetricsRole, startPullServerRole } from './roles.js';

export function pullServerCommand() {
  return baseCommand('pull-server', 'run only the pull endpoint Livefyre calls back').action(
    action(async ({ config, logger, signal }) =>
      runRoles(createResources(config, logger), [startMetricsRole, startPullServerRole], signal),
    ),
  );
}
