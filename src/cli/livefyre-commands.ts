import { createResources, type AppResources } from '../app/resources.js';
import { parseTableName } from '../db.js';
import { LivefyreError } from '../errors.js';
import { assertPingableIds, pingNow } from '../pinger/index.js';
import { existingIds } from '../resync/ids.js';
import { action, baseCommand } from './context.js';

/**
 * `pingpull ping <id>...`: one line per id on stdout (`pinged <id>`, or
 * `failed <id>: <why>`, or `skipped <id>` after a 403, which fails every id
 * alike, or `skipped <id>: no such user` for an id without a row unless
 * `--force`); exit 0 when every id was pinged, 1 otherwise, 2 for a malformed id.
 */
export function pingCommand() {
  return baseCommand('ping', 'ping Livefyre for these users now (no retries); exit 1 unless every ping got its 200')
    .argument('<id...>', 'user ids')
    .option('--force', 'also ping ids that have no row in source.table')
    .action(
      action(async ({ config, logger, out }, options: { force?: boolean }, ids: string[]) => {
        const resources = createResources(config, logger);
        try {
          assertPingableIds(ids);
          const missing = options.force === true ? [] : await idsWithoutRow(resources, ids);
          for (const id of missing) {
            out(`skipped ${id}: no such user in ${config.source.table} (ping it anyway with --force)`);
          }
          const existing = ids.filter((id) => !missing.includes(id));
          const results = existing.length === 0 ? [] : await pingNow(resources.livefyre(), existing);
          for (const result of results) {
            out(result.ok ? `pinged ${result.id}` : `failed ${result.id}: ${result.error.message}`);
          }
          const answered = new Set(results.map((result) => result.id));
          for (const id of new Set(ids)) {
            if (!answered.has(id) && !missing.includes(id)) out(`skipped ${id}: Livefyre refuses the system token`);
          }
          return answered.size === new Set(ids).size && results.every((result) => result.ok) ? 0 : 1;
        } finally {
          await resources.close();
        }
      }),
    );
}

/**
 * Ids with no row in the users table: pinging them would make Livefyre pull
 * a 404. Without database.url (a host that only pings) nothing is checked.
 */
async function idsWithoutRow(resources: AppResources, ids: readonly string[]): Promise<string[]> {
  const { source, database } = resources.config;
  if (database.url === '') return [];
  const found = await existingIds(resources.pool(), parseTableName(source.table), source.idColumn, ids);
  return [...new Set(ids)].filter((id) => !found.has(id));
}

/**
 * `pingpull register-pull-url <template>`: Livefyre answers a registration
 * with 204. Anything else is a one-line error on stderr and exit 1; a
 * template without `{id}` or that is no http(s) URL is refused with exit 2
 * before anything is sent.
 */
export function registerPullUrlCommand() {
  return baseCommand(
    'register-pull-url',
    'register the pull URL template (must contain {id}) with Livefyre; expects HTTP 204',
  )
    .argument('<template>', 'e.g. https://users.example.com/livefyre/profiles/{id}')
    .action(
      action(async ({ config, logger, out }, _options: object, template: string) => {
        const resources = createResources(config, logger);
        try {
          const { status } = await resources.livefyre().registerPullUrl(template);
          if (status !== 204) {
            throw new LivefyreError(
              `Livefyre answered the registration of ${template} with HTTP ${status}, expected 204`,
              {
                status,
                retriable: false,
              },
            );
          }
          out(`registered ${template} (HTTP ${status})`);
        } finally {
          await resources.close();
        }
      }),
    );
}
