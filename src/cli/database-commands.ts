import { setupDatabase, teardownDatabase } from '../cdc/setup.js';
import { requireKeys } from '../config/index.js';
import { createPool } from '../db.js';
import { action, baseCommand, type CommandContext } from './context.js';

async function withPool<T>(
  { config }: CommandContext,
  use: (pool: ReturnType<typeof createPool>) => Promise<T>,
): Promise<T> {
  requireKeys(config, ['database.url'], 'to reach the user database');
  const pool = createPool({ url: config.database.url, max: 2, applicationName: 'pingpull-setup' });
  try {
    return await use(pool);
  } finally {
    await pool.end();
  }
}

export function setupCommand() {
  return baseCommand(
    'setup',
    'check the database and create the publication (with a column list) and the replication slot; idempotent',
  )
    .option('--replica-identity-full', 'also set REPLICA IDENTITY FULL on the table (exact change detection)')
    .action(
      action(async (context, options: { replicaIdentityFull?: boolean }) => {
        const lines = await withPool(context, (pool) =>
          setupDatabase({
            pool,
            source: context.config.source,
            replication: context.config.replication,
            replicaIdentityFull: options.replicaIdentityFull === true,
            logger: context.logger,
          }),
        );
        for (const line of lines) context.out(line);
      }),
    );
}

export function teardownCommand() {
  return baseCommand(
    'teardown',
    'drop the replication slot and the publication (an abandoned slot makes Postgres keep WAL forever)',
  )
    .option('--force', 'terminate a connector still reading the slot')
    .action(
      action(async (context, options: { force?: boolean }) => {
        const lines = await withPool(context, (pool) =>
          teardownDatabase({
            pool,
            source: context.config.source,
            replication: context.config.replication,
            force: options.force === true,
            logger: context.logger,
          }),
        );
        for (const line of lines) context.out(line);
      }),
    );
}
