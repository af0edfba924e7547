import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { databaseUrl, kafkaBrokers } from '../helpers/services.js';

// Tests here set exactly the variables they mean; the suite's own services do not leak in.
const CLEAN_ENV: Record<string, undefined> = Object.fromEntries(
  Object.keys(process.env)
    .filter((name) => name.startsWith('PINGPULL_'))
    .map((name) => [name, undefined]),
);

const UNREACHABLE_KAFKA = '127.0.0.1:1';
const KAFKA_LINE = 'pingpull: kafka.brokers: cannot reach 127.0.0.1:1 (connection refused)\n';

describe('a one-shot command with Kafka or the database unreachable', () => {
  it.each([[['resync', '--all']], [['dead-letters', 'list']], [['dead-letters', 'replay']]])(
    'pingpull %j gives up within 15 s with one line naming kafka.brokers',
    async (args) => {
      const started = Date.now();
      const result = await runCli(args, {
        ...CLEAN_ENV,
        PINGPULL_DATABASE_URL: databaseUrl(),
        PINGPULL_KAFKA_BROKERS: UNREACHABLE_KAFKA,
      });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(KAFKA_LINE);
    },
  );

  it('status and check name kafka.brokers and the address', async () => {
    const env = { ...CLEAN_ENV, PINGPULL_DATABASE_URL: databaseUrl(), PINGPULL_KAFKA_BROKERS: UNREACHABLE_KAFKA };
    const [status, check] = await Promise.all([runCli(['status'], env), runCli(['check'], env)]);
    expect(status.code).toBe(1);
    expect(status.stdout).toContain('kafka.brokers: cannot reach 127.0.0.1:1 (connection refused)');
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('problem: kafka.brokers: cannot reach 127.0.0.1:1 (connection refused)');
  });

  it('setup names database.url and the address, never the password', async () => {
    const result = await runCli(['setup'], {
      ...CLEAN_ENV,
      PINGPULL_DATABASE_URL: 'postgres://app:s3cret@127.0.0.1:1/app',
      PINGPULL_KAFKA_BROKERS: kafkaBrokers(),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('pingpull: database.url: cannot reach 127.0.0.1:1 (connection refused)\n');
  });
});

describe('configuration that cannot surprise', () => {
  function configFile(content: string): string {
    const file = join(mkdtempSync(join(tmpdir(), 'pingpull-ops-')), 'pingpull.json');
    writeFileSync(file, content);
    return file;
  }

  it.each([
    [{ PINGPULL_PULL_PORT: '8080x' }, 'pull.port: expected a port number (0-65535)'],
    [{ PINGPULL_STATUS_PAGE: 'maybe' }, 'status.page: expected true or false'],
    [{ PINGPULL_PINGER_RATE_PER_SECOND: '5/s' }, 'pinger.ratePerSecond: expected a number above 0'],
  ])('a malformed value (%j) exits 2 naming the key and what was expected', async (env, message) => {
    const result = await runCli(['check'], { ...CLEAN_ENV, ...env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('a config file value "8o8o" for a port is refused, not read as 8', async () => {
    const result = await runCli(['check', '--config', configFile('{"pull": {"port": "8o8o"}}')], CLEAN_ENV);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('pull.port: expected a port number (0-65535): value was "8o8o"');
  });

  it('a config file that is not a JSON object is refused', async () => {
    const result = await runCli(['check', '--config', configFile('[]')], CLEAN_ENV);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('must hold a JSON object of keys');
  });

  it('an unknown key gets a did-you-mean', async () => {
    const file = configFile('{"source": {"idcolumn": "user_id"}}');
    const result = await runCli(['check', '--config', file], CLEAN_ENV);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('source.idcolumn: not a configuration key; did you mean source.idColumn?');
  });

  it('check without any configuration says how to give one', async () => {
    const result = await runCli(['check'], CLEAN_ENV);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('database.url: must be set to check the database');
    expect(result.stderr).toContain('--config <file.json>');
    expect(result.stderr).toContain('PINGPULL_DATABASE_URL');
  });
});
