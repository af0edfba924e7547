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

/** One JSON line per event on stderr (stdout belongs to command output). */
export function createLogger(level: string, destination: DestinationStream = pino.destination(2)): Logger {
  return pino({ level, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}

/** Removes `lftoken` (and any other credential parameter) from a URL before it is logged. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:lftoken|actor_token|token)=)[^&#]*/gi, '$1[redacted]');
}
