import { setupDatabase } from '../cdc/setup.js';
import { teardownDatabase } from '../cdc/teardown.js';
import { requireKeys } from '../config/index.js';
import { createPool } from '../db.js';
import { buildProfileMapping } from '../mapping/index.js';
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
    .option(
      '--replica-identity-index',
      'also make the unique index on source.idColumn the replica identity (deletes carry a user id that is not the primary key)',
    )
    .action(
      action(async (context, options: { replicaIdentityFull?: boolean; replicaIdentityIndex?: boolean }) => {
        const lines = await withPool(context, (pool) =>
          setupDatabase({
            pool,
            source: context.config.source,
            mapping: buildProfileMapping(context.config),
            replication: context.config.replication,
            replicaIdentityFull: options.replicaIdentityFull === true,
            replicaIdentityIndex: options.replicaIdentityIndex === true,
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
    'drop the replication slot and the publication (an abandoned slot makes Postgres keep WAL forever); exit 1 when something is left',
  )
    .option('--force', 'terminate a connector still reading the slot')
    .action(
      action(async (context, options: { force?: boolean }) => {
        const report = await withPool(context, (pool) =>
          teardownDatabase({
            pool,
            source: context.config.source,
            replication: context.config.replication,
            force: options.force === true,
            logger: context.logger,
          }),
        );
        for (const line of report.lines) context.out(line);
        return report.complete ? 0 : 1;
      }),
    );
}
