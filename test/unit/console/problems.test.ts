import { describe, expect, it } from 'vitest';
import { RecentProblems } from '../../../src/console/problems.js';
import { createLogger } from '../../../src/log.js';

const silentDestination = { write: () => undefined };

async function settle(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('recent problems', () => {
  it('keeps warnings and errors, newest first, even when the log level hides them', async () => {
    const problems = new RecentProblems();
    const logger = createLogger('error', silentDestination, problems.stream());
    logger.info('started');
    logger.warn({ userId: 'u7', reason: 'rejected', attempts: 3 }, 'giving up on a ping');
    logger.error({ status: 403 }, 'Livefyre refuses the system token');
    await settle();
    expect(problems.list().map((problem) => [problem.level, problem.message, problem.context])).toEqual([
      ['error', 'Livefyre refuses the system token', { status: 403 }],
      ['warn', 'giving up on a ping', { userId: 'u7', reason: 'rejected', attempts: 3 }],
    ]);
  });

  it('shows ids and reasons, never profile values, secrets or credentials in URLs', async () => {
    const problems = new RecentProblems();
    problems.hideSecrets(['s3cret-network-key']);
    const logger = createLogger('warn', silentDestination, problems.stream());
    logger.warn(
      {
        userId: 'u1',
        after: { email: 'someone@example.com' },
        display_name: 'Private Name',
        networkKey: 's3cret-network-key',
        err: new Error('connect to postgres://app:hunter22@db:5432/users failed with key s3cret-network-key'),
      },
      'ping of https://x.fyre.co/api?lftoken=abc.def failed',
    );
    await settle();
    const shown = JSON.stringify(problems.list());
    for (const hidden of ['someone@example.com', 'Private Name', 's3cret-network-key', 'hunter22', 'abc.def'])
      expect(shown).not.toContain(hidden);
    expect(problems.list()[0]?.context).toMatchObject({ userId: 'u1' });
    expect(shown).toContain('postgres://[redacted]@db:5432/users');
  });

  it('keeps the last 50', () => {
    const problems = new RecentProblems();
    for (let index = 0; index < 60; index += 1)
      problems.record({ at: new Date(index).toISOString(), level: 'warn', message: `problem ${index}`, context: {} });
    const listed = problems.list();
    expect(listed).toHaveLength(50);
    expect(listed[0]?.message).toBe('problem 59');
    expect(listed[49]?.message).toBe('problem 10');
  });
});
