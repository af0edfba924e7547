import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import { createKafka } from '../events/kafka.js';
import {
  fetchGroupMarks,
  republishDeadLetters,
  scanDeadLetters,
  type StoredDeadLetter,
} from '../events/dead-letters.js';
import { isReplayed, readLedger } from '../pinger/replay-ledger.js';
import { parseIds, planReplay, replayGroupId } from '../pinger/replay.js';
import { action, baseCommand, type CommandContext } from './context.js';

/**
 * `pingpull dead-letters list|replay`: reads the dead letter topic without
 * joining the pingers' group. `list` reads with a throwaway group that
 * commits nothing; `replay` reads and commits with `<kafka.groupId>-replay`,
 * whose offsets (and commit metadata) record what was sent back.
 */
export function deadLettersCommand(): Command {
  return new Command('dead-letters')
    .description('inspect and replay the dead letter topic (kafka.dlqTopic)')
    .addHelpText(
      'after',
      '\nBoth subcommands take -c, --config <file> and --log-level <level>, e.g. pingpull dead-letters list --config pingpull.json',
    )
    .showHelpAfterError()
    .exitOverride()
    .addCommand(listCommand().exitOverride())
    .addCommand(replayCommand().exitOverride());
}

interface ListedLetter {
  key: string | null;
  reason: string | null;
  attempts: number | null;
  failedAt: string | null;
  error: string | null;
  source: StoredDeadLetter['source'];
  dlq: { partition: number; offset: string };
  replayed: boolean;
}

function listCommand(): Command {
  return baseCommand('list', 'list the dead letters, oldest first, and whether a replay sent them back')
    .option('--json', 'print one JSON object')
    .option('--limit <n>', 'show at most n dead letters', positiveInteger)
    .action(
      action(async ({ config, logger, out }: CommandContext, options: { json?: boolean; limit?: number }) => {
        const { dlqTopic, groupId } = config.kafka;
        const kafka = createKafka({
          connection: config.kafka,
          clientId: `${config.kafka.clientId}-dead-letters`,
          logger,
          patience: 'one-shot',
        });
        const marks = await fetchGroupMarks(kafka, replayGroupId(groupId), dlqTopic);
        const scan = await scanDeadLetters({
          kafka,
          topic: dlqTopic,
          groupId: `${groupId}-dlq-list-${randomBytes(4).toString('hex')}`,
          throwaway: true,
          logger,
        });
        await scan.close();
        const ledgers = new Map(marks.map((mark) => [mark.partition, readLedger(mark.offset, mark.metadata)]));
        const listed: ListedLetter[] = scan.letters
          .map((letter) => {
            const ledger = ledgers.get(letter.partition);
            return {
              key: letter.key?.toString('utf8') ?? null,
              reason: letter.reason,
              attempts: letter.attempts,
              failedAt: letter.failedAt,
              error: letter.error,
              source: letter.source,
              dlq: { partition: letter.partition, offset: letter.offset },
              replayed: ledger !== undefined && isReplayed(ledger, letter.offset),
            };
          })
          .sort((a, b) => (a.failedAt ?? '').localeCompare(b.failedAt ?? ''));
        const shown = options.limit === undefined ? listed : listed.slice(0, options.limit);
        const replayed = listed.filter((letter) => letter.replayed).length;
        if (options.json === true) {
          out(JSON.stringify({ topic: dlqTopic, total: listed.length, replayed, letters: shown }));
          return;
        }
        for (const letter of shown) out(formatLetter(letter));
        const more = listed.length - shown.length;
        out(
          `${listed.length} dead letter${listed.length === 1 ? '' : 's'} in ${dlqTopic}, ${replayed} replayed` +
            (more > 0 ? ` (${more} more not shown; --limit)` : ''),
        );
      }),
    );
}

function formatLetter(letter: ListedLetter): string {
  const source =
    letter.source === null ? 'unknown' : `${letter.source.topic}/${letter.source.partition}/${letter.source.offset}`;
  return [
    letter.failedAt ?? '-',
    JSON.stringify(letter.key),
    letter.reason ?? '-',
    `attempts=${letter.attempts ?? '-'}`,
    `from=${source}`,
    `dlq=${letter.dlq.partition}/${letter.dlq.offset}`,
    letter.replayed ? 'replayed' : 'not-replayed',
    ...(letter.error === null ? [] : [`error=${JSON.stringify(letter.error)}`]),
  ].join('  ');
}

function replayCommand(): Command {
  return baseCommand(
    'replay',
    'send dead letters back to the change topic (kafka.topic) so the pinger handles them again; each at most once',
  )
    .option('--ids <ids>', 'only the dead letters of these user ids (comma-separated)')
    .option('--dry-run', 'show what would be replayed; send and record nothing')
    .action(
      action(async ({ config, logger, out }: CommandContext, options: { ids?: string; dryRun?: boolean }) => {
        const ids = parseIds(options.ids);
        const { dlqTopic, topic, groupId } = config.kafka;
        const kafka = createKafka({
          connection: config.kafka,
          clientId: `${config.kafka.clientId}-dead-letters`,
          logger,
          patience: 'one-shot',
        });
        const scan = await scanDeadLetters({
          kafka,
          topic: dlqTopic,
          groupId: replayGroupId(groupId),
          throwaway: false,
          logger,
        });
        try {
          const plan = planReplay(scan, ids);
          const verb = options.dryRun === true ? 'would replay' : 'replaying';
          for (const letter of plan.letters) {
            out(
              `${verb} ${JSON.stringify(letter.key?.toString('utf8') ?? null)} (${letter.reason ?? 'no reason'}, dlq=${letter.partition}/${letter.offset})`,
            );
          }
          const skipped =
            `${plan.alreadyReplayed} already replayed` +
            (ids === undefined ? '' : `, ${plan.notSelected} not in --ids`);
          if (options.dryRun === true) {
            out(`dry run: would replay ${plan.letters.length} dead letter(s) to ${topic} (${skipped}); nothing sent`);
            return;
          }
          await republishDeadLetters(kafka, topic, plan.letters);
          if (plan.marks.length > 0) await scan.commit(plan.marks);
          out(`replayed ${plan.letters.length} dead letter(s) to ${topic} (${skipped})`);
        } finally {
          await scan.close();
        }
      }),
    );
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}
