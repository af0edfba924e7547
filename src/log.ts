import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths pino censors wherever they appear in a log object: secrets and the
 * Livefyre token, which travels in query strings.
 */
const REDACT = [
  'networkKey',
  '*.networkKey',
  'password',
  '*.password',
  'saslPassword',
  '*.saslPassword',
  'lftoken',
  '*.lftoken',
  'token',
  '*.token',
  'databaseUrl',
  '*.databaseUrl',
  'connectionString',
  '*.connectionString',
];

const LEVEL_ORDER = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/**
 * One JSON line per event on stderr (stdout belongs to command output).
 * `problems`, when given, also receives every warning and error, whatever
 * the level (the operator console's recent problems).
 */
export function createLogger(
  level: string,
  destination: DestinationStream = pino.destination(2),
  problems?: DestinationStream,
): Logger {
  const options = {
    base: { pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: { err: STACK_LEVELS.has(level) ? pino.stdSerializers.err : errorWithoutStack },
  };
  if (problems === undefined) return pino({ ...options, level }, destination);
  const shown = level === 'silent' ? [] : [{ level: level as pino.Level, stream: destination }];
  const lowest = LEVEL_ORDER.find((candidate) => candidate === level) ?? 'warn';
  const loggerLevel = LEVEL_ORDER.indexOf(lowest) < LEVEL_ORDER.indexOf('warn') ? lowest : 'warn';
  return pino({ ...options, level: loggerLevel }, pino.multistream([...shown, { level: 'warn', stream: problems }]));
}

/** Stack traces are for whoever debugs; an operator at the default level reads what failed and why. */
const STACK_LEVELS = new Set(['debug', 'trace']);

function errorWithoutStack(error: Error): unknown {
  return withoutStacks(pino.stdSerializers.err(error));
}

/** The serialised error and the errors it carries (kafkajs's originalError, for one), minus every stack. */
function withoutStacks(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== 'stack')
      .map(([key, child]) => [key, withoutStacks(child)]),
  );
}

/** Removes `lftoken` (and any other credential parameter) from a URL before it is logged. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:lftoken|actor_token|token)=)[^&#]*/gi, '$1[redacted]');
}
