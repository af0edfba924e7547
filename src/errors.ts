/**
 * Every failure pingpull reports has a stable `code`, says whether a retry
 * can fix it (`retriable`), and keeps its `cause`. Boundaries classify:
 * I/O hiccups are retriable, configuration and authorisation failures are not.
 */
export class PingpullError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Bad configuration or command line: the process exits with code 2. */
export class ConfigError extends PingpullError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('ERR_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

export class UsageError extends PingpullError {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

/** The database is not set up the way pingpull needs (wal_level, privileges, table, columns). */
export class DatabaseSetupError extends PingpullError {
  constructor(message: string, cause?: unknown) {
    super('ERR_DATABASE_SETUP', message, { cause });
  }
}

/** A Livefyre HTTP call failed; `status` is undefined for network errors and timeouts. */
export class LivefyreError extends PingpullError {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    options: { status?: number; retriable: boolean; retryAfterMs?: number; cause?: unknown },
  ) {
    super(options.status === 403 ? 'ERR_LIVEFYRE_FORBIDDEN' : 'ERR_LIVEFYRE', message, options);
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** An event that can never be processed (bad JSON, bad user id): it goes to the dead letter topic. */
export class PoisonEventError extends PingpullError {
  constructor(message: string) {
    super('ERR_POISON_EVENT', message);
  }
}

/** Exit code for an error thrown out of a command. */
export function exitCodeFor(error: unknown): number {
  return error instanceof ConfigError || error instanceof UsageError ? 2 : 1;
}

/**
 * The users table changed under the connector in a way it cannot follow (a
 * mapped column was dropped or renamed): retrying would fail the same way,
 * so the connector stops with this message (exit 1) instead of looping.
 */
export class SchemaChangeError extends PingpullError {
  constructor(message: string) {
    super('ERR_SCHEMA_CHANGE', message);
  }
}
