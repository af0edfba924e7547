import { createResources } from '../app/resources.js';
import { LivefyreError } from '../errors.js';
import { pingNow } from '../pinger/index.js';
import { action, baseCommand } from './context.js';

/**
 * `pingpull ping <id>...`: one line per id on stdout (`pinged <id>`, or
 * `failed <id>: <why>`, or `skipped <id>` after a 403, which fails every id
 * alike); exit 0 when every id was pinged, 1 otherwise, 2 for a malformed id.
 */
export function pingCommand() {
  return baseCommand('ping', 'ping Livefyre for these users now (no retries); exit 1 unless every ping got its 200')
    .argument('<id...>', 'user ids')
    .action(
      action(async ({ config, logger, out }, _options: object, ids: string[]) => {
        const resources = createResources(config, logger);
        try {
          const results = await pingNow(resources.livefyre(), ids);
          for (const result of results) {
            out(result.ok ? `pinged ${result.id}` : `failed ${result.id}: ${result.error.message}`);
          }
          const answered = new Set(results.map((result) => result.id));
          for (const id of new Set(ids)) if (!answered.has(id)) out(`skipped ${id}: Livefyre refuses the system token`);
          return answered.size === new Set(ids).size && results.every((result) => result.ok) ? 0 : 1;
        } finally {
          await resources.close();
        }
      }),
    );
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
