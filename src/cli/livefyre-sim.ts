import { InvalidArgumentError } from 'commander';
import { requireKeys } from '../config/index.js';
import { startSimulator } from '../simulator/index.js';
import { untilAborted } from '../time.js';
import { action, baseCommand } from './context.js';

const wholeMilliseconds = (value: string): number => {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed)) {
    throw new InvalidArgumentError('expected whole milliseconds >= 0');
  }
  return parsed;
};

export function livefyreSimCommand() {
  return baseCommand(
    'livefyre-sim',
    'run the Livefyre simulator (ping, pull URL registration, pulls; inspection under /sim/)',
  )
    .option('--port <port>', 'override simulator.port', (value) => Number.parseInt(value, 10))
    .option(
      '--pull-delay-ms <ms>',
      'override simulator.pullDelayMs (Livefyre pulls 1-10 minutes after a ping; e.g. 60000 to show it)',
      wholeMilliseconds,
    )
    .action(
      action(async ({ config, logger, signal, out }, options: { port?: number; pullDelayMs?: number }) => {
        requireKeys(config, ['livefyre.network', 'livefyre.networkKey'], 'to validate tokens as Livefyre does');
        const simulator = await startSimulator({
          network: config.livefyre.network,
          networkKey: config.livefyre.networkKey,
          host: config.simulator.host,
          port: options.port ?? config.simulator.port,
          pullDelayMs: options.pullDelayMs ?? config.simulator.pullDelayMs,
          logger,
        });
        out(`Livefyre simulator for ${config.livefyre.network} at ${simulator.url}`);
        await untilAborted(signal);
        await simulator.close();
      }),
    );
}
