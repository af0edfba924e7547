import { randomBytes } from 'node:crypto';
import type { Config } from '../config/index.js';
import { quoteIdent, type Pool } from '../db.js';
import { toRowValue } from '../cdc/decoder.js';
import { streamLikeTypes } from '../cdc/pg-types.js';
import { ResyncError, type PublishError } from '../errors.js';
import { toSnapshotMessage, type ChangeMessage, type Row } from '../events/envelope.js';
import type { Kafka } from '../events/kafka.js';
import { ChangePublisher } from '../events/publisher.js';
import type { Logger } from '../log.js';
import { buildProfileMapping, publishedColumns, type MappingConfig, type ProfileMapping } from '../mapping/index.js';
import { validateIds } from './ids.js';

/**
 * `pingpull resync`: publishes `op: "r"` (snapshot read) events for existing
 * users through the connector's publisher (same envelope, key, headers, and
 * partitioning), so the pinger pings them. It pages through the table by
 * keyset on the id column: each batch is one short read-only statement (no
 * long transaction, no lock beyond the statement's ACCESS SHARE), so it is
 * safe next to a streaming connector and against a busy table. A batch is
 * counted only once Kafka acknowledged all of it, which makes `lastId` a
 * safe `--after` to resume from.
 */
export type ResyncSelection =
  { kind: 'all' } | { kind: 'since'; since: string } | { kind: 'ids'; ids: readonly string[] };

export interface ResyncOptions {
  pool: Pool;
  kafka: Kafka;
  topic: string;
  source: MappingConfig['source'] & Pick<Config['source'], 'updatedAtColumn'>;
  /** The users table's watched columns are what each event carries (built from `source` alone when absent). */
  mapping?: ProfileMapping;
  /** Names the source in events (`source.name`), like the connector: the replication slot. */
  sourceName: string;
  batchSize: number;
  selection: ResyncSelection;
  /** Resume after this id (exclusive). */
  after?: string | undefined;
  signal?: AbortSignal;
  logger: Logger;
  now?: () => number;
  /** Called after each batch Kafka acknowledged. */
  onBatch?: (progress: ResyncProgress) => void;
  /** Called once before the first batch with the number of users to publish (null when unknown). */
  onTotal?: (total: number | null) => void;
}

export interface ResyncProgress {
  batches: number;
  published: number;
  /** Last id whose event Kafka acknowledged (with every id before it). */
  lastId: string | null;
}

export interface ResyncResult extends ResyncProgress {
  interrupted: boolean;
  /** With --ids: ids that matched no row. */
  notFound: string[];
}

const ID_ALIAS = '__pingpull_id';

export async function runResync(options: ResyncOptions): Promise<ResyncResult> {
  const { source, selection } = options;
  const mapping = options.mapping ?? buildProfileMapping({ source });
  const { table } = mapping;
  const id = quoteIdent(mapping.idColumn);
  const columns = publishedColumns(mapping).slice(1);
  const select = [
    `${id}::text AS ${quoteIdent(ID_ALIAS)}`,
    ...columns.map((column) => `${quoteIdent(column)} AS ${quoteIdent(`c_${column}`)}`),
  ].join(', ');
  const now = options.now ?? Date.now;
  const db = (await options.pool.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db ?? '';
  const runId = randomBytes(4).toString('hex');

  // WHERE parts shared by the count and the pages; $1 is the page start.
  const filters: string[] = [];
  const fixed: unknown[] = [];
  if (selection.kind === 'since') {
    fixed.push(selection.since);
    filters.push(`${quoteIdent(source.updatedAtColumn)} >= $${fixed.length + 1}`);
  }
  if (selection.kind === 'ids') {
    await validateIds(options.pool, table, source.idColumn, selection.ids);
    fixed.push([...new Set(selection.ids)]);
    filters.push(`${id} = ANY($${fixed.length + 1})`);
  }
  const where = (withStart: boolean): string => {
    const parts = [...(withStart ? [`${id} > $1`] : []), ...filters];
    return parts.length === 0 ? '' : `WHERE ${parts.join(' AND ')}`;
  };
  // Placeholders are numbered from $2 in the fixed filters: shift them when there is no $1.
  const renumber = (sql: string): string => sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) - 1}`);

  if (options.onTotal !== undefined) {
    // A resumed run counts what is left after the resume point: its progress starts at 0 of that.
    const resumed = options.after !== undefined;
    const count = `SELECT count(*)::text AS n FROM ${table.qualified} ${where(resumed)}`;
    const total =
      selection.kind === 'ids'
        ? null
        : Number(
            (
              await options.pool.query<{ n: string }>({
                text: resumed ? count : renumber(count),
                values: resumed ? [options.after, ...fixed] : fixed,
              })
            ).rows[0]?.n ?? 0,
          );
    options.onTotal(selection.kind === 'ids' ? new Set(selection.ids).size : total);
  }

  const publisher = new ChangePublisher({
    kafka: options.kafka,
    topic: options.topic,
    batchSize: options.batchSize,
    logger: options.logger,
  });
  let failure: PublishError | null = null;
  publisher.onFailed = (error) => {
    failure = error;
  };
  const progress: ResyncProgress = { batches: 0, published: 0, lastId: options.after ?? null };
  // Only --ids remembers what it found (to name the ids that matched nothing).
  const seen = new Set<string>();
  let seq = 0;
  let interrupted = false;
  await publisher.connect();
  try {
    let start = options.after ?? null;
    for (;;) {
      if (options.signal?.aborted === true) {
        interrupted = true;
        break;
      }
      const withStart = start !== null;
      const text = `SELECT ${select} FROM ${table.qualified} ${where(withStart)} ORDER BY ${id} LIMIT ${options.batchSize}`;
      const result = await options.pool.query<Record<string, unknown>>({
        text: withStart ? text : renumber(text),
        values: withStart ? [start, ...fixed] : fixed,
        types: streamLikeTypes,
      });
      if (result.rows.length === 0) break;
      const snapshotMs = now();
      for (const row of result.rows) {
        const userId = String(row[ID_ALIAS]);
        if (selection.kind === 'ids') seen.add(userId);
        const after: Row = { [mapping.idColumn]: userId };
        for (const column of columns) {
          const value = toRowValue(row[`c_${column}`]);
          after[column] = value === undefined ? null : value;
        }
        await publisher.enqueue(
          snapshotEvent(options, mapping, db, userId, after, snapshotMs, `resync-${runId}:${++seq}`),
        );
      }
      await publisher.drain();
      if (failure !== null)
        throw new ResyncError(`resync stopped: ${(failure as PublishError).message}`, progress.lastId, failure);
      start = String(result.rows[result.rows.length - 1]?.[ID_ALIAS]);
      progress.batches += 1;
      progress.published += result.rows.length;
      progress.lastId = start;
      options.onBatch?.({ ...progress });
      if (result.rows.length < options.batchSize) break;
    }
  } catch (error) {
    if (error instanceof ResyncError) throw error;
    throw new ResyncError(`resync stopped: ${(error as Error).message}`, progress.lastId, error);
  } finally {
    await publisher.disconnect().catch(() => undefined);
  }
  const notFound =
    selection.kind === 'ids' && !interrupted ? [...new Set(selection.ids)].filter((wanted) => !seen.has(wanted)) : [];
  return { ...progress, interrupted, notFound };
}

function snapshotEvent(
  options: ResyncOptions,
  mapping: ProfileMapping,
  db: string,
  key: string,
  after: Row,
  snapshotMs: number,
  eventId: string,
): ChangeMessage {
  const { table } = mapping;
  return toSnapshotMessage(
    { slot: options.sourceName, db, schema: table.schema, table: table.name },
    { key, after, readTimeMs: snapshotMs, eventId, changedFields: mapping.fields },
  );
}
