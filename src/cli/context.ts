import { Command, Option } from 'commander';
import { describeServiceFailure } from '../app/failure.js';
import { loadConfig, type Config } from '../config/index.js';
import { exitCodeFor, ConfigError, PingpullError } from '../errors.js';
import { RecentProblems } from '../console/problems.js';
import { createLogger, type Logger } from '../log.js';

export interface CommandContext {
  config: Config;
  logger: Logger;
  /** Aborted on SIGTERM or SIGINT: long-running commands stop gracefully. */
  signal: AbortSignal;
  /** The process's recent warnings and errors, for the operator console. */
  problems: RecentProblems;
  out: (line: string) => void;
}

export interface BaseOptions {
  config?: string;
  logLevel?: string;
}

/** A subcommand with the options every command takes. */
export function baseCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .addOption(new Option('-c, --config <file>', 'JSON config file (environment variables win over it)'))
    .addOption(new Option('--log-level <level>', 'override log.level'));
}

/**
 * Wraps a command's action: loads and validates the configuration, builds the
 * logger, turns signals into an AbortSignal and errors into exit codes
 * (2 for configuration and usage, 1 for runtime failures).
 */
export function action<A extends unknown[], O extends object>(
  run: (context: CommandContext, options: O, ...args: A) => Promise<number | void>,
): (...args: unknown[]) => Promise<void> {
  return async (...commanderArgs: unknown[]) => {
    // commander passes (...positional, options, command)
    const options = commanderArgs[commanderArgs.length - 2] as O & BaseOptions;
    const positional = commanderArgs.slice(0, -2) as A;
    const controller = new AbortController();
    const onSignal = (): void => controller.abort();
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    let logger: Logger | undefined;
    let config: Config | undefined;
    try {
      config = loadConfig({ file: options.config, overrides: { 'log.level': options.logLevel } });
      const problems = new RecentProblems();
      logger = createLogger(config.log.level, undefined, problems.stream());
      const context: CommandContext = {
        config,
        logger,
        problems,
        signal: controller.signal,
        out: (line) => process.stdout.write(`${line}\n`),
      };
      const code = await run(context, options, ...positional);
      process.exitCode = code ?? 0;
    } catch (error) {
      reportFailure(error, logger, config);
      process.exitCode = exitCodeFor(error);
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  };
}

function reportFailure(error: unknown, logger: Logger | undefined, config: Config | undefined): void {
  if (error instanceof ConfigError) {
    process.stderr.write(`pingpull: ${error.message}\n`);
    return;
  }
  const unreachable = config === undefined ? undefined : describeServiceFailure(error, config);
  if (unreachable !== undefined) {
    process.stderr.write(`pingpull: ${unreachable}\n`);
    logger?.debug({ err: error }, 'command failed');
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof PingpullError ? ` [${error.code}]` : '';
  process.stderr.write(`pingpull: ${message}${code}\n`);
  logger?.debug({ err: error }, 'command failed');
}
