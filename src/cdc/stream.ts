import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { CONNECT_TIMEOUT_MS, TCP_KEEPALIVE_DELAY_MS } from '../db.js';
import { ReplicationError } from '../errors.js';
import { formatLsn, parseLsn, type Lsn } from './lsn.js';
import { keepTextColumns } from './pg-types.js';

/**
 * One replication session: a walsender connection reading the slot from a
 * given position. pg-logical-replication does the wire protocol; this module
 * keeps it away from the two things it gets wrong for us:
 * it never acknowledges on its own (`auto: false, timeoutSeconds: 0`), and
 * flow control is on so the handler is awaited before the socket resumes.
 * It does not reconnect: the connector starts a new session.
 */
export interface StreamHandlers {
  /** Called in stream order, one at a time (awaited). */
  message(lsn: string, message: Pgoutput.Message): Promise<void>;
  /** A primary keepalive: the server's WAL end, and whether it wants an answer now. */
  keepalive(walEnd: Lsn, shouldRespond: boolean): void;
  /** START_REPLICATION succeeded. */
  started(): void;
}

export interface StreamOptions {
  databaseUrl: string;
  slot: string;
  publication: string;
  applicationName: string;
}

/** Failures no retry fixes: bad credentials or privileges, slot or publication missing. */
const PERMANENT_SQL_STATES = new Set(['28000', '28P01', '42501', '42704', '3D000']);

export function classifyReplicationError(error: unknown): ReplicationError {
  if (error instanceof ReplicationError) return error;
  const sqlState = (error as { code?: unknown }).code;
  const state = typeof sqlState === 'string' && /^[0-9A-Z]{5}$/.test(sqlState) ? sqlState : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return new ReplicationError(`replication stream failed: ${message}`, {
    retriable: state === undefined || !PERMANENT_SQL_STATES.has(state),
    sqlState: state,
    cause: error,
  });
}

interface LibraryInternals {
  _messageQueue?: unknown;
}

export class ReplicationSession {
  private readonly service: LogicalReplicationService;
  private ended = false;

  constructor(private readonly options: StreamOptions) {
    this.service = new LogicalReplicationService(
      {
        connectionString: options.databaseUrl,
        application_name: options.applicationName,
        // A half-open connection (failover, a dropped NAT entry) is noticed by the OS, not in ~15 min.
        keepAlive: true,
        keepAliveInitialDelayMillis: TCP_KEEPALIVE_DELAY_MS,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    );
  }

  /**
   * Streams from `startLsn` (our durable position: without it the library
   * would start from the last LSN it *received*) until the connection ends.
   * Resolves when `end()` was called, rejects with a ReplicationError otherwise.
   */
  async run(startLsn: Lsn, handlers: StreamHandlers): Promise<void> {
    const plugin = new PgoutputPlugin({
      protoVersion: 1,
      publicationNames: [this.options.publication],
      messages: true,
    });
    // The library parses a message as it arrives (before our handler sees it)
    // and caches Relation messages: fixing the column parsers right after the
    // Relation is parsed makes every later row of it keep text values.
    const parse = plugin.parse.bind(plugin);
    plugin.parse = (buffer: Buffer) => {
      const message = parse(buffer);
      if (message.tag === 'relation') keepTextColumns(message.columns);
      return message;
    };
    let failure: unknown = null;
    this.service.on('error', (error: Error) => {
      failure ??= error;
    });
    this.service.on('start', () => {
      // end() may have raced the connection set-up: hang up now.
      if (this.ended) void this.service.stop();
      else handlers.started();
    });
    this.service.on('heartbeat', (lsn: string, _timestamp: number, shouldRespond: boolean) => {
      handlers.keepalive(parseLsn(lsn), shouldRespond);
    });
    this.service.on('data', (lsn: string, message: Pgoutput.Message) => handlers.message(lsn, message));
    try {
      await this.service.subscribe(plugin, this.options.slot, formatLsn(startLsn));
    } catch (error) {
      if (!this.ended) throw classifyReplicationError(error);
      return;
    } finally {
      this.service.removeAllListeners();
      // A late client error must not become an uncaught exception.
      this.service.on('error', () => undefined);
      // The library leaves its connection open when START_REPLICATION fails
      // (a slot in use): a standby polling every few seconds would pile up
      // idle walsenders. Whatever ended the session, its connection is closed.
      await this.service.stop().catch(() => undefined);
    }
    // subscribe() also resolves when the server closes the stream.
    if (!this.ended) {
      throw classifyReplicationError(failure ?? new Error('the server ended the replication stream'));
    }
  }

  /**
   * Standby status update: everything before `lsn` is durable, so Postgres may
   * advance the slot's confirmed flush to it. The library reports `lsn + 1`,
   * which could skip a transaction whose commit record starts exactly at a
   * commit end LSN, so it is given `lsn - 1`. `requestReply` asks the server
   * to answer at once with a keepalive (a silent stream is probed with it).
   */
  confirm(lsn: Lsn, requestReply = false): void {
    if (lsn <= 0n || this.ended) return;
    void this.service.acknowledge(formatLsn(lsn - 1n), requestReply);
  }

  /**
   * Whether every message the library received has reached our handler.
   * Keepalives overtake messages still queued for the (awaited) handler, so
   * a keepalive's WAL end may only be confirmed when this holds. Unknown
   * library internals count as "not drained": the safe side.
   */
  drained(): boolean {
    const queue = (this.service as unknown as LibraryInternals)._messageQueue;
    return Array.isArray(queue) && queue.length === 0;
  }

  /**
   * Hangs up. Abruptly: pg sees START_REPLICATION as a running query and
   * destroys the socket, and a walsender that has not read a status update
   * sent just before may die on the reset without applying it. Whoever needs
   * a confirmation to count must see it in the slot before calling this.
   */
  async end(): Promise<void> {
    this.ended = true;
    await this.service.stop();
  }
}
