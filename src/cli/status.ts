import { formatStatus } from '../status/format.js';
import { readStatus } from '../status/service.js';
import { systemClock, systemTimers } from '../time.js';
import { action, baseCommand } from './context.js';

/**
 * `pingpull status [--json]`: reads Postgres, Kafka and Livefyre directly, so
 * it works from any machine that reaches them, with or without a running
 * pingpull. Exit 0 when every stage is healthy, 1 otherwise.
 */
export function statusCommand() {
  return baseCommand(
    'status',
    'lag and health of every stage (database, connector, Kafka, dead letters, Livefyre); exit 1 when unhealthy',
  )
    .option('--json', 'print one JSON object with the same figures')
    .action(
      action(async ({ config, logger, out }, options: { json?: boolean }) => {
        const report = await readStatus({ config, logger, clock: systemClock, timers: systemTimers });
        out(options.json === true ? JSON.stringify(report) : formatStatus(report));
        return report.healthy ? 0 : 1;
      }),
    );
}
