import type { Command } from 'commander';
import { checkCommand } from './check.js';
import { setupCommand, teardownCommand } from './database-commands.js';
import { deadLettersCommand } from './dead-letters.js';
import { pingCommand, registerPullUrlCommand } from './livefyre-commands.js';
import { demoCommand } from './demo.js';
import { livefyreSimCommand } from './livefyre-sim.js';
import { resyncCommand } from './resync.js';
import { roleCommands } from './roles-commands.js';
import { statusCommand } from './status.js';

/** Every subcommand, in the order `--help` lists them. */
export function commands(): Command[] {
  return [
    ...roleCommands(),
    setupCommand(),
    teardownCommand(),
    checkCommand(),
    resyncCommand(),
    statusCommand(),
    pingCommand(),
    registerPullUrlCommand(),
    deadLettersCommand(),
    livefyreSimCommand(),
    demoCommand(),
  ];
}
