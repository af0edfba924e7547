import {
  pipelineRoles,
  startConnectorRole,
  startPingerRole,
  startPullServerRole,
  type RoleStarter,
} from '../app/roles.js';
import { runProcess } from '../app/run.js';
import { action, baseCommand } from './context.js';

function roleCommand(name: string, description: string, roles: () => RoleStarter[]) {
  return baseCommand(name, description).action(
    action(async ({ config, logger, signal, problems }) => runProcess(config, logger, roles(), signal, problems)),
  );
}

export function roleCommands() {
  return [
    roleCommand('run', 'run all three roles (connector, pinger, pull server) in one process', pipelineRoles),
    roleCommand('connector', 'run only the CDC role: replication slot → Kafka', () => [startConnectorRole]),
    roleCommand('pinger', 'run only the pinger role: Kafka → Livefyre pings', () => [startPingerRole]),
    roleCommand('pull-server', 'run only the pull endpoint Livefyre calls back', () => [startPullServerRole]),
  ];
}
