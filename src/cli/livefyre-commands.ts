import { pingNow } from '../pinger/index.js';
import { action, baseCommand } from './context.js';
import { createResources } from './roles.js';

export function pingCommand() {
  return baseCommand('ping', 'ping Livefyre for these users now')
    .argument('<id...>', 'user ids')
    .action(
      action(async ({ config, logger, out }, _options: object, ids: string[]) => {
        const resources = createResources(config, logger);
        try {
          const results = await pingNow(resources.livefyre(), ids);
          for (const result of results) {
            out(result.ok ? `pinged ${result.id}` : `failed ${result.id}: ${result.error.message}`);
          }
          return results.length === new Set(ids).size && results.every((result) => result.ok) ? 0 : 1;
        } finally {
          await resources.close();
        }
      }),
    );
}

export function registerPullUrlCommand() {
  return baseCommand('register-pull-url', 'register the pull URL template (must contain {id}) with Livefyre')
    .argument('<template>', 'e.g. https://users.example.com/livefyre/profiles/{id}')
    .action(
      action(async ({ config, logger, out }, _options: object, template: string) => {
        const resources = createResources(config, logger);
        try {
          const { status } = await resources.livefyre().registerPullUrl(template);
          out(`registered ${template} (HTTP ${status})`);
        } finally {
          await resources.close();
        }
      }),
    );
}
