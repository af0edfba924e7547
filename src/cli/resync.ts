import cliProgress from 'cli-progress';
import { requireKeys } from '../config/index.js';
import { createPool } from '../db.js';
import { ConfigError, ResyncError, UsageError } from '../errors.js';
import { createKafka, ensureTopics } from '../events/kafka.js';
import { buildProfileMapping } from '../mapping/index.js';
import { runResync, type ResyncProgress, type ResyncSelection } from '../resync/index.js';
import { action, baseCommand } from './context.js';

interface ResyncFlags {
  all?: boolean;
  since?: string;
  ids?: string;
  after?: string;
  batchSize?: string;
  config?: string;
}

/**
 * `pingpull resync --all | --since <ISO-8601> | --ids a,b,c [--after <id>]`:
 * publishes a snapshot read (`op: "r"`) of existing users so the pinger
 * pings them (after a lost slot, a restore, or a bug fix). Progress goes to
 * stderr (a bar on a terminal, a line every few batches otherwise); stdout
 * gets the summary. Interrupted (Ctrl-C, SIGTERM) it finishes the batch in
 * flight and prints the id to resume `--after`.
 */
export function resyncCommand() {
  return baseCommand(
    'resync',
    'publish existing users as snapshot events (op "r") so the pinger pings them; restartable with --after',
  )
    .option('--all', 'every user')
    .option('--since <timestamp>', 'users whose source.updatedAtColumn is at or after this ISO-8601 time')
    .option('--ids <ids>', 'these user ids (comma-separated)')
    .option('--after <id>', 'resume: only ids after this one (the last id a previous run printed)')
    .option('--batch-size <n>', 'override resync.batchSize')
    .action(
      action(async (context, flags: ResyncFlags) => {
        const { config } = context;
        const selection = parseSelection(flags, config.source.updatedAtColumn);
        requireKeys(config, ['database.url'], 'to read the users');
        const batchSize = flags.batchSize === undefined ? config.resync.batchSize : Number(flags.batchSize);
        if (!Number.isInteger(batchSize) || batchSize <= 0)
          throw new UsageError(`--batch-size must be a positive integer, got ${flags.batchSize}`);

        const pool = createPool({
          url: config.database.url,
          max: 1,
          applicationName: 'pingpull-resync',
          statementTimeoutMs: config.database.statementTimeoutMs,
        });
        pool.on('error', (error) => context.logger.warn({ err: error }, 'idle database connection failed'));
        const progress = reporter(config.resync.progressEvery);
        const kafka = createKafka({
          connection: config.kafka,
          clientId: `${config.kafka.clientId}-resync`,
          logger: context.logger,
          patience: 'one-shot',
        });
        try {
          // A resync may come before any connector ran (the initial load): the topics may not exist yet.
          await ensureTopics(kafka, [config.kafka.topic, config.kafka.dlqTopic], config.kafka.partitions);
          const result = await runResync({
            pool,
            kafka,
            topic: config.kafka.topic,
            source: config.source,
            mapping: buildProfileMapping(config),
            sourceName: config.replication.slot,
            batchSize,
            selection,
            after: flags.after,
            signal: context.signal,
            logger: context.logger,
            onTotal: progress.total,
            onBatch: progress.batch,
          });
          progress.stop();
          if (result.interrupted) {
            context.out(
              `resync interrupted after ${result.published} user(s); last published id: ${result.lastId ?? '(none)'}`,
            );
            if (result.lastId !== null)
              context.out(`resume with: pingpull resync ${describe(flags)} --after ${result.lastId}`);
            return 130;
          }
          context.out(
            `resync done: published ${result.published} user(s) in ${result.batches} batch(es); last id: ${result.lastId ?? '(none)'}`,
          );
          if (result.notFound.length > 0) {
            context.out(`not found (no such user): ${result.notFound.join(',')}`);
          }
          return 0;
        } catch (error) {
          progress.stop();
          if (error instanceof ResyncError && error.lastId !== null) {
            context.out(
              `last published id: ${error.lastId}; resume with: pingpull resync ${describe(flags)} --after ${error.lastId}`,
            );
          }
          throw error;
        } finally {
          await pool.end();
        }
      }),
    );
}

function parseSelection(flags: ResyncFlags, updatedAtColumn: string): ResyncSelection {
  const chosen = [flags.all === true, flags.since !== undefined, flags.ids !== undefined].filter(Boolean).length;
  if (chosen !== 1) throw new UsageError('resync needs exactly one of --all, --since <ISO-8601 time>, --ids <a,b,c>');
  if (flags.since !== undefined) {
    if (updatedAtColumn === '') {
      throw new ConfigError([
        "source.updatedAtColumn: must name the table's last-modified timestamp column for resync --since (environment PINGPULL_SOURCE_UPDATED_AT_COLUMN); without one, use --all",
      ]);
    }
    if (
      !/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}(:?\d{2})?)?)?$/.test(flags.since) ||
      Number.isNaN(Date.parse(flags.since))
    ) {
      throw new UsageError(
        `--since must be an ISO-8601 time such as 2024-05-01T00:00:00Z, got ${JSON.stringify(flags.since)}`,
      );
    }
    return { kind: 'since', since: flags.since };
  }
  if (flags.ids !== undefined) {
    const ids = flags.ids
      .split(',')
      .map((id) => id.trim())
      .filter((id) => id !== '');
    if (ids.length === 0) throw new UsageError('--ids needs at least one user id');
    return { kind: 'ids', ids };
  }
  return { kind: 'all' };
}

/** The selection and the config file again, so the resume hint runs as it reads. */
function describe(flags: ResyncFlags): string {
  const selection =
    flags.all === true ? '--all' : flags.since !== undefined ? `--since ${flags.since}` : `--ids ${flags.ids ?? ''}`;
  return flags.config === undefined ? selection : `${selection} --config ${flags.config}`;
}

/** A cli-progress bar on a terminal; otherwise a plain line every `every` batches (logs, CI). */
function reporter(every: number): {
  total: (total: number | null) => void;
  batch: (progress: ResyncProgress) => void;
  stop: () => void;
} {
  if (process.stderr.isTTY === true) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: 'resync [{bar}] {percentage}% | {value}/{total} users | last id {lastId} | {eta_formatted} left',
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      total: (total) => {
        bar.start(total ?? 0, 0, { lastId: '-' });
        started = true;
      },
      batch: (progress) => bar.update(progress.published, { lastId: progress.lastId ?? '-' }),
      stop: () => {
        if (started) bar.stop();
        started = false;
      },
    };
  }
  let total: number | null = null;
  return {
    total: (value) => {
      total = value;
      process.stderr.write(`resync: ${value ?? 'unknown number of'} user(s) to publish\n`);
    },
    batch: (progress) => {
      if (progress.batches % every === 0) {
        process.stderr.write(
          `resync: ${progress.published}${total === null ? '' : `/${total}`} users published, last id ${progress.lastId ?? '-'}\n`,
        );
      }
    },
    stop: () => undefined,
  };
}
