import type { Lsn } from './cdc/lsn.js';

/**
 * Every failure pingpull reports has a stable `code`, says whether a retry
 * can fix it (`retriable`), and keeps its `cause`. Boundaries classify:
 * I/O hiccups are retriable, configuration and authorisation failures are not.
 */
export const ErrorCode = {
  CONFIG: 'ERR_CONFIG',
  USAGE: 'ERR_USAGE',
  DATABASE_SETUP: 'ERR_DATABASE_SETUP',
  REPLICA_IDENTITY: 'ERR_REPLICA_IDENTITY',
  SCHEMA_CHANGE: 'ERR_SCHEMA_CHANGE',
  DECODE: 'ERR_DECODE',
  REPLICATION: 'ERR_REPLICATION',
  SLOT_IN_USE: 'ERR_SLOT_IN_USE',
  KAFKA_PUBLISH: 'ERR_KAFKA_PUBLISH',
  KAFKA_TOPICS: 'ERR_KAFKA_TOPICS',
  PINGER_START: 'ERR_PINGER_START',
  REPLAY_LEDGER_FULL: 'ERR_REPLAY_LEDGER_FULL',
  LIVEFYRE: 'ERR_LIVEFYRE',
  LIVEFYRE_FORBIDDEN: 'ERR_LIVEFYRE_FORBIDDEN',
  RESYNC: 'ERR_RESYNC',
  STAGE_TIMEOUT: 'ERR_STAGE_TIMEOUT',
  NOT_PULLED: 'ERR_NOT_PULLED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class PingpullError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Whether waiting and trying again can succeed; anything unclassified cannot. */
export function isRetriable(error: unknown): boolean {
  return error instanceof PingpullError && error.retriable;
}

/** Exit code for an error thrown out of a command. */
export function exitCodeFor(error: unknown): number {
  return error instanceof ConfigError || error instanceof UsageError || error instanceof ReplicaIdentityError ? 2 : 1;
}

// Configuration and command line: the process exits with code 2.

/** Every violation the loader found, together, each naming its key. */
export class ConfigError extends PingpullError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(ErrorCode.CONFIG, `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

export class UsageError extends PingpullError {
  constructor(message: string) {
    super(ErrorCode.USAGE, message);
  }
}

// The database and the replication stream.

/** The database is not set up the way pingpull needs (wal_level, privileges, table, columns). */
export class DatabaseSetupError extends PingpullError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.DATABASE_SETUP, message, { cause });
  }
}

/**
 * source.idColumn is not in the table's replica identity, so deletes would
 * arrive without it: the user must choose a fix (a usage error, exit 2).
 */
export class ReplicaIdentityError extends PingpullError {
  constructor(message: string) {
    super(ErrorCode.REPLICA_IDENTITY, message);
  }
}

/**
 * The users table changed under the connector in a way it cannot follow (a
 * mapped column was dropped or renamed): retrying would fail the same way,
 * so the connector stops with this message (exit 1) instead of looping.
 */
export class SchemaChangeError extends PingpullError {
  constructor(message: string) {
    super(ErrorCode.SCHEMA_CHANGE, message);
  }
}

/** A pgoutput message the connector cannot make sense of. */
export class DecodeError extends PingpullError {
  constructor(message: string) {
    super(ErrorCode.DECODE, message);
  }
}

export class ReplicationError extends PingpullError {
  readonly sqlState: string | undefined;

  constructor(message: string, options: { retriable: boolean; sqlState?: string | undefined; cause?: unknown }) {
    super(options.sqlState === '55006' ? ErrorCode.SLOT_IN_USE : ErrorCode.REPLICATION, message, options);
    this.sqlState = options.sqlState;
  }

  /** Another connector reads the slot (it admits one reader): wait as a standby. */
  get slotInUse(): boolean {
    return this.code === ErrorCode.SLOT_IN_USE;
  }
}

/** A replication session failed after having made `published` durable; `reason` says why. */
export class SessionEnded extends PingpullError {
  constructor(
    readonly published: Lsn,
    readonly reason: PingpullError,
  ) {
    super(reason.code, reason.message, { retriable: reason.retriable, cause: reason });
  }
}

// Kafka.

export class PublishError extends PingpullError {
  constructor(message: string, cause: unknown) {
    super(ErrorCode.KAFKA_PUBLISH, message, { retriable: true, cause });
  }
}

/** Topics that still lack a leader for some partition once the wait is over. */
export class KafkaTopicsError extends PingpullError {
  constructor(topics: readonly string[], timeoutMs: number, cause: unknown) {
    const detail = cause === undefined ? '' : `: ${(cause as Error).message}`;
    super(
      ErrorCode.KAFKA_TOPICS,
      `topics ${topics.join(', ')} have no leader for every partition after ${timeoutMs} ms${detail}`,
      { retriable: true, cause },
    );
  }
}

/** The pinger could not reach Kafka at start; the message names where it tried to go. */
export class PingerStartError extends PingpullError {
  constructor(message: string, cause: unknown) {
    super(ErrorCode.PINGER_START, message, { retriable: true, cause });
  }
}

/** A replay would need more commit metadata than Kafka keeps for one partition. */
export class ReplayLedgerFullError extends PingpullError {
  constructor(partition: number, characters: number, maxCharacters: number) {
    super(
      ErrorCode.REPLAY_LEDGER_FULL,
      `partition ${partition} of the dead letter topic would record too many scattered replays in the commit ` +
        `metadata (${characters} characters, at most ${maxCharacters}); replay without --ids (or with more ids) first`,
    );
  }
}

// Livefyre.

/** A Livefyre HTTP call failed; `status` is undefined for network errors and timeouts. */
export class LivefyreError extends PingpullError {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    options: { status?: number; retriable: boolean; retryAfterMs?: number; cause?: unknown },
  ) {
    super(options.status === 403 ? ErrorCode.LIVEFYRE_FORBIDDEN : ErrorCode.LIVEFYRE, message, options);
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A ping got its 200, but the pull server did not serve that user within pinger.pullConfirmMs. */
export class NotPulledError extends PingpullError {
  constructor(confirmMs: number, attempts: number) {
    super(
      ErrorCode.NOT_PULLED,
      `no pull of the user within ${confirmMs} ms after ping ${attempts} (is the pull URL registered? ` +
        'see pingpull register-pull-url)',
      { retriable: true },
    );
  }
}

// Commands.

/** A resync stopped part-way; `lastId` is where `--from` can resume. */
export class ResyncError extends PingpullError {
  readonly lastId: string | null;

  constructor(message: string, lastId: string | null, cause?: unknown) {
    super(ErrorCode.RESYNC, message, { retriable: true, cause });
    this.lastId = lastId;
  }
}

/** A status stage that did not answer in time. */
export class StageTimeoutError extends PingpullError {
  constructor(ms: number) {
    super(ErrorCode.STAGE_TIMEOUT, `no answer within ${ms} ms`, { retriable: true });
  }
}

/** Socket error codes as a person reads them, for one-line "cannot reach" messages. */
export const SOCKET_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
};
