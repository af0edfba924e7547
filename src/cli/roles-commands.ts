import { action, baseCommand } from './context.js';
import {
  createResources,
  runRoles,
  startConnectorRole,
  startMetricsRole,
  startPingerRole,
  startPullServerRole,
  type RoleHandle,
  type RoleResources,
} from '../app/roles.js';

type Starter = (resources: RoleResources) => Promise<RoleHandle | undefined>;

function roleCommand(name: string, description: string, starters: Starter[]) {
  return baseCommand(name, description).action(
    action(async ({ config, logger, signal }) =>
      runRoles(createResources(config, logger), [startMetricsRole, ...starters], signal),
    ),
  );
}

export function roleCommands() {
  return [
    roleCommand('run', 'run all three roles (connector, pinger, pull server) in one process', [
      startPullServerRole,
      startConnectorRole,
      startPingerRole,
    ]),
    roleCommand('connector', 'run only the CDC role: replication slot → Kafka', [startConnectorRole]),
    roleCommand('pinger', 'run only the pinger role: Kafka → Livefyre pings', [startPingerRole]),
    roleCommand('pull-server', 'run only the pull endpoint Livefyre calls back', [startPullServerRole]),
  ];
}
