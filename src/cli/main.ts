import { Command, CommanderError } from 'commander';
import { CONNECTOR_VERSION } from '../events/envelope.js';
import { commands } from './commands.js';

function buildProgram(): Command {
  const program = new Command('pingpull')
    .description('Keeps Livefyre user profiles in sync with a PostgreSQL users table (Ping for Pull)')
    .version(CONNECTOR_VERSION)
    .showHelpAfterError()
    .exitOverride();
  for (const command of commands()) program.addCommand(command.exitOverride());
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version exit 0; every other parse failure is a usage error: 2
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    throw error;
  }
}
