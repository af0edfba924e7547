import { Writable } from 'node:stream';
import { redactUrl } from '../log.js';

/** A warning or error as the console shows it: what happened and to which user, never values or secrets. */
export interface Problem {
  /** ISO time. */
  at: string;
  level: 'warn' | 'error' | 'fatal';
  message: string;
  /** Low-risk context fields of the log line (user id, reason, status, attempts, table...). */
  context: Record<string, string | number | boolean>;
}

/** Log fields the console may show: identifiers and reasons, never profile values. */
const SHOWN_FIELDS = ['userId', 'reason', 'status', 'attempts', 'events', 'table', 'slot', 'cascade', 'error'] as const;

const LEVELS: Record<number, Problem['level']> = { 40: 'warn', 50: 'error', 60: 'fatal' };

/** Connection strings with credentials in them, wherever they appear in a message. */
const CREDENTIALS_IN_URL = /\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s:]+:[^/@\s]*@/gi;

/**
 * The last `capacity` warnings and errors of the process, fed by the logger
 * (as one more destination of its JSON lines, after pino's redaction).
 * Messages are scrubbed again of credential-bearing URLs and of the secrets
 * it is given: a log line is written by many hands.
 */
export class RecentProblems {
  private readonly problems: Problem[] = [];
  private secrets: string[] = [];

  constructor(readonly capacity = 50) {}

  /** Strings that must never be shown (the network key, passwords), replaced wherever they appear. */
  hideSecrets(secrets: readonly string[]): void {
    this.secrets = secrets.filter((secret) => secret.length >= 4);
  }

  record(problem: Problem): void {
    this.problems.push({
      ...problem,
      message: this.scrub(problem.message),
      context: Object.fromEntries(
        Object.entries(problem.context).map(([key, value]) => [
          key,
          typeof value === 'string' ? this.scrub(value) : value,
        ]),
      ),
    });
    if (this.problems.length > this.capacity) this.problems.shift();
  }

  /** Newest first. */
  list(): Problem[] {
    return [...this.problems].reverse();
  }

  /** A pino destination: give it every line at level warn and above. */
  stream(): Writable {
    return new Writable({
      write: (chunk: Buffer | string, _encoding, callback) => {
        for (const line of String(chunk).split('\n')) if (line.trim() !== '') this.recordLine(line);
        callback();
      },
    });
  }

  private recordLine(line: string): void {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const level = LEVELS[Number(entry.level)];
    if (level === undefined) return;
    const context: Problem['context'] = {};
    for (const field of SHOWN_FIELDS) {
      const value = entry[field];
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') context[field] = value;
    }
    const err = entry.err as { message?: unknown } | undefined;
    if (typeof err?.message === 'string' && context.error === undefined) context.error = err.message;
    const time = typeof entry.time === 'number' ? entry.time : 0;
    this.record({ at: new Date(time).toISOString(), level, message: String(entry.msg ?? ''), context });
  }

  private scrub(text: string): string {
    let scrubbed = redactUrl(text).replace(CREDENTIALS_IN_URL, '$1[redacted]@');
    for (const secret of this.secrets) scrubbed = scrubbed.split(secret).join('[redacted]');
    return scrubbed;
  }
}
