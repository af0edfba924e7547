import { InvalidArgumentError } from 'commander';
import { runDemo } from '../demo/index.js';
import { startLocalServices } from '../demo/local-services.js';
import { createLogger } from '../log.js';
import { systemClock, systemRandom } from '../time.js';
import { action, baseCommand } from './context.js';

const positiveInt = (value: string): number => {
  const parsed = Number.parseInt(value, 10);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`expected a positive whole number, received ${value}`);
  return parsed;
};

const nonNegativeInt = (value: string): number => {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed)) {
    throw new InvalidArgumentError('expected whole milliseconds >= 0');
  }
  return parsed;
};

export function demoCommand() {
  return baseCommand(
    'demo',
    'the whole pipeline on local services (started from a checkout when database.url is not set) ' +
      'with a seeded users table and the Livefyre simulator',
  )
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)', positiveInt)
    .option('--interval <ms>', 'time between profile edits', positiveInt, 1_000)
    .option('--users <n>', 'users to seed', positiveInt, 1_000)
    .option(
      '--pull-delay <ms>',
      'how long the simulator waits after a ping before it pulls (Livefyre: 1-10 minutes)',
      nonNegativeInt,
      0,
    )
    .option('--database <name>', 'database the demo (re)creates on the cluster', 'pingpull_demo')
    .action(
      action(
        async (
          { config, signal, out },
          options: {
            duration?: number;
            interval: number;
            users: number;
            pullDelay: number;
            database: string;
            logLevel?: string;
          },
        ) => {
          const services =
            config.database.url === ''
              ? await startLocalServices()
              : { databaseUrl: config.database.url, kafkaBrokers: config.kafka.brokers };
          await runDemo({
            services,
            database: options.database,
            users: options.users,
            intervalMs: options.interval,
            pullDelayMs: options.pullDelay,
            durationMs: options.duration === undefined ? undefined : options.duration * 1000,
            signal,
            // The roles' JSON logs would drown the demo's lines: warnings only unless asked.
            logger: createLogger(options.logLevel ?? 'warn'),
            out,
            clock: systemClock,
            random: systemRandom,
          });
        },
      ),
    );
}
