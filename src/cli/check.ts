import { checkSetup } from '../app/check.js';
import { action, baseCommand } from './context.js';

/**
 * `pingpull check`: the configuration, the database set-up, and whether
 * Kafka and Livefyre answer — without changing anything. One line per
 * problem; exit 1 when there is any.
 */
export function checkCommand() {
  return baseCommand(
    'check',
    'diagnose config, database, Kafka and Livefyre reachability without changing anything; one line per problem',
  ).action(
    action(async ({ config, logger, out }) => {
      const { problems, notes, databaseReady } = await checkSetup(config, logger);
      for (const problem of problems) out(`problem: ${problem}`);
      if (databaseReady) out('ok: database ready');
      for (const note of notes) out(`info: ${note}`);
      return problems.length === 0 ? 0 : 1;
    }),
  );
}
