import type { Command } from 'commander';
import { livefyreSimCommand } from './livefyre-sim.js';
import { pullServerCommand } from './roles-commands.js';

/** Every subcommand, in the order `--help` lists them. */
export function commands(): Command[] {
  return [pullServerCommand(), livefyreSimCommand()];
}
